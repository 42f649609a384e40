import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Fernet, openResult, sealBundle } from '../../shared/index.js';
import { startSimulator, type Simulator } from '../../simulator/index.js';
import { startPlatform, type PlatformEmulator } from '../helpers/runpod-platform.js';
import { spawn } from 'node:child_process';
import { CLI } from '../helpers/cli.js';

let sim: Simulator;
let platform: PlatformEmulator;
let work: string;
beforeAll(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'cs-worker-proc-'));
  sim = await startSimulator({ port: 0, stepMs: 40, disableMetadata: true, inputDir: path.join(work, 'in'), outputDir: path.join(work, 'out'), tempDir: path.join(work, 'tmp', 'temp') });
  platform = await startPlatform();
});
afterAll(async () => {
  await platform.close();
  await sim.close();
  rmSync(work, { recursive: true, force: true });
});

/** `comfy-seal worker` (RunPod mode) as a real process against the platform emulator and the simulator. */
function startWorker(key: string) {
  const child = spawn(process.execPath, [CLI, 'worker', '--comfy-url', sim.url, '--input-dir', sim.dirs.input, '--output-dir', sim.dirs.output, '--temp-dir', sim.dirs.temp], {
    env: { PATH: process.env.PATH, ...platform.env, ENCRYPTION_KEY: key, RUNPOD_ENDPOINT_ID: 'ep1', RUNPOD_PING_INTERVAL: '100' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (text += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (text += c));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { exited, kill: () => child.kill('SIGTERM'), logs: () => text };
}

it('comfy-seal worker on RunPod: takes a job, and on SIGTERM mid-job finishes it, posts it once and exits 0', async () => {
  const key = Fernet.generateKey();
  const fernet = new Fernet(key);
  const workflow = {
    '1': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'm.safetensors' } },
    '2': { class_type: 'EmptyLatentImage', inputs: { width: 16, height: 16, batch_size: 1 } },
    '3': { class_type: 'CLIPTextEncode', inputs: { text: 'x', clip: ['1', 1] } },
    '4': { class_type: 'KSampler', inputs: { model: ['1', 0], seed: 1, steps: 15, cfg: 1, sampler_name: 'euler', scheduler: 'normal', positive: ['3', 0], negative: ['3', 0], latent_image: ['2', 0], denoise: 1 } },
    '5': { class_type: 'VAEDecode', inputs: { samples: ['4', 0], vae: ['1', 2] } },
    '6': { class_type: 'SaveImage', inputs: { images: ['5', 0], filename_prefix: 'w' } },
  };
  platform.queueJob({ id: 'proc-job-u1', input: { encrypted_input: sealBundle({ workflow, images: [], options: {} }, fernet) } });
  const { exited, kill, logs } = startWorker(key);
  // Mid-job: a progress post has gone out, the result has not.
  await platform.waitFor((q) => q.path.endsWith('/proc-job-u1') && q.body.includes('IN_PROGRESS'));
  kill();
  expect(await exited).toBe(0);

  const results = platform.done().filter((q) => !q.body.includes('IN_PROGRESS'));
  expect(results).toHaveLength(1);
  const body = JSON.parse(results[0]!.body);
  expect(openResult(body.output, fernet).files.map((f) => f.filename)).toEqual(['w_00001_.png']);
  // Nothing after the result, pings carried the job id, logs are JSON lines without job content.
  expect(platform.done().at(-1)).toBe(results[0]);
  expect(platform.requests.some((q) => q.path.includes('/ping/') && q.query.job_id === 'proc-job-u1')).toBe(true);
  const lines = logs().trim().split('\n');
  for (const line of lines) expect(JSON.parse(line)).toHaveProperty('level');
  expect(lines.map((l) => JSON.parse(l).message)).toEqual(expect.arrayContaining(['comfy.ready', 'worker.start', 'job.start', 'job.done', 'job.posted', 'worker.stop']));
  // No second job was taken after SIGTERM.
  const takesAfterStop = platform.requests.filter((q) => q.path.includes('/job-take/') && q.at > results[0]!.at);
  expect(takesAfterStop).toEqual([]);
}, 30_000);

it('comfy-seal worker posts a multi-MB sealed result as its bytes, with the right length, that opens to the output', async () => {
  const key = Fernet.generateKey();
  const fernet = new Fernet(key);
  const side = 700; // ~2 MB of incompressible pixels
  const png = new PNG({ width: side, height: side });
  randomBytes(png.data.length).copy(png.data);
  for (let i = 3; i < png.data.length; i += 4) png.data[i] = 255; // LoadImage drops alpha, as ComfyUI's does
  const image = PNG.sync.write(png, { deflateLevel: 0 });
  const workflow = {
    '1': { class_type: 'LoadImage', inputs: { image: 'in.png' } },
    '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'big' } },
  };
  platform.queueJob({ id: 'big-job-u1', input: { encrypted_input: sealBundle({ workflow, images: [{ name: 'in.png', data: image }], options: {} }, fernet) } });
  const { exited, kill } = startWorker(key);
  const posted = await platform.waitFor((q) => q.path.endsWith('/big-job-u1') && !q.body.includes('IN_PROGRESS'), 20_000);
  kill();
  expect(await exited).toBe(0);

  expect(Buffer.byteLength(posted.body)).toBeGreaterThan(2_000_000); // outputs (no images map: not an older-shape request), base64, sealed
  expect(Number(posted.headers['content-length'])).toBe(Buffer.byteLength(posted.body));
  const [file] = openResult(JSON.parse(posted.body).output, fernet).files;
  const out = PNG.sync.read(file!.data);
  expect([out.width, out.height]).toEqual([side, side]);
  expect(out.data.equals(png.data)).toBe(true);
}, 30_000);

it('comfy-seal worker, once unhealthy (ComfyUI died mid-job), posts the failure with stopPod, takes nothing more and exits non-zero', async () => {
  const dying = await startSimulator({ port: 0, stepMs: 5, inputDir: path.join(work, 'd-in'), outputDir: path.join(work, 'd-out'), tempDir: path.join(work, 'd-tmp', 'temp'), faults: { crashAt: 'SaveImage' } });
  const key = Fernet.generateKey();
  const workflow = {
    '1': { class_type: 'EmptyImage', inputs: { width: 4, height: 4, batch_size: 1, color: 0 } },
    '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'd' } },
  };
  const input = { encrypted_input: sealBundle({ workflow, images: [], options: {} }, new Fernet(key)) };
  platform.queueJob({ id: 'dies-u1', input });
  platform.queueJob({ id: 'not-taken-u1', input });
  const child = spawn(process.execPath, [CLI, 'worker', '--comfy-url', dying.url, '--input-dir', dying.dirs.input, '--output-dir', dying.dirs.output, '--temp-dir', dying.dirs.temp], {
    env: { PATH: process.env.PATH, ...platform.env, ENCRYPTION_KEY: key, RUNPOD_ENDPOINT_ID: 'ep1', RUNPOD_PING_INTERVAL: '100' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (text += c));
  const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  const exitedAt = Date.now();
  await dying.close().catch(() => undefined);

  expect(code).toBe(1);
  const posts = platform.done().filter((q) => q.path.endsWith('/dies-u1') && !q.body.includes('IN_PROGRESS'));
  expect(posts).toHaveLength(1);
  const body = JSON.parse(posts[0]!.body);
  expect(body.stopPod).toBe(true);
  expect(JSON.parse(body.error).code).toBe('COMFY_UNAVAILABLE');
  expect(platform.requests.filter((q) => q.at > posts[0]!.at && q.path.includes('/job-take/'))).toEqual([]);
  expect(platform.requests.some((q) => q.path.endsWith('/not-taken-u1'))).toBe(false);
  expect(platform.requests.filter((q) => q.at > exitedAt)).toEqual([]);
  const messages = text.trim().split('\n').map((l) => JSON.parse(l).message);
  expect(messages.slice(-3)).toEqual(['job.posted', 'worker.unhealthy', 'worker.stop']);
}, 30_000);
