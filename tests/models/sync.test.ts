import { createHash, randomBytes } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import * as nodeFs from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseModels, ModelSpecError } from '../../handler/models/spec.js';
import { syncModels, verifyModels, type SyncFs, type SyncOptions } from '../../handler/models/sync.js';
import { runCli } from '../helpers/cli.js';

/** A stand-in for the Hugging Face hub's resolve endpoint, with per-file misbehaviour. */
interface HubFile {
  data: Buffer;
  /** What each full GET does, in order; the last repeats. */
  plan?: Array<'ok' | 'stub' | 'drop' | 'stall' | '500' | 'html' | 'html-as-binary'>;
  etag?: string;
}

let server: Server;
let base: string;
let files: Record<string, HubFile>;
let requests: string[];
let dir: string;

beforeEach(async () => {
  files = {};
  requests = [];
  dir = mkdtempSync(path.join(os.tmpdir(), 'cs-models-'));
  server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const ranged = req.headers.range === 'bytes=0-0';
    requests.push(`${ranged ? 'INFO' : 'GET'} ${url.pathname}`);
    const key = url.pathname.replace('/resolve/main/', '/');
    const file = files[key];
    if (!file) {
      res.writeHead(404, { 'X-Error-Code': 'EntryNotFound' });
      return void res.end();
    }
    const sha = createHash('sha256').update(file.data).digest('hex');
    if (ranged) {
      res.writeHead(206, { 'Content-Range': `bytes 0-0/${file.data.length}`, 'X-Linked-Size': String(file.data.length), 'X-Linked-ETag': `"${file.etag ?? sha}"`, 'Content-Length': '1' });
      return void res.end(file.data.subarray(0, 1));
    }
    const plan = file.plan ?? ['ok'];
    const step = plan.length > 1 ? plan.shift()! : plan[0]!;
    if (step === '500') return void res.writeHead(500).end();
    if (step === 'html' || step === 'html-as-binary') {
      // A login or "are you sure" page served with 200, big enough to pass for a small file.
      const page = Buffer.from(`<!DOCTYPE html><html><body>${'sign in '.repeat(2_000)}</body></html>`);
      res.writeHead(200, { 'Content-Type': step === 'html' ? 'text/html; charset=utf-8' : 'application/octet-stream', 'Content-Length': String(page.length) });
      return void res.end(page);
    }
    if (step === 'stub') {
      const stub = Buffer.from('version https://git-lfs.github.com/spec/v1\n');
      res.writeHead(200, { 'Content-Length': String(stub.length) });
      return void res.end(stub);
    }
    res.writeHead(200, { 'Content-Length': String(file.data.length) });
    if (step === 'drop') {
      res.write(file.data.subarray(0, 100));
      return void setTimeout(() => res.destroy(), 20);
    }
    if (step === 'stall') return void res.write(file.data.subarray(0, 100)); // and never more
    res.end(file.data);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterEach(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
  rmSync(dir, { recursive: true, force: true });
});

const options = (extra: Partial<SyncOptions> = {}): SyncOptions => ({
  modelsDir: path.join(dir, 'models'),
  hostCache: path.join(dir, 'hf-cache'),
  hubUrl: base,
  attempts: 2,
  stallTimeoutMs: 300,
  freeBytes: async () => 1e12,
  ...extra,
});

describe('MODELS syntax', () => {
  it('parses Hugging Face and URL entries, with local names and mirrors', () => {
    expect(parseModels('org/repo:split_files/vae/ae.safetensors:vae, city96/FLUX.1-dev-gguf:flux1-dev-Q4_K_S.gguf:unet:flux-q4.gguf , https://a.example/x.safetensors|https://b.example/x.safetensors>loras:style.safetensors')).toEqual([
      { kind: 'hf', repo: 'org/repo', file: 'split_files/vae/ae.safetensors', targetDir: 'vae', name: 'ae.safetensors' },
      { kind: 'hf', repo: 'city96/FLUX.1-dev-gguf', file: 'flux1-dev-Q4_K_S.gguf', targetDir: 'unet', name: 'flux-q4.gguf' },
      { kind: 'url', urls: ['https://a.example/x.safetensors', 'https://b.example/x.safetensors'], targetDir: 'loras', name: 'style.safetensors' },
    ]);
    expect(parseModels('')).toEqual([]);
  });

  it.each([
    ['org/repo:file', /entry 1: expected repo:file:target_dir/],
    ['a:b:c:d:e', /entry 1: expected/],
    ['org/repo:f.bin:vae, notarepo:f:vae', /entry 2: repo must be org\/name/],
    ['org/repo:f.bin:../etc', /entry 1: target dir must be a relative folder/],
    ['org/repo:f.bin:/abs', /entry 1: target dir/],
    ['org/repo:f.bin:vae:../x', /entry 1: local name/],
    ['org/repo:../f.bin:vae', /entry 1: bad file path/],
    ['https://a.example/x.bin', /entry 1: a URL entry is URL/],
    ['https://a.example/x.bin|nope>loras', /entry 1: not a URL/],
  ])('%s is refused: %s', (text, message) => {
    expect(() => parseModels(text)).toThrow(ModelSpecError);
    expect(() => parseModels(text)).toThrow(message);
  });
});

describe('model sync', () => {
  it('downloads, verifies size and sha256, writes atomically, and skips it next time without the network', async () => {
    const data = randomBytes(200_000);
    files['/org/repo/sub/model.safetensors'] = { data };
    const lines: string[] = [];
    const entries = parseModels('org/repo:sub/model.safetensors:checkpoints:local.safetensors');
    const [first] = await syncModels(entries, options({ progress: (l) => lines.push(l) }));
    expect(first).toMatchObject({ status: 'downloaded', bytes: 200_000 });
    const target = path.join(dir, 'models', 'checkpoints', 'local.safetensors');
    expect(readFileSync(target).equals(data)).toBe(true);
    expect(lines[0]).toMatch(/^models: downloaded +checkpoints\/local\.safetensors \(200000 bytes\)/);
    requests.length = 0;
    server.closeAllConnections();
    const [second] = await syncModels(entries, options({ hubUrl: 'http://127.0.0.1:9' }));
    expect(second!.status).toBe('present');
    expect(requests).toEqual([]);
    expect(await verifyModels(entries, path.join(dir, 'models'))).toMatchObject([{ ok: true }]);
  });

  it('treats a short file as a stub: deletes it, retries, and fails clearly with nothing left behind', async () => {
    files['/org/repo/big.bin'] = { data: randomBytes(50_000), plan: ['stub'] };
    const [r] = await syncModels(parseModels('org/repo:big.bin:unet'), options());
    expect(r!.status).toBe('failed');
    expect(r!.error).toMatch(/stub: \d+ bytes, the hub says 50000.*try 2/);
    expect(existsSync(path.join(dir, 'models', 'unet', 'big.bin'))).toBe(false);
    expect(readdirSync(path.join(dir, 'models', 'unet'))).toEqual([]); // no .part, no marker
  });

  it('survives an interrupted and a stalled download by retrying', async () => {
    files['/org/repo/a.bin'] = { data: randomBytes(30_000), plan: ['drop', 'ok'] };
    files['/org/repo/b.bin'] = { data: randomBytes(30_000), plan: ['stall', 'ok'] };
    const results = await syncModels(parseModels('org/repo:a.bin:loras,org/repo:b.bin:loras'), options());
    expect(results.map((r) => r.status)).toEqual(['downloaded', 'downloaded']);
    expect(requests.filter((q) => q.startsWith('GET')).length).toBe(4);
  });

  it('falls back to the mirrors of a URL entry', async () => {
    const data = randomBytes(10_000);
    files['/dead/x.safetensors'] = { data, plan: ['500'] };
    files['/live/x.safetensors'] = { data };
    const [r] = await syncModels(parseModels(`${base}/dead/x.safetensors|${base}/live/x.safetensors>loras`), options());
    expect(r).toMatchObject({ status: 'downloaded', bytes: 10_000 });
    expect(requests).toEqual(['GET /dead/x.safetensors', 'GET /dead/x.safetensors', 'GET /live/x.safetensors']);
  });

  it('links from the host cache instead of downloading', async () => {
    const data = randomBytes(5_000);
    files['/org/repo/model.safetensors'] = { data };
    const snapshot = path.join(dir, 'hf-cache', 'models--org--repo', 'snapshots', 'abc123');
    mkdirSync(snapshot, { recursive: true });
    writeFileSync(path.join(snapshot, 'model.safetensors'), data);
    const [r] = await syncModels(parseModels('org/repo:model.safetensors:checkpoints'), options());
    expect(r!.status).toBe('linked');
    const target = path.join(dir, 'models', 'checkpoints', 'model.safetensors');
    expect(lstatSync(target).isSymbolicLink()).toBe(true);
    expect(readlinkSync(target)).toBe(path.join(snapshot, 'model.safetensors'));
    expect(requests.filter((q) => q.startsWith('GET'))).toEqual([]);
  });

  it('refuses to start a download that will not fit on the disk', async () => {
    files['/org/repo/huge.bin'] = { data: randomBytes(1_000) };
    const [r] = await syncModels(parseModels('org/repo:huge.bin:unet'), options({ freeBytes: async () => 500, diskMarginBytes: 0 }));
    expect(r!.status).toBe('failed');
    expect(r!.error).toMatch(/not enough disk for huge\.bin: needs 1000 bytes with margin, 500 free/);
    expect(requests.filter((q) => q.startsWith('GET'))).toEqual([]);
  });

  it('refuses a download whose sha256 differs from the hub', async () => {
    files['/org/repo/m.bin'] = { data: randomBytes(1_000), etag: 'a'.repeat(64) };
    const [r] = await syncModels(parseModels('org/repo:m.bin:vae'), options());
    expect(r!.error).toMatch(/sha256 does not match/);
    expect(existsSync(path.join(dir, 'models', 'vae', 'm.bin'))).toBe(false);
  });

  it('never hangs on a hub that does not answer', async () => {
    const silent = createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    const started = Date.now();
    const [r] = await syncModels(parseModels('org/repo:m.bin:vae'), options({ hubUrl: `http://127.0.0.1:${(silent.address() as AddressInfo).port}` }));
    expect(r!.status).toBe('failed');
    expect(Date.now() - started).toBeLessThan(3_000);
    silent.closeAllConnections();
    silent.close();
  });

  it('reports a missing repo file', async () => {
    const [r] = await syncModels(parseModels('org/repo:nope.bin:vae'), options());
    expect(r).toMatchObject({ status: 'failed', error: expect.stringContaining('not found on the hub') });
  });

  it('a Hugging Face file placed by hand is kept only if it hashes to the hub\'s sha256', async () => {
    const data = randomBytes(4_000);
    files['/org/repo/h.bin'] = { data };
    const target = path.join(dir, 'models', 'vae', 'h.bin');
    mkdirSync(path.dirname(target), { recursive: true });
    writeFileSync(target, randomBytes(4_000)); // the right size, other bytes
    expect((await syncModels(parseModels('org/repo:h.bin:vae'), options()))[0]!.status).toBe('downloaded');
    expect(readFileSync(target).equals(data)).toBe(true);
    rmSync(path.join(dir, 'models', 'vae', '.h.bin.comfy-seal.json'));
    requests.length = 0;
    expect((await syncModels(parseModels('org/repo:h.bin:vae'), options()))[0]!.status).toBe('present');
    expect(requests.filter((q) => q.startsWith('GET'))).toEqual([]);
  });

  it('the command exits 1 on failure, 0 with MODELS_OPTIONAL=1, and doctor reports the missing model', async () => {
    const env = { MODELS: 'org/repo:missing.bin:vae', HF_ENDPOINT: base, COMFY_MODELS_DIR: path.join(dir, 'models'), HF_HUB_CACHE: path.join(dir, 'hf-cache') };
    const strict = await runCli(['models', 'sync'], { env });
    expect(strict.code).toBe(1);
    expect(strict.stdout.toString()).toMatch(/models: failed +vae\/missing\.bin/);
    expect(strict.stderr).toMatch(/1 of 1 failed; fix MODELS or set MODELS_OPTIONAL=1/);
    const optional = await runCli(['models', 'sync'], { env: { ...env, MODELS_OPTIONAL: '1' } });
    expect(optional.code).toBe(0);
    const bad = await runCli(['models', 'sync'], { env: { MODELS: 'nonsense' } });
    expect([bad.code, bad.stderr]).toEqual([2, expect.stringContaining('MODELS entry 1')]);
    const doctor = await runCli(['doctor', '--worker', '--json'], { env: { ...env, ENCRYPTION_KEY: 'x'.repeat(43) + '=', COMFY_URL: 'http://127.0.0.1:9', COMFY_SEAL_INPUT_DIR: path.join(dir, 'shm', 'input'), COMFY_SEAL_OUTPUT_DIR: path.join(dir, 'shm', 'output'), COMFY_SEAL_TEMP_DIR: path.join(dir, 'shm', 'temp') } });
    const report = JSON.parse(doctor.stdout.toString());
    expect(doctor.code).toBe(1);
    expect(report.checks.find((c: { name: string }) => c.name === 'model vae/missing.bin')).toMatchObject({ verdict: 'fail', detail: 'missing' });
    expect(report.checks.find((c: { name: string }) => c.name === 'comfyui')).toMatchObject({ verdict: 'fail' });
  });
});

describe('model sync of URL entries: the checks Hugging Face entries get', () => {
  const urlEntry = (...names: string[]) => parseModels(`${names.map((n) => `${base}${n}`).join('|')}>loras`);
  const loras = () => path.join(dir, 'models', 'loras');

  it.each([
    ['an HTML page (content-type text/html)', 'html', /HTML page \(content-type text\/html\)/],
    ['an HTML page sent as binary', 'html-as-binary', /sent an HTML page, not the file/],
    ['a Git LFS pointer', 'stub', /too small for a model file/],
  ] as const)('refuses %s, tries the mirror, and keeps nothing of it', async (_what, step, message) => {
    const data = randomBytes(10_000);
    files['/bad/x.safetensors'] = { data, plan: [step] };
    files['/good/x.safetensors'] = { data };
    const [alone] = await syncModels(urlEntry('/bad/x.safetensors'), options());
    expect(alone!.status).toBe('failed');
    expect(alone!.error).toMatch(message);
    expect(readdirSync(loras())).toEqual([]);
    const [mirrored] = await syncModels(urlEntry('/bad/x.safetensors', '/good/x.safetensors'), options());
    expect(mirrored).toMatchObject({ status: 'downloaded', bytes: 10_000 });
    expect(readFileSync(path.join(loras(), 'x.safetensors')).equals(data)).toBe(true);
  });

  it('checks the disk against content-length before downloading, once (no retry can make room)', async () => {
    files['/big/x.safetensors'] = { data: randomBytes(100_000) };
    const [r] = await syncModels(urlEntry('/big/x.safetensors'), options({ freeBytes: async () => 50_000, diskMarginBytes: 0 }));
    expect(r!.status).toBe('failed');
    expect(r!.error).toMatch(/not enough disk for x\.safetensors: needs 100000 bytes with margin, 50000 free/);
    expect(requests).toEqual(['GET /big/x.safetensors']);
    expect(readdirSync(loras())).toEqual([]);
  });

  it('on a restart, trusts the file only as its marker says: size, unchanged mtime or else the same sha256', async () => {
    const data = randomBytes(20_000);
    files['/m/x.safetensors'] = { data };
    const entries = urlEntry('/m/x.safetensors');
    const target = path.join(loras(), 'x.safetensors');
    const markerFile = path.join(loras(), '.x.safetensors.comfy-seal.json');
    expect((await syncModels(entries, options()))[0]!.status).toBe('downloaded');
    const marker = JSON.parse(readFileSync(markerFile, 'utf8'));
    expect(marker).toEqual({ size: 20_000, sha256: createHash('sha256').update(data).digest('hex'), mtimeMs: expect.any(Number) });

    // Touched but the same bytes: hashed again, still present, marker renewed; no network.
    requests.length = 0;
    utimesSync(target, new Date(), new Date(Date.now() + 5_000));
    expect((await syncModels(entries, options()))[0]!.status).toBe('present');
    expect(requests).toEqual([]);
    expect(JSON.parse(readFileSync(markerFile, 'utf8')).mtimeMs).not.toBe(marker.mtimeMs);

    // Same size, other bytes (a later write): not the verified file, so downloaded again.
    writeFileSync(target, randomBytes(20_000));
    expect((await syncModels(entries, options()))[0]!.status).toBe('downloaded');
    expect(readFileSync(target).equals(data)).toBe(true);

    // A torn marker vouches for nothing: an HTML page left at the target is replaced.
    writeFileSync(markerFile, '{"size": 2');
    writeFileSync(target, `<!doctype html>${'x'.repeat(30_000)}`);
    expect((await syncModels(entries, options()))[0]!.status).toBe('downloaded');
    expect(readFileSync(target).equals(data)).toBe(true);
  });

  it('a file placed by hand is kept when plausible, replaced when it is a stub', async () => {
    const data = randomBytes(5_000);
    files['/h/y.safetensors'] = { data };
    mkdirSync(loras(), { recursive: true });
    const target = path.join(loras(), 'y.safetensors');
    writeFileSync(target, 'version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 5000\n');
    expect((await syncModels(urlEntry('/h/y.safetensors'), options()))[0]!.status).toBe('downloaded');
    const own = randomBytes(4_000);
    rmSync(path.join(loras(), '.y.safetensors.comfy-seal.json'));
    writeFileSync(target, own);
    expect((await syncModels(urlEntry('/h/y.safetensors'), options()))[0]!.status).toBe('present');
    expect(readFileSync(target).equals(own)).toBe(true);
  });
});

describe('model sync durability (observed through the injected file system)', () => {
  /** node:fs/promises, recording each fsync (by path) and rename, in order. */
  function recordingFs(events: string[]): SyncFs {
    const rel = (p: unknown) => path.relative(dir, String(p));
    return {
      ...nodeFs,
      open: async (file, flags, mode) => {
        const handle = await nodeFs.open(file, flags, mode);
        const sync = handle.sync.bind(handle);
        handle.sync = async () => {
          events.push(`fsync ${rel(file)}`);
          return sync();
        };
        return handle;
      },
      rename: async (from, to) => {
        events.push(`rename ${rel(from)} -> ${rel(to)}`);
        return nodeFs.rename(from, to);
      },
    };
  }

  it.each([
    ['a Hugging Face entry', () => { files['/org/repo/d.bin'] = { data: randomBytes(3_000) }; return parseModels('org/repo:d.bin:vae'); }],
    ['a URL entry', () => { files['/u/d.bin'] = { data: randomBytes(3_000) }; return parseModels(`${base}/u/d.bin>vae`); }],
  ])('%s: the file is fsync\'d before its rename, then its directory; the marker likewise', async (_what, make) => {
    const events: string[] = [];
    const [r] = await syncModels(make(), options({ fs: recordingFs(events) }));
    expect(r!.status).toBe('downloaded');
    const part = `models/vae/.d.bin.${process.pid}.part`;
    const marker = 'models/vae/.d.bin.comfy-seal.json';
    expect(events).toEqual([
      `fsync ${part}`,
      `rename ${part} -> models/vae/d.bin`,
      'fsync models/vae',
      `fsync ${marker}.${process.pid}.tmp`,
      `rename ${marker}.${process.pid}.tmp -> ${marker}`,
      'fsync models/vae',
    ]);
  });
});
