#!/usr/bin/env node
// The bridge's own latency (issue #21 item 8): the built `comfy-seal bridge` in front of `comfy-seal worker --local` and
// the simulator, with a timing proxy in front of the endpoint (it sees /run leave and the COMPLETED /status answer),
// and a ComfyUI WebSocket client. Per prompt: POST /prompt answered → /run; COMPLETED → `executed` and
// `execution_success`; the whole prompt against the same workflow through the SDK's run() (what `comfy-seal run` uses)
// on the same endpoint, the sides alternating; then the preview rate a client sees against the worker's every_ms.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { ComfySealClient, Fernet } from '../dist/index.js';
import { fmt, median, table } from './lib.mjs';

const ROOT = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const RUNS = Number(process.env.BENCH_RUNS ?? 15);
const STEP_MS = 50;
const STEPS = 4;
const PREVIEW_STEPS = 100;
const PREVIEW_PROMPTS = 3;
// The worker's interval for `previews: true`, which is what the bridge asks (PREVIEW_DEFAULTS in shared/schema.ts).
const EVERY_MS = 1000;
// What `comfy-seal bridge` gives its client (bridge/cli.ts) and what `comfy-seal run` keeps (the SDK's defaults).
const BRIDGE_POLL = { pollMinMs: 200, pollMaxMs: 500 };
// A shorter poll, for what it would buy and cost.
const SHORT_POLL = { pollMinMs: 100, pollMaxMs: 100 };
// The bridge's ask of the worker for every prompt (BRIDGE_BUNDLE_OPTIONS in bridge/executor.ts).
const BRIDGE_OPTIONS = { ui: true, temp_outputs: true, previews: true };

const SAVER = '16';

function workflow(seed, steps) {
  return {
    '10': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'sd15.safetensors' } },
    '11': { class_type: 'CLIPTextEncode', inputs: { text: 'a lighthouse at dusk', clip: ['10', 1] } },
    '12': { class_type: 'CLIPTextEncode', inputs: { text: 'blurry', clip: ['10', 1] } },
    '13': { class_type: 'EmptyLatentImage', inputs: { width: 64, height: 64, batch_size: 1 } },
    '14': {
      class_type: 'KSampler',
      inputs: { model: ['10', 0], seed, steps, cfg: 7, sampler_name: 'euler', scheduler: 'normal', positive: ['11', 0], negative: ['12', 0], latent_image: ['13', 0], denoise: 1 },
    },
    '15': { class_type: 'VAEDecode', inputs: { samples: ['14', 0], vae: ['10', 2] } },
    [SAVER]: { class_type: 'SaveImage', inputs: { images: ['15', 0], filename_prefix: 'bench' } },
  };
}

/** The built bin as a service: resolves with the URL `pattern` finds in what it prints. */
function startBin(args, env, pattern = /(http:\/\/127\.0\.0\.1:\d+)/) {
  const child = spawn(process.execPath, [path.join(ROOT, 'dist', 'cli.js'), ...args], { env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${args[0]} did not start:\n${text}`)), 30_000);
    const on = (c) => {
      text += c;
      const url = pattern.exec(text)?.[1];
      if (!url) return;
      clearTimeout(timer);
      child.stdout.off('data', on);
      resolve({ child, url });
    };
    child.stdout.setEncoding('utf8').on('data', on);
    child.stderr.setEncoding('utf8').on('data', (c) => (text += c));
    child.once('exit', (code) => reject(new Error(`${args[0]} exited (${code}):\n${text}`)));
  });
}

/**
 * In front of the endpoint: per job id, when its /run arrived, how many /status polls it got, and when the answer
 * carrying COMPLETED (the result) was in (and on its way to the caller), with the worker's own delayTime + executionTime from that answer.
 */
async function timingProxy(target) {
  const to = new URL(target);
  const jobs = new Map();
  const server = createServer((req, res) => {
    const arrived = performance.now();
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const out = request({ host: to.hostname, port: to.port, method: req.method, path: req.url, headers: { ...req.headers, host: to.host } }, (answer) => {
        const body = [];
        answer.on('data', (c) => body.push(c));
        answer.on('end', () => {
          const text = Buffer.concat(body);
          const seen = performance.now();
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          res.end(text);
          note(req.url, arrived, seen, text);
        });
      });
      out.on('error', () => res.writeHead(502).end());
      out.end(Buffer.concat(chunks));
    });
  });
  const note = (url, arrived, seen, text) => {
    if (/\/run$/.test(url)) {
      const { id } = JSON.parse(text.toString('utf8'));
      jobs.set(id, { runAt: arrived, polls: 0 });
      return;
    }
    const id = /\/status\/([^/?]+)/.exec(url)?.[1];
    const job = id && jobs.get(id);
    if (!job) return;
    job.polls++;
    const s = JSON.parse(text.toString('utf8'));
    if (s.status === 'COMPLETED' && job.completedSeenAt === undefined) {
      job.completedSeenAt = seen;
      job.workerMs = s.delayTime + s.executionTime;
    }
  };
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${server.address().port}`, server, jobs };
}

/** A ComfyUI client on the bridge's socket: every message and binary frame with its arrival time. */
async function comfyClient(url, clientId) {
  const ws = new WebSocket(`${url.replace('http', 'ws')}/ws?clientId=${clientId}`);
  const messages = [];
  const frames = [];
  let waiter = null;
  ws.on('message', (data, binary) => {
    const at = performance.now();
    if (binary) frames.push(at);
    else messages.push({ at, ...JSON.parse(data.toString()) });
    waiter?.();
  });
  await new Promise((r, j) => ws.once('open', r).once('error', j));
  const find = (promptId, type, node) => messages.find((m) => m.type === type && m.data.prompt_id === promptId && (node === undefined || m.data.node === node));
  return {
    ws,
    messages,
    frames,
    find,
    /** Resolves with `executing null` for the prompt. */
    done: (promptId) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no end for prompt ${promptId}`)), 60_000);
        const check = () => {
          const end = find(promptId, 'executing', null);
          if (!end) return;
          clearTimeout(timer);
          waiter = null;
          resolve(end);
        };
        waiter = check;
        check();
      }),
  };
}

/** The job of the last /run since `since` (the rounds are sequential; the bridge's first prompt asks for the node
 * definitions through the endpoint before its own /run). */
function jobSince(proxy, since) {
  const found = [...proxy.jobs.values()].filter((j) => j.runAt >= since);
  if (found.length === 0) throw new Error('no /run since the round began');
  return found.at(-1);
}

/** One prompt through the bridge, from POST /prompt sent to `executing null`. */
async function bridgeRound(bridgeUrl, client, proxy, seed, steps) {
  const t0 = performance.now();
  const res = await fetch(`${bridgeUrl}/prompt`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: workflow(seed, steps), client_id: 'bench' }) });
  const answered = performance.now();
  const { prompt_id: id, error } = await res.json();
  if (!id) throw new Error(`the bridge refused the prompt: ${JSON.stringify(error)}`);
  const end = await client.done(id);
  const job = jobSince(proxy, t0);
  const executed = client.find(id, 'executed', SAVER);
  const success = client.find(id, 'execution_success');
  if (!executed || !success) throw new Error(`prompt ${id} ended without executed/execution_success`);
  return {
    total: end.at - t0,
    t1: job.runAt - answered,
    postToRun: job.runAt - t0,
    t2Executed: executed.at - job.completedSeenAt,
    t2Success: success.at - job.completedSeenAt,
    workerMs: job.workerMs,
    pollWait: job.completedSeenAt - job.runAt - job.workerMs,
    polls: job.polls,
    jobMs: job.completedSeenAt - job.runAt,
  };
}

/** The same workflow through the SDK's run(), as `comfy-seal run` drives it. */
async function sdkRound(sdk, proxy, seed, options) {
  const t0 = performance.now();
  await sdk.run({ workflow: workflow(seed, STEPS), images: [], options });
  const total = performance.now() - t0;
  const job = jobSince(proxy, t0);
  return { total, workerMs: job.workerMs, pollWait: job.completedSeenAt - job.runAt - job.workerMs, polls: job.polls, jobMs: job.completedSeenAt - job.runAt };
}

const pct = (values, p) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(p * values.length))];
/** Status requests per second while a job runs: the intervals between its polls (the first goes right after /run). */
const rate = (rounds) => (1000 * rounds.reduce((a, r) => a + r.polls - 1, 0)) / rounds.reduce((a, r) => a + r.jobMs, 0);

async function main() {
  const work = mkdtempSync(path.join(existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), 'cs-bench-bridge-'));
  const dirs = { input: path.join(work, 'in'), output: path.join(work, 'out'), temp: path.join(work, 'tmp', 'temp') };
  mkdirSync(path.join(work, 'models', 'checkpoints'), { recursive: true });
  writeFileSync(path.join(work, 'models', 'checkpoints', 'sd15.safetensors'), 'x');
  const key = Fernet.generateKey();
  const children = [];
  const closers = [];
  try {
    const sim = await startBin(['simulator', '--port', '0', '--step-ms', String(STEP_MS), '--disable-metadata', '--models-dir', path.join(work, 'models'), '--input-dir', dirs.input, '--output-dir', dirs.output, '--temp-dir', dirs.temp], {});
    children.push(sim.child);
    const worker = await startBin(['worker', '--local', '--port', '0', '--comfy-url', sim.url, '--input-dir', dirs.input, '--output-dir', dirs.output, '--temp-dir', dirs.temp], { ENCRYPTION_KEY: key });
    children.push(worker.child);
    const proxy = await timingProxy(worker.url);
    closers.push(() => {
      proxy.server.closeAllConnections();
      return new Promise((r) => proxy.server.close(r));
    });
    const endpointEnv = { ENCRYPTION_KEY: key, RUNPOD_API_URL: proxy.url, RUNPOD_ENDPOINT_ID: 'e2e', HOME: work };
    const bridge = await startBin(['bridge', '--port', '0', '--base-directory', path.join(work, 'bridge')], endpointEnv, /API on (http:\/\/127\.0\.0\.1:\d+)/);
    children.push(bridge.child);
    const client = await comfyClient(bridge.url, 'bench');
    closers.push(() => client.ws.close());
    const sdk = new ComfySealClient({ endpointId: 'e2e', apiUrl: proxy.url, key, env: { HOME: work } });
    const sdkBridgePoll = new ComfySealClient({ endpointId: 'e2e', apiUrl: proxy.url, key, env: { HOME: work }, ...BRIDGE_POLL });
    const sdkShortPoll = new ComfySealClient({ endpointId: 'e2e', apiUrl: proxy.url, key, env: { HOME: work }, ...SHORT_POLL });

    // Warm up (the bridge's first prompt fetches the node definitions through the endpoint), then alternate.
    for (let i = 0; i < 2; i++) {
      await bridgeRound(bridge.url, client, proxy, 1000 + i, STEPS);
      await sdkRound(sdk, proxy, 2000 + i, {});
    }
    const viaBridge = [];
    const viaRun = [];
    const viaSdkBridgeLike = [];
    const viaShortPoll = [];
    for (let i = 0; i < RUNS; i++) {
      viaBridge.push(await bridgeRound(bridge.url, client, proxy, 4 * i, STEPS));
      viaRun.push(await sdkRound(sdk, proxy, 4 * i + 1, {}));
      viaSdkBridgeLike.push(await sdkRound(sdkBridgePoll, proxy, 4 * i + 2, BRIDGE_OPTIONS));
      viaShortPoll.push(await sdkRound(sdkShortPoll, proxy, 4 * i + 3, BRIDGE_OPTIONS));
    }

    // Previews: long sampler runs; the gaps between the binary frames the client gets.
    const gaps = [];
    const fps = [];
    const long = [];
    let frameCount = 0;
    for (let i = 0; i < PREVIEW_PROMPTS; i++) {
      const from = client.frames.length;
      long.push(await bridgeRound(bridge.url, client, proxy, 5000 + i, PREVIEW_STEPS));
      const frames = client.frames.slice(from);
      frameCount += frames.length;
      for (let k = 1; k < frames.length; k++) gaps.push(frames[k] - frames[k - 1]);
      if (frames.length > 1) fps.push((1000 * (frames.length - 1)) / (frames.at(-1) - frames[0]));
    }

    const m = (rounds, field) => median(rounds.map((r) => r[field]));
    const bridgeTotal = m(viaBridge, 'total');
    const runTotal = m(viaRun, 'total');
    const likeTotal = m(viaSdkBridgeLike, 'total');
    console.log(`\nbridge, ${STEPS}-step sampler at ${STEP_MS} ms/step (simulator) through comfy-seal worker --local, medians of ${RUNS} (sides alternating)\n`);
    console.log(
      table(
        ['measure', 'ms (median)', 'p90 / max'],
        [
          ['POST /prompt sent → answered', fmt(median(viaBridge.map((r) => r.postToRun - r.t1))), ''],
          ['t1: POST /prompt answered → /run leaves', fmt(m(viaBridge, 't1')), `${fmt(pct(viaBridge.map((r) => r.t1), 0.9))} / ${fmt(Math.max(...viaBridge.map((r) => r.t1)))}`],
          ['t2: COMPLETED seen → `executed` (saver)', fmt(m(viaBridge, 't2Executed')), `${fmt(pct(viaBridge.map((r) => r.t2Executed), 0.9))} / ${fmt(Math.max(...viaBridge.map((r) => r.t2Executed)))}`],
          ['t2: COMPLETED seen → `execution_success`', fmt(m(viaBridge, 't2Success')), `${fmt(pct(viaBridge.map((r) => r.t2Success), 0.9))} / ${fmt(Math.max(...viaBridge.map((r) => r.t2Success)))}`],
          ['endpoint: /run → job done (delayTime + executionTime), bridge / run', `${fmt(m(viaBridge, 'workerMs'))} / ${fmt(m(viaRun, 'workerMs'))}`, ''],
          ['poll wait: job done on the worker → COMPLETED seen (bridge)', fmt(m(viaBridge, 'pollWait')), `${fmt(pct(viaBridge.map((r) => r.pollWait), 0.9))} / ${fmt(Math.max(...viaBridge.map((r) => r.pollWait)))}`],
          ['poll wait (SDK run(), its default poll)', fmt(m(viaRun, 'pollWait')), `${fmt(pct(viaRun.map((r) => r.pollWait), 0.9))} / ${fmt(Math.max(...viaRun.map((r) => r.pollWait)))}`],
          [`poll wait (SDK run(), a ${SHORT_POLL.pollMaxMs} ms poll)`, fmt(m(viaShortPoll, 'pollWait')), `${fmt(pct(viaShortPoll.map((r) => r.pollWait), 0.9))} / ${fmt(Math.max(...viaShortPoll.map((r) => r.pollWait)))}`],
          ['whole prompt: bridge (POST /prompt → `executing null`)', fmt(bridgeTotal), ''],
          ['whole prompt: SDK run() (what `comfy-seal run` uses), poll 250 ms ×1.5 → 3 s', fmt(runTotal), ''],
          ['whole prompt: SDK run(), the bridge\'s poll (200 → 500 ms) and options', fmt(likeTotal), ''],
          [`whole prompt: SDK run(), a ${SHORT_POLL.pollMaxMs} ms poll, the bridge's options`, fmt(m(viaShortPoll, 'total')), ''],
        ],
      ),
    );
    console.log(`\nbridge / run: ${fmt(bridgeTotal / runTotal, 2)} ×; bridge - SDK with the bridge's poll and options: ${fmt(bridgeTotal - likeTotal)} ms (the bridge's own cost)`);
    console.log(`status polls per second per running job: bridge ${fmt(rate(viaBridge), 2)} (${fmt(rate(long), 2)} over the ${fmt(median(long.map((r) => r.jobMs)) / 1000)} s preview prompts), SDK run() ${fmt(rate(viaRun), 2)}, a ${SHORT_POLL.pollMaxMs} ms poll ${fmt(rate(viaShortPoll), 2)}`);
    console.log(`  steady poll every ${BRIDGE_POLL.pollMaxMs} ms = ${fmt(1000 / BRIDGE_POLL.pollMaxMs)} req/s a job; 250 ms = 4, 100 ms = 10 (RunPod allows 2000 /status per 10 s = 200/s)`);

    gaps.sort((a, b) => a - b);
    console.log(`\npreviews: ${PREVIEW_PROMPTS} prompts × ${PREVIEW_STEPS} steps × ${STEP_MS} ms, worker every_ms ${EVERY_MS} (at most ${fmt(1000 / EVERY_MS, 2)} fps)`);
    console.log(`  frames the client got: ${frameCount}; rate ${fmt(median(fps), 2)} fps (median over prompts)`);
    console.log(`  gaps (ms): min ${fmt(gaps[0], 0)}, p10 ${fmt(pct(gaps, 0.1), 0)}, median ${fmt(median(gaps), 0)}, p90 ${fmt(pct(gaps, 0.9), 0)}, max ${fmt(gaps.at(-1), 0)} (n = ${gaps.length})`);

  } finally {
    for (const close of closers.reverse()) await close();
    for (const child of children.reverse()) {
      if (child.exitCode !== null) continue;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
