import runpodSdk from 'runpod-sdk';
import { afterEach, describe, expect, it } from 'vitest';
import type { JobContext, JobOutcome } from '../../handler/job.js';
import { startLocalApi, type LocalApi } from '../../handler/local/server.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let api: LocalApi | undefined;
afterEach(async () => {
  await api?.close();
  api = undefined;
});

/**
 * A runner that echoes its input after `ms`, reporting progress, and honours cancellation. A job with `hold: true`
 * runs until `release()` or its cancel, so a test never races the machine's load.
 */
function echoRunner(ms = 50) {
  const order: string[] = [];
  const held: Array<() => void> = [];
  let concurrent = 0;
  let maxConcurrent = 0;
  return {
    order,
    recheck: async () => null,
    release: () => held.splice(0).forEach((resolve) => resolve()),
    get maxConcurrent() {
      return maxConcurrent;
    },
    async run(job: { id: string; input: unknown }, ctx: JobContext): Promise<JobOutcome> {
      order.push((job.input as { n?: string }).n ?? job.id);
      maxConcurrent = Math.max(maxConcurrent, ++concurrent);
      try {
        ctx.onProgress?.({ encrypted_progress: 'p' });
        const cancelled = await new Promise<boolean>((resolve) => {
          let t: NodeJS.Timeout | undefined;
          if ((job.input as { hold?: boolean }).hold) held.push(() => resolve(false));
          else t = setTimeout(() => resolve(false), ms);
          ctx.signal?.addEventListener('abort', () => { clearTimeout(t); resolve(true); }, { once: true });
        });
        if (cancelled) return { kind: 'cancelled' };
        if ((job.input as { fail?: boolean }).fail) return { kind: 'failure', error: '{"code":"BAD_INPUT","message":"m"}', code: 'BAD_INPUT', unhealthy: false };
        return { kind: 'success', output: { echo: job.input }, timingsMs: {} };
      } finally {
        concurrent--;
      }
    },
  };
}

async function post(path: string, body: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`${api!.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  return { status: res.status, json: await res.json() };
}
async function get(path: string): Promise<{ status: number; json: any }> {
  const res = await fetch(`${api!.url}${path}`);
  return { status: res.status, json: await res.json() };
}

describe('local RunPod-compatible endpoint', () => {
  it('works with runpod-sdk unchanged: run, status, cancel, health, purgeQueue', async () => {
    const runner = echoRunner();
    api = await startLocalApi({ runner, port: 0 });
    const endpoint = runpodSdk('local-key', { baseUrl: api.url }).endpoint('my-endpoint')!;
    const run = await endpoint.run({ input: { n: 'a', hold: true } });
    expect(run).toMatchObject({ status: 'IN_QUEUE' });
    const id = (run as { id: string }).id;

    const during = (await endpoint.status(id)) as any;
    expect(during.status).toBe('IN_PROGRESS');
    expect(during.output).toEqual({ encrypted_progress: 'p' });
    runner.release();

    let done: any;
    for (let i = 0; i < 50; i++) {
      done = await endpoint.status(id);
      if (done.status === 'COMPLETED') break;
      await sleep(20);
    }
    expect(done).toMatchObject({ id, status: 'COMPLETED', output: { echo: { n: 'a', hold: true } } });
    expect(typeof done.delayTime).toBe('number');
    expect(typeof done.executionTime).toBe('number');

    const health = await endpoint.health();
    expect(health.jobs).toMatchObject({ completed: 1, failed: 0, inQueue: 0, inProgress: 0 });
    expect(health.workers).toMatchObject({ idle: 1, running: 0 });

    const long = (await endpoint.run({ input: { n: 'long', hold: true } })) as { id: string };
    const queued = (await endpoint.run({ input: { n: 'queued' } })) as { id: string };
    expect(await endpoint.purgeQueue()).toEqual({ removed: 1, status: 'completed' });
    expect(((await endpoint.status(queued.id)) as any).status).toBe('CANCELLED');
    const cancelled = await endpoint.cancel(long.id);
    expect(cancelled).toMatchObject({ id: long.id, status: 'CANCELLED' });
  });

  it('queues submissions in arrival order and runs them one at a time, concurrent ones included', async () => {
    const runner = echoRunner(15);
    api = await startLocalApi({ runner, port: 0 });
    for (const n of ['1', '2', '3', '4', '5']) await post('/ep/run', { input: { n } });
    const concurrent = await Promise.all(['a', 'b', 'c', 'd'].map((n) => post('/ep/run', { input: { n } })));
    const last = concurrent.at(-1)!.json.id as string;
    await api.jobs.waitFor(api.jobs.get(last)!, 5_000);
    for (const r of concurrent) await api.jobs.waitFor(api.jobs.get(r.json.id)!, 5_000);
    expect(runner.order.slice(0, 5)).toEqual(['1', '2', '3', '4', '5']);
    expect([...runner.order.slice(5)].sort()).toEqual(['a', 'b', 'c', 'd']);
    expect(runner.maxConcurrent).toBe(1);
  });

  it('runsync waits and answers COMPLETED or FAILED; unknown ids are 404', async () => {
    api = await startLocalApi({ runner: echoRunner(10), port: 0 });
    const ok = await post('/ep/runsync', { input: { n: 's' } });
    expect(ok.status).toBe(200);
    expect(ok.json).toMatchObject({ status: 'COMPLETED', output: { echo: { n: 's' } } });
    expect(ok.json.id).toMatch(/^sync-/);
    const bad = await post('/ep/runsync?wait=5000', { input: { fail: true } });
    expect(bad.json).toMatchObject({ status: 'FAILED', error: '{"code":"BAD_INPUT","message":"m"}' });
    expect((await get('/ep/status/nope')).status).toBe(404);
    expect((await get('/ep/stream/' + ok.json.id)).json).toEqual({ status: 'COMPLETED', stream: [] });
  });

  it("serves runpod-python's unprefixed test routes", async () => {
    api = await startLocalApi({ runner: echoRunner(10), port: 0 });
    const run = await post('/run', { input: { n: 'py' } });
    expect(run.json.status).toBe('IN_QUEUE');
    await sleep(100);
    const status = await post(`/status/${run.json.id}`, {});
    expect(status.json).toMatchObject({ status: 'COMPLETED', output: { echo: { n: 'py' } } });
  });

  it('refuses bodies over the limits with 413 and a clear message, and bad bodies with 400', async () => {
    api = await startLocalApi({ runner: echoRunner(10), port: 0, maxRunBytes: 1000, maxRunSyncBytes: 2000 });
    const big = await post('/ep/run', { input: { blob: 'x'.repeat(1500) } });
    expect(big.status).toBe(413);
    expect(big.json.error).toMatch(/MB/);
    expect((await post('/ep/runsync', { input: { blob: 'x'.repeat(1500) } })).status).toBe(200);
    expect((await post('/ep/run', '{"input":')).status).toBe(400);
    expect((await post('/ep/run', { input: 'not an object' })).status).toBe(400);
    expect((await get('/ep/nowhere')).status).toBe(404);
  });
});
