/**
 * Workflows inside images, as ComfyUI writes them: PNG text chunks (`prompt` API format, `workflow` UI format; tEXt
 * from SaveImage, iTXt/zTXt from other writers) and WebP EXIF (SaveAnimatedWEBP: IFD0 strings `prompt:{...}` at 0x010F,
 * `workflow:{...}` at 0x010E). The files are written here, byte by byte.
 */
import { crc32, deflateSync } from 'node:zlib';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { prepareWorkflow } from '../../../client/prepare/index.js';
import { readEmbedded } from '../../../client/workflow/embedded.js';
import { describeSource, loadWorkflow } from '../../../client/workflow/load.js';
import { realObjectInfo } from '../../helpers/recorded.js';
import { sharedPath } from '../../helpers/reference.js';

const PAIR = sharedPath('fixtures', 'ui-workflows', '02-flux-fp8-txt2img');
const UI = readFileSync(`${PAIR}/ui.json`, 'utf8');
const API = readFileSync(`${PAIR}/api.json`, 'utf8');
const DUMP = realObjectInfo();

function pngChunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])));
  return Buffer.concat([head, data, crc]);
}

const tEXt = (key: string, text: string) => pngChunk('tEXt', Buffer.concat([Buffer.from(`${key}\0`, 'latin1'), Buffer.from(text, 'latin1')]));
const zTXt = (key: string, text: string) => pngChunk('zTXt', Buffer.concat([Buffer.from(`${key}\0\0`, 'latin1'), deflateSync(Buffer.from(text, 'latin1'))]));
const iTXt = (key: string, text: string, compressed: boolean) =>
  pngChunk('iTXt', Buffer.concat([Buffer.from(`${key}\0${compressed ? '\x01' : '\0'}\0en\0${key}\0`, 'latin1'), compressed ? deflateSync(Buffer.from(text)) : Buffer.from(text)]));

/** A 1×1 grey PNG with the given text chunks before its image data. */
function png(...texts: Buffer[]): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(1, 0);
  ihdr.writeUInt32BE(1, 4);
  ihdr.set([8, 0, 0, 0, 0], 8);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    ...texts,
    pngChunk('IDAT', deflateSync(Buffer.from([0, 128]))),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

function riffChunk(fourcc: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.write(fourcc, 0, 'latin1');
  head.writeUInt32LE(data.length, 4);
  return Buffer.concat([head, data, data.length % 2 ? Buffer.alloc(1) : Buffer.alloc(0)]);
}

/** TIFF IFD0 with ASCII entries, as PIL writes ComfyUI's Exif (little or big endian). */
function exif(entries: Array<[number, string]>, littleEndian: boolean): Buffer {
  const le = littleEndian;
  const head = Buffer.alloc(8);
  head.write(le ? 'II' : 'MM', 0, 'latin1');
  le ? head.writeUInt16LE(42, 2) : head.writeUInt16BE(42, 2);
  le ? head.writeUInt32LE(8, 4) : head.writeUInt32BE(8, 4);
  const ifd = Buffer.alloc(2 + entries.length * 12 + 4);
  le ? ifd.writeUInt16LE(entries.length, 0) : ifd.writeUInt16BE(entries.length, 0);
  let dataAt = 8 + ifd.length;
  const values: Buffer[] = [];
  entries.forEach(([tag, text], i) => {
    const value = Buffer.from(`${text}\0`, 'utf8');
    const e = 2 + i * 12;
    const w16 = (v: number, o: number) => (le ? ifd.writeUInt16LE(v, o) : ifd.writeUInt16BE(v, o));
    const w32 = (v: number, o: number) => (le ? ifd.writeUInt32LE(v, o) : ifd.writeUInt32BE(v, o));
    w16(tag, e);
    w16(2, e + 2);
    w32(value.length, e + 4);
    w32(dataAt, e + 8);
    values.push(value);
    dataAt += value.length;
  });
  return Buffer.concat([head, ifd, ...values]);
}

function webp(exifData: Buffer | null): Buffer {
  const vp8l = riffChunk('VP8L', Buffer.from('2f00000010071011118888fe07', 'hex'));
  const vp8x = riffChunk('VP8X', Buffer.from([exifData ? 0x08 : 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]));
  const body = Buffer.concat([Buffer.from('WEBP', 'latin1'), vp8x, vp8l, ...(exifData ? [riffChunk('EXIF', exifData)] : [])]);
  const size = Buffer.alloc(4);
  size.writeUInt32LE(body.length);
  return Buffer.concat([Buffer.from('RIFF', 'latin1'), size, body]);
}

describe('workflows inside PNG files', () => {
  it('prefers the prompt (API format) and says so', () => {
    const loaded = loadWorkflow(png(tEXt('prompt', API), tEXt('workflow', UI)));
    expect([loaded.source, loaded.image]).toEqual(['prompt', 'png']);
    expect(loaded.workflow).toEqual(JSON.parse(API));
    expect(describeSource(loaded)).toBe("using the PNG's embedded prompt (API format)");
  });

  it('converts the workflow (UI format) when there is no prompt', () => {
    const loaded = loadWorkflow(png(tEXt('workflow', UI)), { objectInfo: DUMP });
    expect(loaded.source).toBe('workflow');
    expect(Object.keys(loaded.workflow as object).sort()).toEqual(Object.keys(JSON.parse(API)).sort());
    expect(describeSource(loaded)).toBe("using the PNG's embedded workflow (UI format, converted)");
  });

  it('reads zTXt and iTXt (plain and compressed, UTF-8)', () => {
    const text = JSON.stringify({ '1': { class_type: 'CLIPTextEncode', inputs: { text: 'ünïcødé 猫' } } });
    for (const chunk of [zTXt('prompt', API), iTXt('prompt', text, false), iTXt('prompt', text, true)]) {
      expect(readEmbedded(png(chunk))!.prompt).toBe(chunk.includes(Buffer.from('zTXt')) ? API : text);
    }
  });

  it('refuses a PNG without a workflow, and a damaged one, with a next step', () => {
    expect(() => loadWorkflow(png(tEXt('parameters', 'a1111 text')))).toThrowError(expect.objectContaining({ code: 'BAD_INPUT', message: expect.stringMatching(/carries no ComfyUI workflow.*save it from ComfyUI/) }));
    const cut = png(tEXt('prompt', API)).subarray(0, 100);
    expect(() => loadWorkflow(cut)).toThrowError(expect.objectContaining({ code: 'BAD_INPUT', message: expect.stringMatching(/damaged/) }));
    expect(() => loadWorkflow(png(tEXt('prompt', '{oops')))).toThrowError(expect.objectContaining({ message: "the PNG's prompt is not valid JSON" }));
  });

  it('prepareWorkflow takes the bytes and reports the source', () => {
    const prepared = prepareWorkflow(png(tEXt('prompt', API)), { prompt: 'a red fox' });
    expect(prepared.source).toBe('prompt');
    expect(prepared.report.prompt.map((c) => c.node_id)).toEqual(['6']);
  });
});

describe('workflows inside WebP files', () => {
  for (const littleEndian of [true, false]) {
    it(`reads ComfyUI's EXIF strings (${littleEndian ? 'II' : 'MM'}), prompt first`, () => {
      const file = webp(exif([[0x010f, `prompt:${API}`], [0x010e, `workflow:${UI}`]], littleEndian));
      const loaded = loadWorkflow(file);
      expect([loaded.source, loaded.image]).toEqual(['prompt', 'webp']);
      expect(loaded.workflow).toEqual(JSON.parse(API));
      const onlyUi = loadWorkflow(webp(exif([[0x010e, `workflow:${UI}`]], littleEndian)), { objectInfo: DUMP });
      expect(onlyUi.source).toBe('workflow');
    });
  }

  it('refuses a WebP without metadata', () => {
    expect(() => loadWorkflow(webp(null))).toThrowError(expect.objectContaining({ message: expect.stringMatching(/this WebP carries no ComfyUI workflow/) }));
  });
});
