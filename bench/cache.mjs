#!/usr/bin/env node
// What clearing ComfyUI's node cache after every job (POST /free, contract §12) costs, against the simulator (a
// separate process per variant, `BENCH_STEP_MS` per sampler step): a txt2img job repeated identically, and one with a
// new seed each time, through the pipeline with the cache cleared (the default) and kept (COMFY_SEAL_KEEP_CACHE=1),
// interleaved; and the /free call itself. The simulator loads no model: on a GPU, clearing also means every job loads
// its checkpoint again (ComfyUI unloads the models on /free whatever unload_models says, and the cache held them).
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_JOB_CONFIG, Pipeline, silentLogger } from '../dist/handler.js';
import { Fernet, sealBundle } from '../dist/index.js';
import { fmt, median, table } from './lib.mjs';

const ROOT = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const RUNS = Number(process.env.BENCH_RUNS ?? 15);
const STEP_MS = Number(process.env.BENCH_STEP_MS ?? 10);
const STEPS = 20;

const txt2img = (seed) => ({
  '1': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'model.safetensors' } },
  '2': { class_type: 'EmptyLatentImage', inputs: { width: 512, height: 512, batch_size: 1 } },
  '3': { class_type: 'CLIPTextEncode', inputs: { text: 'a lighthouse at dusk', clip: ['1', 1] } },
  '4': { class_type: 'CLIPTextEncode', inputs: { text: 'blurry', clip: ['1', 1] } },
  '5': { class_type: 'KSampler', inputs: { model: ['1', 0], seed, steps: STEPS, cfg: 7, sampler_name: 'euler', scheduler: 'normal', positive: ['3', 0], negative: ['4', 0], latent_image: ['2', 0], denoise: 1 } },
  '6': { class_type: 'VAEDecode', inputs: { samples: ['5', 0], vae: ['1', 2] } },
  '7': { class_type: 'SaveImage', inputs: { images: ['6', 0], filename_prefix: 'out' } },
});

async function variant(work, name, clearCache, key) {
  const root = path.join(work, name);
  const dirs = { input: path.join(root, 'input'), output: path.join(root, 'output'), temp: path.join(root, 'temp') };
  const args = ['simulator', '--port', '0', '--step-ms', String(STEP_MS), '--input-dir', dirs.input, '--output-dir', dirs.output, '--temp-dir', dirs.temp];
  const child = spawn(process.execPath, [path.join(ROOT, 'dist', 'cli.js'), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise((resolve) => {
    let text = '';
    child.stdout.setEncoding('utf8').on('data', (c) => {
      text += c;
      const found = /(http:\/\/127\.0\.0\.1:\d+)/.exec(text)?.[1];
      if (found) resolve(found);
    });
  });
  const pipeline = new Pipeline({ comfyUrl: url, key, job: { ...DEFAULT_JOB_CONFIG, dirs, settleQuietMs: 50, clearCache }, log: silentLogger });
  await pipeline.start(10_000);
  return { pipeline, child };
}

async function timed(pipeline, fernet, seed, id) {
  const input = { encrypted_input: sealBundle({ workflow: txt2img(seed), images: [], options: {} }, fernet) };
  const t = performance.now();
  const outcome = await pipeline.run({ id, input });
  const ms = performance.now() - t;
  if (outcome.kind !== 'success') throw new Error(`job failed: ${outcome.kind}`);
  outcome.output.release();
  return ms;
}

async function main() {
  const work = mkdtempSync(path.join(existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), 'cs-bench-cache-'));
  const key = Fernet.generateKey();
  const fernet = new Fernet(key);
  const cleared = await variant(work, 'cleared', true, key);
  const kept = await variant(work, 'kept', false, key);
  const times = { cleared: { same: [], fresh: [] }, kept: { same: [], fresh: [] } };
  for (const v of [cleared, kept]) for (let i = 0; i < 3; i++) await timed(v.pipeline, fernet, 1, `warm-${i}`);
  // The variants interleaved, so the machine's load falls on both alike; each series in a row (ComfyUI's classic cache
  // keeps the last prompt's graph only, so a job in between would take the repeat's cache away).
  for (const [series, seedOf] of [['same', () => 1], ['fresh', (i) => 1000 + i]]) {
    for (let i = 0; i < RUNS; i++) {
      for (const [name, v] of [['cleared', cleared], ['kept', kept]]) times[name][series].push(await timed(v.pipeline, fernet, seedOf(i), `${series}-${i}`));
    }
  }
  const free = [];
  for (let i = 0; i < RUNS * 2; i++) {
    const t = performance.now();
    await cleared.pipeline.http.free();
    free.push(performance.now() - t);
  }

  const same = { cleared: median(times.cleared.same), kept: median(times.kept.same) };
  const fresh = { cleared: median(times.cleared.fresh), kept: median(times.kept.fresh) };
  console.log(`\nComfyUI's cache cleared after every job vs kept: txt2img of ${STEPS} steps at ${STEP_MS} ms/step on the simulator, medians of ${RUNS}\n`);
  console.log(
    table(
      ['job', 'cleared ms', 'kept ms', 'clearing costs ms'],
      [
        ['the same job again', fmt(same.cleared), fmt(same.kept), fmt(same.cleared - same.kept)],
        ['a new seed each time', fmt(fresh.cleared), fmt(fresh.kept), fmt(fresh.cleared - fresh.kept)],
      ],
    ),
  );
  console.log(`\nPOST /free itself: ${fmt(median(free), 2)} ms (median of ${free.length})`);
  console.log(`sampling alone is ${STEPS} × ${STEP_MS} = ${STEPS * STEP_MS} ms here; on a GPU add the checkpoint's reload to every cleared job.`);

  for (const v of [cleared, kept]) {
    await v.pipeline.close();
    v.child.kill('SIGTERM');
  }
  rmSync(work, { recursive: true, force: true });
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
