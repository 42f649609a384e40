/**
 * Issue #14 end to end, through the built bin, `worker --local` and the simulator: the sealed node-definitions query
 * (SDK and `comfy-seal nodes`, with its cache) and the ping. With a real UI workflow: tests/reference/e2e/ui-workflows.test.ts.
 */
import { statSync, readdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ComfySealClient } from '../../client/client.js';
import { ComfyHttp } from '../../handler/comfy/http.js';
import { runQuery } from '../../handler/query.js';
import { DEFAULT_JOB_CONFIG, type JobDeps } from '../../handler/job.js';
import { Fernet, openFailure, SealError } from '../../shared/index.js';
import { openQueryAnswer } from '../../shared/query.js';
import type { Simulator } from '../../simulator/index.js';
import { runCli } from '../helpers/cli.js';
import { getJson } from '../helpers/http.js';
import { startLocalStack, type LocalStack, type Service } from '../helpers/services.js';


const CANARY = 'canary-ui-amber-heron';

let stack: LocalStack;
let sim: Simulator;
let worker: Service;
let work: string;
let cache: string;
const key = Fernet.generateKey();
const env = () => ({ ENCRYPTION_KEY: key, RUNPOD_API_URL: worker.url, RUNPOD_ENDPOINT_ID: 'ui', XDG_CACHE_HOME: cache });

beforeAll(async () => {
  stack = await startLocalStack(key, { stepMs: 1 });
  ({ sim, worker, work } = stack);
  cache = path.join(work, 'cache');
});
afterAll(async () => {
  expect(await stack.close()).toBe(0);
});

describe('node definitions, sealed', () => {
  it('client.nodes() returns ComfyUI\'s /object_info; on the wire it is sealed', async () => {
    const client = new ComfySealClient({ endpointId: 'ui', apiUrl: worker.url, key, pollMinMs: 20 });
    const info = await client.nodes();
    expect(info).toEqual(await getJson(`${sim.url}/object_info`));
    expect(Object.keys(info)).toContain('KSampler');
  });

  it('the status of a query job holds only a token', async () => {
    const fernet = new Fernet(key);
    const body = { input: { encrypted_input: fernet.encrypt(JSON.stringify({ query: 'object_info' })) } };
    const { id } = (await (await fetch(`${worker.url}/ui/runsync`, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } })).json()) as { id: string };
    const text = await (await fetch(`${worker.url}/ui/status/${id}`)).text();
    expect(text).toContain('encrypted_output');
    expect(text).not.toContain('KSampler');
    expect(openQueryAnswer(JSON.parse(text).output, fernet)).toMatchObject({ outputs: [], job_id: id }); // the job that asked (§11)
    expect(worker.output()).not.toContain('KSampler');
  });

  it('client.ping() says ComfyUI answers, with its version; a bundle with both a workflow and a query is refused', async () => {
    const client = new ComfySealClient({ endpointId: 'ui', apiUrl: worker.url, key, pollMinMs: 20 });
    const ping = await client.ping();
    expect(ping).toEqual({ comfy: { ok: true, version: expect.any(String) } });
    const fernet = new Fernet(key);
    const bad = { input: { encrypted_input: fernet.encrypt(JSON.stringify({ query: 'ping', workflow: {} })) } };
    const res = (await (await fetch(`${worker.url}/ui/runsync`, { method: 'POST', body: JSON.stringify(bad), headers: { 'content-type': 'application/json' } })).json()) as { error: string };
    expect(JSON.parse(res.error).code).toBe('BAD_INPUT');
    const unknown = { input: { encrypted_input: fernet.encrypt(JSON.stringify({ query: `list-${CANARY}` })) } };
    const r2 = (await (await fetch(`${worker.url}/ui/runsync`, { method: 'POST', body: JSON.stringify(unknown), headers: { 'content-type': 'application/json' } })).json()) as { error: string };
    expect(JSON.parse(r2.error).code).toBe('BAD_INPUT');
    expect(r2.error).not.toContain(CANARY);
  });

  it('answers object_info only to a sealed query; a plaintext ping is fine', async () => {
    const http = new ComfyHttp({ url: sim.url });
    const deps = { http, clock: { now: () => 0, sleep: () => new Promise(() => undefined) }, log: { log: () => undefined }, fernet: null, config: DEFAULT_JOB_CONFIG } as unknown as JobDeps;
    expect(await runQuery('j0', 'object_info', deps, null)).toMatchObject({ kind: 'failure', code: 'PLAINTEXT_REFUSED' });
    expect(await runQuery('j0', 'ping', deps, null)).toMatchObject({ kind: 'success', output: { job_id: 'j0', ping: { comfy: { ok: true } } } });
    // A sealed query's failure names the job that asked too (§11).
    const fernet = new Fernet(key);
    const refused = await runQuery('j2', 'object_info', { ...deps, http: { objectInfo: () => Promise.reject(new SealError('COMFY_UNAVAILABLE', 'ComfyUI is gone')) } } as unknown as JobDeps, fernet);
    expect(refused.kind === 'failure' && openFailure(refused.error, fernet)).toMatchObject({ sealed: true, jobId: 'j2', error: { code: 'COMFY_UNAVAILABLE' } });
    await http.close();
  });

  it('a ping answers ok:false when ComfyUI does not answer within its limit', async () => {
    const silent: Server = createServer(() => undefined); // accepts, never answers
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as { port: number }).port;
    // Its own request limit (1 s) only bounds the clean-up; the ping's limit decides first.
    const http = new ComfyHttp({ url: `http://127.0.0.1:${port}`, requestTimeoutMs: 1_000 });
    const clock = { now: () => 0, sleep: () => Promise.resolve() }; // the 5 s limit, passed at once
    const deps = { http, clock, log: { log: () => undefined }, fernet: null, config: { ...DEFAULT_JOB_CONFIG, dirs: { input: '/nonexistent', output: '/nonexistent', temp: '/nonexistent' } } } as unknown as JobDeps;
    const outcome = await runQuery('j1', 'ping', deps, null);
    expect(outcome).toEqual({ kind: 'success', output: { status: 'success', job_id: 'j1', outputs: [], ping: { comfy: { ok: false } } }, timingsMs: expect.any(Object) });
    await http.close();
    silent.closeAllConnections();
    await new Promise((resolve) => silent.close(resolve));
  });
});

describe('comfy-seal nodes', () => {
  it('nodes fetches, caches (0600 in a 0700 dir) and then reads the cache; --json prints the definitions', async () => {
    const first = await runCli(['nodes'], { env: env() });
    expect([first.code, first.stderr]).toEqual([0, '']);
    expect(first.stdout.toString()).toMatch(/^\d+ node types \(fetched now, cached in .*object-info-[0-9a-f]{32}\.json\)\nmodels:\n {2}checkpoints: \d+/);
    const dir = path.join(cache, 'comfy-seal');
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    const [file] = readdirSync(dir);
    expect(statSync(path.join(dir, file!)).mode & 0o777).toBe(0o600);
    const before = (await getJson(`${worker.url}/ui/health`)).jobs.completed;
    const again = await runCli(['nodes', '--json'], { env: env() });
    expect(JSON.parse(again.stdout.toString())).toEqual(await getJson(`${sim.url}/object_info`));
    expect((await getJson(`${worker.url}/ui/health`)).jobs.completed).toBe(before); // from the cache
    const refreshed = await runCli(['nodes', '--refresh'], { env: env() });
    expect(refreshed.stdout.toString()).toMatch(/fetched now/);
  });
});
