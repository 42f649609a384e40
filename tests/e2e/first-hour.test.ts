/**
 * The first hour of a new user (#13), through the built bin against `worker --local` and the simulator: mistakes are
 * found before anything is sent, failures say where and what next, and `--json` always prints one object.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { createServer, type Server } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fernet } from '../../shared/index.js';
import type { Simulator } from '../../simulator/index.js';
import { CLI, runCli } from '../helpers/cli.js';
import { getJson } from '../helpers/http.js';
import { listFiles } from '../helpers/pipeline.js';
import { startLocalStack, type LocalStack, type Service } from '../helpers/services.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const WORKFLOW = path.join(ROOT, 'examples', 'sd15-img2img.json');
const IMAGE = path.join(ROOT, 'examples', 'photo.png');

let stack: LocalStack;
let sim: Simulator;
let worker: Service;
let work: string;
const key = Fernet.generateKey();
const env = () => ({ ENCRYPTION_KEY: key, RUNPOD_API_URL: worker.url, RUNPOD_ENDPOINT_ID: 'e2e' });
const jobsSeen = async () => Object.values((await getJson(`${worker.url}/e2e/health`)).jobs as Record<string, number>).reduce((a, b) => a + b, 0);
const lastJson = (stdout: Buffer) => {
  const lines = stdout.toString().trim().split('\n');
  expect(lines).toHaveLength(1); // exactly one object, whatever happened
  return JSON.parse(lines[0]!);
};

// The simulator's models dir: empty (it lists no models, as without one) until a test puts a checkpoint in it.
const models = mkdtempSync(path.join(os.tmpdir(), 'cs-models-'));

beforeAll(async () => {
  stack = await startLocalStack(key, { stepMs: 5, modelsDir: models });
  ({ sim, worker, work } = stack);
});
afterAll(async () => {
  expect(await stack.close()).toBe(0);
  rmSync(models, { recursive: true, force: true });
});

describe('local checks, before anything is sent', () => {
  it('refuses a workflow that loads an image when no --img is given, naming the loader', async () => {
    const before = await jobsSeen();
    const r = await runCli(['run', '--workflow', WORKFLOW], { env: env() });
    expect([r.code, r.stderr]).toEqual([1, expect.stringContaining('BAD_INPUT: the workflow loads a file you did not give: 2 (LoadImage); give --img FILE')]);
    expect(await jobsSeen()).toBe(before);
  });

  it('refuses an --img that is not an image by its bytes, whatever its name', async () => {
    const fake = path.join(work, 'fake.png');
    writeFileSync(fake, 'this is text, not a PNG');
    const r = await runCli(['run', '--workflow', WORKFLOW, '--img', fake], { env: env() });
    expect([r.code, r.stderr]).toEqual([1, expect.stringContaining(`--img ${fake} is not an image`)]);
  });

  it('refuses --timeout 0 and a second --prompt, and suggests the flag a typo meant (exit 2)', async () => {
    const t = await runCli(['run', '--workflow', WORKFLOW, '--img', IMAGE, '--timeout', '0'], { env: env() });
    expect([t.code, t.stderr]).toEqual([2, expect.stringContaining('--timeout must be a positive number of seconds')]);
    const twice = await runCli(['run', '--workflow', WORKFLOW, '--img', IMAGE, '--prompt', 'a', '--prompt', 'b', '--dry-run'], { env: {} });
    expect([twice.code, twice.stderr]).toEqual([2, expect.stringContaining('--prompt was given twice; give it once')]);
    const typo = await runCli(['run', '--workflow', WORKFLOW, '--promt', 'a'], { env: {} });
    expect([typo.code, typo.stderr]).toEqual([2, expect.stringContaining("Unknown option '--promt'; did you mean --prompt?")]);
  });

  it('says how many MB fit when a request is over RunPod\'s 10 MB, and points to --blob-url', async () => {
    const big = path.join(work, 'big.png');
    writeFileSync(big, Buffer.concat([readFileSync(IMAGE).subarray(0, 16), randomBytes(7_000_000)]));
    const before = await jobsSeen();
    const r = await runCli(['run', '--workflow', WORKFLOW, '--img', big], { env: env() });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/REQUEST_TOO_LARGE: the sealed request is 12\.\d MB; RunPod's \/run takes at most 10 MB, which holds about 5\.\d MB of files .*--blob-url/);
    expect(await jobsSeen()).toBe(before);
  });

  it('warns when nothing in the workflow saves a file (preview only)', async () => {
    const wf = JSON.parse(readFileSync(WORKFLOW, 'utf8'));
    wf['8'] = { class_type: 'PreviewImage', inputs: { images: ['7', 0] } };
    const file = path.join(work, 'preview.json');
    writeFileSync(file, JSON.stringify(wf));
    const r = await runCli(['run', '--workflow', file, '--img', IMAGE, '--json'], { env: env() });
    expect(r.stderr).toContain('warning: the workflow has no node that saves a file');
    expect(lastJson(r.stdout)).toMatchObject({ status: 'COMPLETED', files: [] });
  });

  it('checks --out before submitting: a file, or a folder under a file, is exit 2 and no job', async () => {
    const file = path.join(work, 'a-file');
    writeFileSync(file, 'x');
    const before = await jobsSeen();
    const a = await runCli(['run', '--workflow', WORKFLOW, '--img', IMAGE, '--out', file], { env: env() });
    expect([a.code, a.stderr]).toEqual([2, expect.stringContaining(`--out ${file}: ${file} is a file, not a folder`)]);
    const b = await runCli(['run', '--workflow', WORKFLOW, '--img', IMAGE, '--out', path.join(file, 'sub'), '--json'], { env: env() });
    expect(b.code).toBe(2);
    expect(lastJson(b.stdout)).toMatchObject({ status: 'FAILED', code: 'USAGE', message: expect.stringContaining('is a file, not a folder') });
    expect(await jobsSeen()).toBe(before);
  });

  it('lists every missing setting at once, with its flag and variable (exit 2, --json CONFIG)', async () => {
    const r = await runCli(['run', '--workflow', WORKFLOW, '--img', IMAGE, '--json'], { env: {} });
    expect(r.code).toBe(2);
    const shown = lastJson(r.stdout);
    expect(shown).toMatchObject({ status: 'FAILED', code: 'CONFIG' });
    for (const part of ['--endpoint ID or RUNPOD_ENDPOINT_ID', '--api-key KEY or RUNPOD_API_KEY', '--key KEY or ENCRYPTION_KEY']) {
      expect(shown.message).toContain(part);
      expect(r.stderr).toContain(part);
    }
    const withFlags = await runCli(['run', '--workflow', WORKFLOW, '--img', IMAGE, '--dry-run', '--endpoint', 'x', '--api-key', 'k', '--key', key], { env: {} });
    expect(withFlags.code).toBe(0);
  });
});

describe('failures say where, and what to do next', () => {
  it('a wrong port fails within ~10 s, naming the URL as a local endpoint; --json is one object', async () => {
    const server: Server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    await new Promise((r) => server.close(r)); // nothing listens there now
    const started = Date.now();
    const r = await runCli(['run', '--workflow', WORKFLOW, '--img', IMAGE, '--json'], { env: { ...env(), RUNPOD_API_URL: `http://127.0.0.1:${port}` } });
    expect(Date.now() - started).toBeLessThan(12_000);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`NETWORK: could not reach the local endpoint at http://127.0.0.1:${port} (is 'comfy-seal worker --local' running on that port?) (ECONNREFUSED)`);
    expect(lastJson(r.stdout)).toMatchObject({ status: 'FAILED', code: 'NETWORK' });
  }, 20_000);

  it('a failed job is one JSON object with code, message and job_id', async () => {
    const wf = JSON.parse(readFileSync(WORKFLOW, 'utf8'));
    delete wf['6'].inputs.positive;
    const file = path.join(work, 'broken.json');
    writeFileSync(file, JSON.stringify(wf));
    const r = await runCli(['run', '--workflow', file, '--img', IMAGE, '--json'], { env: env() });
    expect(r.code).toBe(1);
    expect(lastJson(r.stdout)).toMatchObject({ status: 'FAILED', code: 'WORKFLOW_INVALID', message: expect.any(String), job_id: expect.any(String) });
  });

  it('a job the endpoint cannot open says its ENCRYPTION_KEY likely differs', async () => {
    const r = await runCli(['run', '--workflow', WORKFLOW, '--img', IMAGE], { env: { ...env(), ENCRYPTION_KEY: Fernet.generateKey() } });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('DECRYPT_FAILED');
    expect(r.stderr).toContain("its ENCRYPTION_KEY likely differs from yours");
  });

  it('a write that fails after the job names the path and prints the resume command, which then works', async () => {
    const out = path.join(work, 'blocked');
    mkdirSync(out);
    writeFileSync(path.join(out, 'demo'), 'a file where the result subfolder goes');
    const r = await runCli(['run', '--workflow', WORKFLOW, '--img', IMAGE, '--out', out, '--json'], { env: env() });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`OUTPUT_FAILED: could not write ${path.join(out, 'demo')} \\(EEXIST\\)`));
    const shown = lastJson(r.stdout);
    expect(shown).toMatchObject({ code: 'OUTPUT_FAILED', job_id: expect.any(String), resume: expect.stringContaining(`--resume-id ${shown.job_id}`) });
    expect(listFiles(out)).toEqual([path.join(out, 'demo')]); // no partial file
    rmSync(path.join(out, 'demo'));
    const again = await runCli(['run', '--resume-id', shown.job_id, '--out', out, '--json'], { env: env() });
    expect(lastJson(again.stdout)).toMatchObject({ status: 'COMPLETED', job_id: shown.job_id });
  });

  it('--resume-id of an unknown job does not suggest resuming it again', async () => {
    const r = await runCli(['run', '--resume-id', 'no-such-job', '--json'], { env: env() });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('RUNPOD_NOT_FOUND: job no-such-job is not known to the endpoint');
    expect(r.stderr).not.toContain('resume');
    expect(lastJson(r.stdout)).toMatchObject({ code: 'RUNPOD_NOT_FOUND', job_id: 'no-such-job' });
    expect(lastJson(r.stdout).resume).toBeUndefined();
  });

  it('Ctrl-C with --json prints one object carrying the resume and cancel commands; cancel stops the job', async () => {
    sim.settings.stepMs = 100;
    // Started as `npx comfy-seal run ...` is (npm sets npm_command=exec for the bin it runs).
    const child = spawn(process.execPath, [CLI, 'run', '--workflow', WORKFLOW, '--img', IMAGE, '--set', '6.inputs.steps=50', '--json'], {
      env: { PATH: process.env.PATH, ...env(), npm_command: 'exec' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    await new Promise<void>((resolve) => {
      const poll = setInterval(async () => {
        if ((await getJson(`${worker.url}/e2e/health`)).jobs.inProgress > 0) {
          clearInterval(poll);
          resolve();
        }
      }, 50);
    });
    child.kill('SIGINT');
    expect(await new Promise((r) => child.once('exit', r))).toBe(130);
    const shown = lastJson(Buffer.from(stdout));
    expect(shown).toMatchObject({ status: 'STOPPED', code: 'ABORTED', job_id: expect.any(String) });
    // The commands as the user runs the CLI: in a clone, `comfy-seal` alone is not on PATH (#20).
    expect(shown.resume).toBe(`npx comfy-seal run --resume-id ${shown.job_id} --out "."`);
    expect(shown.cancel).toBe(`npx comfy-seal cancel ${shown.job_id}`);

    const cancel = await runCli(['cancel', shown.job_id, '--json'], { env: { RUNPOD_API_URL: worker.url, RUNPOD_ENDPOINT_ID: 'e2e' } });
    expect([cancel.code, lastJson(cancel.stdout)]).toEqual([0, { job_id: shown.job_id, status: 'CANCELLED' }]);
    sim.settings.stepMs = 5;
    const status = await getJson(`${worker.url}/e2e/status/${shown.job_id}`);
    expect(status.status).toBe('CANCELLED');
  });

  it('cancel needs a job id (exit 2) and reports an unknown one (exit 1)', async () => {
    const none = await runCli(['cancel'], { env: env() });
    expect([none.code, none.stderr]).toEqual([2, expect.stringContaining('give the job id')]);
    const unknown = await runCli(['cancel', 'nope'], { env: env() });
    expect([unknown.code, unknown.stderr]).toEqual([1, expect.stringContaining('RUNPOD_NOT_FOUND')]);
  });

  it('worker --local on a busy port names the port and --port (exit 2)', async () => {
    const server: Server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    try {
      const r = await runCli(['worker', '--local', '--port', String(port), '--comfy-url', sim.url, '--input-dir', path.join(work, 'w2', 'in'), '--output-dir', path.join(work, 'w2', 'out'), '--temp-dir', path.join(work, 'w2', 'temp')], { env: { ENCRYPTION_KEY: key } });
      expect([r.code, r.stderr]).toEqual([2, expect.stringContaining(`port ${port} is in use`)]);
      expect(r.stderr).toContain('--port N');
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});

describe('node definitions against the local endpoint (#20)', () => {
  it('an empty model list names the real cause; a cache made before the endpoint changed does not block the run', async () => {
    const cache = path.join(work, 'defs-cache');
    const withCache = () => ({ ...env(), XDG_CACHE_HOME: cache });
    const nodes = await runCli(['nodes'], { env: withCache() });
    expect(nodes.code).toBe(0);
    expect(nodes.stdout.toString()).toMatch(/^\d+ node types of ComfyUI 0\.27\.1-simulator \(fetched now, cached in .*\)\nmodels:\n {2}checkpoints: 0\n/);

    // The simulator has no --models-dir: the check says that, not "add it to the endpoint (MODELS)".
    const before = await jobsSeen();
    const refused = await runCli(['run', '--workflow', WORKFLOW, '--img', IMAGE, '--out', path.join(work, 'never')], { env: withCache() });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('asking the endpoint for its current ones');
    expect(refused.stderr).toContain(
      'node 1 (CheckpointLoaderSimple) ckpt_name: "v1-5-pruned-emaonly.safetensors" is not installed: the endpoint lists no checkpoints at all [value_not_in_list]; ' +
        'fix: the simulator lists models only from its --models-dir: start it with --models-dir DIR, the file in DIR/checkpoints/',
    );
    expect(refused.stderr).not.toContain('MODELS');
    expect(await jobsSeen()).toBe(before + 2); // the definitions and a ping, asked again; the workflow never went

    // Same URL and endpoint id, the endpoint changed behind them (the model put in place): the old cache does not block.
    mkdirSync(path.join(models, 'checkpoints'));
    writeFileSync(path.join(models, 'checkpoints', 'v1-5-pruned-emaonly.safetensors'), randomBytes(2048));
    try {
      const staleCheck = await runCli(['check', '--workflow', WORKFLOW], { env: withCache() });
      expect([staleCheck.code, staleCheck.stderr]).toEqual([1, expect.stringMatching(/checked against the definitions cached \S+; if the endpoint changed since: 'node \S+ nodes --refresh'/)]);
      const ran = await runCli(['run', '--workflow', WORKFLOW, '--img', IMAGE, '--out', path.join(work, 'models-out'), '--json'], { env: withCache() });
      expect(ran.stderr).toContain('asking the endpoint for its current ones');
      expect(lastJson(ran.stdout)).toMatchObject({ status: 'COMPLETED' });
      const cached = await runCli(['nodes'], { env: withCache() });
      expect(cached.stdout.toString()).toMatch(/\(cached .*\)\nmodels:\n {2}checkpoints: 1\n/); // the cache holds the endpoint's new answer
      const fresh = await runCli(['check', '--workflow', WORKFLOW], { env: withCache() });
      expect(fresh.code).toBe(0);
    } finally {
      rmSync(path.join(models, 'checkpoints'), { recursive: true });
    }
  });

  it('nodes takes --api-key as run, cancel and doctor do', async () => {
    const r = await runCli(['nodes', '--api-key', 'rpa_x', '--endpoint', 'e2e', '--api-url', worker.url, '--refresh'], { env: { ENCRYPTION_KEY: key, XDG_CACHE_HOME: path.join(work, 'key-cache') } });
    expect([r.code, r.stderr]).toEqual([0, '']);
    expect((await runCli(['nodes', '--help'])).stdout.toString()).toContain('--api-key KEY');
  });
});
