#!/usr/bin/env node
// The job pipeline against the simulator (a separate process, zero step time): overhead with 4 × 1 MB inputs and
// 4 × 1 MB outputs beside the floor (our Fernet + base64 of the same bytes) measured in this same run; completion
// latency after `executing null`; peak RSS; then a soak of sequential jobs for RSS growth, fd leaks and leftovers.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PNG } from 'pngjs';
import WebSocket from 'ws';
import { Pipeline, DEFAULT_JOB_CONFIG, silentLogger } from '../dist/handler.js';
import { Fernet, sealBundle } from '../dist/index.js';
import { fmt, median, MB, table } from './lib.mjs';

const ROOT = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const RUNS = Number(process.env.BENCH_RUNS ?? 15);
const SOAK = Number(process.env.BENCH_SOAK ?? 1000);

/** A PNG of about `bytes` that does not compress (random pixels). */
function noisePng(bytes) {
  const side = Math.ceil(Math.sqrt(bytes / 4));
  const png = new PNG({ width: side, height: side });
  randomBytes(png.data.length).copy(png.data);
  return PNG.sync.write(png, { deflateLevel: 0 });
}

function workflow(n) {
  const wf = {};
  for (let i = 0; i < n; i++) {
    wf[`${i * 2 + 1}`] = { class_type: 'LoadImage', inputs: { image: `in${i}.png` } };
    wf[`${i * 2 + 2}`] = { class_type: 'SaveImage', inputs: { images: [`${i * 2 + 1}`, 0], filename_prefix: `out${i}` } };
  }
  return wf;
}

function startSimulator(dirs) {
  const child = spawn(process.execPath, [path.join(ROOT, 'dist', 'cli.js'), 'simulator', '--port', '0', '--step-ms', '0', '--input-dir', dirs.input, '--output-dir', dirs.output, '--temp-dir', dirs.temp], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve) => {
    let text = '';
    child.stdout.setEncoding('utf8').on('data', (c) => {
      text += c;
      const url = /(http:\/\/127\.0\.0\.1:\d+)/.exec(text)?.[1];
      if (url) resolve({ child, url });
    });
  });
}

/** The same workflow straight against the simulator: what ComfyUI itself costs, to subtract. */
async function comfyAlone(url, dirs, images, n) {
  const ws = new WebSocket(`${url.replace('http', 'ws')}/ws?clientId=bench`);
  await new Promise((r) => ws.once('open', r));
  const times = [];
  for (let run = 0; run < n; run++) {
    for (const [i, data] of images.entries()) {
      const form = new FormData();
      form.append('image', new Blob([data]), `in${i}_${run}.png`);
      form.append('overwrite', 'true');
      await fetch(`${url}/upload/image`, { method: 'POST', body: form });
    }
    // Fresh input names and prefixes every run, as the worker's per-job names are: ComfyUI's cache must not do the work.
    const wf = workflow(images.length);
    for (const node of Object.values(wf)) {
      if (node.inputs.filename_prefix) node.inputs.filename_prefix += `_${run}`;
      if (node.class_type === 'LoadImage') node.inputs.image = node.inputs.image.replace('.png', `_${run}.png`);
    }
    const id = crypto.randomUUID();
    const done = new Promise((resolve) => {
      const on = (data, bin) => {
        if (bin) return;
        const m = JSON.parse(data.toString());
        if (m.type === 'executing' && m.data.node === null && m.data.prompt_id === id) {
          ws.off('message', on);
          resolve();
        }
      };
      ws.on('message', on);
    });
    const t = performance.now();
    await fetch(`${url}/prompt`, { method: 'POST', body: JSON.stringify({ prompt: wf, client_id: 'bench', prompt_id: id }) });
    await done;
    await fetch(`${url}/history/${id}`).then((r) => r.json());
    times.push(performance.now() - t);
  }
  ws.close();
  for (const dir of Object.values(dirs)) for (const f of readdirSync(dir)) rmSync(path.join(dir, f), { recursive: true, force: true });
  return median(times);
}

/** The floor: what any sealed pipeline must do with these bytes on the worker side. */
function floor(fernet, inputToken, outputs) {
  const times = [];
  for (let run = 0; run < RUNS; run++) {
    const t = performance.now();
    const bundle = JSON.parse(fernet.decrypt(inputToken).toString('utf8'));
    for (const img of bundle.images) Buffer.from(img.image, 'base64');
    const encoded = outputs.map((o) => o.toString('base64'));
    fernet.encrypt(JSON.stringify({ outputs: encoded, images: encoded }));
    times.push(performance.now() - t);
  }
  return median(times);
}

const fds = () => readdirSync('/proc/self/fd').length;
const rssMb = () => process.memoryUsage().rss / MB;
const resetPeakRss = () => writeFileSync('/proc/self/clear_refs', '5');
const peakRssMb = () => Number(/VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1]) / 1024;

async function main() {
  // On the RAM disk, where the worker keeps its dirs by default (fsync there costs what it costs in production).
  const work = mkdtempSync(path.join(existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), 'cs-bench-'));
  const dirs = { input: path.join(work, 'input'), output: path.join(work, 'output'), temp: path.join(work, 'temp') };
  const sim = await startSimulator(dirs);
  const key = Fernet.generateKey();
  const fernet = new Fernet(key);
  const pipeline = new Pipeline({ comfyUrl: sim.url, key, job: { ...DEFAULT_JOB_CONFIG, dirs, settleQuietMs: 50 }, log: silentLogger });
  await pipeline.start(10_000);

  const images = Array.from({ length: 4 }, () => noisePng(1 * MB));
  const payload = images.reduce((a, b) => a + b.length, 0);
  const input = { encrypted_input: sealBundle({ workflow: workflow(4), images: images.map((data, i) => ({ name: `in${i}.png`, data })), options: {} }, fernet) };

  // Warm up, then measure. The true peak (sync work included, which a sampling timer would miss) is the kernel's
  // high-water mark, reset at the baseline.
  for (let i = 0; i < 3; i++) await pipeline.run({ id: `warm-${i}`, input });
  global.gc?.();
  const baseRss = rssMb();
  resetPeakRss();
  const totals = [];
  const completions = [];
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now();
    const outcome = await pipeline.run({ id: `job-${i}`, input });
    totals.push(performance.now() - t);
    if (outcome.kind !== 'success') throw new Error(`job failed: ${outcome.kind}`);
    completions.push(outcome.timingsMs.completion);
    outcome.output.release(); // as the worker does once the result is posted
  }
  const peakRss = peakRssMb();
  // The outputs, for the floor: opened after the measured window, so that the bench's own work is not counted.
  const { openResult } = await import('../dist/index.js');
  const last = await pipeline.run({ id: 'outputs', input });
  const outputs = openResult(last.output, fernet).files.map((f) => f.data);
  const outBytes = outputs.reduce((a, b) => a + b.length, 0);
  const comfy = await comfyAlone(sim.url, dirs, images, RUNS);
  const floorMs = floor(fernet, input.encrypted_input, outputs);
  const total = median(totals);
  const overhead = total - comfy;

  console.log(`\njob pipeline, ${images.length} × ${(images[0].length / MB).toFixed(2)} MB in, ${outputs.length} × ${(outBytes / outputs.length / MB).toFixed(2)} MB out, medians of ${RUNS}\n`);
  console.log(
    table(
      ['measure', 'ms'],
      [
        ['whole job (pipeline.run)', fmt(total)],
        ['ComfyUI alone (simulator, same workflow)', fmt(comfy)],
        ['pipeline overhead (job - ComfyUI)', fmt(overhead)],
        ['floor: Fernet + base64 of the same bytes', fmt(floorMs)],
        ['target: 2 × floor + 20', fmt(2 * floorMs + 20)],
        ['completion: executing null → settled (median / max)', `${fmt(median(completions), 2)} / ${fmt(Math.max(...completions), 2)}`],
      ],
    ),
  );
  const rssRatio = (peakRss - baseRss) / ((payload + outBytes) / MB);
  console.log(`\npeak RSS over baseline during jobs: ${fmt(peakRss - baseRss)} MB = ${fmt(rssRatio, 2)} × payload (${fmt((payload + outBytes) / MB)} MB in + out)`);
  console.log('targets:');
  console.log(`  overhead <= 2 × floor + 20 ms: ${overhead <= 2 * floorMs + 20 ? 'PASS' : 'MISS'}`);
  console.log(`  completion within 5 ms of executing null: ${median(completions) <= 5 ? 'PASS' : 'MISS'} (median)`);
  console.log(`  peak RSS <= 5 × payload: ${rssRatio <= 5 ? 'PASS' : 'MISS'}`);

  // Soak: sequential jobs with small images (the point is leaks, not throughput).
  const small = Array.from({ length: 4 }, () => noisePng(64 * 1024));
  const soakInput = { encrypted_input: sealBundle({ workflow: workflow(4), images: small.map((data, i) => ({ name: `in${i}.png`, data })), options: {} }, fernet) };
  // RSS climbs ~10 MB over the first few hundred jobs (V8's heap and malloc's arenas finding their size), then stays
  // flat (measured to 4,000 jobs): the warm-up takes that one-time climb out, so growth means a leak.
  for (let i = 0; i < 200; i++) await pipeline.run({ id: `soak-warm-${i}`, input: soakInput });
  global.gc?.();
  const soakRss0 = rssMb();
  const fd0 = fds();
  const t0 = performance.now();
  const trend = [];
  for (let i = 0; i < SOAK; i++) {
    const outcome = await pipeline.run({ id: `soak-${i}`, input: soakInput });
    if (outcome.kind !== 'success') throw new Error(`soak job ${i} failed`);
    if ((i + 1) % 250 === 0) trend.push(fmt(rssMb(), 0));
  }
  global.gc?.();
  const soakRss1 = rssMb();
  const left = Object.values(dirs).reduce((n, d) => n + readdirSync(d, { recursive: true }).length, 0);
  const growth = (soakRss1 - soakRss0) / soakRss0;
  console.log(`\nsoak: ${SOAK} sequential jobs (4 × 64 KB in/out) in ${fmt((performance.now() - t0) / 1000)} s`);
  console.log(`  RSS ${fmt(soakRss0)} → ${fmt(soakRss1)} MB (${fmt(growth * 100)} %): ${growth < 0.1 ? 'PASS' : 'MISS'} (< 10 %); every 250 jobs: ${trend.join(', ')}`);
  console.log(`  open fds ${fd0} → ${fds()}: ${fds() <= fd0 ? 'PASS' : 'MISS'}`);
  console.log(`  files left in the dirs: ${left}: ${left === 0 ? 'PASS' : 'MISS'}`);

  await pipeline.close();
  sim.child.kill('SIGTERM');
  rmSync(work, { recursive: true, force: true });
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
