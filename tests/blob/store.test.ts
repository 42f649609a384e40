import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchBlob } from '../../client/blob/transfer.js';
import { parseBlobUrl, S3BlobStore } from '../../client/blob/s3.js';
import { newBlobKeys, ownBlobKeys, type BlobStore } from '../../client/blob/store.js';
import { blobStoreCheck, clientChecks } from '../../client/doctor.js';
import { Fernet } from '../../shared/fernet.js';
import { DEFAULT_BLOB_OPTIONS, getBlob, putBlob } from '../../handler/blob/transfer.js';
import { startS3, type S3 } from '../helpers/s3.js';

let s3: S3;
beforeAll(async () => {
  s3 = await startS3();
});
afterAll(() => s3.close());

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('the S3 blob store against s3rver', () => {
  it('puts, presigns GET and PUT URLs the worker uses as plain HTTP, and deletes', async () => {
    const store = new S3BlobStore(`s3://${s3.bucket}/pre/fix/`, s3.env);
    expect(store.prefix).toBe('pre/fix');
    const keys = newBlobKeys(store.prefix);
    expect(keys.request).toMatch(/^pre\/fix\/[0-9a-f]{32}\.in$/);
    expect(ownBlobKeys(keys.result, store.prefix)).toEqual(keys);
    // Only the shape this client creates, under its own prefix (§11): nothing else is fetched or deleted on resume.
    for (const other of ['pre/fix/other.out', keys.request, `elsewhere/${keys.result.slice(8)}`, `pre/fix/x/${keys.result.slice(8)}`, keys.result.slice(8), 'precious/tax-2025.pdf']) {
      expect([other, ownBlobKeys(other, store.prefix)]).toEqual([other, null]);
    }
    expect(ownBlobKeys(keys.result.slice(8))).toEqual({ request: keys.request.slice(8), result: keys.result.slice(8) });

    const data = randomBytes(3_000_000);
    await store.put(keys.request, data);
    const get = await store.presign(keys.request, 'GET', 60);
    expect(store.keyOf(get)).toBe(keys.request);
    const worker = { ...DEFAULT_BLOB_OPTIONS, allowPrivate: true };
    expect((await getBlob({ url: get, sha256: sha(data), size: data.length }, worker)).equals(data)).toBe(true);

    const put = await store.presign(keys.result, 'PUT', 60);
    await putBlob(put, data.subarray(0, 1000), worker);
    const back = await store.presign(keys.result, 'GET', 60);
    expect((await fetchBlob({ url: back, sha256: sha(data.subarray(0, 1000)), size: 1000 })).equals(data.subarray(0, 1000))).toBe(true);
    expect([...s3.objects().keys()].sort()).toEqual([keys.request, keys.result].sort());

    await store.delete(keys.request);
    await store.delete(keys.result);
    expect(s3.objects().size).toBe(0);
    await expect(fetchBlob({ url: back, sha256: sha(data), size: 1000 }, { retries: 0 })).rejects.toMatchObject({ code: 'STORAGE_FAILED', message: expect.stringContaining('404') });
  });

  it('presigns a reply PUT for If-None-Match: * (a signed header, not a query parameter), which the worker sends', async () => {
    const store = new S3BlobStore(`s3://${s3.bucket}/once`, s3.env);
    const keys = newBlobKeys(store.prefix);
    const signed = (url: string) => new URL(url).searchParams.get('X-Amz-SignedHeaders')!.split(';');
    const once = await store.presign(keys.result, 'PUT', 60, { ifNoneMatch: true });
    expect(signed(once)).toContain('if-none-match');
    expect(new URL(once).searchParams.has('if-none-match')).toBe(false);
    expect(signed(await store.presign(keys.request, 'PUT', 60))).not.toContain('if-none-match');
    // The worker's reply PUT sends the header (s3rver stores it; it does not enforce the condition).
    const data = randomBytes(1000);
    await putBlob(once, data, { ...DEFAULT_BLOB_OPTIONS, allowPrivate: true }, { ifNoneMatch: true });
    expect(s3.objects().get(keys.result)!.equals(data)).toBe(true);
    await store.delete(keys.result);
  });

  it('refuses a blob URL that is not s3://BUCKET[/PREFIX]', () => {
    expect(parseBlobUrl('s3://my-bucket')).toEqual({ bucket: 'my-bucket', prefix: '' });
    for (const bad of ['https://my-bucket/x', 's3://', 's3://UPPER/x', 'my-bucket']) expect(() => parseBlobUrl(bad)).toThrow(/s3:\/\/BUCKET/);
  });
});

describe('doctor --client: the blob store check', () => {
  const key = Fernet.generateKey();

  it('passes when put, presigned put and get, and delete work, and leaves nothing behind', async () => {
    const checks = clientChecks({ env: { ...s3.env, COMFY_SEAL_BLOB_URL: `s3://${s3.bucket}/doc` }, key });
    const [, check] = checks.find(([name]) => name === 'blob store')!;
    expect(await check()).toEqual({ name: 'blob store', verdict: 'ok', detail: expect.stringContaining('put, presigned put, presigned get and delete') });
    expect(s3.objects().size).toBe(0);
    expect(clientChecks({ env: {}, key }).some(([name]) => name === 'blob store')).toBe(false); // no store, no check
  });

  it('names the fix for the step that fails', async () => {
    const missing = await blobStoreCheck(new S3BlobStore('s3://no-such-bucket/x', s3.env), key);
    expect([missing.verdict, missing.detail, missing.fix]).toEqual(['fail', expect.stringMatching(/^put failed/), expect.stringContaining('AWS_ENDPOINT_URL_S3')]);
    const real = new S3BlobStore(`s3://${s3.bucket}/doc`, s3.env);
    const unreachable: BlobStore = { prefix: 'doc', put: (k, b) => real.put(k, b), delete: (k) => real.delete(k), presign: async () => 'http://127.0.0.1:9/nothing' };
    const put = await blobStoreCheck(unreachable, key);
    expect([put.verdict, put.detail, put.fix]).toEqual(['fail', expect.stringMatching(/^put through a presigned URL failed/), expect.stringContaining('presigned PUT URLs must work')]);
    expect(s3.objects().size).toBe(0); // cleaned up after a failed presigned put
    const getUnreachable: BlobStore = { ...unreachable, presign: async (k, m, t) => (m === 'PUT' ? real.presign(k, m, t) : 'http://127.0.0.1:9/nothing') };
    const get = await blobStoreCheck(getUnreachable, key);
    expect([get.verdict, get.detail, get.fix]).toEqual(['fail', expect.stringMatching(/^get through a presigned URL failed/), expect.stringContaining('reach the store from anywhere')]);
    expect(s3.objects().size).toBe(0); // cleaned up after a failed get
    const undeletable: BlobStore = { ...unreachable, presign: (k, m, t) => real.presign(k, m, t), delete: async () => Promise.reject(Object.assign(new Error('denied'), { name: 'AccessDenied' })) };
    const del = await blobStoreCheck(undeletable, key);
    expect([del.verdict, del.fix]).toEqual(['fail', expect.stringContaining('s3:DeleteObject')]);
  });
});
