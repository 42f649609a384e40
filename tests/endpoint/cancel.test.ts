import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../handler/clock.js';
import { startLocalApi, type LocalApi } from '../../handler/local/server.js';
import { Platform } from '../../handler/runpod/platform.js';
import { runWorkerLoop } from '../../handler/runpod/worker.js';
import { createLogger } from '../../handler/log.js';
import { sealBundle } from '../../shared/index.js';
import { getJson } from '../helpers/http.js';
import { pngOf, startRig, type Rig } from '../helpers/pipeline.js';
import { API_KEY, POD_ID, startPlatform, type PlatformEmulator } from '../helpers/runpod-platform.js';

const CANARY = 'canary-cancel-0e7a-wren';
const workflow = {
  '1': { class_type: 'LoadImage', inputs: { image: `${CANARY}.png` } },
  '2': { class_type: 'ImageInvert', inputs: { image: ['1', 0] } },
  '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: 'held' } },
  '4': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'early' } },
};

let rig: Rig | undefined;
let api: LocalApi | undefined;
let platform: PlatformEmulator | undefined;
afterEach(async () => {
  await api?.close();
  await rig?.close();
  await platform?.close();
  rig = api = platform = undefined;
});

async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The job is inside ComfyUI (queued or running) with its files staged, held at the hanging node. */
async function heldInComfy(r: Rig): Promise<void> {
  await until(async () => {
    const queue = await getJson(`${r.sim.url}/queue`);
    return queue.queue_running.length === 1 && r.leftovers().length > 0;
  }, 'the job to be held in ComfyUI');
}

/** Nothing of the job is left: ComfyUI's queue, its history, the dirs. */
async function expectCleanedUp(r: Rig): Promise<void> {
  await until(() => r.logs.some((l) => l.includes('job.cancelled')), 'the pipeline to finish the cancel');
  expect(await getJson(`${r.sim.url}/queue`)).toMatchObject({ queue_running: [], queue_pending: [] });
  expect(await getJson(`${r.sim.url}/history`)).toEqual({});
  expect(r.leftovers()).toEqual([]);
  expect(r.sim.calls.some((c) => c.method === 'POST' && c.path === '/interrupt')).toBe(true);
  expect(r.logs.join('')).not.toContain(CANARY);
}

const sealed = (r: Rig) => ({ encrypted_input: sealBundle({ workflow, images: [{ name: `${CANARY}.png`, data: pngOf(4, 4, () => [9, 9, 9]) }], options: {} }, r.fernet) });

describe('cancel reaches ComfyUI (contract §6)', () => {
  it('through the local endpoint: POST /cancel interrupts the held prompt, wipes, deletes its history, status CANCELLED', async () => {
    rig = await startRig({ sim: { faults: { hangAt: '2' } } });
    api = await startLocalApi({ runner: rig.pipeline, port: 0 });
    const run = (await (await fetch(`${api.url}/ep/run`, { method: 'POST', body: JSON.stringify({ input: sealed(rig) }) })).json()) as { id: string };
    await heldInComfy(rig);
    const cancel = await (await fetch(`${api.url}/ep/cancel/${run.id}`, { method: 'POST' })).json();
    expect(cancel).toEqual({ id: run.id, status: 'CANCELLED' });
    await expectCleanedUp(rig);
    const status = await getJson(`${api.url}/ep/status/${run.id}`);
    expect(status.status).toBe('CANCELLED');
    expect(status.output).toBeUndefined();

    // The worker goes on: the next job runs to the end.
    rig.sim.settings.faults = {};
    const next = (await (await fetch(`${api.url}/ep/runsync`, { method: 'POST', body: JSON.stringify({ input: sealed(rig) }) })).json()) as { status: string };
    expect(next.status).toBe('COMPLETED');
  });

  it('through the RunPod platform: job-stop interrupts the held prompt, cleans up, and posts no result for it', async () => {
    rig = await startRig({ sim: { faults: { hangAt: '2' } } });
    platform = await startPlatform();
    const env = platform.env;
    const p = new Platform({ takeUrl: env.RUNPOD_WEBHOOK_GET_JOB!, doneUrl: env.RUNPOD_WEBHOOK_POST_OUTPUT!, pingUrl: env.RUNPOD_WEBHOOK_PING!, apiKey: API_KEY, podId: POD_ID, pingIntervalMs: 10_000 });
    const shutdown = new AbortController();
    const loopLogs: string[] = [];
    const loop = runWorkerLoop({ platform: p, runner: rig.pipeline, log: createLogger({ json: true, write: (l) => loopLogs.push(l) }), clock: systemClock, pingIntervalMs: 10_000 }, shutdown.signal).finally(() => p.close());
    try {
      platform.queueJob({ id: 'stop-me-u1', input: sealed(rig) });
      await heldInComfy(rig);
      platform.stopJobs(['stop-me-u1']);
      await expectCleanedUp(rig);
      // Progress may have gone out while it ran; a result (output without IN_PROGRESS, or an error) never does.
      await new Promise((r) => setTimeout(r, 200));
      const finals = platform.done().filter((q) => q.path.includes('stop-me-u1') && !q.body.includes('IN_PROGRESS'));
      expect(finals).toEqual([]);
      expect(loopLogs.join('') + platform.requests.map((q) => q.body).join('')).not.toContain(CANARY);
    } finally {
      shutdown.abort();
      await loop;
    }
  });
});
