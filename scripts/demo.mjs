#!/usr/bin/env node
// The demo: the ComfyUI simulator + the local worker (a RunPod-compatible endpoint) + the client CLI, sealed end to end.
// Everything runs on loopback; every step says what it did.
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Fernet } from '../dist/index.js';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const cli = path.join(root, 'dist', 'cli.js');
const out = path.join(root, 'demo-out');
const children = [];

function say(step, text) {
  process.stdout.write(`\n[${step}] ${text}\n`);
}

/** Starts a comfy-seal command and resolves with the first URL it prints. */
function startService(name, args, env) {
  const child = spawn(process.execPath, [cli, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error(`${name} did not start in time:\n${text}`)), 30_000);
    const onData = (chunk) => {
      text += chunk;
      const url = /(http:\/\/127\.0\.0\.1:\d+)/.exec(text)?.[1];
      if (url) {
        clearTimeout(timer);
        child.stdout.off('data', onData);
        child.stdout.resume();
        resolve({ child, url });
      }
    };
    child.stdout.setEncoding('utf8').on('data', onData);
    child.stderr.setEncoding('utf8').on('data', (c) => (text += c));
    child.once('exit', (code) => reject(new Error(`${name} exited (${code}):\n${text}`)));
  });
}

function run(args, env) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (c) => (stdout += c));
    child.once('exit', (code) => (code === 0 ? resolve(stdout) : reject(new Error(`comfy-seal ${args[0]} exited ${code}`))));
  });
}

async function listFiles(dir) {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).map((e) => path.join(e.parentPath ?? e.path, e.name));
}

async function main() {
  const work = await mkdtemp(path.join(os.tmpdir(), 'comfy-seal-demo-'));
  const dirs = { input: path.join(work, 'input'), output: path.join(work, 'output'), temp: path.join(work, 'temp') };
  const key = Fernet.generateKey();
  say(1, `Made a fresh Fernet key (ENCRYPTION_KEY) and scratch dirs under ${work}.`);

  const sim = await startService('simulator', ['simulator', '--port', '0', '--input-dir', dirs.input, '--output-dir', dirs.output, '--temp-dir', dirs.temp, '--step-ms', '15', '--disable-metadata', '--log-capacity', '0'], {});
  say(2, `Started the ComfyUI simulator at ${sim.url} (real ComfyUI needs a GPU; the simulator speaks its HTTP + WebSocket protocol).`);

  const worker = await startService(
    'worker',
    ['worker', '--local', '--port', '0', '--comfy-url', sim.url, '--input-dir', dirs.input, '--output-dir', dirs.output, '--temp-dir', dirs.temp],
    { ENCRYPTION_KEY: key },
  );
  say(3, `Started the worker as a local RunPod-compatible endpoint at ${worker.url}, holding the same key.`);

  await rm(out, { recursive: true, force: true });
  const workflow = path.join(root, 'examples', 'sd15-img2img.json');
  const image = path.join(root, 'examples', 'photo.png');
  say(4, `Running the client: comfy-seal run --workflow examples/sd15-img2img.json --img examples/photo.png --prompt "..." --out demo-out`);
  const report = JSON.parse(
    await run(
      ['run', '--api-url', worker.url, '--endpoint', 'demo', '--workflow', workflow, '--img', image, '--prompt', 'a lighthouse at dawn, oil painting', '--negative', 'blurry', '--seed', '42', '--out', out, '--json'],
      { ENCRYPTION_KEY: key, RUNPOD_API_KEY: '' },
    ),
  );
  say(5, `Job ${report.job_id} completed; the client opened the sealed result and wrote:`);
  for (const f of report.files) process.stdout.write(`      ${path.relative(root, f.path)}  (${f.kind}, ${f.mime}, ${f.bytes} bytes)\n`);

  const status = await (await fetch(`${worker.url}/demo/status/${report.job_id}`)).json();
  const shown = JSON.stringify(status).slice(0, 160);
  say(6, `What RunPod would store and show for this job (GET /status) is only a token:\n      ${shown}...`);
  const leaked = JSON.stringify(status).includes('lighthouse');
  process.stdout.write(`      prompt text visible in the status: ${leaked ? 'YES (bug!)' : 'no'}\n`);

  const left = [...(await listFiles(dirs.input)), ...(await listFiles(dirs.output)), ...(await listFiles(dirs.temp))];
  say(7, `Files left in the worker's input/output/temp dirs after the job: ${left.length} (each was zeroed, fsync'd and unlinked).`);

  for (const f of report.files) await stat(f.path);
  await rm(work, { recursive: true, force: true });
  if (leaked || left.length > 0 || report.files.length === 0) throw new Error('demo check failed');
  say('done', `Sealed end to end. Outputs are in ${path.relative(process.cwd(), out) || out}/.`);
}

main()
  .catch((error) => {
    process.stderr.write(`\ndemo failed: ${error.message}\n`);
    process.exitCode = 1;
  })
  .finally(() => {
    for (const child of children) child.kill('SIGTERM');
  });
