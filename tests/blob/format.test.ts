import { describe, expect, it } from 'vitest';
import { openRequest } from '../../shared/bundle.js';
import { Fernet, inlineImageMb, openOutput, openResult, openResultBlob, sealBlobPointer, sealBundle, sealResultBytes, validateBundle } from '../../shared/index.js';
import { sealErrorOf } from '../helpers/errors.js';

const codeOf = (fn: () => unknown) => sealErrorOf(fn).code;

const fernet = new Fernet(Fernet.generateKey());
const workflow = { '1': { class_type: 'EmptyImage', inputs: {} } };
const sha256 = 'ab'.repeat(32);

describe('blob pointers and reply URLs (§9)', () => {
  it('opens a request token holding a pointer, and one holding a bundle with its reply', () => {
    const pointer = { blob: { url: 'https://bucket.example/k?X-Amz-Signature=1', sha256, size: 1234 } };
    expect(openRequest(fernet.encrypt(JSON.stringify(pointer)), fernet).pointer).toEqual(pointer.blob);
    const reply = { put: 'https://bucket.example/r?put', get: 'https://bucket.example/r?get', always: true };
    const opened = openRequest(sealBundle({ workflow, images: [], options: {}, reply }, fernet), fernet);
    expect(opened.bundle?.reply).toEqual(reply);
    expect(opened.bundle?.imagesAsObject).toBeUndefined();
    expect(validateBundle({ workflow, images: {} }).imagesAsObject).toBe(true);
  });

  it.each([
    ['an extra field', { blob: { url: 'https://h/k', sha256, size: 1, note: 'x' } }],
    ['a sibling of blob', { blob: { url: 'https://h/k', sha256, size: 1 }, workflow }],
    ['an upper-case sha256', { blob: { url: 'https://h/k', sha256: sha256.toUpperCase(), size: 1 } }],
    ['a short sha256', { blob: { url: 'https://h/k', sha256: 'ab', size: 1 } }],
    ['a fractional size', { blob: { url: 'https://h/k', sha256, size: 1.5 } }],
    ['a zero size', { blob: { url: 'https://h/k', sha256, size: 0 } }],
    ['a file: URL', { blob: { url: 'file:///etc/passwd', sha256, size: 1 } }],
    ['an ftp: URL', { blob: { url: 'ftp://h/k', sha256, size: 1 } }],
    ['no URL at all', { blob: { url: 'not a url', sha256, size: 1 } }],
  ])('refuses a pointer with %s as BAD_INPUT', (_what, pointer) => {
    expect(codeOf(() => openRequest(fernet.encrypt(JSON.stringify(pointer)), fernet))).toBe('BAD_INPUT');
  });

  it.each([
    ['an unknown field', { put: 'https://h/p', get: 'https://h/g', ttl: 3 }],
    ['no get', { put: 'https://h/p' }],
    ['a javascript: URL', { put: 'javascript:alert(1)', get: 'https://h/g' }],
    ['always as text', { put: 'https://h/p', get: 'https://h/g', always: 'yes' }],
  ])('refuses a reply with %s as BAD_INPUT, naming no URL', (_what, reply) => {
    const error = sealErrorOf(() => validateBundle({ workflow, reply }));
    expect(error.code).toBe('BAD_INPUT');
    expect(error.message).toMatch(/^bundle does not match the contract: reply/);
    expect(error.message).not.toContain('h/');
  });

  it('opens a sealed result pointer as a pointer, and the blob it names as the result', () => {
    const pointer = { url: 'https://h/r', sha256, size: 99 };
    expect(openOutput(sealBlobPointer(pointer, fernet), fernet)).toEqual({ pointer });
    expect(codeOf(() => openResult(sealBlobPointer(pointer, fernet), fernet))).toBe('BAD_INPUT');
    const files = [{ nodeId: '9', filename: 'a.png', subfolder: '', kind: 'image', mime: 'image/png', data: Buffer.from([1, 2, 3]) }];
    const sealed = sealResultBytes({ files, timingsMs: { total: 1 } }, fernet);
    expect(openResultBlob(Buffer.from(sealed.bytes), fernet).files).toEqual(files);
    // A token's bytes that are not canonical: the same refusal as for text.
    expect(codeOf(() => openResultBlob(Buffer.concat([sealed.bytes, Buffer.from('\n')]), fernet))).toBe('DECRYPT_FAILED');
  });

  it('says how many MB of images fit inline', () => {
    expect(inlineImageMb(10 * 1024 * 1024)).toBe(5.8); // /run: a 7 MB photo does not fit
    expect(inlineImageMb(18e6)).toBe(10.1);
    expect(inlineImageMb(18e6, 2)).toBe(5);
  });
});

describe('the streamed bundle JSON', () => {
  it('is the same text as serializeBundle, images and reply included, and seals to a token that opens', async () => {
    const { bundleJson, serializeBundle, openBundle } = await import('../../shared/bundle.js');
    const big = Buffer.alloc(200_001, 7);
    const bundle = {
      workflow: { '3': { class_type: 'LoadImage', inputs: { image: 'ü "q".png' } } },
      images: [{ name: 'ü "q".png', data: big }, { name: 'b.png', data: Buffer.from([1]) }],
      options: { timeout_s: 5 },
      reply: { put: 'https://h/p', get: 'https://h/g', always: true },
    };
    const json = bundleJson(bundle);
    const pieces: Buffer[] = [];
    json.writeTo((p) => pieces.push(Buffer.from(p)));
    const text = Buffer.concat(pieces);
    expect(text.length).toBe(json.byteLength);
    expect(text.toString('utf8')).toBe(serializeBundle(bundle));
    const token = json.sealBytes(fernet);
    const opened = openBundle(token, fernet);
    expect(Buffer.from(opened.images[0]!.data).equals(big)).toBe(true);
    expect(opened.reply).toEqual(bundle.reply);
    expect(bundleJson({ workflow, images: [], options: {} }).byteLength).toBe(Buffer.byteLength(serializeBundle({ workflow, images: [], options: {} })));
  });
});
