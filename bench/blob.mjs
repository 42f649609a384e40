#!/usr/bin/env node
// Blobs (§9): 100 MB in and 100 MB out through s3rver on loopback, each side in a fresh process of its own so that its
// peak RSS (the kernel's VmHWM, reset at its baseline) is its own: the client seals and PUTs the request blob; the
// worker GETs, checks and opens it, then seals the result and PUTs it to the reply URL; the client GETs, checks and
// opens the result. Beside it, the floor measured in this same run: our Fernet of the same bytes plus a raw PUT and
// GET of the tokens to the same server. s3rver is warmed up first, then floor and blob path alternate for
// `BENCH_ROUNDS` rounds (3) and the medians are compared: one round on a shared machine can move 2×.
// `BENCH_MB` changes the size.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { fmt, median, table } from './lib.mjs';

const SELF = fileURLToPath(import.meta.url);
const SIZE = Math.round(Number(process.env.BENCH_MB ?? 100) * 1e6);
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 3));

const resetPeakRss = () => writeFileSync('/proc/self/clear_refs', '5');
const peakRssMb = () => Number(/VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1]) / 1024;
const rssMb = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1]) / 1024;

/** Runs one side in a fresh process; it prints one JSON line. */
function side(name, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', SELF, name, JSON.stringify(args)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (c) => (out += c));
    child.once('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop())) : reject(new Error(`${name} exited ${code}`))));
  });
}

/** Measures `fn` from a settled baseline: ms, and peak RSS over that baseline. */
async function measured(fn) {
  globalThis.gc?.();
  const base = rssMb();
  resetPeakRss();
  const t = performance.now();
  const value = await fn();
  return { ms: performance.now() - t, peakMb: peakRssMb() - base, value };
}

async function clientSend({ file, env, bucket, key }) {
  const { Fernet, S3BlobStore, SealingBody, bundleJson, putBlob } = await import('../dist/index.js');
  Object.assign(process.env, env);
  const store = new S3BlobStore(`s3://${bucket}/bench`, process.env);
  await store.put('bench/warm-up', Buffer.from('x')); // loads the SDK before the baseline
  const fernet = new Fernet(key);
  const image = readFileSync(file);
  // The steps of ComfySealClient's blob request: reply URLs, the bundle sealed as it is PUT, a sealed pointer.
  const { ms, peakMb, value } = await measured(async () => {
    const [put, get] = await Promise.all([store.presign('bench/r.out', 'PUT', 3600), store.presign('bench/r.out', 'GET', 3600)]);
    const bundle = { workflow: { 1: { class_type: 'LoadImage', inputs: { image: 'big.png' } } }, images: [{ name: 'big.png', data: image }], options: {}, reply: { put, get, always: true } };
    const body = new SealingBody(bundleJson(bundle), fernet);
    const [putUrl, url] = await Promise.all([store.presign('bench/r.in', 'PUT', 3600), store.presign('bench/r.in', 'GET', 3600)]);
    await putBlob(putUrl, body);
    const pointer = { blob: { url, sha256: body.sha256, size: body.length } };
    body.release();
    return { input: { encrypted_input: fernet.encrypt(JSON.stringify(pointer)) }, blobBytes: pointer.blob.size };
  });
  return { ms, peakMb, ...value };
}

async function workerSide({ input, key, tiny }) {
  const { openJobInput, deliverResult, getBlob, release, DEFAULT_BLOB_OPTIONS } = await import('../dist/handler.js');
  const { Fernet } = await import('../dist/index.js');
  const fernet = new Fernet(key);
  const blob = { ...DEFAULT_BLOB_OPTIONS, allowPrivate: true };
  await getBlob(tiny, blob); // undici's first request (its parser's set-up) before the baseline, as in a running worker
  const opened = await measured(() => openJobInput(input, { fernet, allowPlaintext: false, ttlSeconds: 0, blob }));
  const { bundle } = opened.value;
  // The input comes back as the output, as LoadImage → SaveImage would.
  const files = [{ nodeId: '2', filename: 'out_00001_.png', subfolder: '', kind: 'image', mime: 'image/png', data: Buffer.from(bundle.images[0].data) }];
  // Staged: the job gives the inputs (views of the fetched blob) back at once, as job.ts does.
  for (const image of bundle.images) release(image.data);
  const sent = await measured(() => deliverResult({ files, timingsMs: {} }, fernet, bundle.reply, 18e6, blob));
  return { openMs: opened.ms, openPeakMb: opened.peakMb, sendMs: sent.ms, sendPeakMb: sent.peakMb, output: sent.value };
}

async function clientReceive({ output, key, file, tiny }) {
  const { Fernet, fetchBlob, openOutput, openResultBlob } = await import('../dist/index.js');
  const fernet = new Fernet(key);
  await fetchBlob(tiny); // undici's first request before the baseline
  const { ms, peakMb, value } = await measured(async () => {
    const { pointer } = openOutput(output, fernet);
    const token = await fetchBlob(pointer);
    const result = openResultBlob(token, fernet);
    return result.files[0].data;
  });
  return { ms, peakMb, same: value.equals(readFileSync(file)) };
}

/**
 * The floor: our Fernet of the same bytes at its best (the token kept as bytes, decrypted over itself), and a raw PUT
 * and GET of the tokens to the same server (the body sent as views, received into one buffer of its size).
 */
async function floor({ file, endpoint, bucket, key }) {
  const { Fernet } = await import('../dist/index.js');
  const { request } = await import('undici');
  const fernet = new Fernet(key);
  const data = readFileSync(file);
  const t = performance.now();
  for (const name of ['in', 'out']) {
    const e = fernet.encrypter(data.length);
    e.update(data);
    const token = e.finalBytes();
    const url = `${endpoint}/${bucket}/floor-${name}`;
    const views = function* () {
      for (let at = 0; at < token.length; at += 1 << 20) yield token.subarray(at, at + (1 << 20));
    };
    await (await request(url, { method: 'PUT', body: views(), headers: { 'content-length': String(token.length) } })).body.dump();
    const back = Buffer.allocUnsafeSlow(token.length);
    let at = 0;
    for await (const chunk of (await request(url)).body) at += chunk.copy(back, at);
    fernet.decrypt(back, { inPlace: true });
  }
  return { ms: performance.now() - t };
}

/** One round trip through blobs: the four legs, each in a process of its own. */
async function throughBlobs({ file, env, bucket, key, tiny }) {
  const send = await side('client-send', { file, env, bucket, key });
  const work = await side('worker', { input: send.input, key, tiny });
  const receive = await side('client-receive', { output: work.output, key, file, tiny });
  if (!receive.same) throw new Error('the result differs from the input');
  return {
    blobMb: send.blobBytes / 1e6,
    legs: [
      { name: 'client: seal + PUT request blob', ms: send.ms, peakMb: send.peakMb },
      { name: 'worker: GET + check + open', ms: work.openMs, peakMb: work.openPeakMb },
      { name: 'worker: seal + PUT result blob', ms: work.sendMs, peakMb: work.sendPeakMb },
      { name: 'client: GET + check + open result', ms: receive.ms, peakMb: receive.peakMb },
    ],
  };
}

/**
 * A PUT and GET of the payload's size, so that neither side pays for s3rver's first large request; and a 1-byte
 * object whose pointer the GET sides fetch before their baseline. Returns that pointer.
 */
async function warmUp(endpoint, bucket, file) {
  const { request } = await import('undici');
  const put = async (url, body) => (await request(url, { method: 'PUT', body, headers: { 'content-length': String(body.length) } })).body.dump();
  const body = readFileSync(file);
  await put(`${endpoint}/${bucket}/warm-up`, body);
  await (await request(`${endpoint}/${bucket}/warm-up`)).body.dump();
  const tiny = Buffer.from('x');
  await put(`${endpoint}/${bucket}/tiny`, tiny);
  return { url: `${endpoint}/${bucket}/tiny`, sha256: createHash('sha256').update(tiny).digest('hex'), size: 1 };
}

async function main() {
  const { default: S3rver } = await import('s3rver');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cs-bench-s3-'));
  const bucket = 'bench';
  const server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: dir, configureBuckets: [{ name: bucket }] });
  const { port } = await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  const env = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1', AWS_ENDPOINT_URL_S3: endpoint };
  const { Fernet } = await import('../dist/index.js');
  const key = Fernet.generateKey();
  const file = path.join(dir, 'payload.bin');
  writeFileSync(file, randomBytes(SIZE));
  try {
    console.log(`bench/blob: ${fmt(SIZE / 1e6, 0)} MB in and ${fmt(SIZE / 1e6, 0)} MB out through s3rver on loopback, ${ROUNDS} rounds\n`);
    const tiny = await warmUp(endpoint, bucket, file);
    const rounds = [];
    for (let r = 0; r < ROUNDS; r++) {
      const floorMs = (await side('floor', { file, endpoint, bucket, key })).ms;
      const blobs = await throughBlobs({ file, env, bucket, key, tiny });
      const total = blobs.legs.reduce((n, leg) => n + leg.ms, 0);
      rounds.push({ floorMs, total, ...blobs });
      console.log(`round ${r + 1}: through blobs ${fmt(total)} ms, floor ${fmt(floorMs)} ms, ratio ${fmt(total / floorMs, 2)}`);
    }
    const payloadMb = SIZE / 1e6;
    const blobMb = rounds[0].blobMb;
    const legs = rounds[0].legs.map((leg, i) => ({
      name: leg.name,
      ms: median(rounds.map((round) => round.legs[i].ms)),
      peakMb: Math.max(...rounds.map((round) => round.legs[i].peakMb)),
    }));
    console.log(`\nmedian ms and worst peak RSS of ${ROUNDS} rounds:\n`);
    console.log(table(['leg', 'ms', 'peak RSS over baseline, MB', '× blob', '× payload'], legs.map((leg) =>
      [leg.name, fmt(leg.ms), fmt(leg.peakMb), fmt(leg.peakMb / blobMb, 2), fmt(leg.peakMb / payloadMb, 2)])));
    const total = median(rounds.map((round) => round.total));
    const floorMs = median(rounds.map((round) => round.floorMs));
    const ratio = total / floorMs;
    const worstPeak = Math.max(...legs.map((leg) => leg.peakMb));
    console.log(`\nblob size ${fmt(blobMb)} MB (one Fernet token of the bundle / result JSON)`);
    console.log(`through blobs: ${fmt(total)} ms; floor (Fernet of the same bytes + raw PUT and GET, both ways): ${fmt(floorMs)} ms; ratio of the medians ${fmt(ratio, 2)}`);
    console.log(`  time <= 1.5 × floor: ${ratio <= 1.5 ? 'PASS' : 'MISS'}`);
    console.log(`  peak RSS <= 3 × N: ${worstPeak <= 3 * payloadMb ? 'PASS' : 'MISS'} against the payload, ${worstPeak <= 3 * blobMb ? 'PASS' : 'MISS'} against the blob (worst leg ${fmt(worstPeak)} MB)`);
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const [mode, args] = process.argv.slice(2);
const sides = { 'client-send': clientSend, worker: workerSide, 'client-receive': clientReceive, floor };
if (mode) {
  const out = await sides[mode](JSON.parse(args));
  process.stdout.write(`${JSON.stringify(out)}\n`);
  process.exit(0);
} else {
  await main();
}
