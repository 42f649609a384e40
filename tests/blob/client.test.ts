import { createHash } from 'node:crypto';
import { http, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { BlobStore } from '../../client/blob/store.js';
import { ComfySealClient } from '../../client/client.js';
import { JobFailedError } from '../../client/errors.js';
import { openBundle } from '../../shared/bundle.js';
import { Fernet, sealBlobPointer, sealError, SealError, sealResultBytes } from '../../shared/index.js';
import { startBlobServer, type BlobServer } from '../helpers/blob-server.js';

const API = 'https://api.runpod.ai/v2';
const EP = 'ep-blob';
const key = Fernet.generateKey();
const fernet = new Fernet(key);
const server = setupServer();
let storage: BlobServer;
beforeAll(async () => {
  server.listen({ onUnhandledRequest: 'bypass' });
  storage = await startBlobServer();
});
afterEach(() => server.resetHandlers());
afterAll(async () => {
  server.close();
  await storage.close();
});

/** A store on the stand-in server: keys are plain names there, URLs are `/ok/KEY`. */
function memoryStore(): BlobStore & { deleted: string[] } {
  const deleted: string[] = [];
  return {
    deleted,
    prefix: '',
    put: async (k, bytes) => void storage.objects.set(k, Buffer.from(bytes)),
    presign: async (k) => `${storage.url}/ok/${k}`,
    delete: async (k) => {
      deleted.push(k);
      storage.objects.delete(k);
    },
    keyOf: (url) => new URL(url).pathname.split('/')[2] ?? null,
  };
}

const workflow = { '1': { class_type: 'LoadImage', inputs: { image: 'big.png' } } };
const client = (store: BlobStore) => new ComfySealClient({ endpointId: EP, apiKey: 'rpa_test', key, pollMinMs: 5, pollMaxMs: 20, env: {}, blobStore: store });

describe('ComfySealClient with a blob store', () => {
  it('sends a request over /run as a sealed pointer, fetches a pointer result, and deletes both blobs', async () => {
    const store = memoryStore();
    const image = Buffer.alloc(9 * 1024 * 1024, 3);
    let input: { encrypted_input: string } | undefined;
    const files = [{ nodeId: '2', filename: 'out.png', subfolder: '', kind: 'image', mime: 'image/png', data: Buffer.alloc(3_000_000, 9) }];
    server.use(
      http.post(`${API}/${EP}/run`, async ({ request }) => {
        input = ((await request.json()) as { input: typeof input }).input;
        return HttpResponse.json({ id: 'j1', status: 'IN_QUEUE' });
      }),
      http.get(`${API}/${EP}/status/j1`, () => {
        // The worker's side: the pointer opened, its blob fetched, the result PUT to the reply, a pointer returned.
        const pointer = JSON.parse(fernet.decrypt(input!.encrypted_input).toString()).blob;
        const blobKey = new URL(pointer.url).pathname.split('/')[2]!;
        const bundle = openBundle(storage.objects.get(blobKey)!, fernet);
        expect(Buffer.from(bundle.images[0]!.data).equals(image)).toBe(true);
        expect(bundle.reply!.always).toBe(true); // a blob request always gets a blob result (resume finds both keys)
        const sealed = sealResultBytes({ files, timingsMs: {}, jobId: 'j1' }, fernet);
        const bytes = Buffer.from(sealed.bytes);
        storage.objects.set(new URL(bundle.reply!.put).pathname.split('/')[2]!, bytes);
        const output = sealBlobPointer({ url: bundle.reply!.get, sha256: createHash('sha256').update(bytes).digest('hex'), size: bytes.length }, fernet, 'j1');
        return HttpResponse.json({ id: 'j1', status: 'COMPLETED', output });
      }),
    );
    const c = client(store);
    const { result } = await c.run({ workflow, images: [{ name: 'big.png', data: image }] });
    expect(Buffer.byteLength(JSON.stringify({ input }))).toBeLessThan(2000);
    expect(result.files[0]!.data.equals(files[0]!.data)).toBe(true);
    expect(store.deleted.sort()).toEqual([expect.stringMatching(/^[0-9a-f]{32}\.in$/), expect.stringMatching(/^[0-9a-f]{32}\.out$/)]);
    expect(store.deleted[0]!.slice(0, 32)).toBe(store.deleted[1]!.slice(0, 32));
  });

  it('keeps blobs with keepBlobs, and a resumed client derives both keys from the result pointer alone', async () => {
    const store = memoryStore();
    const token = Buffer.from(sealResultBytes({ files: [], timingsMs: {}, jobId: 'old' }, fernet).bytes);
    const hex = 'ab'.repeat(16);
    storage.objects.set(`${hex}.out`, token);
    storage.objects.set(`${hex}.in`, Buffer.from('request'));
    const output = sealBlobPointer({ url: `${storage.url}/ok/${hex}.out`, sha256: createHash('sha256').update(token).digest('hex'), size: token.length }, fernet, 'old');
    server.use(http.get(`${API}/${EP}/status/old`, () => HttpResponse.json({ id: 'old', status: 'COMPLETED', output })));
    const c = client(store);
    expect((await c.resume('old')).files).toEqual([]);
    expect(store.deleted).toEqual([]);
    expect(await c.releaseBlobs('old')).toBe(2);
    expect(store.deleted.sort()).toEqual([`${hex}.in`, `${hex}.out`]);
  });

  it('a small request goes inline with reply URLs; a failed job still has its blobs deleted by run()', async () => {
    const store = memoryStore();
    let input: { encrypted_input: string } | undefined;
    server.use(
      http.post(`${API}/${EP}/run`, async ({ request }) => {
        input = ((await request.json()) as { input: typeof input }).input;
        return HttpResponse.json({ id: 'j2', status: 'IN_QUEUE' });
      }),
      http.get(`${API}/${EP}/status/j2`, () => HttpResponse.json({ id: 'j2', status: 'FAILED', error: sealError(new SealError('STORAGE_FAILED', 'the result blob URL has expired (403)'), fernet, 'j2') })),
    );
    const error = await client(store).run({ workflow }).catch((e) => e);
    expect(error).toBeInstanceOf(JobFailedError);
    expect(error.jobCode).toBe('STORAGE_FAILED');
    const bundle = openBundle(input!.encrypted_input, fernet);
    expect(bundle.reply).toEqual({ put: expect.stringMatching(/\.out$/), get: expect.stringMatching(/\.out$/), always: false });
    expect(store.deleted).toEqual([expect.stringMatching(/^[0-9a-f]{32}\.out$/)]);
  });
});
