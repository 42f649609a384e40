/**
 * PNG text chunks, pure: read a PNG's chunk list and put `tEXt` chunks in it, the way ComfyUI stores a workflow in the
 * pictures it saves (`prompt` = the API prompt, `workflow` = the UI workflow), so the file drops into ComfyUI again.
 */
import { crc32 } from 'node:zlib';

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

export interface PngChunk {
  type: string;
  data: Buffer;
}

/** The chunks of a PNG (CRCs checked), or null when `png` is not a whole, well-formed PNG. */
export function readPngChunks(png: Buffer): PngChunk[] | null {
  if (png.length < SIGNATURE.length || !png.subarray(0, SIGNATURE.length).equals(SIGNATURE)) return null;
  const chunks: PngChunk[] = [];
  for (let at = SIGNATURE.length; at < png.length; ) {
    if (at + 12 > png.length) return null;
    const length = png.readUInt32BE(at);
    const end = at + 12 + length;
    if (end > png.length) return null;
    const typeAndData = png.subarray(at + 4, at + 8 + length);
    if (crc32(typeAndData) !== png.readUInt32BE(at + 8 + length)) return null;
    chunks.push({ type: typeAndData.subarray(0, 4).toString('latin1'), data: png.subarray(at + 8, at + 8 + length) });
    at = end;
    if (chunks.at(-1)!.type === 'IEND') return at === png.length && chunks[0]!.type === 'IHDR' ? chunks : null;
  }
  return null;
}

function chunkBytes(type: string, data: Buffer): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  data.copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

/** The keyword of a tEXt / zTXt / iTXt chunk. */
function textKeyword(chunk: PngChunk): string | null {
  if (chunk.type !== 'tEXt' && chunk.type !== 'zTXt' && chunk.type !== 'iTXt') return null;
  const nul = chunk.data.indexOf(0);
  return nul < 0 ? null : chunk.data.subarray(0, nul).toString('latin1');
}

/**
 * JSON as pure ASCII: every character past `~` written as its `\uXXXX` escape. The same JSON value, and text that a
 * Latin-1 `tEXt` chunk carries unchanged (a prompt in any script survives).
 */
export function asciiJson(value: unknown): string {
  return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * `png` with a `tEXt` chunk per entry (keyword → ASCII text) just before IEND; text chunks with those keywords that
 * were there are dropped. Null when `png` is not a well-formed PNG.
 */
export function withPngText(png: Buffer, entries: ReadonlyArray<readonly [keyword: string, text: string]>): Buffer | null {
  const chunks = readPngChunks(png);
  if (!chunks) return null;
  const keywords = new Set(entries.map(([k]) => k));
  const parts: Buffer[] = [SIGNATURE];
  for (const chunk of chunks) {
    if (chunk.type === 'IEND') for (const [keyword, text] of entries) parts.push(chunkBytes('tEXt', Buffer.from(`${keyword}\0${text}`, 'latin1')));
    const keyword = textKeyword(chunk);
    if (keyword === null || !keywords.has(keyword)) parts.push(chunkBytes(chunk.type, chunk.data));
  }
  return Buffer.concat(parts);
}
