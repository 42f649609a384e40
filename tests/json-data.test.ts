import { randomBytes } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import { decodeInPlace } from '../shared/base64url.js';
import { decodeImageData, openBundle, parseBundle, sealBundle } from '../shared/bundle.js';
import { openOutput, openResultBlob, sealResult, sealResultBytes } from '../shared/envelope.js';
import { Fernet } from '../shared/fernet.js';
import { JsonDataText, readJsonWithData, type ReadJsonOptions } from '../shared/json-data.js';
import { parseJsonLimited } from '../shared/json.js';
import { allocReleasable, release } from '../shared/releasable.js';
import { sealErrorOf } from './helpers/errors.js';

const fernet = new Fernet(Fernet.generateKey());
const BIG = 1 << 16; // the reader's threshold: strings this long are left as bytes
const read = (text: string, dataPaths: ReadJsonOptions['dataPaths'] = []) =>
  readJsonWithData(Buffer.from(text, 'utf8'), { what: 'bundle', maxDepth: 64, dataPaths });
const b64 = (n: number) => randomBytes(n).toString('base64');

describe('readJsonWithData', () => {
  it('reads what JSON.parse reads when no long string sits at a data path', () => {
    const long = 'x'.repeat(BIG + 3);
    const texts = [
      '{}',
      '[1, "a", null, true, {"b": [2.5e3]}]',
      JSON.stringify({ workflow: { '1': { class_type: 'CLIPTextEncode', inputs: { text: long } } }, images: [] }),
      JSON.stringify({ [long]: 1, other: `${long}"quoted\\"` }), // a long key, a long string with escapes
      JSON.stringify({ a: long, b: [long, { c: `ü€😀${long}` }] }),
      ` \n{ "a" : ${JSON.stringify(long)} , "b":"\\u0000deadbeef:0" }\n`, // a string shaped like the reader's marks
    ];
    for (const text of texts) expect(read(text, [['images', '*', 'image']])).toEqual(JSON.parse(text));
  });

  it('leaves long strings at data paths as bytes of the very buffer it read, and decodes them over themselves', () => {
    const image = randomBytes(BIG);
    const text = Buffer.from(JSON.stringify({ images: [{ name: 'a.png', image: image.toString('base64') }, { name: 'b.png', image: 'c2hvcnQ=' }] }));
    const value = readJsonWithData(text, { what: 'bundle', maxDepth: 64, dataPaths: [['images', '*', 'image']] }) as { images: Array<{ image: unknown }> };
    const data = value.images[0]!.image;
    expect(data).toBeInstanceOf(JsonDataText);
    expect(value.images[1]!.image).toBe('c2hvcnQ='); // short: an ordinary string
    const decoded = decodeImageData(data as JsonDataText);
    expect(decoded.equals(image)).toBe(true);
    expect(decoded.buffer).toBe(text.buffer); // no copy: a view of the text's own buffer
  });

  it('puts a long string outside the data paths back as a string, and a __proto__ key stays a plain key', () => {
    const long = b64(BIG);
    const text = `{"images":{"a.png":"${long}"},"__proto__":"${long}","note":"${long}"}`;
    const value = read(text, [['images', '*']]) as Record<string, unknown>;
    expect(value.images).toEqual({ 'a.png': expect.any(JsonDataText) });
    expect(value.note).toBe(long);
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(value, '__proto__')?.value).toBe(long);
  });

  it.each([
    ['cut short after a long string', `{"images":[{"image":"${b64(BIG)}"`],
    ['a raw line break in a long string outside the data paths', `{"note":"${'a'.repeat(BIG)}\n"}`],
    ['a trailing comma', `{"a":"${'a'.repeat(BIG)}",}`],
    ['an unterminated long string', `{"a":"${'a'.repeat(BIG)}`],
  ])('refuses %s as BAD_INPUT', (_what, text) => {
    expect(sealErrorOf(() => read(text, [['images', '*', 'image']]))).toMatchObject({ code: 'BAD_INPUT', message: 'bundle is not valid JSON' });
  });

  it('refuses invalid UTF-8 and deep nesting as BAD_INPUT', () => {
    const bad = Buffer.concat([Buffer.from('{"a":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]);
    expect(sealErrorOf(() => readJsonWithData(bad, { what: 'bundle', maxDepth: 64, dataPaths: [] })).message).toBe('bundle is not valid UTF-8');
    expect(sealErrorOf(() => read(`${'['.repeat(70)}"${'a'.repeat(BIG)}"${']'.repeat(70)}`)).message).toBe('bundle is nested deeper than 64 levels');
  });
});

describe('nesting is refused while reading, before anything is parsed', () => {
  const nested = (depth: number, inner = '0') => `${'['.repeat(depth)}${inner}${']'.repeat(depth)}`;
  const readers: Array<[string, (text: string) => unknown]> = [
    ['readJsonWithData', (text) => read(text)],
    ['parseJsonLimited', (text) => parseJsonLimited(text, 64, 'bundle')],
    ['parseBundle', (text) => parseBundle(Buffer.from(text))],
    ['openBundle (a blob, decrypted over itself)', (text) => openBundle(Buffer.from(fernet.encrypt(text), 'latin1'), fernet, { consumeToken: true })],
  ];

  it.each(readers)('%s: 64 levels pass the scan, 65 do not; brackets inside strings (escaped quotes too) do not count', (_name, reader) => {
    const tooDeep = (text: string) => {
      try {
        reader(text);
        return false;
      } catch (error) {
        return (error as Error).message === 'bundle is nested deeper than 64 levels';
      }
    };
    expect(tooDeep(nested(64))).toBe(false); // (then refused as a bundle, which an array is not)
    expect(tooDeep(nested(65))).toBe(true);
    expect(tooDeep(`{"a":${nested(62, '{}')}}`)).toBe(false);
    expect(tooDeep(`{"a":${nested(63, '{"b":1}')}}`)).toBe(true);
    expect(tooDeep(`{"workflow":"${'['.repeat(100)}","x":"\\\\","y":"\\"${'{'.repeat(100)}"}`)).toBe(false);
    expect(tooDeep(`{"workflow":"\\\\",${'['.repeat(100)}`)).toBe(true); // an even run of backslashes ends the string
  });

  it.each(readers)('%s: 10 MB of "[" (open or closed) is refused without JSON.parse', (_name, reader) => {
    const parse = vi.spyOn(JSON, 'parse');
    try {
      for (const text of ['['.repeat(10_000_000), nested(5_000_000)]) {
        expect(sealErrorOf(() => reader(text))).toMatchObject({ code: 'BAD_INPUT', message: 'bundle is nested deeper than 64 levels' });
      }
      expect(parse).not.toHaveBeenCalled();
    } finally {
      parse.mockRestore();
    }
  });
});

describe('data texts as images', () => {
  const decode = (text: string) => {
    // Written by hand, not JSON.stringify: a raw line break must reach the reader as it is.
    const value = read(`{"images":[{"image":"${text}"}]}`, [['images', '*', 'image']]) as { images: Array<{ image: unknown }> };
    expect(value.images[0]!.image).toBeInstanceOf(JsonDataText);
    return decodeImageData(value.images[0]!.image as JsonDataText);
  };

  it('decodes a data: URI, the url-safe alphabet and unpadded text as the string path does', () => {
    const image = randomBytes(BIG + 1); // 1 byte past a multiple of 3: padded with "=="
    const plain = image.toString('base64');
    for (const text of [plain, `data:image/png;base64,${plain}`, image.toString('base64url'), plain.replace(/=+$/, '')]) {
      expect(decode(text).equals(image)).toBe(true);
      expect(decodeImageData(text).equals(image)).toBe(true);
    }
  });

  it.each([
    ['a character outside the alphabet', `${b64(BIG).slice(0, -8)}AAA*AAAA`],
    ['padding in the middle', `${b64(BIG - 2).slice(0, 100)}==${b64(BIG).slice(0, 1000)}`.padEnd(BIG + 4, 'A')],
    ['a data: URI that is not base64', `data:text/plain,${'a'.repeat(BIG)}`],
    ['a length that no base64 has', 'A'.repeat(BIG * 4 + 1)],
    ['a raw line break (JSON carries one escaped only)', `${b64(BIG * 3).slice(0, BIG * 2)}\n${'A'.repeat(BIG * 2 - 1)}`],
    ['a raw tab before the padding', `${'A'.repeat(BIG * 2)}\t==`],
    ['a raw NUL before the padding', `${'A'.repeat(BIG * 2)}\u0000==`],
    ['padding after a length no group of four has', `${'A'.repeat(BIG * 2 + 1)}==`],
    ['a raw tab in a data: URI', `data:image/png\t;base64,${'A'.repeat(BIG * 2)}`],
  ])('refuses %s as BAD_INPUT', (_what, text) => {
    expect(sealErrorOf(() => decode(text)).code).toBe('BAD_INPUT');
  });
});

describe('Fernet in place', () => {
  it('opens what decrypt opens, for every length around the block and piece sizes, as a view of the token', () => {
    for (const size of [0, 1, 15, 16, 17, 48 << 10, (48 << 10) + 1, 200_003]) {
      const message = randomBytes(size);
      const token = Buffer.from(fernet.encrypt(message), 'latin1');
      const opened = fernet.decrypt(token, { inPlace: true });
      expect(opened.equals(message)).toBe(true);
      expect(opened.buffer).toBe(token.buffer);
    }
  });

  it('refuses a tampered, foreign, expired or non-canonical token as decrypt does', () => {
    const token = fernet.encrypt(randomBytes(100_000), { nowSeconds: 1000 });
    const inPlace = (text: string, options = {}) => sealErrorOf(() => fernet.decrypt(Buffer.from(text, 'latin1'), { inPlace: true, ...options })).code;
    const flipped = `${token.slice(0, 5000)}${token[5000] === 'A' ? 'B' : 'A'}${token.slice(5001)}`;
    expect(inPlace(flipped)).toBe('DECRYPT_FAILED');
    expect(sealErrorOf(() => new Fernet(Fernet.generateKey()).decrypt(Buffer.from(token, 'latin1'), { inPlace: true })).code).toBe('DECRYPT_FAILED');
    expect(inPlace(token, { ttlSeconds: 60, nowSeconds: 2000 })).toBe('TOKEN_EXPIRED');
    expect(inPlace(`${token.slice(0, 40)}*${token.slice(41)}`)).toBe('DECRYPT_FAILED');
    expect(inPlace(token.slice(0, -4))).toBe('DECRYPT_FAILED');
    // MultiFernet: a token of the second key opens in place too.
    const other = Fernet.generateKey();
    const both = new Fernet([Fernet.generateKey(), other]);
    expect(both.decrypt(Buffer.from(new Fernet(other).encrypt('hi'), 'latin1'), { inPlace: true }).toString()).toBe('hi');
  });

  it('decodes base64 over itself and finds a character outside the alphabet in any piece', () => {
    const bytes = randomBytes(300_000);
    const text = Buffer.from(bytes.toString('base64url'), 'latin1');
    expect(decodeInPlace(Buffer.from(text), bytes.length)?.equals(bytes)).toBe(true);
    const bad = Buffer.from(text);
    bad[200_000] = 0x2a; // '*', in the fourth 64 K piece
    expect(decodeInPlace(bad, bytes.length)).toBeNull();
  });
});

describe('bundles and results read without a copy of their data', () => {
  const workflow = { '1': { class_type: 'LoadImage', inputs: { image: 'a.png' } } };

  it('a consumed blob: the images are views of the token, and a refused one gives the token back', () => {
    // Over 1 MiB of token, so that it is a releasable buffer of its own.
    const images = [{ name: 'a.png', data: randomBytes(600_000) }, { name: 'b.png', data: randomBytes(BIG + 7) }];
    const token = Buffer.from(sealBundle({ workflow, images, options: {} }, fernet), 'latin1');
    const blob = allocReleasable(token.length);
    token.copy(blob);
    const bundle = openBundle(blob, fernet, { consumeToken: true, releasable: true });
    bundle.images.forEach((image, i) => expect(Buffer.from(image.data).equals(images[i]!.data)).toBe(true));
    expect(bundle.images[0]!.data.buffer).toBe(blob.buffer);
    release(bundle.images[0]!.data); // one buffer: releasing one image releases them all
    expect(bundle.images[1]!.data.length).toBe(0);

    const empty = Buffer.from(sealBundle({ workflow: {}, images, options: {} }, fernet), 'latin1'); // no nodes: refused
    const refused = allocReleasable(empty.length);
    empty.copy(refused);
    expect(sealErrorOf(() => openBundle(refused, fernet, { consumeToken: true })).code).toBe('BAD_INPUT');
    expect(refused.length).toBe(0);
  });

  it('a consumed blob whose images are all short (decoded into buffers of their own) is given back at once', () => {
    const prompt = 'a castle, '.repeat(120_000);
    const wf = { '1': { class_type: 'CLIPTextEncode', inputs: { text: prompt } } };
    const token = Buffer.from(sealBundle({ workflow: wf, images: [{ name: 'a.png', data: Buffer.from('tiny') }], options: {} }, fernet), 'latin1');
    const blob = allocReleasable(token.length);
    token.copy(blob);
    expect(openBundle(blob, fernet, { consumeToken: true, releasable: true }).images[0]!.data.toString()).toBe('tiny');
    expect(blob.length).toBe(0);
  });

  it('a consumed blob without images is given back at once, its long prompt read as a string', () => {
    const prompt = 'a castle, '.repeat(120_000); // 1.2 MB: over 1 MiB of token, a releasable buffer
    const wf = { '1': { class_type: 'CLIPTextEncode', inputs: { text: prompt } } };
    const token = Buffer.from(sealBundle({ workflow: wf, images: [], options: {} }, fernet), 'latin1');
    const blob = allocReleasable(token.length);
    token.copy(blob);
    expect(openBundle(blob, fernet, { consumeToken: true, releasable: true }).workflow).toEqual(wf);
    expect(blob.length).toBe(0);
  });

  it('a result whose long data comes unpadded (another producer) opens as it did before', () => {
    const data = randomBytes(BIG * 2 + 1);
    const payload = { status: 'success', outputs: [{ node_id: '9', filename: 'a.png', subfolder: '', kind: 'image', mime: 'image/png', data: data.toString('base64').replace(/=+$/, '') }] };
    const opened = openOutput({ encrypted_output: fernet.encrypt(JSON.stringify(payload)) }, fernet).result!;
    expect(opened.files[0]!.data.equals(data)).toBe(true);
  });

  it('a result, inline or from a blob, opens to files that are views of one ordinary buffer', () => {
    const files = [
      { nodeId: '9', filename: 'a.png', subfolder: '', kind: 'image', mime: 'image/png', data: randomBytes(BIG * 3) },
      { nodeId: '9', filename: 'b.png', subfolder: '', kind: 'image', mime: 'image/png', data: randomBytes(10) },
    ];
    const result = { files, timingsMs: { run: 1 }, olderImages: true };
    const inline = openOutput(sealResult(result, fernet), fernet).result!;
    const sealed = sealResultBytes(result, fernet);
    const fromBlob = openResultBlob(Buffer.from(sealed.bytes), fernet);
    sealed.release();
    for (const opened of [inline, fromBlob]) {
      expect(opened.files.map((f) => f.data.equals(files.find((g) => g.filename === f.filename)!.data))).toEqual([true, true]);
      expect((opened.files[0]!.data.buffer as ArrayBuffer).resizable).toBe(false); // an app may hand it to fetch or Response
      expect(new Response(opened.files[0]!.data).body).not.toBeNull();
    }
  });
});
