import { afterEach, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { systemClock } from '../../handler/clock.js';
import { ComfyHttp } from '../../handler/comfy/http.js';
import { ComfySocket } from '../../handler/comfy/ws.js';
import { ProgressEstimate } from '../../handler/progress.js';
import { runPrompt } from '../../handler/run.js';
import type { ProgressUpdate } from '../../shared/schema.js';
import { Fernet, openProgress, sealBundle } from '../../shared/index.js';
import { loadTranscript, recordedPrompt, startReplay, type Replay } from '../helpers/replay.js';
import { startRig, type Rig } from '../helpers/pipeline.js';

let replay: Replay | undefined;
let rig: Rig | undefined;
const closers: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
  await replay?.close();
  await rig?.close();
  replay = undefined;
  rig = undefined;
});

async function drive(name: string) {
  const t = loadTranscript(name);
  replay = await startReplay(t);
  const http = new ComfyHttp({ url: replay.url });
  const socket = new ComfySocket({ url: replay.url, clientId: randomUUID() });
  closers.push(() => socket.close(), () => http.close());
  await new Promise<void>((r) => socket.once('up', r));
  const updates: ProgressUpdate[] = [];
  const run = runPrompt(recordedPrompt(t), { http, socket, clock: systemClock }, {
    promptId: t.prompt_id,
    deadline: systemClock.now() + 20_000,
    onProgress: (p) => updates.push(p),
  });
  return { run, updates };
}

const percents = (updates: ProgressUpdate[]) => updates.filter((u) => typeof u.percent === 'number').map((u) => u.percent!);

describe('progress from the real ComfyUI v0.27.1 messages', () => {
  it('never goes back on SD1.5 txt2img, weighs the sampler steps, and names the sampler', async () => {
    const { run, updates } = await drive('sd15_01_first_run');
    const result = await run;
    expect(Object.keys(result.outputs)).toEqual(['9']);
    const seen = percents(updates);
    expect(seen.length).toBeGreaterThan(5);
    for (let i = 1; i < seen.length; i++) expect(seen[i]).toBeGreaterThanOrEqual(seen[i - 1]!);
    const steps = updates.filter((u) => u.step);
    expect(steps.map((u) => u.step!.value)).toEqual([1, 2, 3]);
    expect(steps.every((u) => u.sampler?.node_id === '3' && u.sampler.node_type === 'KSampler')).toBe(true);
    // Each step moves the percent by the sampler's share, and the save comes last.
    expect(steps[2]!.percent!).toBeGreaterThan(steps[0]!.percent!);
    expect(Math.max(...seen)).toBeGreaterThanOrEqual(75);
    expect(Math.max(...seen)).toBeLessThan(100);
  });

  it('on the cached re-run starts from what the cache already did', async () => {
    const { run, updates } = await drive('sd15_02_cached_rerun');
    await run;
    const seen = percents(updates);
    for (let i = 1; i < seen.length; i++) expect(seen[i]).toBeGreaterThanOrEqual(seen[i - 1]!);
  });

  it("reports ComfyUI's own execution_interrupted as EXECUTION_FAILED (interrupted), with the node sealed in details", async () => {
    const { run } = await drive('sd15_03_interrupt');
    await expect(run).rejects.toMatchObject({ code: 'EXECUTION_FAILED', message: 'the prompt was interrupted', details: { node_id: '3', node_type: 'KSampler' } });
  });
});

describe('ProgressEstimate', () => {
  const wf = {
    '1': { class_type: 'Loader', inputs: {} },
    '2': { class_type: 'KSampler', inputs: { steps: 10 } },
    '3': { class_type: 'KSampler', inputs: { steps: 30 } },
    '4': { class_type: 'SaveImage', inputs: {} },
  };

  it('weighs samplers by their steps and a real max replaces the estimate', () => {
    const e = new ProgressEstimate(wf);
    e.executing('1');
    e.executing('2'); // 1 finished: 1 of 42
    expect(e.percent()).toBe(2.4);
    e.step('2', 5, 10); // 1 + 5 of 42
    expect(e.percent()).toBe(14.3);
    e.step('2', 5, 20); // the sampler really has 20 steps: 1 + 10 of 52 = 21.2
    expect(e.percent()).toBe(21.2);
  });

  it('never goes back, and stays under 100 until the caller says the end', () => {
    const e = new ProgressEstimate(wf);
    e.cached(['1', '2']);
    const before = e.percent();
    e.step('3', 1, 300); // a much longer sampler than its literal said: the total grows
    expect(e.percent()).toBe(before);
    e.states({ '1': { state: 'finished' }, '2': { state: 'finished' }, '3': { state: 'finished' }, '4': { state: 'finished' } });
    expect(e.percent()).toBe(99.9);
    e.finished('other-prompts-node');
    expect(e.percent()).toBe(99.9);
  });
});

describe('progress through the pipeline', () => {
  it('two samplers are told apart in the sealed progress, and the percent only rises', async () => {
    rig = await startRig({ sim: { stepMs: 2 } });
    const wf = {
      '10': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'sd15.safetensors' } },
      '11': { class_type: 'CLIPTextEncode', inputs: { text: 'a', clip: ['10', 1] } },
      '12': { class_type: 'CLIPTextEncode', inputs: { text: 'b', clip: ['10', 1] } },
      '13': { class_type: 'EmptyLatentImage', inputs: { width: 16, height: 16, batch_size: 1 } },
      '14': { class_type: 'KSampler', inputs: { model: ['10', 0], seed: 1, steps: 4, cfg: 7, sampler_name: 'euler', scheduler: 'normal', positive: ['11', 0], negative: ['12', 0], latent_image: ['13', 0], denoise: 1 } },
      '15': { class_type: 'KSampler', inputs: { model: ['10', 0], seed: 2, steps: 6, cfg: 7, sampler_name: 'euler', scheduler: 'normal', positive: ['11', 0], negative: ['12', 0], latent_image: ['14', 0], denoise: 0.5 } },
      '16': { class_type: 'VAEDecode', inputs: { samples: ['15', 0], vae: ['10', 2] } },
      '17': { class_type: 'SaveImage', inputs: { images: ['16', 0], filename_prefix: 'two' } },
    };
    const sealed: unknown[] = [];
    const outcome = await rig.pipeline.run(
      { id: 'job-two-samplers', input: { encrypted_input: sealBundle({ workflow: wf, images: [], options: {} }, rig.fernet) } },
      { onProgress: (p) => sealed.push(p) },
    );
    expect(outcome.kind).toBe('success');
    const opened = sealed.map((p) => openProgress(p, new Fernet(rig!.key))!);
    const samplers = new Set(opened.filter((p) => p.step).map((p) => `${p.sampler?.node_id}:${p.sampler?.node_type}:${p.step!.max}`));
    expect([...samplers].sort()).toEqual(['14:KSampler:4', '15:KSampler:6']);
    const seen = opened.filter((p) => typeof p.percent === 'number').map((p) => p.percent!);
    for (let i = 1; i < seen.length; i++) expect(seen[i]).toBeGreaterThanOrEqual(seen[i - 1]!);
  });
});
