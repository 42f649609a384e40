/**
 * The local endpoint on the developer's machine (contract §11): pages they visit must not reach it (foreign Host,
 * unlisted Origin), its queue is bounded, and a job's input is not kept once the job has started or ended.
 * Real HTTP with the headers a browser (or a DNS-rebinding page) sends.
 */
import { request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { ComfySealClient } from '../../client/index.js';
import type { JobContext, JobOutcome } from '../../handler/job.js';
import { parseAllowedOrigins } from '../../handler/local/guard.js';
import { startLocalApi, type LocalApi } from '../../handler/local/server.js';
import { Fernet } from '../../shared/index.js';

let api: LocalApi | undefined;
afterEach(async () => {
  await api?.close();
  api = undefined;
});

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json: any;
}

/** One request with exactly these headers (fetch would not let a test set Host). */
function call(method: string, path: string, headers: Record<string, string>, body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: api!.port, method, path, headers: { ...headers, ...(body !== undefined ? { 'content-length': String(Buffer.byteLength(body)) } : {}) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode!, headers: res.headers, json: text === '' ? null : JSON.parse(text) });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** A runner whose jobs run until released or cancelled; `refuse: true` jobs fail at once, as a bad token does. */
function heldRunner() {
  const held: Array<() => void> = [];
  const seen: unknown[] = [];
  return {
    seen,
    release: () => held.splice(0).forEach((r) => r()),
    recheck: async () => null,
    async run(job: { id: string; input: unknown }, ctx: JobContext): Promise<JobOutcome> {
      seen.push(job.input);
      if ((job.input as { refuse?: boolean }).refuse) return { kind: 'failure', error: '{"code":"DECRYPT_FAILED","message":"m"}', code: 'DECRYPT_FAILED', unhealthy: false };
      const cancelled = await new Promise<boolean>((resolve) => {
        held.push(() => resolve(false));
        ctx.signal?.addEventListener('abort', () => resolve(true), { once: true });
      });
      return cancelled ? { kind: 'cancelled' } : { kind: 'success', output: { ok: true }, timingsMs: {} };
    },
  };
}

const json = { 'content-type': 'application/json' };

describe('local endpoint: who may call it', () => {
  it('refuses a foreign Host (DNS rebinding) with 403 and a JSON code, and runs nothing', async () => {
    const runner = heldRunner();
    api = await startLocalApi({ runner, port: 0 });
    for (const host of ['evil.example', `evil.example:${api.port}`, 'localhost.evil.example', '127.0.0.1.evil.example', '10.0.0.1', '[::2]']) {
      const refused = await call('POST', '/ep/run', { ...json, host }, '{"input":{"n":1}}');
      expect(refused.status, host).toBe(403);
      expect(refused.json).toMatchObject({ code: 'BAD_INPUT', error: expect.stringContaining('127.0.0.1') });
    }
    expect((await call('GET', '/ep/health', { host: 'evil.example' })).status).toBe(403);
    expect(runner.seen).toEqual([]);
    expect(api.jobs.health()).toMatchObject({ jobs: { inQueue: 0, inProgress: 0 } });
    for (const host of ['localhost', `localhost:${api.port}`, 'LOCALHOST', '127.0.0.1', `127.0.0.1:${api.port}`, '127.8.9.10', '[::1]', `[::1]:${api.port}`]) {
      expect((await call('GET', '/ep/health', { host })).status, host).toBe(200);
    }
  });

  it("a cross-site page's text/plain POST cannot purge the queue or cancel a job: an unlisted Origin is 403", async () => {
    const runner = heldRunner();
    api = await startLocalApi({ runner, port: 0 });
    const host = `127.0.0.1:${api.port}`;
    const running = await call('POST', '/ep/run', { ...json, host }, '{"input":{"n":"running"}}');
    const queued = await call('POST', '/ep/run', { ...json, host }, '{"input":{"n":"queued"}}');
    const page = { host, origin: 'http://evil.example', 'content-type': 'text/plain' };
    const purge = await call('POST', '/x/purge-queue', page, '');
    expect(purge.status).toBe(403);
    expect(purge.json).toMatchObject({ code: 'BAD_INPUT', error: expect.stringContaining('--allow-origin') });
    expect((await call('POST', `/x/cancel/${running.json.id}`, page, '')).status).toBe(403);
    expect((await call('POST', '/x/run', page, '{"input":{}}')).status).toBe(403);
    expect((await call('GET', `/x/status/${running.json.id}`, { host, origin: 'null' })).status).toBe(403);
    expect(api.jobs.get(running.json.id)!.status).toBe('IN_PROGRESS');
    expect(api.jobs.get(queued.json.id)!.status).toBe('IN_QUEUE');
  });

  it('--allow-origin lets a listed page in, with the CORS headers its browser needs (preflight included)', async () => {
    api = await startLocalApi({ runner: heldRunner(), port: 0, allowedOrigins: parseAllowedOrigins(['http://localhost:5173/,https://app.test']) });
    const host = `localhost:${api.port}`;
    const preflight = await call('OPTIONS', '/ep/run', { host, origin: 'http://localhost:5173', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' });
    expect(preflight.status).toBe(204);
    expect(preflight.headers).toMatchObject({ 'access-control-allow-origin': 'http://localhost:5173', 'access-control-allow-headers': expect.stringContaining('content-type') });
    const run = await call('POST', '/ep/run', { ...json, host, origin: 'https://app.test' }, '{"input":{"n":1}}');
    expect(run.status).toBe(200);
    expect(run.headers['access-control-allow-origin']).toBe('https://app.test');
    expect((await call('GET', '/ep/health', { host, origin: 'http://localhost:5174' })).status).toBe(403);
    expect(() => parseAllowedOrigins(['localhost:5173'])).toThrow(/--allow-origin/);
    expect(() => parseAllowedOrigins(['http://localhost:5173/app'])).toThrow(/not an origin/);
  });
});

describe('local endpoint: bounded queue, inputs not kept', () => {
  it('past --max-queue waiting jobs, /run and /runsync answer 429 with a code; room again once one leaves', async () => {
    const runner = heldRunner();
    api = await startLocalApi({ runner, port: 0, maxQueue: 2 });
    const host = `127.0.0.1:${api.port}`;
    const ids: string[] = [];
    for (const n of [1, 2, 3]) ids.push((await call('POST', '/ep/run', { ...json, host }, JSON.stringify({ input: { n } }))).json.id);
    // One running, two waiting: the queue is full.
    const full = await call('POST', '/ep/run', { ...json, host }, '{"input":{"n":4}}');
    expect(full.status).toBe(429);
    expect(full.json).toMatchObject({ code: 'BAD_INPUT', error: expect.stringContaining('--max-queue') });
    expect((await call('POST', '/ep/runsync', { ...json, host }, '{"input":{"n":5}}')).status).toBe(429);
    expect(api.jobs.health()).toMatchObject({ jobs: { inQueue: 2, inProgress: 1 } });
    await call('POST', `/ep/cancel/${ids[2]}`, { host });
    expect((await call('POST', '/ep/run', { ...json, host }, '{"input":{"n":6}}')).status).toBe(200);
  });

  it("the client shows the endpoint's own reason for a refusal, not a guess about RunPod", async () => {
    api = await startLocalApi({ runner: heldRunner(), port: 0, maxQueue: 1 });
    const client = new ComfySealClient({ apiUrl: api.url, endpointId: 'ep', key: Fernet.generateKey(), maxRetries: 1, retryMinMs: 10 });
    const request = { workflow: { '1': { class_type: 'EmptyImage', inputs: {} } } };
    await client.submit(request); // runs (held)
    await client.submit(request); // waits
    await expect(client.submit(request)).rejects.toMatchObject({ code: 'RUNPOD_RATE_LIMITED', message: expect.stringContaining('answered 429: the queue is full (at most 1 waiting)') });
  });

  it('drops a job input once the job has started, and for jobs refused or cancelled while waiting', async () => {
    const runner = heldRunner();
    api = await startLocalApi({ runner, port: 0 });
    const host = `127.0.0.1:${api.port}`;
    const big = 'x'.repeat(1 << 20);
    const refused = (await call('POST', '/ep/run', { ...json, host }, JSON.stringify({ input: { refuse: true, big } }))).json.id;
    const running = (await call('POST', '/ep/run', { ...json, host }, JSON.stringify({ input: { n: 'run', big } }))).json.id;
    const waiting = (await call('POST', '/ep/run', { ...json, host }, JSON.stringify({ input: { n: 'wait', big } }))).json.id;
    expect(api.jobs.get(refused)).toMatchObject({ status: 'FAILED' });
    expect(api.jobs.get(running)).toMatchObject({ status: 'IN_PROGRESS' });
    expect(api.jobs.get(refused)!.input).toBeUndefined();
    expect(api.jobs.get(running)!.input).toBeUndefined();
    expect(runner.seen).toEqual([{ refuse: true, big }, { n: 'run', big }]); // the runner got them whole
    expect(api.jobs.get(waiting)!.input).toEqual({ n: 'wait', big });
    await call('POST', `/ep/cancel/${waiting}`, { host });
    expect(api.jobs.get(waiting)).toMatchObject({ status: 'CANCELLED' });
    expect(api.jobs.get(waiting)!.input).toBeUndefined();
    runner.release();
    await api.jobs.waitFor(api.jobs.get(running)!, 5_000);
    expect(api.jobs.get(running)).toMatchObject({ status: 'COMPLETED' });
    expect(api.jobs.get(running)!.input).toBeUndefined();
  });
});
