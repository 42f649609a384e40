/**
 * Issue #14 end to end, through the built bin, `worker --local` and the simulator: the sealed node-definitions query
 * (SDK and `comfy-seal nodes`, with its cache), the ping, `check` and `convert` on the cache, and a UI-format workflow
 * (the real default SD1.5 graph, and the same inside a PNG) run into files.
 */
import { readFileSync, statSync, writeFileSync, readdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ComfySealClient } from '../../client/client.js';
import { ComfyHttp } from '../../handler/comfy/http.js';
import { runQuery } from '../../handler/query.js';
import { DEFAULT_JOB_CONFIG, type JobDeps } from '../../handler/job.js';
import { Fernet } from '../../shared/index.js';
import { openQueryAnswer } from '../../shared/query.js';
import type { Simulator } from '../../simulator/index.js';
import { runCli } from '../helpers/cli.js';
import { getJson } from '../helpers/http.js';
import { startLocalStack, type LocalStack, type Service } from '../helpers/services.js';

const UI = '/work/shared/fixtures/ui-workflows/01-sd15-default-txt2img/ui.json';
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
    expect(openQueryAnswer(JSON.parse(text).output, fernet).outputs).toEqual([]);
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
    expect(await runQuery('j0', 'ping', deps, null)).toMatchObject({ kind: 'success', output: { ping: { comfy: { ok: true } } } });
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
    expect(outcome).toEqual({ kind: 'success', output: { status: 'success', outputs: [], ping: { comfy: { ok: false } } }, timingsMs: expect.any(Object) });
    await http.close();
    silent.closeAllConnections();
    await new Promise((resolve) => silent.close(resolve));
  });
});

describe('comfy-seal nodes / check / convert / run with a UI workflow', () => {
  it('nodes fetches, caches (0600 in a 0700 dir) and then reads the cache; --json prints the definitions', async () => {
    const first = await runCli(['nodes'], { env: env() });
    expect([first.code, first.stderr]).toEqual([0, '']);
    expect(first.stdout.toString()).toMatch(/^\d+ node types of ComfyUI \S+ \(fetched now, cached in .*object-info-[0-9a-f]{32}\.json\)\nmodels:\n {2}checkpoints: \d+/);
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

  it('convert prints the API workflow from the cached definitions; check finds what the endpoint lacks', async () => {
    const converted = await runCli(['convert', '--workflow', UI], { env: env() });
    expect(converted.stderr).toBe('comfy-seal convert: ui.json: converted from the UI format\n');
    const api = JSON.parse(converted.stdout.toString());
    expect(api['3']).toEqual({
      class_type: 'KSampler',
      inputs: { seed: 156680208700286, steps: 20, cfg: 8, sampler_name: 'euler', scheduler: 'normal', denoise: 1, model: ['4', 0], positive: ['6', 0], negative: ['7', 0], latent_image: ['5', 0] },
      _meta: { title: 'KSampler' },
    });
    // The simulator lists no checkpoints: the check says so, with the node, the input and what to do.
    const checked = await runCli(['check', '--workflow', UI], { env: env() });
    expect(checked.code).toBe(1);
    expect(checked.stderr).toContain('comfy-seal check: node 4 (CheckpointLoaderSimple) ckpt_name: "v1-5-pruned-emaonly.ckpt" is not installed: the endpoint lists no checkpoints at all [value_not_in_list]');
    const json = JSON.parse((await runCli(['check', '--workflow', UI, '--json'], { env: env() })).stdout.toString());
    expect(json).toMatchObject({ ok: false, nodes: 7, source: 'ui' });
    expect(json.problems).toContainEqual(expect.objectContaining({ node_id: '4', input: 'ckpt_name', type: 'value_not_in_list' }));
    const none = await runCli(['check', '--workflow', UI], { env: { ...env(), RUNPOD_ENDPOINT_ID: 'other' } });
    expect([none.code, none.stderr]).toEqual([1, expect.stringContaining("no node definitions: run 'comfy-seal nodes'")]);
  });

  it('run checks before submitting (nothing queued), and with --no-check runs the UI workflow into files', async () => {
    const before = (await getJson(`${worker.url}/ui/health`)).jobs.completed;
    const refused = await runCli(['run', '--workflow', UI, '--prompt', CANARY, '--out', path.join(work, 'never')], { env: env() });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/WORKFLOW_INVALID: the workflow does not pass the check .*--no-check/);
    // The cache lacked the checkpoint, so run asked the endpoint again (definitions + ping); the workflow never went.
    expect((await getJson(`${worker.url}/ui/health`)).jobs.completed).toBe(before + 2);

    const out = path.join(work, 'ui-out');
    const r = await runCli(['run', '--workflow', UI, '--prompt', CANARY, '--no-check', '--out', out, '--json'], { env: env() });
    expect(r.stderr).toBe('comfy-seal run: ui.json: converted from the UI format\n');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout.toString());
    expect(report.files.map((f: { path: string }) => path.basename(f.path))).toEqual(['ComfyUI_00001_.png']);
    expect(worker.output()).not.toContain(CANARY);

    const dry = JSON.parse((await runCli(['run', '--workflow', UI, '--prompt', CANARY, '--no-check', '--dry-run', '--json'], { env: env() })).stdout.toString());
    expect(dry.workflow['6'].inputs.text).toBe(CANARY);
    expect(dry.workflow['3'].inputs.seed).toBe(156680208700286);
  });

  it('run takes a PNG that carries a workflow, and says which one it used', async () => {
    const chunk = (type: string, data: Buffer) => {
      const head = Buffer.alloc(8);
      head.writeUInt32BE(data.length);
      head.write(type, 4, 'latin1');
      const crc = Buffer.alloc(4);
      crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])));
      return Buffer.concat([head, data, crc]);
    };
    const file = path.join(work, 'saved.png');
    const text = Buffer.concat([Buffer.from('workflow\0', 'latin1'), readFileSync(UI)]);
    writeFileSync(file, Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('tEXt', text), chunk('IEND', Buffer.alloc(0))]));
    const r = await runCli(['run', '--workflow', file, '--no-check', '--out', path.join(work, 'png-out'), '--json'], { env: env() });
    expect(r.stderr).toBe("comfy-seal run: saved.png: using the PNG's embedded workflow (UI format, converted)\n");
    expect(r.code).toBe(0);
  });
});

describe('--object-info FILE, no endpoint', () => {
  const DUMP = '/work/shared/fixtures/comfyui-v0.27.1/object_info.json';
  const API = '/work/shared/fixtures/ui-workflows/02-flux-fp8-txt2img/api.json';

  it('convert passes an API file through and converts a UI file with the given definitions', async () => {
    const api = await runCli(['convert', '--workflow', API, '--object-info', DUMP], { env: {} });
    expect([api.code, api.stderr]).toEqual([0, '']);
    expect(JSON.parse(api.stdout.toString())).toEqual(JSON.parse(readFileSync(API, 'utf8')));
    const ui = await runCli(['convert', '--workflow', API.replace('api.json', 'ui.json'), '--object-info', DUMP], { env: {} });
    expect(JSON.parse(ui.stdout.toString())).toEqual(JSON.parse(readFileSync(API, 'utf8')));
    const bad = await runCli(['convert', '--workflow', API, '--object-info', path.join(work, 'missing.json')], { env: {} });
    expect([bad.code, bad.stderr]).toEqual([2, expect.stringContaining('cannot read --object-info')]);
  });

  it('check passes a workflow whose models the definitions list, and run --dry-run checks it too', async () => {
    const info = JSON.parse(readFileSync(DUMP, 'utf8'));
    info.CheckpointLoaderSimple.input.required.ckpt_name[0] = ['v1-5-pruned-emaonly.ckpt'];
    const defs = path.join(work, 'defs.json');
    writeFileSync(defs, JSON.stringify(info));
    const ok = await runCli(['check', '--workflow', UI, '--object-info', defs], { env: {} });
    expect([ok.code, ok.stdout.toString()]).toEqual([0, `ok: 7 nodes pass the check (definitions: ${defs})\n`]);
    const dry = await runCli(['run', '--workflow', UI, '--object-info', DUMP, '--dry-run'], { env: {} });
    expect([dry.code, dry.stderr]).toEqual([1, expect.stringMatching(/ckpt_name: "v1-5-pruned-emaonly.ckpt" is not installed[\s\S]*WORKFLOW_INVALID/)]);
    const unchecked = await runCli(['run', '--workflow', UI, '--object-info', DUMP, '--dry-run', '--no-check'], { env: {} });
    expect(unchecked.code).toBe(0);
  });
});
