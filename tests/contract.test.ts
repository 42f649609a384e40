import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  Fernet,
  SealError,
  ERROR_CODES,
  fileNameProblem,
  openBundle,
  openError,
  openProgress,
  openResult,
  parseBundle,
  sealBundle,
  sealError,
  sealProgress,
  sealResult,
  validateBundle,
  resultBytes,
  ResultJson,
  sealResultBytes,
  decodeImageData,
  buildResultPayload,
  type Bundle,
} from '../shared/index.js';
import { sealErrorOf } from './helpers/errors.js';

const CANARY = 'canary-7f3a9c-violet-lighthouse';
const key = Fernet.generateKey();
const fernet = new Fernet(key);

const workflow = {
  '3': { class_type: 'KSampler', inputs: { seed: 1, positive: ['6', 0], negative: ['7', 0] } },
  '6': { class_type: 'CLIPTextEncode', inputs: { text: CANARY, clip: ['4', 1] } },
  '9': { class_type: 'SaveImage', inputs: { filename_prefix: 'ComfyUI', images: ['8', 0] } },
};

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(SealError);
    const e = error as SealError;
    // The plaintext message never carries user data.
    expect(e.message).not.toContain(CANARY);
    return e.code;
  }
  throw new Error('expected a SealError');
}

const bytes = (value: unknown) => Buffer.from(JSON.stringify(value));

describe('file names (contract §2)', () => {
  it.each([
    ['photo.png', true],
    ['my photo (1).JPG', true],
    ['ünïcode-名前.webp', true],
    ['', false],
    ['a/b.png', false],
    ['a\\b.png', false],
    ['..', false],
    ['a..b.png', false],
    ['.hidden.png', false],
    ['nul\u0000.png', false],
    ['line\nbreak.png', false],
    ['x'.repeat(256), false],
  ])('%j safe=%s', (name, safe) => {
    expect(fileNameProblem(name) === null).toBe(safe);
  });

  it('never repeats the name in the reason', () => {
    expect(fileNameProblem(`../${CANARY}`)).not.toContain(CANARY);
  });
});

describe('bundles', () => {
  const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2, 255]);

  it('round-trips through a token with both image forms', () => {
    const bundle: Bundle = { workflow, images: [{ name: 'a.png', data: png }], options: { timeout_s: 30 } };
    const opened = openBundle(sealBundle(bundle, fernet), fernet, { ttlSeconds: 60 });
    expect(opened.workflow).toEqual(workflow);
    expect(opened.options).toEqual({ timeout_s: 30 });
    expect(Buffer.from(opened.images[0]!.data)).toEqual(png);

    const objectForm = parseBundle(bytes({ workflow, images: { 'b.png': png.toString('base64') } }));
    expect(objectForm.images).toEqual([{ name: 'b.png', data: png }]);
  });

  it('accepts data URIs, url-safe base64 and wrapped lines', () => {
    const data = Buffer.from([251, 255, 190, 0, 1]);
    const forms = [
      `data:image/png;base64,${data.toString('base64')}`,
      data.toString('base64url'),
      data.toString('base64').replace(/(.{4})/, '$1\n'),
    ];
    for (const image of forms) {
      expect(parseBundle(bytes({ workflow, images: [{ name: 'x.png', image }] })).images[0]!.data).toEqual(data);
    }
  });

  it.each([
    ['not JSON', Buffer.from('{"workflow":')],
    ['invalid UTF-8', Buffer.from([0x7b, 0xff, 0x7d])],
    ['no workflow', bytes({ images: [] })],
    ['empty workflow', bytes({ workflow: {} })],
    ['node without class_type', bytes({ workflow: { '1': { inputs: {} } } })],
    ['unknown option', bytes({ workflow, options: { timeout: 5 } })],
    ['negative timeout', bytes({ workflow, options: { timeout_s: -1 } })],
    ['traversal name', bytes({ workflow, images: [{ name: `../${CANARY}.png`, image: 'AAAA' }] })],
    ['traversal name, object form', bytes({ workflow, images: { [`../${CANARY}`]: 'AAAA' } })],
    ['hidden name', bytes({ workflow, images: [{ name: '.bashrc', image: 'AAAA' }] })],
    ['bad base64', bytes({ workflow, images: [{ name: 'a.png', image: `${CANARY}!!` }] })],
    ['empty image', bytes({ workflow, images: [{ name: 'a.png', image: '' }] })],
    ['duplicate names', bytes({ workflow, images: [{ name: 'a.png', image: 'AAAA' }, { name: 'a.png', image: 'AAAA' }] })],
    ['extra image field', bytes({ workflow, images: [{ name: 'a.png', image: 'AAAA', kind: 'x' }] })],
    ['UI format', bytes({ workflow: { nodes: [], links: [] } })],
    ['UI format at top level', bytes({ nodes: [], links: [], version: 0.4 })],
    ['deep nesting', Buffer.from(`{"workflow":{"1":{"class_type":"X","inputs":{"a":${'['.repeat(100)}${']'.repeat(100)}}}}}`)],
    ['stack-overflowing nesting', Buffer.from(`{"workflow":${'['.repeat(200_000)}${']'.repeat(200_000)}}`)],
  ])('%s → BAD_INPUT', (_what, input) => {
    expect(codeOf(() => parseBundle(input))).toBe('BAD_INPUT');
  });

  it('says how to export the API format for UI-format workflows', () => {
    expect(() => parseBundle(bytes({ workflow: { nodes: [], links: [] } }))).toThrow(/API/);
  });

  it('enforces the size, node and image limits with clear messages', () => {
    expect(() => parseBundle(bytes({ workflow }), { maxBundleBytes: 100 })).toThrow(/over the 100-byte limit/);
    expect(() => validateBundle({ workflow }, { maxWorkflowNodes: 2 })).toThrow(/3 nodes, over the 2-node limit/);
    const images = [1, 2, 3].map((i) => ({ name: `${i}.png`, image: 'AAAA' }));
    expect(() => validateBundle({ workflow, images }, { maxImages: 2 })).toThrow(/3 images/);
  });

  it('keeps node ids and names out of the plaintext message, and in the sealed details', () => {
    try {
      parseBundle(bytes({ workflow: { [CANARY]: { class_type: 5, inputs: {} } } }));
      expect.unreachable();
    } catch (error) {
      const e = error as SealError;
      expect(e.code).toBe('BAD_INPUT');
      expect(e.message).toMatch(/workflow\.\*\.class_type/);
      expect(e.message).not.toContain(CANARY);
      expect(JSON.stringify(e.details)).toContain(CANARY);
    }
  });

  it('refuses tokens it cannot open with the right code', () => {
    const token = sealBundle({ workflow, images: [], options: {} }, fernet);
    expect(codeOf(() => openBundle(token, new Fernet(Fernet.generateKey())))).toBe('DECRYPT_FAILED');
    expect(codeOf(() => openBundle(`${token.slice(0, -8)}AAAAAAA=`, fernet))).toBe('DECRYPT_FAILED');
    const old = fernet.encrypt(JSON.stringify({ workflow }), { nowSeconds: Math.floor(Date.now() / 1000) - 7200 });
    expect(codeOf(() => openBundle(old, fernet, { ttlSeconds: 3600 }))).toBe('TOKEN_EXPIRED');
    expect(openBundle(old, fernet, { ttlSeconds: 0 }).workflow).toEqual(workflow);
    expect(codeOf(() => openBundle(fernet.encrypt('not json'), fernet))).toBe('BAD_INPUT');
  });
});

describe('results, progress and failures', () => {
  const files = [
    { nodeId: '9', filename: 'ComfyUI_00001_.png', subfolder: '', kind: 'image', mime: 'image/png', data: Buffer.from([1, 2, 3]) },
    { nodeId: '12', filename: 'clip_00001.webm', subfolder: 'video', kind: 'video', mime: 'video/webm', data: Buffer.from([0, 255]) },
  ];

  it('seals a result that opens to the same files, with the older images map only when asked (§3)', () => {
    expect(JSON.parse(fernet.decrypt(sealResult({ files, timingsMs: {} }, fernet).encrypted_output).toString()).images).toBeUndefined();
    const output = sealResult({ files, timingsMs: { total: 12 }, olderImages: true }, fernet);
    expect(Object.keys(JSON.parse(JSON.stringify(output)))).toEqual(['encrypted_output']); // what goes on the wire
    expect(typeof output.encrypted_output).toBe('string');
    const opened = openResult(output, fernet);
    expect(opened.files).toEqual(files);
    expect(opened.timingsMs).toEqual({ total: 12 });
    const plain = JSON.parse(fernet.decrypt(output.encrypted_output).toString('utf8'));
    expect(plain.status).toBe('success');
    expect(plain.images).toEqual({ 'ComfyUI_00001_.png': 'AQID' });
  });

  it('writes the same JSON straight to bytes as the object form (repeated names, unicode, no images)', () => {
    const more = [
      ...files,
      { nodeId: '13', filename: 'ComfyUI_00001_.png', subfolder: 'other', kind: 'image', mime: 'image/png', data: Buffer.from([9]) },
      { nodeId: '14', filename: 'ünï "q".png', subfolder: '', kind: 'image', mime: 'image/png', data: Buffer.alloc(0) },
    ];
    for (const set of [files, more, []]) {
      const timings = { total: 1.5, 'ö': 2 };
      expect(resultBytes({ files: set, timingsMs: timings }).toString('utf8')).toBe(JSON.stringify(buildResultPayload(set, timings)));
      expect(resultBytes({ files: set, timingsMs: timings, olderImages: true }).toString('utf8')).toBe(JSON.stringify(buildResultPayload(set, timings, { olderImages: true })));
    }
  });

  it('streams the result JSON in pieces that add up to its announced length, large files included', () => {
    const big = [...files, { nodeId: '20', filename: 'big.png', subfolder: '', kind: 'image', mime: 'image/png', data: randomBytes(300_001) }];
    const result = { files: big, timingsMs: { total: 3 }, olderImages: true };
    const json = new ResultJson(result);
    const pieces: Buffer[] = [];
    json.writeTo((piece) => pieces.push(Buffer.from(piece)));
    expect(pieces.length).toBeGreaterThan(3);
    const whole = Buffer.concat(pieces);
    expect(whole.length).toBe(json.byteLength);
    expect(whole.toString('utf8')).toBe(JSON.stringify(buildResultPayload(big, { total: 3 }, { olderImages: true })));
    expect(openResult(sealResult(result, fernet), fernet).files[2]!.data.equals(big[2]!.data)).toBe(true);
  });

  it('refuses a result whose token would be too long before sealing it, and can keep the token as releasable bytes', () => {
    const result = { files, timingsMs: {} };
    const output = sealResult(result, fernet);
    expect({ ...output }).toEqual({ encrypted_output: output.encrypted_output }); // a plain object, as before
    const length = output.encrypted_output.length;
    expect(Fernet.tokenLength(new ResultJson(result).byteLength)).toBe(length);
    expect(sealResult(result, fernet, length).encrypted_output).toHaveLength(length);
    const error = sealErrorOf(() => sealResult(result, fernet, length - 1));
    expect(error.code).toBe('OUTPUT_TOO_LARGE');
    expect(error.details).toEqual({ bytes: length, limit_bytes: length - 1 });
    expect(sealErrorOf(() => sealResultBytes(result, fernet, length - 1)).code).toBe('OUTPUT_TOO_LARGE');

    const big = { files: [{ ...files[0]!, data: randomBytes(600_000) }], timingsMs: {} };
    const sealed = sealResultBytes(big, fernet);
    expect(sealed.bytes.toString('latin1')).toBe(sealed.encrypted_output);
    expect(JSON.parse(JSON.stringify(sealed))).toEqual({ encrypted_output: sealed.encrypted_output });
    expect(openResult(sealed, fernet).files[0]!.data.equals(big.files[0]!.data)).toBe(true);
    sealed.release();
    expect(sealed.bytes.length).toBe(0);
  });

  it('hands callers ordinary buffers that web APIs accept (fetch and Response refuse resizable ones)', async () => {
    const token = fernet.encrypt(randomBytes(2_000_000));
    expect((await new Response(fernet.decrypt(token)).arrayBuffer()).byteLength).toBe(2_000_000);
    const image = randomBytes(1_500_000);
    expect((await new Response(decodeImageData(image.toString('base64'))).arrayBuffer()).byteLength).toBe(image.length);
    const bundle = openBundle(sealBundle({ workflow, images: [{ name: 'a.png', data: image }], options: {} }, fernet), fernet);
    expect((await new Response(bundle.images[0]!.data).arrayBuffer()).byteLength).toBe(image.length);
    // The worker's opt-in: releasable.
    expect((fernet.decrypt(token, { releasable: true }).buffer as ArrayBuffer).resizable).toBe(true);
  });

  it('opens a plaintext result and refuses a sealed one without a key', () => {
    const plain = JSON.parse(fernet.decrypt(sealResult({ files, timingsMs: {} }, fernet).encrypted_output).toString());
    expect(openResult(plain, null).files).toHaveLength(2);
    expect(codeOf(() => openResult(sealResult({ files, timingsMs: {} }, fernet), null))).toBe('BAD_INPUT');
    expect(codeOf(() => openResult({ status: 'success', outputs: [{ filename: '../x' }] }, null))).toBe('BAD_INPUT');
  });

  it('seals failure details; only the code is plaintext', () => {
    const error = new SealError('EXECUTION_FAILED', 'a node failed', { node_type: 'KSampler', exception_message: CANARY });
    const wire = sealError(error, fernet);
    expect(wire).not.toContain(CANARY);
    expect(wire).not.toContain('KSampler');
    const parsed = JSON.parse(wire);
    expect(parsed.code).toBe('EXECUTION_FAILED');
    const opened = openError(wire, fernet);
    expect(opened.code).toBe('EXECUTION_FAILED');
    expect(opened.details.exception_message).toBe(CANARY);
    // Without a key the code is still known.
    expect(openError(wire, null).code).toBe('EXECUTION_FAILED');
    expect(openError(sealError(new SealError('DECRYPT_FAILED', 'bad token'), null), null).message).toBe('bad token');
  });

  it("reports RunPod's own error strings as INTERNAL with the text", () => {
    const e = openError('job timed out after 600 s', fernet);
    expect(e.code).toBe('INTERNAL');
    expect(e.message).toContain('timed out');
  });

  it('seals progress', () => {
    const p = { state: 'running', percent: 40, step: { value: 8, max: 20 }, node_type: CANARY, elapsed_ms: 900 };
    const wire = sealProgress(p, fernet);
    expect(JSON.stringify(wire)).not.toContain(CANARY);
    expect(openProgress(wire, fernet)).toEqual(p);
    expect(openProgress(wire, null)).toBeNull();
    expect(openProgress('nonsense', fernet)).toBeNull();
  });

  it('has the fixed code list of the contract', () => {
    expect(ERROR_CODES).toEqual([
      'BAD_INPUT', 'DECRYPT_FAILED', 'TOKEN_EXPIRED', 'PLAINTEXT_REFUSED', 'WORKFLOW_INVALID',
      'EXECUTION_FAILED', 'TIMEOUT', 'COMFY_UNAVAILABLE', 'OUTPUT_TOO_LARGE', 'STORAGE_FAILED', 'INTERNAL',
    ]);
  });
});
