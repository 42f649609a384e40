/**
 * A real UI-format workflow end to end (../shared/fixtures/ui-workflows: the default SD1.5 graph, and the same inside a
 * PNG), through the built bin, `worker --local` and the simulator: `check` and `convert` on the cached definitions, `run`
 * into files; and `--object-info FILE` with no endpoint.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fernet } from '../../../shared/index.js';
import { runCli } from '../../helpers/cli.js';
import { getJson } from '../../helpers/http.js';
import { OBJECT_INFO_FILE } from '../../helpers/recorded.js';
import { sharedPath } from '../../helpers/reference.js';
import { startLocalStack, type LocalStack, type Service } from '../../helpers/services.js';

const UI = sharedPath('fixtures', 'ui-workflows', '01-sd15-default-txt2img', 'ui.json');
const CANARY = 'canary-ui-amber-heron';

let stack: LocalStack;
let worker: Service;
let work: string;
let cache: string;
const key = Fernet.generateKey();
const env = () => ({ ENCRYPTION_KEY: key, RUNPOD_API_URL: worker.url, RUNPOD_ENDPOINT_ID: 'ui', XDG_CACHE_HOME: cache });

beforeAll(async () => {
  stack = await startLocalStack(key, { stepMs: 1 });
  ({ worker, work } = stack);
  cache = path.join(work, 'cache');
  // The endpoint's definitions, cached as `comfy-seal nodes` caches them (that command's own test is in tests/e2e).
  expect((await runCli(['nodes'], { env: env() })).code).toBe(0);
});
afterAll(async () => {
  expect(await stack.close()).toBe(0);
});

describe('check / convert / run with a UI workflow', () => {
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
    expect(checked.stderr).toContain('comfy-seal check: node 4 (CheckpointLoaderSimple) ckpt_name: "v1-5-pruned-emaonly.ckpt" is not installed on the endpoint (none in this list is) [value_not_in_list]');
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
    expect((await getJson(`${worker.url}/ui/health`)).jobs.completed).toBe(before);

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
  const DUMP = OBJECT_INFO_FILE;
  const API = sharedPath('fixtures', 'ui-workflows', '02-flux-fp8-txt2img', 'api.json');

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
