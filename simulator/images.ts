/**
 * Pixels for the simulator: PNG and JPEG in and out, and deterministic pictures made from a seed text, so the same
 * prompt, seed and size always give the same image (and a different prompt a different one).
 */
import { createHash } from 'node:crypto';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { NodeFailure } from './context.js';
import { decodePng, isPng } from './png.js';

export interface Frame {
  width: number;
  height: number;
  /** RGBA, 8 bits per channel. */
  data: Buffer;
}

export function hashOf(...parts: unknown[]): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex');
}

/** A gradient-and-stripes picture whose colours come from `seed`. */
export function generateFrame(width: number, height: number, seed: string): Frame {
  const w = clampSize(width);
  const h = clampSize(height);
  const bytes = Buffer.from(hashOf(seed), 'hex');
  const data = Buffer.alloc(w * h * 4);
  const stripe = 4 + (bytes[6]! % 24);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 4;
      const band = Math.floor((x + y) / stripe) % 2;
      data[i] = (bytes[0]! + (x * 255) / w + band * bytes[3]!) & 255;
      data[i + 1] = (bytes[1]! + (y * 255) / h + band * bytes[4]!) & 255;
      data[i + 2] = (bytes[2]! + band * bytes[5]!) & 255;
      data[i + 3] = 255;
    }
  }
  return { width: w, height: h, data };
}

/** Pixels with no pattern a codec could use (a JPEG of it is as large as JPEGs get). */
export function noiseFrame(px: number, seed: string): Frame {
  const size = clampSize(px);
  const data = Buffer.alloc(size * size * 4);
  for (let at = 0, n = 0; at < data.length; n++) {
    const block = createHash('sha256').update(`${seed}:${n}`).digest();
    for (let k = 0; k < block.length && at < data.length; k++, at++) data[at] = at % 4 === 3 ? 255 : block[k]!;
  }
  return { width: size, height: size, data };
}

/** Real models need sizes in multiples of 8; the simulator keeps files small but proportional. */
function clampSize(n: number): number {
  return Math.max(1, Math.min(4096, Math.round(Number.isFinite(n) ? n : 64)));
}

export function encodePng(frame: Frame): Buffer {
  const png = new PNG({ width: frame.width, height: frame.height });
  frame.data.copy(png.data);
  return PNG.sync.write(png);
}

export function encodeJpeg(frame: Frame, quality = 80): Buffer {
  return Buffer.from(jpeg.encode({ width: frame.width, height: frame.height, data: frame.data }, quality).data);
}

/** Decodes PNG (cut short too, as PIL's truncated mode does) or JPEG; a NodeFailure with PIL's exception otherwise. */
export function decodeImage(bytes: Buffer): Frame {
  if (isPng(bytes)) return decodePng(bytes);
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8) {
    try {
      const img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, tolerantDecoding: true, maxMemoryUsageInMB: 512 });
      return { width: img.width, height: img.height, data: Buffer.from(img.data) };
    } catch (error) {
      throw new NodeFailure('OSError', `image file is truncated (${(error as Error).message})`);
    }
  }
  throw new NodeFailure('PIL.UnidentifiedImageError', 'cannot identify image file');
}

/** ImageInvert as ComfyUI computes it: float32 pixels (v / 255), 1 - x, saved as clip(255 * x) truncated: 254 - v for many v. */
export function invert(frame: Frame): Frame {
  const f = Math.fround;
  const data = Buffer.from(frame.data);
  for (let i = 0; i < data.length; i++) if (i % 4 !== 3) data[i] = Math.trunc(f(255 * f(1 - f(data[i]! / 255))));
  return { ...frame, data };
}

/** Nearest-neighbour scale (the simulator's stand-in for every upscale method). */
export function scale(frame: Frame, width: number, height: number): Frame {
  const w = clampSize(width);
  const h = clampSize(height);
  const data = Buffer.alloc(w * h * 4);
  // Whole RGBA pixels at a time (big scales are common in real workflows).
  let aligned: Uint8Array = frame.data;
  if (aligned.byteOffset % 4 !== 0) aligned = new Uint8Array(frame.data); // small Buffers may sit unaligned in the pool
  const src = new Uint32Array(aligned.buffer, aligned.byteOffset, frame.width * frame.height);
  const dst = new Uint32Array(data.buffer, data.byteOffset, w * h);
  const columns = Int32Array.from({ length: w }, (_, x) => Math.min(frame.width - 1, Math.floor((x * frame.width) / w)));
  for (let y = 0; y < h; y++) {
    const row = Math.min(frame.height - 1, Math.floor((y * frame.height) / h)) * frame.width;
    for (let x = 0; x < w; x++) dst[y * w + x] = src[row + columns[x]!]!;
  }
  return { width: w, height: h, data };
}

/** One channel of a frame as a mask frame (grey RGBA), as LoadImageMask does. */
export function channelMask(frame: Frame, channel: string): Frame {
  const offset = { red: 0, green: 1, blue: 2, alpha: 3 }[channel] ?? 3;
  const data = Buffer.alloc(frame.data.length);
  for (let i = 0; i < data.length; i += 4) {
    const v = frame.data[i + offset]!;
    data[i] = data[i + 1] = data[i + 2] = v;
    data[i + 3] = 255;
  }
  return { ...frame, data };
}
