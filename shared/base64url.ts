/**
 * Canonical url-safe base64 with padding, as Fernet writes it, for texts of tens of MB: validated without a regex
 * pass, decoded a piece at a time into one scratch buffer, encoded piece by piece straight into the final text.
 */
import { isAscii } from 'node:buffer';
import { SealError } from './errors.js';
import { allocReleasable, release } from './releasable.js';

/**
 * Characters per decoded piece (a multiple of 4). Each piece goes through a short string: one of 64 K characters stays
 * in V8's young space, where a 128 K one would be a large object of its own (measured: decoding 178 MB took 65 ms in
 * 64 K pieces, 300 ms in 128 K ones).
 */
const PIECE_CHARS = 1 << 16;

/** A token's text: a string, or its ASCII bytes (a blob fetched from storage, never made a string whole). */
export type Base64Text = string | Buffer;

function codeAt(text: Base64Text, i: number): number {
  return typeof text === 'string' ? text.charCodeAt(i) : text[i]!;
}

function endsWithPad(text: Base64Text): number {
  const n = text.length;
  if (n >= 2 && codeAt(text, n - 1) === 61 && codeAt(text, n - 2) === 61) return 2;
  return n >= 1 && codeAt(text, n - 1) === 61 ? 1 : 0;
}

/**
 * The decoded length of a canonical text, or -1 when the text is not exactly that. A character outside ASCII is
 * refused first: Node's decoder reads only the low byte of each character of a string, so `'\u012d'` would pass as
 * `'-'` (one native pass: ~30 ms for 178 MB). Then '+', '/' and misplaced '=' are found with indexOf; any other
 * character outside the alphabet makes Node's decoder (which skips it) come up short, which the decoders check.
 */
export function canonicalLength(text: Base64Text): number {
  if (text.length % 4 !== 0 || !isAsciiText(text)) return -1;
  const pad = endsWithPad(text);
  const firstPad = text.indexOf('=');
  if (firstPad !== -1 && firstPad !== text.length - pad) return -1;
  if (text.indexOf('+') !== -1 || text.indexOf('/') !== -1) return -1;
  if (pad > 0) {
    // Canonical: the bits beyond the last whole byte must be zero, so each text has one spelling only.
    const value = base64Value(codeAt(text, text.length - pad - 1));
    if ((pad === 2 && (value & 0x0f) !== 0) || (pad === 1 && (value & 0x03) !== 0)) return -1;
  }
  return (text.length / 4) * 3 - pad;
}

/** Whether every character (or byte) is ASCII; a string's UTF-8 is as long as it only then. */
function isAsciiText(text: Base64Text): boolean {
  return typeof text === 'string' ? Buffer.byteLength(text, 'utf8') === text.length : isAscii(text);
}

/** Decodes canonical url-safe base64 with padding; null when the text is not exactly that. */
export function decodeBase64Url(text: string): Buffer | null {
  const length = canonicalLength(text);
  if (length < 0) return null;
  const bytes = Buffer.from(text, 'base64url');
  return bytes.length === length ? bytes : null;
}

/**
 * Visits the decoded bytes of a canonical text of `total` decoded bytes piece by piece, with each piece's byte offset;
 * every piece is a view of one scratch buffer, valid only during the call. Returns false if the text turns out not to
 * be base64 (a piece decodes short).
 */
export function eachPiece(text: Base64Text, total: number, visit: (piece: Buffer, offset: number) => void): boolean {
  const scratch = Buffer.allocUnsafe(Math.min(total, (PIECE_CHARS / 4) * 3));
  let offset = 0;
  for (let at = 0; at < text.length; at += PIECE_CHARS) {
    const end = Math.min(text.length, at + PIECE_CHARS);
    // Bytes go through a short piece of string too: Node decodes base64 from strings only.
    const chars = typeof text === 'string' ? text.slice(at, end) : text.toString('latin1', at, end);
    const written = scratch.write(chars, 0, 'base64url');
    if (written !== Math.min(total - offset, scratch.length)) return false;
    visit(scratch.subarray(0, written), offset);
    offset += written;
  }
  return offset === total;
}

/**
 * The decoded length of `length` characters of base64 (either alphabet; unpadded allowed) ending in `tail`, whose first
 * '=' is at `firstPad` (-1: none); -1 when they cannot be base64. Padding only ever completes a group of four, so a
 * character Node's decoder skips always makes the decoded length come up short of this, which the callers check.
 */
export function base64DecodedLength(length: number, tail: string, firstPad: number): number {
  const pad = tail.endsWith('==') ? 2 : tail.endsWith('=') ? 1 : 0;
  if (length % 4 === 1 || (pad > 0 && length % 4 !== 0) || (firstPad !== -1 && firstPad < length - pad)) return -1;
  return Math.floor(((length - pad) * 3) / 4);
}

/**
 * Decodes a canonical text of `total` decoded bytes over itself: the bytes land at the front of the same buffer, which
 * no longer holds the text. Each piece is read into a short string before its bytes are written, and the write
 * position never passes the read position. Returns the decoded view, or null if the text turns out not to be base64.
 */
export function decodeInPlace(text: Buffer, total: number, alphabet: 'base64url' | 'base64' = 'base64url'): Buffer | null {
  let written = 0;
  for (let at = 0; at < text.length; at += PIECE_CHARS) {
    const chars = text.toString('latin1', at, Math.min(text.length, at + PIECE_CHARS));
    const n = text.write(chars, written, alphabet);
    // A piece that decodes short holds something outside the alphabet (Node's decoder skips it).
    if (n !== Math.min(total - written, (chars.length / 4) * 3)) return null;
    written += n;
  }
  return written === total ? text.subarray(0, total) : null;
}

/**
 * Builds the padded url-safe base64 text of exactly `byteLength` bytes pushed in pieces. The text is written into one
 * buffer of its final size (never a raw copy of the bytes, never a rope of strings that V8 would flatten into a second
 * copy later), then turned into a flat string and the buffer released.
 */
export class Base64UrlWriter {
  readonly #text: Buffer;
  #at = 0;
  #left: number;
  readonly #carry = Buffer.alloc(3);
  #carried = 0;

  constructor(byteLength: number) {
    this.#left = byteLength;
    this.#text = allocReleasable(Math.ceil(byteLength / 3) * 4);
  }

  push(bytes: Uint8Array): void {
    this.#left -= bytes.length;
    if (this.#left < 0) throw new SealError('INTERNAL', 'base64 writer: more bytes than announced');
    const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
    let used = 0;
    if (this.#carried > 0) {
      while (this.#carried < 3 && used < buf.length) this.#carry[this.#carried++] = buf[used++]!;
      if (this.#carried < 3) return;
      this.#write(this.#carry.toString('base64url'));
      this.#carried = 0;
    }
    const aligned = used + Math.floor((buf.length - used) / 3) * 3;
    if (aligned > used) this.#write(buf.toString('base64url', used, aligned));
    for (let i = aligned; i < buf.length; i++) this.#carry[this.#carried++] = buf[i]!;
  }

  /** The text written so far: a view of the buffer finishBytes returns, whose bytes are final. */
  made(): Buffer {
    return this.#text.subarray(0, this.#at);
  }

  /** The whole text as ASCII bytes, in a releasable buffer that now belongs to the caller. */
  finishBytes(): Buffer {
    if (this.#carried > 0) {
      this.#write(this.#carry.subarray(0, this.#carried).toString('base64url'));
      this.#write(this.#carried === 1 ? '==' : '=');
      this.#carried = 0;
    }
    if (this.#left !== 0) throw new SealError('INTERNAL', 'base64 writer: fewer bytes than announced');
    return this.#text;
  }

  /** The whole text as a string; the writer's buffer is released. */
  finish(): string {
    const bytes = this.finishBytes();
    const text = bytes.toString('latin1');
    release(bytes);
    return text;
  }

  #write(chars: string): void {
    this.#at += this.#text.write(chars, this.#at, 'latin1');
  }
}

function base64Value(c: number): number {
  if (c >= 65 && c <= 90) return c - 65;
  if (c >= 97 && c <= 122) return c - 71;
  if (c >= 48 && c <= 57) return c + 4;
  return c === 45 ? 62 : 63;
}
