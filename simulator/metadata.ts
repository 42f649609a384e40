/**
 * What ComfyUI's savers embed (unless --disable-metadata): the API prompt and each extra_pnginfo entry (the workflow),
 * as Python's json.dumps writes them — ", " and ": " separators, non-ASCII as \uXXXX — so the bytes match a real
 * file's. (Floats that JSON gave as whole numbers, 7.0, print as 7 here: JavaScript cannot tell them apart.)
 */
import type { SaveMetadata } from './context.js';

export function pythonJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(pythonJson).join(', ')}]`;
  if (value && typeof value === 'object') return `{${Object.entries(value).map(([k, v]) => `${pythonJson(k)}: ${pythonJson(v)}`).join(', ')}}`;
  if (typeof value === 'string') return JSON.stringify(value).replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  if (typeof value === 'number' && !Number.isFinite(value)) return Number.isNaN(value) ? 'NaN' : value > 0 ? 'Infinity' : '-Infinity';
  return JSON.stringify(value ?? null);
}

/** SaveImage's PNG text entries: `prompt`, then every extra_pnginfo key (`workflow`...). */
export function pngText(meta: SaveMetadata | null): Array<[string, string]> {
  if (!meta) return [];
  return [...(meta.prompt !== undefined ? [['prompt', pythonJson(meta.prompt)] as [string, string]] : []), ...Object.entries(meta.extraPnginfo ?? {}).map(([k, v]) => [k, pythonJson(v)] as [string, string])];
}

/** SaveAnimatedWEBP's EXIF: 0x0110 (Model) = "prompt:…", then 0x010F (Make), 0x010E… = "key:…" per extra_pnginfo entry. */
export function webpExifTags(meta: SaveMetadata | null): Array<[number, string]> {
  if (!meta) return [];
  const tags: Array<[number, string]> = meta.prompt !== undefined ? [[0x0110, `prompt:${pythonJson(meta.prompt)}`]] : [];
  Object.entries(meta.extraPnginfo ?? {}).forEach(([k, v], n) => tags.push([0x010f - n, `${k}:${pythonJson(v)}`]));
  return tags;
}

/** VideoHelperSuite's ffmpeg `comment`: {"prompt": <the prompt as a JSON string>, <extra_pnginfo entries as they are>}. */
export function videoComment(meta: SaveMetadata | null): string | null {
  if (!meta) return null;
  return pythonJson({ ...(meta.prompt !== undefined ? { prompt: pythonJson(meta.prompt) } : {}), ...meta.extraPnginfo });
}

/** A little-endian TIFF with one IFD of ASCII tags (what PIL's Exif.tobytes() gives, without the "Exif\0\0" WebP drops). */
export function exifTiff(tags: Array<[number, string]>): Buffer {
  const sorted = [...tags].sort((a, b) => a[0] - b[0]);
  const ifdSize = 2 + sorted.length * 12 + 4;
  const values = sorted.map(([, text]) => Buffer.concat([Buffer.from(text, 'latin1'), Buffer.from([0])]));
  const head = Buffer.from('49492a0008000000', 'hex');
  const ifd = Buffer.alloc(ifdSize);
  ifd.writeUInt16LE(sorted.length, 0);
  let offset = 8 + ifdSize;
  sorted.forEach(([tag], n) => {
    const at = 2 + n * 12;
    const value = values[n]!;
    ifd.writeUInt16LE(tag, at);
    ifd.writeUInt16LE(2, at + 2); // ASCII
    ifd.writeUInt32LE(value.length, at + 4);
    if (value.length <= 4) value.copy(ifd, at + 8);
    else {
      ifd.writeUInt32LE(offset, at + 8);
      offset += value.length + (value.length % 2); // word-aligned, as TIFF writers do
    }
  });
  const data = values.filter((v) => v.length > 4).map((v) => (v.length % 2 ? Buffer.concat([v, Buffer.alloc(1)]) : v));
  return Buffer.concat([head, ifd, ...data]);
}
