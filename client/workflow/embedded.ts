/**
 * The workflow ComfyUI embeds in what it saves: PNG text chunks `prompt` (API format) and `workflow` (UI format),
 * written as tEXt (iTXt or zTXt by other writers), and in WebP an EXIF block whose IFD0 strings read `prompt:{...}`
 * and `workflow:{...}` (SaveAnimatedWEBP and SaveWEBM's image savers: Make 0x010F, then 0x010E and down).
 */
import { inflateSync } from 'node:zlib';
import { SealError } from '../../shared/errors.js';

export type EmbeddedImageFormat = 'png' | 'webp';

export interface Embedded {
  format: EmbeddedImageFormat;
  /** The `prompt` text (API format), when present. */
  prompt?: string;
  /** The `workflow` text (UI format), when present. */
  workflow?: string;
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const KEYS = ['prompt', 'workflow'] as const;
/** A compressed chunk may not inflate past this (a workflow is kilobytes; this stops a zip bomb). */
const MAX_INFLATED = 64 * 1024 * 1024;

export function imageFormat(bytes: Uint8Array): EmbeddedImageFormat | null {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.length >= 8 && b.subarray(0, 8).equals(PNG_SIGNATURE)) return 'png';
  if (b.length >= 12 && b.toString('latin1', 0, 4) === 'RIFF' && b.toString('latin1', 8, 12) === 'WEBP') return 'webp';
  return null;
}

/** The workflow texts a PNG or WebP carries (none found: neither field set); null when the bytes are neither. */
export function readEmbedded(bytes: Uint8Array): Embedded | null {
  const format = imageFormat(bytes);
  if (format === null) return null;
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const texts = format === 'png' ? pngTexts(b) : webpTexts(b);
  const out: Embedded = { format };
  for (const key of KEYS) if (texts.has(key)) out[key] = texts.get(key)!;
  return out;
}

function damaged(format: string): SealError {
  return new SealError('BAD_INPUT', `the ${format} file is damaged (its chunks run past its end)`);
}

function inflate(data: Buffer): string {
  try {
    return inflateSync(data, { maxOutputLength: MAX_INFLATED }).toString('utf8');
  } catch {
    throw new SealError('BAD_INPUT', 'a compressed PNG text chunk does not inflate (damaged, or over 64 MiB)');
  }
}

function pngTexts(b: Buffer): Map<string, string> {
  const texts = new Map<string, string>();
  for (let at = 8; at + 8 <= b.length; ) {
    const length = b.readUInt32BE(at);
    const type = b.toString('latin1', at + 4, at + 8);
    const start = at + 8;
    const end = start + length;
    if (end + 4 > b.length) throw damaged('PNG');
    if (type === 'IEND') break;
    const text = pngText(type, b.subarray(start, end));
    if (text && !texts.has(text[0])) texts.set(text[0], text[1]);
    at = end + 4; // CRC
  }
  return texts;
}

/** [keyword, text] of a tEXt, zTXt or iTXt chunk; null for any other chunk. */
function pngText(type: string, data: Buffer): [string, string] | null {
  if (type !== 'tEXt' && type !== 'zTXt' && type !== 'iTXt') return null;
  const nul = data.indexOf(0);
  if (nul <= 0) return null;
  const keyword = data.toString('latin1', 0, nul);
  if (type === 'tEXt') return [keyword, data.toString('latin1', nul + 1)];
  if (type === 'zTXt') return [keyword, inflate(data.subarray(nul + 2))];
  // iTXt: keyword NUL, compression flag, method, language NUL, translated keyword NUL, UTF-8 text
  const compressed = data[nul + 1] === 1;
  const language = data.indexOf(0, nul + 3);
  const translated = language === -1 ? -1 : data.indexOf(0, language + 1);
  if (translated === -1) return null;
  const body = data.subarray(translated + 1);
  return [keyword, compressed ? inflate(body) : body.toString('utf8')];
}

function webpTexts(b: Buffer): Map<string, string> {
  const texts = new Map<string, string>();
  for (let at = 12; at + 8 <= b.length; ) {
    const fourcc = b.toString('latin1', at, at + 4);
    const size = b.readUInt32LE(at + 4);
    const start = at + 8;
    if (start + size > b.length) throw damaged('WebP');
    if (fourcc === 'EXIF') exifStrings(b.subarray(start, start + size), texts);
    at = start + size + (size % 2);
  }
  return texts;
}

/** IFD0's ASCII/UNDEFINED entries that read `key:value`, into `texts`. */
function exifStrings(exif: Buffer, texts: Map<string, string>): void {
  const tiff = exif.toString('latin1', 0, 6) === 'Exif\0\0' ? exif.subarray(6) : exif;
  if (tiff.length < 8) return;
  const order = tiff.toString('latin1', 0, 2);
  if (order !== 'II' && order !== 'MM') return;
  const le = order === 'II';
  const u16 = (o: number) => (le ? tiff.readUInt16LE(o) : tiff.readUInt16BE(o));
  const u32 = (o: number) => (le ? tiff.readUInt32LE(o) : tiff.readUInt32BE(o));
  const ifd = u32(4);
  if (ifd + 2 > tiff.length) return;
  const count = u16(ifd);
  for (let i = 0; i < count; i++) {
    const entry = ifd + 2 + i * 12;
    if (entry + 12 > tiff.length) return;
    const type = u16(entry + 2);
    const length = u32(entry + 4);
    if (type !== 2 && type !== 7) continue;
    const offset = length <= 4 ? entry + 8 : u32(entry + 8);
    if (offset + length > tiff.length) continue;
    const text = tiff.toString('utf8', offset, offset + length).replace(/\0+$/, '');
    const colon = text.indexOf(':');
    const key = text.slice(0, colon);
    if (colon > 0 && (KEYS as readonly string[]).includes(key) && !texts.has(key)) texts.set(key, text.slice(colon + 1));
  }
}
