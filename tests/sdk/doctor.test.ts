/** `doctor --client`'s sealed ping against RunPod's REST API faked by msw; the fake answers with results this test seals. */
import { http, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { clientChecks } from '../../client/doctor.js';
import { runChecks } from '../../shared/checks.js';
import { Fernet } from '../../shared/index.js';

const API = 'https://api.runpod.ai/v2';
const EP = 'ep-doc';
const key = Fernet.generateKey();
const fernet = new Fernet(key);
const server = setupServer();
beforeAll(() => server.listen({ onUnhandledRequest: 'error' }));
afterEach(() => server.resetHandlers());
afterAll(() => server.close());

/** A fake endpoint: health, and a /run whose sealed input the test opens, answered by `answer` at the first /status. */
function endpoint(answer: (input: { encrypted_input: string }) => Record<string, unknown>) {
  const seen: unknown[] = [];
  let input: { encrypted_input: string } | undefined;
  server.use(
    http.get(`${API}/${EP}/health`, () => HttpResponse.json({ jobs: { inQueue: 0, inProgress: 0 }, workers: { idle: 1 } })),
    http.post(`${API}/${EP}/run`, async ({ request }) => {
      input = ((await request.json()) as { input: { encrypted_input: string } }).input;
      seen.push(JSON.parse(fernet.decrypt(input.encrypted_input).toString()));
      return HttpResponse.json({ id: 'ping-1', status: 'IN_QUEUE' });
    }),
    http.get(`${API}/${EP}/status/ping-1`, () => HttpResponse.json({ id: 'ping-1', ...answer(input!) })),
  );
  return seen;
}

const checks = (extra: { key?: string } = {}) =>
  runChecks(clientChecks({ env: { RUNPOD_API_KEY: 'rpa', RUNPOD_ENDPOINT_ID: EP, ENCRYPTION_KEY: key, ...(extra.key ? { ENCRYPTION_KEY: extra.key } : {}) }, pingPollMs: 5, pingTimeoutMs: 2_000 }));
const sealed = (value: unknown) => ({ encrypted_output: fernet.encrypt(JSON.stringify(value)) });

describe('doctor --client: the sealed ping', () => {
  it('seals {"query":"ping"}; a result sealed with the same key proves the key and says ComfyUI answers', async () => {
    const seen = endpoint(() => ({ status: 'COMPLETED', output: sealed({ status: 'success', job_id: 'ping-1', outputs: [], ping: { comfy: { ok: true, version: '0.27.1' } } }) }));
    const results = await checks();
    expect(seen).toEqual([{ query: 'ping', options: {} }]);
    expect(results.map((r) => `${r.name}:${r.verdict}`)).toEqual(['key:ok', 'api key:ok', 'endpoint:ok', 'sealed ping:ok', 'comfyui:ok']);
    expect(results.at(-1)!.detail).toContain('0.27.1');
  });

  it("says when the endpoint's ComfyUI does not answer", async () => {
    endpoint(() => ({ status: 'COMPLETED', output: sealed({ status: 'success', job_id: 'ping-1', outputs: [], ping: { comfy: { ok: false } } }) }));
    const comfy = (await checks()).find((r) => r.name === 'comfyui')!;
    expect(comfy).toMatchObject({ verdict: 'fail', fix: expect.stringContaining('doctor --worker') });
  });

  it("fails with the fix when the endpoint cannot open the ping (DECRYPT_FAILED: its key differs)", async () => {
    endpoint(() => ({ status: 'FAILED', error: JSON.stringify({ code: 'DECRYPT_FAILED', message: 'the token does not open with this key' }) }));
    const ping = (await checks()).find((r) => r.name === 'sealed ping')!;
    expect(ping).toMatchObject({ verdict: 'fail', detail: expect.stringContaining('ENCRYPTION_KEY differs'), fix: expect.stringContaining('same ENCRYPTION_KEY') });
  });

  it("fails when the answer is another job's (a replay: §11), and calls an answer naming no job an older image", async () => {
    const ping = { status: 'success', outputs: [], ping: { comfy: { ok: true, version: '0.27.1' } } };
    endpoint(() => ({ status: 'COMPLETED', output: sealed({ ...ping, job_id: 'ping-0' }) }));
    const replayed = (await checks()).filter((r) => r.name === 'sealed ping' || r.name === 'comfyui');
    expect(replayed).toEqual([{ name: 'sealed ping', verdict: 'fail', detail: expect.stringContaining("another job's sealed answer"), fix: expect.stringContaining('rotate the RunPod API key') }]);
    endpoint(() => ({ status: 'COMPLETED', output: sealed(ping) }));
    expect((await checks()).find((r) => r.name === 'sealed ping')).toMatchObject({ verdict: 'warn', detail: expect.stringContaining('older image') });
  });

  it('fails when the answer is sealed with a key the user does not hold', async () => {
    const other = new Fernet(Fernet.generateKey());
    endpoint(() => ({ status: 'COMPLETED', output: { encrypted_output: other.encrypt('{}') } }));
    expect((await checks()).find((r) => r.name === 'sealed ping')).toMatchObject({ verdict: 'fail', detail: expect.stringContaining('cannot open') });
  });

  it('warns, and cancels the ping, when no worker takes it in time', async () => {
    let cancelled = false;
    endpoint(() => ({ status: 'IN_QUEUE' }));
    server.use(http.post(`${API}/${EP}/cancel/ping-1`, () => ((cancelled = true), HttpResponse.json({ id: 'ping-1', status: 'CANCELLED' }))));
    const ping = (await runChecks(clientChecks({ env: { RUNPOD_API_KEY: 'rpa', RUNPOD_ENDPOINT_ID: EP, ENCRYPTION_KEY: key }, pingPollMs: 5, pingTimeoutMs: 50 }))).find((r) => r.name === 'sealed ping')!;
    expect(ping).toMatchObject({ verdict: 'warn', detail: expect.stringContaining('no worker took the ping') });
    expect(cancelled).toBe(true);
  });
});
