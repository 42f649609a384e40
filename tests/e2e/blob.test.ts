/**
 * Blobs end to end (§9): `comfy-seal run --blob-url` → `worker --local` → simulator, with a real S3-compatible server
 * (s3rver) on loopback, and a stand-in that answers what s3rver never does (403, 404, 500, hangs, truncation).
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3BlobStore } from '../../client/blob/s3.js';
import { ComfySealClient } from '../../client/client.js';
import { openWebhook } from '../../client/webhook.js';
import { canonicalLength } from '../../shared/base64url.js';
import { Fernet, openError, openOutput, openResultBlob, sealBundle } from '../../shared/index.js';
import { startSimulator, type Simulator } from '../../simulator/index.js';
import { startBlobServer, type BlobServer } from '../helpers/blob-server.js';
import { killRunOnceSubmitted, runCli } from '../helpers/cli.js';
import { listFiles } from '../helpers/pipeline.js';
import { startS3, type S3 } from '../helpers/s3.js';
import { startService, type Service } from '../helpers/services.js';

const CANARY = 'canary-blob-umber-heron';
const key = Fernet.generateKey();
const fernet = new Fernet(key);
let sim: Simulator;
let worker: Service;
let s3: S3;
let stand: BlobServer;
let work: string;
const blobUrl = () => `s3://${s3.bucket}/jobs`;
const env = (extra: Record<string, string> = {}) => ({ ENCRYPTION_KEY: key, RUNPOD_API_URL: worker.url, RUNPOD_ENDPOINT_ID: 'e2e', ...s3.env, ...extra });

/** An incompressible PNG of about `mb` MB (random RGB, opaque). */
function noisePng(mb: number): Buffer {
  const side = Math.ceil(Math.sqrt((mb * 1e6) / 3));
  const png = new PNG({ width: side, height: side });
  randomBytes(png.data.length).copy(png.data);
  for (let i = 3; i < png.data.length; i += 4) png.data[i] = 255;
  return PNG.sync.write(png, { deflateLevel: 1 });
}

/** LoadImage → SaveImage for each image name. */
function copyWorkflow(names: string[]): string {
  const wf: Record<string, unknown> = {};
  names.forEach((name, i) => {
    wf[String(i * 2 + 1)] = { class_type: 'LoadImage', inputs: { image: name } };
    wf[String(i * 2 + 2)] = { class_type: 'SaveImage', inputs: { images: [String(i * 2 + 1), 0], filename_prefix: `${CANARY}/copy${i}` } };
  });
  const file = path.join(work, `wf-${names.length}.json`);
  writeFileSync(file, JSON.stringify(wf));
  return file;
}

function writeImage(name: string, data: Buffer): string {
  const file = path.join(work, name);
  writeFileSync(file, data);
  return file;
}

/** POSTs a RunPod input to the local endpoint and waits for the job's end. */
async function runInput(input: unknown): Promise<{ id: string; status: string; output?: unknown; error?: string }> {
  const { id } = (await (await fetch(`${worker.url}/e2e/run`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ input }) })).json()) as { id: string };
  for (;;) {
    const s = (await (await fetch(`${worker.url}/e2e/status/${id}`)).json()) as { id: string; status: string; output?: unknown; error?: string };
    if (!['IN_QUEUE', 'IN_PROGRESS'].includes(s.status)) return s;
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'cs-blob-e2e-'));
  const dirs = { inputDir: path.join(work, 'in'), outputDir: path.join(work, 'out'), tempDir: path.join(work, 'tmp', 'temp') };
  [sim, s3, stand] = await Promise.all([startSimulator({ port: 0, stepMs: 5, ...dirs }), startS3(), startBlobServer()]);
  worker = await startService(
    ['worker', '--local', '--port', '0', '--comfy-url', sim.url, '--input-dir', dirs.inputDir, '--output-dir', dirs.outputDir, '--temp-dir', dirs.tempDir, '--max-result-mb', '1'],
    { ENCRYPTION_KEY: key, COMFY_SEAL_BLOB_ALLOW_PRIVATE: '1' },
  );
});
afterAll(async () => {
  expect(await worker.stop()).toBe(0);
  await Promise.all([sim.close(), s3.close(), stand.close()]);
  rmSync(work, { recursive: true, force: true });
});

describe('blobs end to end', () => {
  it('sends a 30 MB image as a request blob and gets a result over 20 MB back as a blob; both blobs are gone after', async () => {
    const image = noisePng(30);
    expect(image.length).toBeGreaterThan(30e6);
    const out = path.join(work, 'big');
    const r = await runCli(['run', '--workflow', copyWorkflow(['big.png']), '--img', writeImage('big.png', image), '--blob-url', blobUrl(), '--out', out, '--json'], { env: env() });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout.toString());
    expect(report.files).toHaveLength(1);
    const written = readFileSync(report.files[0].path);
    expect(written.length).toBeGreaterThan(20e6);
    const [a, b] = [PNG.sync.read(image), PNG.sync.read(written)];
    expect(b.data.equals(a.data)).toBe(true);
    expect([...s3.objects().keys()]).toEqual([]);
    expect(worker.output()).not.toContain(CANARY);
    expect(worker.output()).not.toContain(s3.endpoint.replace('http://', ''));
  });

  it('sends 3 images of 8 MB each as one request blob', async () => {
    const images = [0, 1, 2].map(() => noisePng(8));
    const out = path.join(work, 'three');
    const files = images.map((data, i) => writeImage(`in${i}.png`, data));
    const r = await runCli(['run', '--workflow', copyWorkflow(['in0.png', 'in1.png', 'in2.png']), '--img', ...files, '--blob-url', blobUrl(), '--out', out, '--json'], { env: env() });
    expect([r.code, r.stderr]).toEqual([0, '']);
    const report = JSON.parse(r.stdout.toString());
    expect(report.files).toHaveLength(3);
    report.files.forEach((f: { path: string }, i: number) => expect(PNG.sync.read(readFileSync(f.path)).data.equals(PNG.sync.read(images[i]!).data)).toBe(true));
    expect(s3.objects().size).toBe(0);
  });

  it('--keep-blobs leaves only Fernet tokens under random names: no plaintext, no PNG bytes', async () => {
    const image = noisePng(12);
    const r = await runCli(['run', '--workflow', copyWorkflow([`${CANARY}.png`]), '--img', writeImage(`${CANARY}.png`, image), '--blob-url', blobUrl(), '--keep-blobs', '--out', path.join(work, 'kept'), '--json'], { env: env() });
    expect([r.code, r.stderr]).toEqual([0, '']);
    const objects = s3.objects();
    expect(objects.size).toBe(2);
    const names = [...objects.keys()].sort();
    expect(names[0]).toMatch(/^jobs\/[0-9a-f]{32}\.in$/);
    expect(names[1]).toBe(names[0]!.replace(/\.in$/, '.out'));
    for (const data of objects.values()) {
      const text = data.toString('latin1');
      expect(text.startsWith('gAAAAA')).toBe(true);
      expect(canonicalLength(text)).toBeGreaterThan(0); // one canonical url-safe base64 token, nothing else
      expect(fernet.decrypt(text).length).toBeGreaterThan(0);
      for (const needle of [CANARY, '\x89PNG', 'iVBORw0KGgo', 'LoadImage', 'workflow']) expect(text).not.toContain(needle);
    }
    for (const k of names) await new S3BlobStore(blobUrl(), s3.env).delete(k);
  });

  it('resumes after the client is killed mid-wait, fetching the result blob and deleting both blobs', async () => {
    sim.settings.stepMs = 100;
    const image = noisePng(11);
    const out = path.join(work, 'resumed');
    // KSampler steps make the job slow enough to kill the client while it waits.
    const wf = {
      '1': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'v1-5-pruned-emaonly.safetensors' } },
      '2': { class_type: 'LoadImage', inputs: { image: 'r.png' } },
      '3': { class_type: 'VAEEncode', inputs: { pixels: ['2', 0], vae: ['1', 2] } },
      '4': { class_type: 'CLIPTextEncode', inputs: { text: 'a', clip: ['1', 1] } },
      '6': { class_type: 'KSampler', inputs: { seed: 0, steps: 10, cfg: 7, sampler_name: 'euler', scheduler: 'normal', denoise: 1, model: ['1', 0], positive: ['4', 0], negative: ['4', 0], latent_image: ['3', 0] } },
      '8': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: 'r' } },
      '7': { class_type: 'VAEDecode', inputs: { samples: ['6', 0], vae: ['1', 2] } },
      '9': { class_type: 'PreviewImage', inputs: { images: ['7', 0] } },
    };
    const wfFile = path.join(work, 'slow.json');
    writeFileSync(wfFile, JSON.stringify(wf));
    const { jobId } = await killRunOnceSubmitted(['--workflow', wfFile, '--img', writeImage('r.png', image), '--blob-url', blobUrl(), '--out', out], env());
    sim.settings.stepMs = 5;
    expect(s3.objects().size).toBe(1); // the request blob; the result is not there yet
    const r = await runCli(['run', '--resume-id', jobId, '--blob-url', blobUrl(), '--out', out, '--json'], { env: env() });
    expect([r.code, r.stderr]).toEqual([0, '']);
    const written = listFiles(out);
    expect(written.map((f) => path.basename(f))).toEqual(['r_00001_.png']);
    expect(PNG.sync.read(readFileSync(written[0]!)).data.equals(PNG.sync.read(image).data)).toBe(true);
    expect(s3.objects().size).toBe(0);
  });

  it('an expired reply URL → STORAGE_FAILED, and the request blob is deleted all the same', async () => {
    sim.settings.stepMs = 400;
    const wf = path.join(work, 'expiring.json');
    writeFileSync(wf, JSON.stringify({
      '1': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'v1-5-pruned-emaonly.safetensors' } },
      '2': { class_type: 'LoadImage', inputs: { image: 'e.png' } },
      '3': { class_type: 'VAEEncode', inputs: { pixels: ['2', 0], vae: ['1', 2] } },
      '4': { class_type: 'CLIPTextEncode', inputs: { text: 'a', clip: ['1', 1] } },
      '6': { class_type: 'KSampler', inputs: { seed: 0, steps: 6, cfg: 7, sampler_name: 'euler', scheduler: 'normal', denoise: 1, model: ['1', 0], positive: ['4', 0], negative: ['4', 0], latent_image: ['3', 0] } },
      '8': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: 'e' } },
      '7': { class_type: 'VAEDecode', inputs: { samples: ['6', 0], vae: ['1', 2] } },
      '9': { class_type: 'PreviewImage', inputs: { images: ['7', 0] } },
    }));
    const r = await runCli(['run', '--workflow', wf, '--img', writeImage('e.png', noisePng(2)), '--blob-url', blobUrl()], { env: env({ COMFY_SEAL_BLOB_TTL_S: '1' }) });
    sim.settings.stepMs = 5;
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/failed: STORAGE_FAILED: the result blob URL has expired \(403\)/);
    expect(s3.objects().size).toBe(0);
  });

  it('storage that refuses, loses, fails or truncates → STORAGE_FAILED with its reason; nothing of the URL in plaintext', async () => {
    const token = Buffer.from(sealBundle({ workflow: { '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 0 } } }, images: [], options: {} }, fernet), 'latin1');
    stand.objects.set('t', token);
    const sha256 = createHash('sha256').update(token).digest('hex');
    const cases: Array<[string, Record<string, unknown>, RegExp]> = [
      ['/403', {}, /refused the request blob URL \(403\)/],
      ['/404', {}, /no request blob at its URL \(404\)/],
      ['/truncate/t', {}, /truncated/],
      ['/ok/t', { sha256: 'ab'.repeat(32) }, /sha256 does not match/],
      ['/ok/t', { size: token.length + 5 }, /smaller than its pointer says/],
    ];
    for (const [where, over, reason] of cases) {
      const pointer = { blob: { url: `${stand.url}${where}?X-Amz-Signature=${CANARY}`, sha256, size: token.length, ...over } };
      const s = await runInput({ encrypted_input: fernet.encrypt(JSON.stringify(pointer)) });
      expect(s.status).toBe('FAILED');
      expect(s.error).not.toContain(CANARY);
      expect(s.error).not.toContain('127.0.0.1');
      const failure = openError(s.error, fernet);
      expect([where, failure.code, failure.message]).toEqual([where, 'STORAGE_FAILED', expect.stringMatching(reason)]);
    }
    expect(worker.output()).not.toContain(CANARY);
  });

  it('the sealed result pointer, and the result in the blob, name the job (§11)', async () => {
    const workflow = { '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 0 } }, '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'p' } } };
    const reply = { put: `${stand.url}/ok/named.out`, get: `${stand.url}/ok/named.out`, always: true };
    const s = await runInput({ encrypted_input: sealBundle({ workflow, images: [], options: {}, reply }, fernet) });
    expect(s.status).toBe('COMPLETED');
    const opened = openOutput(s.output, fernet);
    expect(opened).toMatchObject({ jobId: s.id, pointer: { url: reply.get } });
    expect(openResultBlob(Buffer.from(stand.objects.get('named.out')!), fernet).jobId).toBe(s.id);
  });

  it("a webhook of a job whose result went to a blob opens with the client, which fetches it from its own store (§11)", async () => {
    let delivered: (body: string) => void;
    const body = new Promise<string>((resolve) => (delivered = resolve));
    const receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        res.writeHead(200).end();
        delivered(Buffer.concat(chunks).toString());
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    try {
      const image = noisePng(2); // its copy is over the worker's 1 MB inline limit: the result goes to the reply blob
      const options = { apiUrl: worker.url, endpointId: 'e2e', key, pollMinMs: 20, env: {} };
      const sender = new ComfySealClient({ ...options, blobStore: new S3BlobStore(blobUrl(), s3.env) });
      const jobId = await sender.submit({ workflow: JSON.parse(readFileSync(copyWorkflow(['w.png']), 'utf8')), images: [{ name: 'w.png', data: image }], webhook: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook` });
      const text = await body;
      expect(() => openWebhook(text, key)).toThrow(expect.objectContaining({ code: 'BAD_INPUT', message: expect.stringContaining('ComfySealClient.openWebhook') }));
      // A receiver that did not send the job (a fresh client, as a webhook server would be) with the same store.
      const receiving = new ComfySealClient({ ...options, blobStore: new S3BlobStore(blobUrl(), s3.env) });
      const event = await receiving.openWebhook(text);
      expect(event.status === 'COMPLETED' && PNG.sync.read(event.result.files[0]!.data).data.equals(PNG.sync.read(image).data)).toBe(true);
      expect(await receiving.releaseBlobs(jobId)).toBe(2);
      expect(s3.objects().size).toBe(0);
    } finally {
      await new Promise((resolve) => receiver.close(resolve));
    }
  });

  it('a tampered blob whose sha256 matches its pointer (a forged pointer) → DECRYPT_FAILED', async () => {
    const token = Buffer.from(sealBundle({ workflow: { '1': { class_type: 'EmptyImage', inputs: {} } }, images: [], options: {} }, fernet), 'latin1');
    const tampered = Buffer.from(token);
    tampered[60] = tampered[60] === 0x41 ? 0x42 : 0x41;
    stand.objects.set('tampered', tampered);
    const pointer = { blob: { url: `${stand.url}/ok/tampered`, sha256: createHash('sha256').update(tampered).digest('hex'), size: tampered.length } };
    const s = await runInput({ encrypted_input: fernet.encrypt(JSON.stringify(pointer)) });
    expect(s.status).toBe('FAILED');
    expect(JSON.parse(s.error!).code).toBe('DECRYPT_FAILED');
  });
});
