/**
 * Contract §11 through the built bin, as a user meets it: a RunPod API that answers with genuine sealed payloads of the
 * wrong job or pointing at the wrong object (anyone holding the API key can), a real S3-compatible store (s3rver) with
 * an object of the user's that must survive, a 2^40-byte pointer, and Ctrl-C while a result blob trickles in.
 */
import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3BlobStore } from '../../client/blob/s3.js';
import { openBundle } from '../../shared/bundle.js';
import { Fernet, sealBlobPointer, sealResult, sealResultBytes } from '../../shared/index.js';
import { CLI, runCli } from '../helpers/cli.js';
import { startS3, type S3 } from '../helpers/s3.js';

const EP = 'ep-trust';
const key = Fernet.generateKey();
const fernet = new Fernet(key);
const files = [{ nodeId: '9', filename: 'a.png', subfolder: '', kind: 'image', mime: 'image/png', data: Buffer.from('the png of job A') }];
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/**
 * RunPod's REST API as anyone holding the key could answer it: `/run` queues `nextId`, `/status/ID` answers what
 * `status[ID]` returns; any other GET is a blob (`blobs[path]`, or one that sends its headers and a byte, then hangs).
 */
interface FakeApi {
  url: string;
  nextId: string;
  runs: Array<{ input: { encrypted_input: string } }>;
  status: Map<string, () => unknown>;
  blobs: Map<string, Buffer | 'hang'>;
  hits: string[];
  /** Resolves at the next blob GET. */
  nextGet(): Promise<void>;
  close(): Promise<void>;
}

async function startFakeApi(): Promise<FakeApi> {
  const sockets = new Set<Socket>();
  let onGet: (() => void) | undefined;
  const api: Omit<FakeApi, 'url' | 'close'> = {
    nextId: 'job-1',
    runs: [],
    status: new Map(),
    blobs: new Map(),
    hits: [],
    nextGet: () => new Promise<void>((resolve) => (onGet = resolve)),
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://x');
      const json = (value: unknown, code = 200) => void res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(value));
      if (req.method === 'POST' && url.pathname === `/${EP}/run`) {
        api.runs.push(JSON.parse(Buffer.concat(chunks).toString()));
        return json({ id: api.nextId, status: 'IN_QUEUE' });
      }
      const status = new RegExp(`^/${EP}/status/(.+)$`).exec(url.pathname);
      if (status) {
        const answer = api.status.get(status[1]!);
        return answer ? json(answer()) : json({ error: 'not found' }, 404);
      }
      api.hits.push(url.pathname);
      onGet?.();
      const blob = api.blobs.get(url.pathname);
      if (blob === 'hang') return void res.writeHead(200, { 'content-length': '1000' }).write('x');
      if (!blob) return void res.writeHead(404).end();
      res.writeHead(200, { 'content-length': String(blob.length) }).end(blob);
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return Object.assign(api, {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  });
}

let api: FakeApi;
let s3: S3;
let work: string;
let outs = 0;
const blobUrl = () => `s3://${s3.bucket}/jobs`;
const env = (extra: Record<string, string> = {}) => ({ ENCRYPTION_KEY: key, RUNPOD_API_URL: api.url, RUNPOD_ENDPOINT_ID: EP, XDG_CACHE_HOME: path.join(work, 'cache'), ...s3.env, ...extra });
const freshOut = () => path.join(work, `out-${++outs}`);
const written = (dir: string) => {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
};

beforeAll(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'cs-trust-'));
  [api, s3] = await Promise.all([startFakeApi(), startS3()]);
});
afterAll(async () => {
  await Promise.all([api.close(), s3.close()]);
  rmSync(work, { recursive: true, force: true });
});

describe('comfy-seal refuses answers for another job or object (§11)', () => {
  it("run --resume-id job-B refuses job A's genuine sealed result: BAD_ANSWER, exit 1, nothing written", async () => {
    api.status.set('job-B', () => ({ id: 'job-B', status: 'COMPLETED', output: sealResult({ files, timingsMs: {}, jobId: 'job-A' }, fernet) }));
    const out = freshOut();
    const r = await runCli(['run', '--resume-id', 'job-B', '--out', out], { env: env() });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/BAD_ANSWER: the result for job job-B belongs to another job; nothing was written/);
    expect(r.stderr).not.toContain('resume with'); // resuming would meet the same answer
    expect(written(out)).toEqual([]);
  });

  it('nodes refuses an answer that names no job', async () => {
    api.nextId = 'q-1';
    api.status.set('q-1', () => ({ id: 'q-1', status: 'COMPLETED', output: { encrypted_output: fernet.encrypt(JSON.stringify({ status: 'success', outputs: [], object_info: { KSampler: {} } })) } }));
    const r = await runCli(['nodes', '--refresh'], { env: env() });
    expect([r.code, r.stderr]).toEqual([1, expect.stringMatching(/^comfy-seal nodes: BAD_ANSWER: the answer for job q-1 names no job/)]);
    expect(written(path.join(work, 'cache'))).toEqual([]);
  });

  it("a hostile result pointer at the user's own object: refused, nothing fetched, the object survives", async () => {
    const store = new S3BlobStore(blobUrl(), s3.env);
    await store.put('precious/tax-2025.pdf', Buffer.from('%PDF-1.7 tax return'));
    // A genuine sealed result for the job, served by the attacker under a path-style URL naming the user's bucket and
    // file (the key a resumed client used to derive, and delete); then the real presigned URL of that file.
    const token = Buffer.from(sealResultBytes({ files, timingsMs: {}, jobId: 'job-X' }, fernet).bytes);
    const hostile = `/${s3.bucket}/precious/tax-2025.pdf`;
    api.blobs.set(hostile, token);
    for (const url of [`${api.url}${hostile}`, await store.presign('precious/tax-2025.pdf', 'GET', 60)]) {
      api.status.set('job-X', () => ({ id: 'job-X', status: 'COMPLETED', output: sealBlobPointer({ url, sha256: sha(token), size: token.length }, fernet, 'job-X') }));
      const out = freshOut();
      const r = await runCli(['run', '--resume-id', 'job-X', '--blob-url', blobUrl(), '--out', out], { env: env() });
      expect(s3.objects().get('precious/tax-2025.pdf')?.toString()).toBe('%PDF-1.7 tax return');
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/BAD_ANSWER: the result pointer of job job-X names an object this client did not create .*nothing was fetched or deleted/);
      expect(written(out)).toEqual([]);
    }
    expect(api.hits).not.toContain(hostile);
    expect(s3.objects().get('precious/tax-2025.pdf')?.toString()).toBe('%PDF-1.7 tax return');
  });

  it('a pointer stating 2^40 bytes: a clear BAD_ANSWER, no crash', async () => {
    api.status.set('job-H', () => ({ id: 'job-H', status: 'COMPLETED', output: sealBlobPointer({ url: `${api.url}/huge`, sha256: 'ab'.repeat(32), size: 2 ** 40 }, fernet, 'job-H') }));
    const r = await runCli(['run', '--resume-id', 'job-H', '--blob-url', blobUrl(), '--out', freshOut()], { env: env() });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/BAD_ANSWER: the result pointer states 1099512 MB, over this client's limit of 2048 MB/);
    expect(r.stderr).not.toContain('unexpected');
    expect(api.hits).not.toContain('/huge');
  });

  it("the client's blob limit is a setting: an unusable value is a usage error, not a crash", async () => {
    const r = await runCli(['run', '--resume-id', 'job-H', '--out', freshOut()], { env: env({ COMFY_SEAL_MAX_BLOB_MB: 'lots' }) });
    expect([r.code, r.stderr]).toEqual([2, expect.stringContaining('COMFY_SEAL_MAX_BLOB_MB must be a positive number of MB')]);
  });

  it('Ctrl-C while the result blob hangs exits at once, saying the job is done and how to fetch its result again', async () => {
    // The bucket's endpoint is the fake: presigning is local, so the result's GET URL the client issues leads there.
    const wf = path.join(work, 'wf.json');
    writeFileSync(wf, JSON.stringify({ '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 0 } }, '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'x' } } }));
    api.nextId = 'job-G';
    api.status.set('job-G', () => {
      const get = openBundle(api.runs.at(-1)!.input.encrypted_input, fernet).reply!.get;
      api.blobs.set(new URL(get).pathname, 'hang');
      return { id: 'job-G', status: 'COMPLETED', output: sealBlobPointer({ url: get, sha256: 'ab'.repeat(32), size: 1000 }, fernet, 'job-G') };
    });
    const child = spawn(process.execPath, [CLI, 'run', '--workflow', wf, '--no-check', '--blob-url', blobUrl(), '--out', freshOut()], {
      env: { PATH: process.env.PATH, ...env({ AWS_ENDPOINT_URL_S3: api.url }) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    await api.nextGet();
    const started = Date.now();
    child.kill('SIGINT');
    const code = await exited;
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(code).toBe(130);
    expect(stderr).toContain('stopped fetching the result; job job-G is done, and its result can be fetched again');
    expect(stderr).toMatch(/resume with:\n {2}comfy-seal run --resume-id job-G --out .* --blob-url s3:\/\/seal-test\/jobs/);
    expect(stderr).not.toMatch(/still running|cancel with/);
  }, 20_000);
});
