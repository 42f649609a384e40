/**
 * JSON that carries binary data as base64 strings (bundles with images, results with files).
 * Written without ever building the text, or one file's base64, whole: its exact byte length is known up front, then
 * its bytes come in pieces that go straight into a Fernet encrypter.
 * Read without making the data strings JS strings: they stay the bytes they are in the text, and decode over
 * themselves. A 100 MB image is 133 MB of base64; as a string it would be one more copy, and JSON.parse another.
 */
import { isUtf8 } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import { base64DecodedLength, decodeInPlace } from './base64url.js';
import { SealError } from './errors.js';
import type { Fernet } from './fernet.js';
import { checkDepth, closingQuote, parseJson } from './json.js';

/** Bytes of data per base64 piece: a multiple of 3 (no padding inside), small enough to stay young garbage. */
const BASE64_PIECE = 48 << 10;

export class JsonWithData {
  readonly byteLength: number;
  /** JSON text, or data whose standard base64 goes there (the quotes are the text's). */
  readonly #parts: ReadonlyArray<string | Uint8Array>;

  constructor(parts: ReadonlyArray<string | Uint8Array>) {
    this.#parts = parts;
    this.byteLength = parts.reduce<number>((n, p) => n + (typeof p === 'string' ? Buffer.byteLength(p) : Math.ceil(p.length / 3) * 4), 0);
  }

  /** The JSON's bytes in order, a piece at a time; each piece is valid only until the next is asked for. */
  *pieces(): Generator<Buffer, void, undefined> {
    const scratch = Buffer.allocUnsafe((BASE64_PIECE / 3) * 4);
    for (const part of this.#parts) {
      if (typeof part === 'string') {
        yield Buffer.from(part, 'utf8');
        continue;
      }
      const data = Buffer.from(part.buffer, part.byteOffset, part.byteLength);
      for (let at = 0; at < data.length; at += BASE64_PIECE) {
        const n = scratch.write(data.toString('base64', at, Math.min(data.length, at + BASE64_PIECE)), 'latin1');
        yield scratch.subarray(0, n);
      }
    }
  }

  /** Feeds the JSON to `sink` in order; each piece is valid only during the call. */
  writeTo(sink: (piece: Buffer) => void): void {
    for (const piece of this.pieces()) sink(piece);
  }

  /** The JSON sealed as one Fernet token, kept as its ASCII bytes (releasable: the caller gives them back). */
  sealBytes(fernet: Fernet): Buffer {
    const e = fernet.encrypter(this.byteLength);
    this.writeTo((piece) => e.update(piece));
    return e.finalBytes();
  }
}

/** Strings at least this long (and with no escape in them) are left as bytes when read. */
const MIN_DATA_TEXT = 1 << 16;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;

/** A long string of a JSON text, left as its bytes: the base64 of a file, which is never made a JS string. */
export class JsonDataText {
  readonly #bytes: Buffer;
  #decoded: Buffer | null | undefined;

  /** `bytes`: the string's content, with no escape in it (so its UTF-8 is its value). */
  constructor(bytes: Buffer) {
    this.#bytes = bytes;
  }

  /** Bytes [start, end) as Latin-1 text: to look at a prefix (a data: URI) or the padding. */
  slice(start: number, end: number): string {
    return this.#bytes.toString('latin1', Math.max(0, start), Math.min(end, this.#bytes.length));
  }

  /**
   * The base64 (either alphabet, unpadded allowed) from `offset` on, decoded over the text itself: a view of the buffer
   * the text was read from. Null when it is not base64 (a raw control character, which JSON would have refused, is
   * not either). Once only: the text is gone afterwards.
   */
  decodeBase64(offset = 0): Buffer | null {
    if (this.#decoded !== undefined) throw new SealError('INTERNAL', 'a data text decodes once');
    const bytes = this.#bytes;
    const firstPad = bytes.indexOf(0x3d, offset);
    const length = base64DecodedLength(bytes.length - offset, this.slice(bytes.length - 2, bytes.length), firstPad === -1 ? -1 : firstPad - offset);
    this.#decoded = length < 0 ? null : decodeInPlace(bytes.subarray(offset), length, 'base64');
    return this.#decoded;
  }
}

export interface ReadJsonOptions {
  /** What the text is, for messages ("bundle", "result"). */
  what: string;
  maxDepth: number;
  /**
   * Where data may be, as paths of keys ('*': any key or index); a long string anywhere else becomes a string as
   * usual. E.g. ['images', '*', 'image'].
   */
  dataPaths: ReadonlyArray<ReadonlyArray<string>>;
}

/**
 * UTF-8 JSON bytes → value, the long strings at `dataPaths` as JsonDataText views of `bytes` (which must outlive them).
 * Long strings are found by jumping from quote to quote (native indexOf), cut out, and stood in for by marks that no
 * text can hold (a random part per call); the small rest goes to JSON.parse.
 */
export function readJsonWithData(bytes: Buffer, options: ReadJsonOptions): unknown {
  checkDepth(bytes, options.maxDepth, options.what); // before anything is copied or parsed, whatever the size
  if (!isUtf8(bytes)) throw new SealError('BAD_INPUT', `${options.what} is not valid UTF-8`);
  const mark = `\u0000${randomBytes(8).toString('hex')}:`;
  const lifted: Buffer[] = [];
  const rest: Buffer[] = [];
  let copied = 0;
  for (let open = bytes.indexOf(QUOTE); open !== -1; ) {
    const close = closingQuote(bytes, open);
    if (close === -1) break; // unterminated: JSON.parse says so
    if (close - open - 1 >= MIN_DATA_TEXT && !isKey(bytes, close) && bytes.subarray(open + 1, close).indexOf(BACKSLASH) === -1) {
      rest.push(bytes.subarray(copied, open), Buffer.from(JSON.stringify(mark + lifted.length)));
      lifted.push(bytes.subarray(open, close + 1));
      copied = close + 1;
    }
    open = bytes.indexOf(QUOTE, close + 1);
  }
  if (lifted.length === 0) return parseJson(bytes.toString('utf8'), options.what);
  rest.push(bytes.subarray(copied));
  const value = parseJson(Buffer.concat(rest).toString('utf8'), options.what);
  return placeLifted(value, mark, lifted, options);
}

/** Whether the string that ends at `close` is an object key (a colon follows): keys are always read as strings. */
function isKey(bytes: Buffer, close: number): boolean {
  let at = close + 1;
  while (bytes[at] === 0x20 || bytes[at] === 0x0a || bytes[at] === 0x0d || bytes[at] === 0x09) at++;
  return bytes[at] === COLON;
}

/** Puts each lifted string back: a JsonDataText at a data path, the string itself elsewhere. */
function placeLifted(root: unknown, mark: string, lifted: readonly Buffer[], options: ReadJsonOptions): unknown {
  const deepest = Math.max(0, ...options.dataPaths.map((p) => p.length));
  const isData = (path: readonly string[] | null) =>
    path !== null && options.dataPaths.some((p) => p.length === path.length && p.every((k, i) => k === '*' || k === path[i]));
  const placed = (index: number, path: readonly string[] | null): unknown => {
    const text = lifted[index]!;
    if (isData(path)) return new JsonDataText(text.subarray(1, -1));
    try {
      return JSON.parse(text.toString('utf8')) as string; // checked as JSON.parse would have (control characters)
    } catch {
      throw new SealError('BAD_INPUT', `${options.what} is not valid JSON`);
    }
  };
  const visit = (value: unknown, path: string[] | null): unknown => {
    if (typeof value === 'string') return value.startsWith(mark) ? placed(Number(value.slice(mark.length)), path) : value;
    if (value === null || typeof value !== 'object') return value;
    const node = value as Record<string, unknown>;
    for (const key of Object.keys(node)) {
      const child = node[key];
      const next = visit(child, path !== null && path.length < deepest ? [...path, key] : null);
      // defineProperty, not assignment: a key named __proto__ stays a plain property.
      if (next !== child) Object.defineProperty(node, key, { value: next, writable: true, enumerable: true, configurable: true });
    }
    return node;
  };
  return visit(root, []);
}
