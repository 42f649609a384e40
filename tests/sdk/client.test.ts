import { delay, http, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ComfySealClient } from '../../client/client.js';
import { JobFailedError, RequestTooLargeError, RunpodApiError, RunpodConnectionError, WaitTimeoutError } from '../../client/errors.js';
import { Fernet, SealError, sealError, sealProgress, sealResult } from '../../shared/index.js';

const API = 'https://api.runpod.ai/v2';
const EP = 'ep-test';
const key = Fernet.generateKey();
const fernet = new Fernet(key);
const server = setupServer();
beforeAll(() => server.listen({ onUnhandledRequest: 'error' }));
afterEach(() => server.resetHandlers());
afterAll(() => server.close());

const workflow = { '1': { class_type: 'EmptyImage', inputs: { width: 8 } } };
const client = (extra: Partial<ConstructorParameters<typeof ComfySealClient>[0]> = {}) =>
  new ComfySealClient({ endpointId: EP, apiKey: 'rpa_test', key, pollMinMs: 5, pollMaxMs: 20, maxRetries: 3, retryMinMs: 10, env: {}, ...extra });

describe('ComfySealClient against RunPod REST (msw)', () => {
  it('submits a sealed body with Bearer auth, polls with progress, and opens the result', async () => {
    let seenBody: { input: { encrypted_input?: string } } | undefined;
    let auth: string | null = null;
    let polls = 0;
    const files = [{ nodeId: '9', filename: 'out.png', subfolder: '', kind: 'image', mime: 'image/png', data: Buffer.from('img') }];
    server.use(
      http.post(`${API}/${EP}/run`, async ({ request }) => {
        auth = request.headers.get('authorization');
        seenBody = (await request.json()) as typeof seenBody;
        return HttpResponse.json({ id: 'job-1', status: 'IN_QUEUE' });
      }),
      http.get(`${API}/${EP}/status/job-1`, () => {
        polls++;
        if (polls === 1) return HttpResponse.json({ id: 'job-1', status: 'IN_QUEUE', delayTime: 120 });
        if (polls === 2) return HttpResponse.json({ id: 'job-1', status: 'IN_PROGRESS', output: sealProgress({ state: 'running', percent: 40, elapsed_ms: 5, job_id: 'job-1' }, fernet) });
        return HttpResponse.json({ id: 'job-1', status: 'COMPLETED', delayTime: 120, executionTime: 900, output: sealResult({ files, timingsMs: { total: 9 }, jobId: 'job-1' }, fernet) });
      }),
    );
    const events: unknown[] = [];
    const { jobId, result } = await client().run({ workflow }, { onProgress: (e) => events.push(e) });
    expect(jobId).toBe('job-1');
    expect(auth).toBe('Bearer rpa_test');
    expect(JSON.parse(fernet.decrypt(seenBody!.input.encrypted_input!).toString())).toEqual({ workflow, images: [], options: {} });
    expect(result.files).toEqual(files);
    expect(events).toMatchObject([
      { status: 'IN_QUEUE', progress: null, queueMs: 120 },
      { status: 'IN_PROGRESS', progress: { state: 'running', percent: 40 } },
    ]);
  });

  it('opens a FAILED job into JobFailedError with the sealed details', async () => {
    server.use(
      http.get(`${API}/${EP}/status/job-f`, () =>
        HttpResponse.json({ id: 'job-f', status: 'FAILED', error: sealError(new SealError('WORKFLOW_INVALID', 'ComfyUI refused the workflow', { node_errors: { '3': 'x' } }), fernet, 'job-f') }),
      ),
    );
    const error = await client().wait('job-f').catch((e) => e);
    expect(error).toBeInstanceOf(JobFailedError);
    expect(error.jobCode).toBe('WORKFLOW_INVALID');
    expect(error.details).toEqual({ node_errors: { '3': 'x' } });
  });

  it.each([
    [401, 'RUNPOD_AUTH'],
    [404, 'RUNPOD_NOT_FOUND'],
  ])('does not retry %i (%s)', async (status, code) => {
    let calls = 0;
    server.use(http.get(`${API}/${EP}/status/j`, () => { calls++; return new HttpResponse(null, { status }); }));
    const error = await client().wait('j').catch((e) => e);
    expect(error).toBeInstanceOf(RunpodApiError);
    expect(error.code).toBe(code);
    expect(calls).toBe(1);
  });

  it('retries status through 429 and 5xx', async () => {
    const answers = [429, 503, 500];
    server.use(
      http.get(`${API}/${EP}/status/j`, () => {
        const status = answers.shift();
        if (status) return new HttpResponse(null, { status });
        return HttpResponse.json({ id: 'j', status: 'CANCELLED' });
      }),
    );
    const error = await client().wait('j').catch((e) => e);
    expect(answers).toEqual([]);
    expect(error).toBeInstanceOf(JobFailedError);
    expect(error.jobCode).toBe('CANCELLED');
  }, 30_000);

  it('never repeats /run after a 5xx (it may have been queued)', async () => {
    let calls = 0;
    server.use(http.post(`${API}/${EP}/run`, () => { calls++; return new HttpResponse(null, { status: 502 }); }));
    const error = await client().submit({ workflow }).catch((e) => e);
    expect(error).toBeInstanceOf(RunpodApiError);
    expect(error.status).toBe(502);
    expect(calls).toBe(1);
  });

  it('maps network failures to RunpodConnectionError after retrying', async () => {
    let calls = 0;
    server.use(http.get(`${API}/${EP}/health`, () => { calls++; return HttpResponse.error(); }));
    const error = await client({ maxRetries: 1 }).health().catch((e) => e);
    expect(error).toBeInstanceOf(RunpodConnectionError);
    expect(calls).toBe(2);
  }, 30_000);

  it('times out a request that hangs, retries it, then reports a connection error', async () => {
    let calls = 0;
    server.use(
      http.get(`${API}/${EP}/status/slow-request`, async () => {
        calls++;
        await delay(2_000);
        return HttpResponse.json({ id: 'slow-request', status: 'IN_QUEUE' });
      }),
    );
    const started = Date.now();
    const error = await client({ requestTimeoutMs: 100, maxRetries: 1 }).wait('slow-request').catch((e) => e);
    expect(error).toBeInstanceOf(RunpodConnectionError);
    expect(calls).toBe(2);
    expect(Date.now() - started).toBeLessThan(1_500);
  });

  it('gives up waiting with WaitTimeoutError, leaving the job alone', async () => {
    server.use(http.get(`${API}/${EP}/status/slow`, () => HttpResponse.json({ id: 'slow', status: 'IN_QUEUE' })));
    const error = await client().wait('slow', { timeoutMs: 60 }).catch((e) => e);
    expect(error).toBeInstanceOf(WaitTimeoutError);
    expect(error.message).toContain('still running');
  });

  it('refuses a request over 10 MB before sending anything', async () => {
    const big = { name: 'big.png', data: Buffer.alloc(8 * 1024 * 1024, 1) };
    const error = await client().submit({ workflow, images: [big] }).catch((e) => e);
    expect(error).toBeInstanceOf(RequestTooLargeError);
    expect(error.message).toMatch(/at most 10 MB, which holds about [0-9.]+ MB of files .*--blob-url/);
  });

  it('plaintext (debug) mode sends the bundle itself', async () => {
    let body: unknown;
    server.use(http.post(`${API}/${EP}/run`, async ({ request }) => { body = await request.json(); return HttpResponse.json({ id: 'p', status: 'IN_QUEUE' }); }));
    await client({ plaintext: true, key: undefined }).submit({ workflow });
    expect(body).toEqual({ input: { workflow, images: [], options: {} } });
  });

  it('needs an endpoint, and a key unless plaintext', () => {
    expect(() => new ComfySealClient({ apiKey: 'x', key, env: {} })).toThrow(/RUNPOD_ENDPOINT_ID/);
    expect(() => new ComfySealClient({ endpointId: 'e', apiKey: 'x', env: {} })).toThrow(/ENCRYPTION_KEY/);
    expect(new ComfySealClient({ env: { RUNPOD_ENDPOINT_ID: 'e', RUNPOD_API_KEY: 'k', ENCRYPTION_KEY: key } }).endpointId).toBe('e');
  });
});
