/**
 * Live previews (contract §13): ComfyUI's binary preview frames → at most one sealed preview per `every_ms`, newest
 * winning, never over 96 KiB, no side over `max_px`. Pure but for the timer, which comes in as a parameter.
 *
 * ComfyUI has no per-prompt preview size (`--preview-size` is server-wide, 512 by default, and `extra_data` carries only
 * `preview_method`), so `max_px` is applied here: a frame with a longer side is decoded, box-scaled and re-encoded as
 * JPEG. Only frames that actually go out are scaled, so the cost is one decode per `every_ms` at most.
 */
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { PREVIEW_DEFAULTS, type BundleOptions, type WirePreview } from '../shared/schema.js';

/** A frame sealed into progress is at most this large: RunPod's progress posts are meant for status, not payloads. */
export const PREVIEW_MAX_BYTES = 96 * 1024;

export type PreviewMime = WirePreview['mime'];

/** The bundle's `previews` option → its settings with the contract's defaults; null when previews were not asked for. */
export function previewSettings(option: BundleOptions['previews']): { everyMs: number; maxPx: number } | null {
  if (option === undefined) return null;
  const given = option === true ? {} : option;
  return { everyMs: given.every_ms ?? PREVIEW_DEFAULTS.every_ms, maxPx: given.max_px ?? PREVIEW_DEFAULTS.max_px };
}

export interface PreviewFrame {
  mime: PreviewMime;
  image: Buffer;
  /** Type 4 frames name their node and prompt; type 1 frames say neither. */
  nodeId?: string;
  promptId?: string;
}

const FORMATS: Record<number, PreviewMime> = { 1: 'image/jpeg', 2: 'image/png' };

/**
 * A binary WebSocket message → a preview frame, or null for anything else (type 3 text, unknown types, malformed).
 * Type 1: `[1][format 1=JPEG 2=PNG][image]`; type 4: `[4][metadata length][metadata JSON][image]` (big-endian u32).
 */
export function parsePreviewFrame(data: Buffer): PreviewFrame | null {
  if (data.length < 8) return null;
  const type = data.readUInt32BE(0);
  if (type === 1) {
    const mime = FORMATS[data.readUInt32BE(4)];
    return mime ? { mime, image: data.subarray(8) } : null;
  }
  if (type !== 4) return null;
  const metaLength = data.readUInt32BE(4);
  if (metaLength > data.length - 8) return null;
  let meta: { node_id?: unknown; prompt_id?: unknown; image_type?: unknown };
  try {
    meta = JSON.parse(data.toString('utf8', 8, 8 + metaLength)) as typeof meta;
  } catch {
    return null;
  }
  if (meta === null || typeof meta !== 'object') return null;
  const mime = meta.image_type === 'image/png' ? 'image/png' : meta.image_type === 'image/jpeg' ? 'image/jpeg' : null;
  if (!mime) return null;
  return {
    mime,
    image: data.subarray(8 + metaLength),
    ...(typeof meta.node_id === 'string' ? { nodeId: meta.node_id } : {}),
    ...(typeof meta.prompt_id === 'string' ? { promptId: meta.prompt_id } : {}),
  };
}

/** Width and height from the image's header (PNG IHDR, JPEG SOFn), without decoding; null when it has none. */
export function imageSize(image: Buffer, mime: PreviewMime): { width: number; height: number } | null {
  if (mime === 'image/png') {
    if (image.length < 24 || image.readUInt32BE(0) !== 0x89504e47 || image.toString('latin1', 12, 16) !== 'IHDR') return null;
    return { width: image.readUInt32BE(16), height: image.readUInt32BE(20) };
  }
  if (image.length < 4 || image[0] !== 0xff || image[1] !== 0xd8) return null;
  for (let at = 2; at + 9 <= image.length; ) {
    if (image[at] !== 0xff) return null;
    const marker = image[at + 1]!;
    if (marker === 0xff) {
      at += 1; // fill byte
      continue;
    }
    // SOF0–SOF15, except DHT (C4), JPG (C8) and DAC (CC).
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      return { height: image.readUInt16BE(at + 5), width: image.readUInt16BE(at + 7) };
    }
    at += 2 + image.readUInt16BE(at + 2);
  }
  return null;
}

/** Whether a frame could go out at all: a frame over the size limit that scaling would not touch is skipped at once. */
export function mayFit(frame: PreviewFrame, maxPx: number): boolean {
  if (frame.image.length <= PREVIEW_MAX_BYTES) return true;
  const size = imageSize(frame.image, frame.mime);
  return size !== null && Math.max(size.width, size.height) > maxPx;
}

/** Frames larger than this are not decoded (ComfyUI's previews are 512 px by default). */
const MAX_DECODE_MP = 16;

/**
 * The frame with no side over `maxPx` and at most PREVIEW_MAX_BYTES, as it will travel; null when it cannot be (an
 * image that does not decode, or one still too large once scaled).
 */
export function fitPreview(frame: PreviewFrame, maxPx: number): { mime: PreviewMime; image: Buffer } | null {
  const size = imageSize(frame.image, frame.mime);
  if (size === null) return null;
  if (Math.max(size.width, size.height) <= maxPx) return frame.image.length <= PREVIEW_MAX_BYTES ? { mime: frame.mime, image: frame.image } : null;
  if (size.width * size.height > MAX_DECODE_MP * 1e6) return null;
  let rgba: { width: number; height: number; data: Uint8Array };
  try {
    rgba = frame.mime === 'image/png' ? PNG.sync.read(frame.image) : jpeg.decode(frame.image, { useTArray: true, formatAsRGBA: true, maxResolutionInMP: MAX_DECODE_MP, maxMemoryUsageInMB: 256 });
  } catch {
    return null;
  }
  const scale = maxPx / Math.max(rgba.width, rgba.height);
  const width = Math.max(1, Math.round(rgba.width * scale));
  const height = Math.max(1, Math.round(rgba.height * scale));
  const image = Buffer.from(jpeg.encode({ width, height, data: boxScale(rgba, width, height) }, 80).data);
  return image.length <= PREVIEW_MAX_BYTES ? { mime: 'image/jpeg', image } : null;
}

/** Down-scaling by averaging each target pixel's source box (RGBA in, RGBA out, alpha made opaque: JPEG has none). */
function boxScale(src: { width: number; height: number; data: Uint8Array }, width: number, height: number): Buffer {
  const out = Buffer.alloc(width * height * 4);
  for (let y = 0; y < height; y++) {
    const y0 = Math.floor((y * src.height) / height);
    const y1 = Math.max(y0 + 1, Math.floor(((y + 1) * src.height) / height));
    for (let x = 0; x < width; x++) {
      const x0 = Math.floor((x * src.width) / width);
      const x1 = Math.max(x0 + 1, Math.floor(((x + 1) * src.width) / width));
      let r = 0;
      let g = 0;
      let b = 0;
      for (let sy = y0; sy < y1; sy++) {
        for (let sx = x0; sx < x1; sx++) {
          const i = (sy * src.width + sx) * 4;
          r += src.data[i]!;
          g += src.data[i + 1]!;
          b += src.data[i + 2]!;
        }
      }
      const n = (y1 - y0) * (x1 - x0);
      const o = (y * width + x) * 4;
      out[o] = r / n;
      out[o + 1] = g / n;
      out[o + 2] = b / n;
      out[o + 3] = 255;
    }
  }
  return out;
}

/** What the throttle needs of time: now, and a timer it can cancel. */
export interface ThrottleTimer {
  now(): number;
  after(ms: number, fn: () => void): () => void;
}

export const systemTimer: ThrottleTimer = {
  now: () => performance.now(),
  after: (ms, fn) => {
    const timer = setTimeout(fn, ms);
    return () => clearTimeout(timer);
  },
};

/**
 * At most one item per `everyMs`, the newest winning: an item offered inside the interval replaces the one waiting and
 * goes out when the interval ends, so nothing sent is older than it has to be.
 */
export class PreviewThrottle<T> {
  readonly #everyMs: number;
  readonly #send: (item: T) => void;
  readonly #timer: ThrottleTimer;
  #lastSent = -Infinity;
  #waiting: { item: T } | null = null;
  #cancel: (() => void) | null = null;
  #closed = false;

  constructor(everyMs: number, send: (item: T) => void, timer: ThrottleTimer = systemTimer) {
    this.#everyMs = everyMs;
    this.#send = send;
    this.#timer = timer;
  }

  offer(item: T): void {
    if (this.#closed) return;
    const wait = this.#lastSent + this.#everyMs - this.#timer.now();
    if (wait <= 0 && !this.#cancel) return this.#emit(item);
    this.#waiting = { item };
    this.#cancel ??= this.#timer.after(Math.max(0, Math.ceil(wait)), () => {
      this.#cancel = null;
      const waiting = this.#waiting;
      this.#waiting = null;
      if (waiting && !this.#closed) this.#emit(waiting.item);
    });
  }

  /** Drops what waits; nothing goes out afterwards. */
  close(): void {
    this.#closed = true;
    this.#waiting = null;
    this.#cancel?.();
    this.#cancel = null;
  }

  #emit(item: T): void {
    this.#lastSent = this.#timer.now();
    this.#send(item);
  }
}
