import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkedLookup, isPrivateAddress } from '../../handler/blob/address.js';
import { DEFAULT_BLOB_OPTIONS, getBlob, putBlob, type BlobOptions } from '../../handler/blob/transfer.js';
import { SealError } from '../../shared/errors.js';
import { startBlobServer, type BlobServer } from '../helpers/blob-server.js';

let server: BlobServer;
const options: BlobOptions = { ...DEFAULT_BLOB_OPTIONS, allowPrivate: true, timeoutMs: 2_000, stallMs: 300, retries: 2, retryMinMs: 10 };
const data = randomBytes(300_000);
const sha256 = createHash('sha256').update(data).digest('hex');
const pointer = (path: string, over: Partial<{ sha256: string; size: number }> = {}) => ({ url: `${server.url}${path}?X-Amz-Signature=secret`, sha256, size: data.length, ...over });

async function failure(promise: Promise<unknown>): Promise<SealError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(SealError);
  const e = error as SealError;
  expect(e.code).toBe('STORAGE_FAILED');
  expect(e.message).not.toMatch(/127\.0\.0\.1|Signature|secret|:\/\//); // the URL stays out of plaintext
  return e;
}

beforeAll(async () => {
  server = await startBlobServer();
  server.objects.set('a', data);
});
afterAll(() => server.close());

describe('worker blob transfers (§9)', () => {
  it('GETs a blob whose size and sha256 match, and PUTs one', async () => {
    const got = await getBlob(pointer('/ok/a'), options);
    expect(got.equals(data)).toBe(true);
    await putBlob(`${server.url}/ok/b`, data, options);
    expect(server.objects.get('b')!.equals(data)).toBe(true);
  });

  it('retries a 5xx and then succeeds; never retries a 4xx', async () => {
    expect((await getBlob(pointer('/flaky/a'), options)).equals(data)).toBe(true);
    expect(server.hits.get('/flaky/a')).toBe(2);
    const e = await failure(getBlob(pointer('/403'), options));
    expect(e.message).toMatch(/refused the request blob URL \(403\): expired, or not signed/);
    expect(server.hits.get('/403')).toBe(1);
  });

  it.each([
    ['/403-expired', /URL has expired \(403\)/],
    ['/404', /no request blob at its URL \(404\)/],
    ['/500', /storage answered 500, after 3 tries/],
    ['/truncate/a', /truncated: .*150000 of 300000 bytes/],
    ['/hang', /did not answer .*it hangs/],
    ['/stall', /stopped sending .*it hangs/],
  ])('%s → STORAGE_FAILED with its own reason', async (path, reason) => {
    const e = await failure(getBlob(pointer(path), options));
    expect(e.message).toMatch(reason);
    expect(JSON.stringify(e.details)).not.toContain('secret');
  });

  it('refuses a wrong sha256, a blob larger or smaller than its pointer, and one over the limit', async () => {
    expect((await failure(getBlob(pointer('/ok/a', { sha256: 'cd'.repeat(32) }), options))).message).toMatch(/sha256 does not match/);
    expect((await failure(getBlob(pointer('/ok/a', { size: data.length - 1 }), options))).message).toMatch(/larger than its pointer says/);
    expect((await failure(getBlob(pointer('/ok/a', { size: data.length + 1 }), options))).message).toMatch(/smaller than its pointer says/);
    const before = server.hits.get('/ok/a');
    expect((await failure(getBlob(pointer('/ok/a'), { ...options, maxBytes: 1000 }))).message).toMatch(/over the 0 MB limit \(COMFY_SEAL_MAX_BLOB_MB\)/);
    expect((await failure(putBlob(`${server.url}/ok/c`, data, { ...options, maxBytes: 1000 }))).code).toBe('STORAGE_FAILED');
    expect(server.hits.get('/ok/a')).toBe(before); // refused before any request
  });

  it('a conditional PUT (If-None-Match: *) is refused with 412 where an object is, and not retried', async () => {
    await putBlob(`${server.url}/ok/cond`, data, options, { ifNoneMatch: true });
    const e = await failure(putBlob(`${server.url}/ok/cond`, randomBytes(10), options, { ifNoneMatch: true }));
    expect(e.message).toMatch(/^a result blob is stored at its URL already \(412\): not replaced/);
    expect(server.hits.get('/ok/cond')).toBe(2);
    expect(server.objects.get('cond')!.equals(data)).toBe(true);
  });

  it('a store that does not implement the condition (501) gets the PUT without it, unless the URL signs the header', async () => {
    await putBlob(`${server.url}/no-cond/nc`, data, options, { ifNoneMatch: true });
    expect(server.objects.get('nc')!.equals(data)).toBe(true);
    expect(server.hits.get('/no-cond/nc')).toBe(2); // 501 is final: one try with the header, one without
    const signed = `${server.url}/no-cond/nc2?X-Amz-SignedHeaders=host%3Bif-none-match&X-Amz-Signature=secret`;
    expect((await failure(putBlob(signed, data, options, { ifNoneMatch: true }))).message).toMatch(/does not implement the request \(501\)/);
    expect(server.objects.has('nc2')).toBe(false);
  });

  it('refuses loopback without COMFY_SEAL_BLOB_ALLOW_PRIVATE, and anything but http(s)', async () => {
    const strict = { ...options, allowPrivate: false };
    expect((await failure(getBlob(pointer('/ok/a'), strict))).message).toMatch(/loopback or private address; set COMFY_SEAL_BLOB_ALLOW_PRIVATE=1/);
    expect((await failure(putBlob(`${server.url}/ok/d`, data, strict))).message).toMatch(/loopback or private/);
    expect(server.objects.has('d')).toBe(false);
    const port = new URL(server.url).port;
    // localhost is a name: refused by the checked lookup, not by the literal check.
    expect((await failure(getBlob({ ...pointer('/ok/a'), url: `http://localhost:${port}/ok/a` }, strict))).message).toMatch(/loopback or private/);
    expect((await failure(getBlob({ ...pointer('/ok/a'), url: `http://[::ffff:127.0.0.1]:${port}/ok/a` }, strict))).message).toMatch(/loopback or private/);
    expect((await failure(getBlob({ ...pointer('/ok/a'), url: 'file:///etc/passwd' }, options))).message).toMatch(/must be http\(s\), not file$/);
    expect((await failure(getBlob({ ...pointer('/ok/a'), url: 'ftp://example.com/x' }, options))).message).toMatch(/must be http\(s\), not ftp$/);
  });

  it('checks every address a name resolves to, and connects to the checked one (no rebinding)', async () => {
    const port = new URL(server.url).port;
    let lookups = 0;
    // A name only our resolver knows: the connection can only have gone where the checked lookup said.
    const resolve = ((_h: string, _o: unknown, cb: (e: null, a: Array<{ address: string; family: number }>) => void) => {
      lookups++;
      cb(null, [{ address: '127.0.0.1', family: 4 }]);
    }) as never;
    const got = await getBlob({ ...pointer('/ok/a'), url: `http://blob.invalid:${port}/ok/a` }, { ...options, resolve });
    expect(got.equals(data)).toBe(true);
    expect(lookups).toBe(1);
    const mixed = ((_h: string, _o: unknown, cb: (e: null, a: Array<{ address: string; family: number }>) => void) =>
      cb(null, [{ address: '93.184.216.34', family: 4 }, { address: '10.0.0.5', family: 4 }])) as never;
    const lookup = checkedLookup({ allowPrivate: false, resolve: mixed });
    const refused = await new Promise<unknown>((r) => lookup('x', { all: true }, (e) => r(e)));
    expect((refused as { code: string }).code).toBe('EBLOBPRIVATE');
  });

  it('classifies addresses', () => {
    for (const a of ['127.0.0.1', '10.1.2.3', '172.20.0.1', '192.168.1.1', '169.254.169.254', '0.0.0.0', '100.64.0.1', '::1', '::', 'fe80::1', 'fe80::1%eth0', 'fd00::1', 'fc12::3', '::ffff:127.0.0.1', '::ffff:7f00:1', '::ffff:a9fe:a9fe', '::7f00:1', '::127.0.0.1', 'nonsense']) {
      expect([a, isPrivateAddress(a)]).toEqual([a, true]);
    }
    for (const a of ['93.184.216.34', '8.8.8.8', '172.32.0.1', '2606:4700::1111', '::ffff:8.8.8.8', '2001:4860:4860::8888']) expect([a, isPrivateAddress(a)]).toEqual([a, false]);
  });

  it('judges NAT64 and 6to4 addresses by the IPv4 address they carry; refuses local-use NAT64 and Teredo whole', () => {
    // NAT64 (64:ff9b::/96): the last 32 bits; 6to4 (2002::/16): bits 16-47.
    for (const a of ['64:ff9b::7f00:1', '64:ff9b::127.0.0.1', '64:ff9b::a00:5', '64:ff9b::a9fe:a9fe', '64:FF9B::C0A8:101', '2002:7f00:1::1', '2002:a00:5::', '2002:a9fe:a9fe:1::2', '2002:c0a8:101::1']) {
      expect([a, isPrivateAddress(a)]).toEqual([a, true]);
    }
    for (const a of ['64:ff9b::808:808', '64:ff9b::8.8.8.8', '2002:808:808::1', '2002:5db8:d822::1']) expect([a, isPrivateAddress(a)]).toEqual([a, false]);
    // Local-use NAT64 puts the IPv4 address where its operator chose; Teredo obfuscates the client's.
    for (const a of ['64:ff9b:1::808:808', '64:ff9b:1:ab::1', '2001:0:4136:e378:8000:63bf:3fff:fdd2', '2001::1']) expect([a, isPrivateAddress(a)]).toEqual([a, true]);
  });

  it('refuses a NAT64 or 6to4 address that a name resolves to, when it carries a private IPv4 address', async () => {
    for (const address of ['64:ff9b::a9fe:a9fe', '2002:a00:1::1']) {
      const resolve = ((_h: string, _o: unknown, cb: (e: null, a: Array<{ address: string; family: number }>) => void) => cb(null, [{ address, family: 6 }])) as never;
      const refused = await new Promise<unknown>((r) => checkedLookup({ allowPrivate: false, resolve })('x', { all: true }, (e) => r(e)));
      expect([address, (refused as { code?: string } | null)?.code]).toEqual([address, 'EBLOBPRIVATE']);
    }
  });
});
