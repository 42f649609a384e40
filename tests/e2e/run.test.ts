import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fernet } from '../../shared/index.js';
import type { Simulator } from '../../simulator/index.js';
import { CLI, killRunOnceSubmitted, runCli } from '../helpers/cli.js';
import { getJson } from '../helpers/http.js';
import { listFiles } from '../helpers/pipeline.js';
import { startLocalStack, type LocalStack, type Service } from '../helpers/services.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const WORKFLOW = path.join(ROOT, 'examples', 'sd15-img2img.json');
const IMAGE = path.join(ROOT, 'examples', 'photo.png');
const CANARY = 'canary-e2e-lilac-otter';

let stack: LocalStack;
let sim: Simulator;
let worker: Service;
let work: string;
const key = Fernet.generateKey();
const env = () => stack.env();

beforeAll(async () => {
  stack = await startLocalStack(key);
  ({ sim, worker, work } = stack);
});
afterAll(async () => {
  expect(await stack.close()).toBe(0);
});

describe('comfy-seal run → worker --local → simulator', () => {
  it('prepares, seals, runs and writes the files; the wire and the worker log never show the prompt', async () => {
    const out = path.join(work, 'result');
    const r = await runCli(['run', '--workflow', WORKFLOW, '--img', IMAGE, '--prompt', CANARY, '--negative', 'blurry', '--seed', '3', '--out', out, '--json'], { env: env() });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout.toString());
    expect(report.status).toBe('COMPLETED');
    expect(report.files.map((f: { path: string }) => path.relative(out, f.path))).toEqual(['demo/lighthouse_00001_.png']);
    const png = PNG.sync.read(readFileSync(report.files[0].path));
    expect(png.width).toBeGreaterThan(0);
    const status = await (await fetch(`${worker.url}/e2e/status/${report.job_id}`)).text();
    expect(status).toContain('encrypted_output');
    expect(status).not.toContain(CANARY);
    expect(worker.output()).not.toContain(CANARY);
    expect(listFiles(sim.dirs.input).concat(listFiles(sim.dirs.output), listFiles(sim.dirs.temp))).toEqual([]);

    // Again into the same folder: the existing file is kept, the new one gets a numbered name.
    const again = await runCli(['run', '--workflow', WORKFLOW, '--img', IMAGE, '--prompt', 'x', '--out', out, '--json'], { env: env() });
    const second = JSON.parse(again.stdout.toString());
    expect(path.basename(second.files[0].path)).toBe('lighthouse_00001_-2.png');
    expect(readFileSync(report.files[0].path).equals(readFileSync(second.files[0].path))).toBe(false);
  });

  it('--file fills audio and video loaders by node id; the worker stages them and the outputs come back', async () => {
    const wf = {
      '1': { class_type: 'LoadAudio', inputs: { audio: 'example.wav', upload: 'audio' } },
      '2': { class_type: 'SaveAudio', inputs: { audio: ['1', 0], filename_prefix: 'audio/echo' } },
      '3': { class_type: 'VHS_LoadVideo', inputs: { video: 'example.mp4', force_rate: 0, frame_load_cap: 3 } },
      '4': { class_type: 'VHS_VideoCombine', inputs: { images: ['3', 0], frame_rate: 8, loop_count: 0, filename_prefix: 'clip', format: 'video/h264-mp4', pingpong: false, save_output: true } },
    };
    const file = path.join(work, 'media.json');
    writeFileSync(file, JSON.stringify(wf));
    writeFileSync(path.join(work, `${CANARY}.wav`), Buffer.from(`RIFF-${CANARY}`));
    writeFileSync(path.join(work, 'take.mp4'), Buffer.from('not really an mp4'));
    const out = path.join(work, 'media-out');
    const args = ['run', '--workflow', file, '--file', `1=${path.join(work, `${CANARY}.wav`)}`, '--file', `3=${path.join(work, 'take.mp4')}`, '--out', out, '--json'];
    const r = await runCli(args, { env: env() });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout.toString());
    expect(report.files.map((f: { path: string }) => path.relative(out, f.path)).sort()).toEqual(['audio/echo_00001_.flac', 'clip_00001.mp4']);
    expect(worker.output()).not.toContain(CANARY); // the file's name is the user's too
    expect(listFiles(sim.dirs.input).concat(listFiles(sim.dirs.output), listFiles(sim.dirs.temp))).toEqual([]);

    const notLoader = await runCli(['run', '--workflow', file, '--file', `2=${path.join(work, 'take.mp4')}`, '--dry-run'], { env: {} });
    expect([notLoader.code, notLoader.stderr]).toEqual([1, expect.stringContaining('node 2 (SaveAudio) does not load a file')]);
    const missing = await runCli(['run', '--workflow', file, '--file', '1=nowhere.wav', '--dry-run'], { env: {} });
    expect([missing.code, missing.stderr]).toEqual([2, expect.stringContaining('cannot read file nowhere.wav')]);
    const malformed = await runCli(['run', '--workflow', file, '--file', 'nonsense', '--dry-run'], { env: {} });
    expect([malformed.code, malformed.stderr]).toEqual([2, expect.stringContaining('--file wants NODE=FILE')]);
  });

  it('prints a human summary and the job id when not --json', async () => {
    const out = path.join(work, 'human');
    const r = await runCli(['run', '--workflow', WORKFLOW, '--img', IMAGE, '--out', out], { env: env() });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^submitted job \S+-l1\n$/);
    expect(r.stdout.toString()).toMatch(/done: 1 file\n {2}.*lighthouse_00001_\.png {2}\(image, \d+ bytes\)/);
  });

  it('--dry-run --json prints the bundle, which seal --bundle takes as is, and sends nothing', async () => {
    const before = (await getJson(`${worker.url}/e2e/health`)).jobs.completed;
    const r = await runCli(['run', '--workflow', WORKFLOW, '--img', IMAGE, '--prompt', 'P', '--dry-run', '--json'], { env: {} });
    expect(r.code).toBe(0);
    const shown = JSON.parse(r.stdout.toString());
    expect(shown.workflow['4'].inputs.text).toBe('P');
    expect(shown.images).toEqual([{ name: 'photo.png', image: readFileSync(IMAGE).toString('base64') }]);
    expect(shown.options).toEqual({});
    expect(shown.report.prompt).toEqual([{ node_id: '4', class_type: 'CLIPTextEncode', fields: ['text'] }]);
    expect((await getJson(`${worker.url}/e2e/health`)).jobs.completed).toBe(before);
    const sealed = await runCli(['seal', '--bundle'], { env: { ENCRYPTION_KEY: key }, stdin: r.stdout });
    expect([sealed.code, sealed.stderr]).toEqual([0, '']);
    const opened = JSON.parse(new Fernet(key).decrypt(JSON.parse(sealed.stdout.toString()).input.encrypted_input).toString());
    expect(opened.images).toEqual(shown.images);
    const human = await runCli(['run', '--workflow', WORKFLOW, '--img', IMAGE, '--dry-run'], { env: {} });
    expect(JSON.parse(human.stdout.toString()).images).toEqual([{ name: 'photo.png', bytes: readFileSync(IMAGE).length }]);
  });

  it('reports a failed job with its opened code and details, exit 1', async () => {
    const wf = JSON.parse(readFileSync(WORKFLOW, 'utf8'));
    delete wf['6'].inputs.positive;
    const file = path.join(work, 'broken.json');
    writeFileSync(file, JSON.stringify(wf));
    const r = await runCli(['run', '--workflow', file, '--img', IMAGE], { env: env() });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/failed: WORKFLOW_INVALID: ComfyUI refused the workflow/);
    expect(r.stderr).toMatch(/required_input_missing/);
  });

  it('gives clear errors for bad input: UI format, image count, missing file, no key', async () => {
    const ui = path.join(work, 'ui.json');
    writeFileSync(ui, JSON.stringify({ nodes: [{ id: 1, type: 'MyCustomNode', widgets_values: [1] }], links: [] }));
    const a = await runCli(['run', '--workflow', ui], { env: env() });
    expect([a.code, a.stderr]).toEqual([1, expect.stringContaining("no node definitions for MyCustomNode, and the file does not name their widgets: run 'comfy-seal nodes'")]);
    const b = await runCli(['run', '--workflow', WORKFLOW, '--img', IMAGE, IMAGE], { env: env() });
    expect(b.stderr).toMatch(/1 image loader \(2\) but 2 images were given/);
    const c = await runCli(['run', '--workflow', path.join(work, 'nope.json')], { env: env() });
    expect([c.code, c.stderr]).toEqual([2, expect.stringContaining('cannot read workflow')]);
    const d = await runCli(['run', '--workflow', WORKFLOW, '--img', IMAGE], { env: { RUNPOD_API_URL: worker.url, RUNPOD_ENDPOINT_ID: 'e2e' } });
    expect([d.code, d.stderr]).toEqual([2, expect.stringContaining("missing setting: --key KEY or ENCRYPTION_KEY (make one with 'comfy-seal keygen')")]);
  });

  it('--debug says loudly that it sends plaintext, and a worker that refuses plaintext says PLAINTEXT_REFUSED', async () => {
    const r = await runCli(['run', '--workflow', WORKFLOW, '--img', IMAGE, '--debug'], { env: env() });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/--debug: the job is sent in PLAINTEXT; RunPod can read it/);
    expect(r.stderr).toMatch(/failed: PLAINTEXT_REFUSED/);
  });

  it('resumes a job after the client process is killed mid-wait', async () => {
    sim.settings.stepMs = 100;
    const out = path.join(work, 'resumed');
    const { jobId } = await killRunOnceSubmitted(['--workflow', WORKFLOW, '--img', IMAGE, '--set', '6.inputs.steps=12', '--out', out], env());
    expect(listFiles(out)).toEqual([]);
    sim.settings.stepMs = 5;
    const r = await runCli(['run', '--resume-id', jobId, '--out', out, '--json'], { env: env() });
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout.toString());
    expect(report.job_id).toBe(jobId);
    expect(listFiles(out).map((f) => path.basename(f))).toEqual(['lighthouse_00001_.png']);
  });

  it('Ctrl-C stops waiting, leaves the job running and prints the exact resume command', async () => {
    sim.settings.stepMs = 100;
    const child = spawn(process.execPath, [CLI, 'run', '--workflow', WORKFLOW, '--img', IMAGE, '--set', '6.inputs.steps=10', '--out', path.join(work, 'ctrlc')], {
      env: { PATH: process.env.PATH, ...env() },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    await new Promise<void>((resolve) => {
      child.stderr.setEncoding('utf8').on('data', (c: string) => {
        stderr += c;
        if (stderr.includes('submitted job')) resolve();
      });
    });
    child.kill('SIGINT');
    const code = await new Promise((r) => child.once('exit', r));
    sim.settings.stepMs = 5;
    expect(code).toBe(130);
    // Printed the way this run was started: `node dist/cli.js` (npx comfy-seal under npx; tests/client/invoked-as.test.ts).
    const cli = `node ${path.relative(process.cwd(), CLI)}`;
    expect(stderr).toMatch(new RegExp(`still running\\nresume with:\\n {2}${cli} run --resume-id \\S+ --out "[^"]+ctrlc"\\ncancel with:\\n {2}${cli} cancel \\S+\\n$`));
  });
});
