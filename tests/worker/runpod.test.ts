import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Fernet, openResult, sealResultBytes } from '../../shared/index.js';
import { systemClock } from '../../handler/clock.js';
import type { JobContext, JobOutcome } from '../../handler/job.js';
import { createLogger } from '../../handler/log.js';
import { doneBody, fillTemplate, Platform } from '../../handler/runpod/platform.js';
import { runWorkerLoop, type JobRunner } from '../../handler/runpod/worker.js';
import { API_KEY, POD_ID, startPlatform, type PlatformEmulator } from '../helpers/runpod-platform.js';

let platform: PlatformEmulator;
let logs: string[];
beforeEach(async () => {
  platform = await startPlatform();
  logs = [];
});
afterEach(async () => {
  await platform.close();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A runner whose jobs do what the test says, so the loop and the real HTTP emulator are what is under test. */
function runner(script: (job: { id: string; input: unknown }, ctx: JobContext) => Promise<JobOutcome>, healthy = true): JobRunner & { ran: string[] } {
  const ran: string[] = [];
  return {
    ran,
    run: async (job, ctx) => {
      ran.push(job.id);
      return script(job, ctx);
    },
    healthy: async () => healthy,
  };
}

function startLoop(r: JobRunner, opts: { pingIntervalMs?: number; backoffMs?: number; pingUrl?: string; takeTimeoutMs?: number } = {}) {
  const shutdown = new AbortController();
  const env = platform.env;
  const p = new Platform({
    takeUrl: env.RUNPOD_WEBHOOK_GET_JOB!,
    doneUrl: env.RUNPOD_WEBHOOK_POST_OUTPUT!,
    pingUrl: opts.pingUrl ?? env.RUNPOD_WEBHOOK_PING!,
    apiKey: API_KEY,
    podId: POD_ID,
    pingIntervalMs: opts.pingIntervalMs ?? 10_000,
    ...(opts.takeTimeoutMs ? { takeTimeoutMs: opts.takeTimeoutMs } : {}),
  });
  const done = runWorkerLoop(
    {
      platform: p,
      runner: r,
      log: createLogger({ json: true, write: (l) => logs.push(l) }),
      clock: systemClock,
      pingIntervalMs: opts.pingIntervalMs ?? 10_000,
      backoffMs: opts.backoffMs ?? 5_000,
      postMaxDelayMs: 50,
    },
    shutdown.signal,
  ).finally(() => p.close());
  return { stop: async () => { shutdown.abort(); return done; }, shutdown, done };
}

const messages = () => logs.map((l) => JSON.parse(l).message as string);
const takes = () => platform.requests.filter((q) => q.path.includes('/job-take/'));

const success = (output: unknown): JobOutcome => ({ kind: 'success', output, timingsMs: {} });

describe('RunPod worker protocol', () => {
  it('fills URL templates as runpod-python does', () => {
    expect(fillTemplate('https://a/v2/ep/job-done/$RUNPOD_POD_ID/$ID?gpu=L4', { podId: 'p1', id: 'j1' }, { isStream: 'false' })).toBe(
      'https://a/v2/ep/job-done/p1/j1?gpu=L4&isStream=false',
    );
    expect(fillTemplate('https://a/ping/$RUNPOD_POD_ID', { podId: 'p1', id: 'p1' }, { job_id: undefined, runpod_version: '1' })).toBe(
      'https://a/ping/p1?runpod_version=1',
    );
  });

  it('takes a job, posts serialized progress, then the result once; URLs and headers as the platform expects', async () => {
    platform.queueJob({ id: 'job-1-u1', input: { encrypted_input: 'tok' } });
    const r = runner(async (_job, ctx) => {
      for (let i = 1; i <= 5; i++) ctx.onProgress?.({ encrypted_progress: `p${i}` });
      await sleep(100);
      ctx.onProgress?.({ encrypted_progress: 'late-but-before-result' });
      return success({ encrypted_output: 'result-token' });
    });
    const loop = startLoop(r);
    const result = await platform.waitFor((q) => q.path.includes('/job-done/') && q.body.includes('result-token'));
    await loop.stop();

    const take = platform.requests.find((q) => q.path.includes('/job-take/'))!;
    expect(take.method).toBe('GET');
    expect(take.path).toBe(`/v2/ep1/job-take/${POD_ID}`);
    expect(take.query).toEqual({ gpu: 'NVIDIA L4', job_in_progress: '0' });
    expect(take.headers.authorization).toBe(API_KEY); // raw key, no Bearer

    expect(result.method).toBe('POST');
    expect(result.path).toBe(`/v2/ep1/job-done/${POD_ID}/job-1-u1`);
    expect(result.query).toEqual({ gpu: 'NVIDIA L4', isStream: 'false' });
    expect(result.headers.authorization).toBe(API_KEY);
    expect(JSON.parse(result.body)).toEqual({ output: { encrypted_output: 'result-token' } });

    const posts = platform.done();
    const progress = posts.filter((q) => JSON.parse(q.body).status === 'IN_PROGRESS');
    expect(progress.length).toBeGreaterThanOrEqual(1);
    expect(progress.length).toBeLessThanOrEqual(6);
    // Nothing after the result, and the newest progress was not lost.
    expect(posts.at(-1)).toBe(result);
    expect(progress.some((q) => q.body.includes('late-but-before-result'))).toBe(true);
    expect(posts.filter((q) => q.body.includes('result-token'))).toHaveLength(1);
  });

  it('posts a sealed output as its token bytes (with stopPod alongside), again after a 5xx, and releases them once posted', async () => {
    const fernet = new Fernet(Fernet.generateKey());
    const files = [{ nodeId: '9', filename: 'a.png', subfolder: '', kind: 'image', mime: 'image/png', data: randomBytes(600_000) }];
    const sealed = sealResultBytes({ files, timingsMs: {} }, fernet); // a token over 1 MiB: releasable
    const token = sealed.encrypted_output;
    expect(doneBody({ output: sealed, stopPod: true }).map((b) => b.toString('latin1')).join('')).toBe(
      JSON.stringify({ output: { encrypted_output: token }, stopPod: true }),
    );

    platform.queueJob({ id: 'job-sealed', input: {} });
    platform.doneStatuses.push(503); // the retry must still have the bytes
    const loop = startLoop(runner(async () => success(sealed)));
    await platform.waitFor(() => platform.done().length === 2);
    await loop.stop();
    const posted = platform.done()[1]!;
    expect(Number(posted.headers['content-length'])).toBe(Buffer.byteLength(posted.body));
    expect(JSON.parse(posted.body)).toEqual({ output: { encrypted_output: token } });
    expect(openResult(JSON.parse(posted.body).output, fernet).files[0]!.data.equals(files[0]!.data)).toBe(true);
    expect(sealed.bytes.length).toBe(0); // given back after the post
  });

  it('backs off after 429 on take', async () => {
    platform.takeStatuses.push(429);
    platform.queueJob({ id: 'j-after-429', input: {} });
    const loop = startLoop(runner(async () => success({ ok: 1 })), { backoffMs: 300 });
    await platform.waitFor((q) => q.path.includes('/job-done/'));
    await loop.stop();
    const takes = platform.requests.filter((q) => q.path.includes('/job-take/'));
    expect(takes[1]!.at - takes[0]!.at).toBeGreaterThanOrEqual(280);
  });

  it('treats 204 and 400 on take as "no job"', async () => {
    platform.takeStatuses.push(204, 400);
    platform.queueJob({ id: 'j3', input: {} });
    const r = runner(async () => success({}));
    const loop = startLoop(r);
    await platform.waitFor((q) => q.path.includes('/job-done/'));
    await loop.stop();
    expect(r.ran).toEqual(['j3']);
  });

  it('retries the result through 5xx until delivered, exactly once', async () => {
    platform.queueJob({ id: 'j-5xx', input: {} });
    platform.doneStatuses.push(503, 502, 500);
    const loop = startLoop(runner(async () => success({ encrypted_output: 'precious' })));
    await platform.waitFor(() => platform.done().length >= 4);
    await sleep(200);
    await loop.stop();
    const posts = platform.done();
    expect(posts).toHaveLength(4); // three refused, one delivered, no more
    for (const p of posts) expect(JSON.parse(p.body)).toEqual({ output: { encrypted_output: 'precious' } });
  });

  it('keeps beating with the running job id during a long job, and without it when idle', async () => {
    platform.queueJob({ id: 'long-job-u1', input: {} });
    const loop = startLoop(runner(async () => { await sleep(400); return success({}); }), { pingIntervalMs: 50 });
    await platform.waitFor((q) => q.path.includes('/job-done/'));
    await sleep(150);
    await loop.stop();
    const pings = platform.requests.filter((q) => q.path === `/v2/ep1/ping/${POD_ID}`);
    const withJob = pings.filter((q) => q.query.job_id === 'long-job-u1');
    expect(withJob.length).toBeGreaterThanOrEqual(4);
    expect(pings.at(-1)!.query.job_id).toBeUndefined();
    expect(pings.every((q) => q.headers.authorization === API_KEY && typeof q.query.runpod_version === 'string')).toBe(true);
  });

  it('cancels the running job on job-stop and posts nothing for it', async () => {
    platform.queueJob({ id: 'stop-me', input: {} });
    platform.queueJob({ id: 'next', input: {} });
    let sawAbort = false;
    const r = runner(async (job, ctx) => {
      if (job.id === 'stop-me') {
        platform.stopJobs(['stop-me']);
        await new Promise<void>((resolve) => ctx.signal!.addEventListener('abort', () => resolve(), { once: true }));
        sawAbort = true;
        return { kind: 'cancelled' };
      }
      return success({ id: job.id });
    });
    const loop = startLoop(r);
    await platform.waitFor((q) => q.path.endsWith('/next'));
    await loop.stop();
    expect(sawAbort).toBe(true);
    expect(platform.done().map((q) => q.path.split('/').pop())).toEqual(['next']);
    expect(platform.requests.some((q) => q.path.includes('/job-stop/'))).toBe(true);
  });

  it('on shutdown finishes the running job, posts it, and takes no more', async () => {
    platform.queueJob({ id: 'mid-flight', input: {} });
    platform.queueJob({ id: 'never-taken', input: {} });
    let loop!: ReturnType<typeof startLoop>;
    const r = runner(async () => {
      loop.shutdown.abort(); // SIGTERM arrives mid-job
      await sleep(150);
      return success({ finished: true });
    });
    loop = startLoop(r);
    await loop.done;
    expect(r.ran).toEqual(['mid-flight']);
    expect(platform.done().map((q) => JSON.parse(q.body))).toEqual([{ output: { finished: true } }]);
  });

  it('beats with every job of a batch take until it is posted, the waiting ones included (as runpod-python)', async () => {
    platform.queueJob([{ id: 'p1', input: {} }, { id: 'p2', input: {} }]);
    const loop = startLoop(runner(async () => { await sleep(200); return success({}); }), { pingIntervalMs: 30 });
    await platform.waitFor((q) => q.path.endsWith('/p2'), 5_000);
    await sleep(100);
    await loop.stop();
    const ids = platform.requests.filter((q) => q.path.includes('/ping/')).map((q) => q.query.job_id);
    expect(ids).toContain('p1,p2');
    expect(ids).toContain('p2');
    expect(ids.indexOf('p2')).toBeGreaterThan(ids.indexOf('p1,p2'));
    expect(ids.at(-1)).toBeUndefined();
  });

  it('runs a batch take one job at a time', async () => {
    platform.queueJob([{ id: 'b1', input: {} }, { id: 'b2', input: {} }]);
    let concurrent = 0;
    let maxConcurrent = 0;
    const r = runner(async () => {
      maxConcurrent = Math.max(maxConcurrent, ++concurrent);
      await sleep(30);
      concurrent--;
      return success({});
    });
    const loop = startLoop(r);
    await platform.waitFor((q) => q.path.endsWith('/b2'));
    await loop.stop();
    expect(r.ran).toEqual(['b1', 'b2']);
    expect(maxConcurrent).toBe(1);
  });

  it('unhealthy: posts the result with stopPod, takes no further job, stops beating and ends "unhealthy"', async () => {
    platform.queueJob({ id: 'gone', input: {} });
    platform.queueJob({ id: 'never-taken', input: {} });
    const failure: JobOutcome = { kind: 'failure', error: '{"code":"COMFY_UNAVAILABLE","message":"x"}', code: 'COMFY_UNAVAILABLE', unhealthy: true };
    const r = runner(async () => failure);
    const loop = startLoop(r, { pingIntervalMs: 30 });
    expect(await loop.done).toBe('unhealthy'); // on its own, without a shutdown
    const posted = platform.done();
    expect(posted.map((q) => JSON.parse(q.body))).toEqual([{ error: failure.error, stopPod: true }]);
    expect(r.ran).toEqual(['gone']);
    expect(takes().filter((q) => q.at > posted[0]!.at)).toEqual([]);
    const seen = platform.requests.length;
    await sleep(150);
    expect(platform.requests.length).toBe(seen); // no ping, take or job-stop poll after the end
    expect(messages()).toEqual(expect.arrayContaining(['worker.unhealthy', 'worker.stop']));
  });

  it('a failure after which ComfyUI no longer answers is unhealthy too; a healthy failure is not', async () => {
    platform.queueJob({ id: 'sick', input: {} });
    const failure: JobOutcome = { kind: 'failure', error: '{"code":"EXECUTION_FAILED","encrypted_error":"t"}', code: 'EXECUTION_FAILED', unhealthy: false };
    expect(await startLoop(runner(async () => failure, false)).done).toBe('unhealthy');
    expect(platform.done().map((q) => JSON.parse(q.body))).toEqual([{ error: failure.error, stopPod: true }]);

    platform.queueJob({ id: 'fine', input: {} });
    const loop = startLoop(runner(async () => failure, true));
    await platform.waitFor((q) => q.path.endsWith('/fine'));
    await sleep(100);
    expect(await loop.stop()).toBe('shutdown');
    expect(JSON.parse(platform.done().at(-1)!.body)).toEqual({ error: failure.error });
  });

  it('unhealthy mid-batch: the waiting batch jobs never run and fail plainly with stopPod; a cancelled unhealthy job posts nothing', async () => {
    platform.queueJob([{ id: 'b1', input: {} }, { id: 'b2', input: {} }]);
    const r = runner(async () => ({ kind: 'failure', error: '{"code":"INTERNAL","message":"w"}', code: 'INTERNAL', unhealthy: true }));
    expect(await startLoop(r).done).toBe('unhealthy');
    expect(r.ran).toEqual(['b1']);
    const bodies = platform.done().map((q) => [q.path.split('/').pop(), JSON.parse(q.body)]);
    expect(bodies[1]![0]).toBe('b2');
    expect(bodies[1]![1].stopPod).toBe(true);
    expect(JSON.parse(bodies[1]![1].error)).toMatchObject({ code: 'COMFY_UNAVAILABLE', message: expect.stringContaining('unhealthy before this job started') });

    platform.requests.length = 0;
    platform.queueJob({ id: 'cancelled-sick', input: {} });
    const cancelled = { kind: 'cancelled', unhealthy: true } as JobOutcome;
    expect(await startLoop(runner(async () => cancelled)).done).toBe('unhealthy');
    expect(platform.done()).toEqual([]);
  });

  it('without RUNPOD_WEBHOOK_PING sends no pings and logs nothing about it; a failing ping is logged once, not per beat', async () => {
    platform.queueJob({ id: 'j-noping', input: {} });
    const loop = startLoop(runner(async () => { await sleep(150); return success({}); }), { pingIntervalMs: 20, pingUrl: '' });
    await platform.waitFor((q) => q.path.includes('/job-done/'));
    await sleep(100);
    await loop.stop();
    expect(platform.requests.filter((q) => q.path.includes('/ping/'))).toEqual([]);
    expect(messages().filter((m) => m.startsWith('ping'))).toEqual([]);

    logs = [];
    const refused = startLoop(runner(async () => success({})), { pingIntervalMs: 20, pingUrl: 'http://127.0.0.1:9/ping/$RUNPOD_POD_ID' });
    await sleep(250);
    await refused.stop();
    expect(messages().filter((m) => m === 'ping.error')).toEqual(['ping.error']);
  });

  it('an empty long poll that times out re-polls at once, without a warning or a sleep', async () => {
    platform.holdEmptyTakes(2_000); // longer than the worker's bound
    const loop = startLoop(runner(async () => success({})), { takeTimeoutMs: 150 });
    await platform.waitFor(() => takes().length >= 3, 5_000);
    await loop.stop();
    const [a, b, c] = takes();
    expect(b!.at - a!.at).toBeGreaterThanOrEqual(100); // it was held, then given up
    expect(b!.at - a!.at).toBeLessThan(600); // the bound, not the bound plus a 1 s pause
    expect(c!.at - b!.at).toBeLessThan(600);
    expect(messages().filter((m) => m === 'take.error')).toEqual([]);
  });

  it('honours a job-stop for a batch job still waiting: it never runs and nothing is posted for it', async () => {
    platform.queueJob([{ id: 'b1', input: {} }, { id: 'b2', input: {} }, { id: 'b3', input: {} }]);
    const r = runner(async (job) => {
      if (job.id === 'b1') {
        const asked = Date.now();
        platform.stopJobs(['b2']);
        // The stop is delivered by the next job-stop poll (one may be in flight; the watcher pauses between quick answers).
        await platform.waitFor((q) => q.path.includes('/job-stop/') && q.at >= asked, 5_000);
        await sleep(100);
      }
      return success({ id: job.id });
    });
    const loop = startLoop(r);
    await platform.waitFor((q) => q.path.endsWith('/b3'), 8_000);
    await loop.stop();
    expect(r.ran).toEqual(['b1', 'b3']);
    expect(platform.done().map((q) => q.path.split('/').pop())).toEqual(['b1', 'b3']);
    expect(logs.some((l) => JSON.parse(l).message === 'job.cancelled' && JSON.parse(l).requestId === 'b2')).toBe(true);
  }, 15_000);

  it('replaces a result the platform refuses (400, too large) with an OUTPUT_TOO_LARGE failure', async () => {
    platform.queueJob({ id: 'huge', input: {} });
    platform.doneStatuses.push(400);
    const loop = startLoop(runner(async () => success({ encrypted_output: 'x'.repeat(1000) })));
    await platform.waitFor(() => platform.done().length >= 2);
    await loop.stop();
    const last = JSON.parse(platform.done()[1]!.body);
    expect(JSON.parse(last.error).code).toBe('OUTPUT_TOO_LARGE');
  });

  it('logs JSON lines with no job content', async () => {
    platform.queueJob({ id: 'j-log', input: { encrypted_input: 'SECRET-TOKEN' } });
    const loop = startLoop(runner(async () => success({ encrypted_output: 'SECRET-OUT' })));
    await platform.waitFor((q) => q.path.includes('/job-done/'));
    await loop.stop();
    const text = logs.join('');
    expect(text).not.toContain('SECRET');
    for (const line of logs) expect(() => JSON.parse(line)).not.toThrow();
    expect(logs.some((l) => JSON.parse(l).message === 'job.posted' && JSON.parse(l).requestId === 'j-log')).toBe(true);
  });
});
