import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { describeProgress, progressLine } from '../../client/cli/progress.js';

describe('progress for people', () => {
  it('describes each state from the opened progress', () => {
    expect(describeProgress({ jobId: 'j', status: 'IN_QUEUE', progress: null, queueMs: 2500, elapsedMs: 3000 })).toBe("in RunPod's queue 2.5s");
    expect(describeProgress({ jobId: 'j', status: 'IN_PROGRESS', progress: null, elapsedMs: 1000 })).toBe('starting 1.0s');
    expect(describeProgress({ jobId: 'j', status: 'IN_PROGRESS', progress: { state: 'queued', queue_remaining: 2, elapsed_ms: 1 }, elapsedMs: 4200 })).toBe("queued (2 in ComfyUI's queue) 4.2s");
    expect(
      describeProgress({ jobId: 'j', status: 'IN_PROGRESS', progress: { state: 'running', percent: 41.6, node_type: 'KSampler', step: { value: 8, max: 20 }, elapsed_ms: 1 }, elapsedMs: 9000 }),
    ).toBe('running 42% KSampler step 8/20 9.0s');
  });

  it('rewrites one line on a terminal and stays silent otherwise', () => {
    const chunks: string[] = [];
    const tty = Object.assign(new Writable({ write: (c, _e, cb) => (chunks.push(String(c)), cb()) }), { isTTY: true });
    const line = progressLine(tty);
    line.update({ jobId: 'j', status: 'IN_QUEUE', progress: null, elapsedMs: 1000 });
    line.done();
    expect(chunks).toEqual(["\r\x1b[2Kin RunPod's queue 1.0s", '\r\x1b[2K']);
    const quiet: string[] = [];
    const pipe = new Writable({ write: (c, _e, cb) => (quiet.push(String(c)), cb()) });
    progressLine(pipe).update({ jobId: 'j', status: 'IN_QUEUE', progress: null, elapsedMs: 1 });
    expect(quiet).toEqual([]);
  });
});
