/**
 * PNG the way ComfyUI's PIL handles it: LoadImage opens truncated files (PIL's LOAD_TRUNCATED_IMAGES: what is there is
 * decoded, the rest stays black), and only a file whose header chunks are cut short or whose image data cannot start
 * to decode fails — with OSError, at execution time. Savers add tEXt chunks (the prompt, the workflow) as PIL does.
 */
import { constants, crc32, deflateSync, inflateSync } from 'node:zlib';
import { PNG } from 'pngjs';
import { NodeFailure } from './context.js';
import type { Frame } from './images.js';

const SIGNATURE = Buffer.from('89504e470d0a1a0a', 'hex');
const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
/** Adam7: x start, y start, x step, y step. */
const PASSES = [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]] as const;

export const isPng = (bytes: Buffer) => bytes.length >= 8 && bytes.subarray(0, 8).equals(SIGNATURE);

export function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(data, crc32(head.subarray(4))));
  return Buffer.concat([head, data, crc]);
}

/** `png` with tEXt chunks right after IHDR, where PIL puts its text chunks (keys and values latin-1, as tEXt wants). */
export function withText(png: Buffer, entries: Array<[string, string]>): Buffer {
  if (entries.length === 0) return png;
  const ihdrEnd = 8 + 8 + png.readUInt32BE(8) + 4;
  const text = entries.map(([key, value]) => chunk('tEXt', Buffer.concat([Buffer.from(key, 'latin1'), Buffer.from([0]), Buffer.from(value, 'latin1')])));
  return Buffer.concat([png.subarray(0, ihdrEnd), ...text, png.subarray(ihdrEnd)]);
}

const truncated = () => new NodeFailure('OSError', 'Truncated File Read');

function rawSize(width: number, height: number, bitsPerPixel: number, interlaced: boolean): number {
  const rows = (w: number, h: number) => (w > 0 && h > 0 ? h * (1 + Math.ceil((w * bitsPerPixel) / 8)) : 0);
  if (!interlaced) return rows(width, height);
  return PASSES.reduce((sum, [x0, y0, dx, dy]) => sum + rows(Math.ceil((width - x0) / dx), Math.ceil((height - y0) / dy)), 0);
}

/** Decodes a PNG, whole or cut short. */
export function decodePng(bytes: Buffer): Frame {
  let at = 8;
  let ihdr: Buffer | undefined;
  const before: Buffer[] = []; // chunks that shape the pixels (PLTE, tRNS...), kept for the rebuilt file
  const idat: Buffer[] = [];
  while (at + 8 <= bytes.length) {
    const length = bytes.readUInt32BE(at);
    const type = bytes.toString('latin1', at + 4, at + 8);
    const end = at + 8 + length;
    if (type === 'IDAT') {
      idat.push(bytes.subarray(at + 8, Math.min(end, bytes.length)));
      if (end > bytes.length) break; // cut inside the image data: decode what is there
    } else if (end + 4 > bytes.length) {
      if (idat.length === 0) throw truncated(); // a header chunk cut short
      break;
    } else if (type === 'IHDR') ihdr = bytes.subarray(at + 8, end);
    else if (type === 'IEND') break;
    else if (idat.length === 0 && (type === 'PLTE' || type === 'tRNS')) before.push(bytes.subarray(at, end + 4));
    at = end + 4;
  }
  if (!ihdr || ihdr.length < 13) throw truncated();
  const data = Buffer.concat(idat);
  let raw: Buffer;
  try {
    raw = inflateSync(data, { finishFlush: constants.Z_SYNC_FLUSH });
  } catch {
    throw new NodeFailure('OSError', 'broken data stream when reading image file');
  }
  if (raw.length === 0) throw new NodeFailure('OSError', 'image file is truncated');
  const width = ihdr.readUInt32BE(0);
  const height = ihdr.readUInt32BE(4);
  const bits = (CHANNELS[ihdr[9]!] ?? 4) * ihdr[8]!;
  const size = rawSize(width, height, bits, ihdr[12] === 1);
  if (raw.length < size) raw = Buffer.concat([raw, Buffer.alloc(size - raw.length)]); // the missing rows: zeros, as PIL leaves them
  const whole = Buffer.concat([SIGNATURE, chunk('IHDR', ihdr), ...before, chunk('IDAT', deflateSync(raw.subarray(0, size))), chunk('IEND', Buffer.alloc(0))]);
  try {
    const png = PNG.sync.read(whole);
    return { width: png.width, height: png.height, data: png.data };
  } catch (error) {
    throw new NodeFailure('OSError', `cannot decode image data (${(error as Error).message})`);
  }
}
