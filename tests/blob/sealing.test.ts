import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { putBlob as clientPut } from '../../client/blob/transfer.js';
import { deliverResult } from '../../handler/blob/reply.js';
import { DEFAULT_BLOB_OPTIONS, putBlob as workerPut, type BlobOptions } from '../../handler/blob/transfer.js';
import { bundleJson, openBundle } from '../../shared/bundle.js';
import { openOutput, openResultBlob, SealedOutput } from '../../shared/envelope.js';
import { Fernet } from '../../shared/fernet.js';
import { SealingBody } from '../../shared/sealing-body.js';
import { startBlobServer, type BlobServer } from '../helpers/blob-server.js';
import { sealErrorOf } from '../helpers/errors.js';

let server: BlobServer;
beforeAll(async () => {
  server = await startBlobServer();
});
afterAll(() => server.close());

const fernet = new Fernet(Fernet.generateKey());
const workflow = { '1': { class_type: 'LoadImage', inputs: { image: 'a.png' } } };
const image = randomBytes(3_500_000); // a few sealing steps of 1 MiB
const bundleBody = () => new SealingBody(bundleJson({ workflow, images: [{ name: 'a.png', data: image }], options: {} }), fernet);
const options: BlobOptions = { ...DEFAULT_BLOB_OPTIONS, allowPrivate: true, timeoutMs: 5_000, stallMs: 1_000, retries: 2, retryMinMs: 10 };
const quick = { retries: 2, retryMinMs: 10, stallMs: 1_000 };

async function readAll(pieces: AsyncIterable<Buffer>, stopAfter = Infinity): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const piece of pieces) {
    out.push(Buffer.from(piece));
    if (out.length >= stopAfter) break;
  }
  return Buffer.concat(out);
}

describe('a body sealed while it is sent', () => {
  it('is one Fernet token of the JSON, of the announced length, with the sha256 of its bytes', async () => {
    const body = bundleBody();
    const token = await readAll(body.pieces());
    expect(token.length).toBe(body.length);
    expect(body.sha256).toBe(createHash('sha256').update(token).digest('hex'));
    expect(Buffer.from(openBundle(token, fernet).images[0]!.data).equals(image)).toBe(true);
    body.release();
  });

  it('sends the very same bytes again when read anew (a retry), after a read broken off halfway', async () => {
    const body = bundleBody();
    const partial = await readAll(body.pieces(), 2);
    expect(() => body.sha256).toThrow(/not read to its end/);
    const whole = await readAll(body.pieces());
    expect(whole.subarray(0, partial.length).equals(partial)).toBe(true);
    expect(whole.equals(await readAll(body.pieces()))).toBe(true);
    expect(body.sha256).toBe(createHash('sha256').update(whole).digest('hex'));
  });
});

describe('PUTs of a sealed body', () => {
  it('the worker and the client store it, and a 500 makes them send it again whole', async () => {
    for (const [name, put] of [
      ['w', (url: string, body: SealingBody) => workerPut(url, body, options)],
      ['c', (url: string, body: SealingBody) => clientPut(url, body, quick)],
    ] as const) {
      const body = bundleBody();
      await put(`${server.url}/flaky/${name}`, body);
      expect(server.hits.get(`/flaky/${name}`)).toBe(2);
      const stored = server.objects.get(name)!;
      expect(stored.length).toBe(body.length);
      expect(createHash('sha256').update(stored).digest('hex')).toBe(body.sha256);
      expect(Buffer.from(openBundle(stored, fernet).images[0]!.data).equals(image)).toBe(true);
    }
  });

  it.each([
    ['/403', /refused the request blob URL \(403\)/, 1],
    ['/404', /no request blob at its URL \(404\)/, 1],
    ['/500', /storage answered 500 for the request blob/, 3],
  ])('the client: %s → STORAGE_FAILED, retried only when worth it', async (path, reason, tries) => {
    const error = await clientPut(`${server.url}${path}`, bundleBody(), quick).catch((e: unknown) => e);
    expect(sealErrorOf(() => {
      throw error;
    })).toMatchObject({ code: 'STORAGE_FAILED', message: expect.stringMatching(reason) });
    expect(server.hits.get(path)).toBe(tries);
  });

  it('the client: storage that is not there → STORAGE_FAILED that says what to check', async () => {
    const error = await clientPut('http://127.0.0.1:9/k', bundleBody(), { ...quick, retries: 0 }).catch((e: unknown) => e);
    expect(sealErrorOf(() => {
      throw error;
    }).message).toMatch(/could not store the request blob \(ECONNREFUSED\): check AWS_ENDPOINT_URL_S3/);
  });
});

describe('deliverResult', () => {
  const files = [{ nodeId: '9', filename: 'a.png', subfolder: '', kind: 'image', mime: 'image/png', data: randomBytes(2_000_000) }];
  const reply = (name: string, always: boolean) => ({ put: `${server.url}/ok/${name}`, get: `${server.url}/ok/${name}`, always });

  it('keeps a result that fits inline, and sends one that does not (or any, with always) as a sealed blob', async () => {
    const inline = await deliverResult({ files, timingsMs: {} }, fernet, reply('r1', false), 18e6, options);
    expect(inline).toBeInstanceOf(SealedOutput);
    expect(openOutput(inline, fernet).result!.files[0]!.data.equals(files[0]!.data)).toBe(true);
    expect(server.objects.has('r1')).toBe(false);

    for (const [name, r, limit] of [['r2', reply('r2', false), 1e6], ['r3', reply('r3', true), 18e6]] as const) {
      const output = await deliverResult({ files, timingsMs: {} }, fernet, r, limit, options);
      const { pointer } = openOutput(output, fernet);
      const stored = server.objects.get(name)!;
      expect(pointer).toEqual({ url: r.get, size: stored.length, sha256: createHash('sha256').update(stored).digest('hex') });
      expect(openResultBlob(Buffer.from(stored), fernet).files[0]!.data.equals(files[0]!.data)).toBe(true);
    }
  });

  it('refuses a result past the blob limit as OUTPUT_TOO_LARGE before any byte is sent', async () => {
    const error = await deliverResult({ files, timingsMs: {} }, fernet, reply('r4', true), 1e6, { ...options, maxBytes: 1e6 }).catch((e: unknown) => e);
    expect(sealErrorOf(() => {
      throw error;
    }).code).toBe('OUTPUT_TOO_LARGE');
    expect(server.hits.get('/ok/r4')).toBeUndefined();
  });
});
