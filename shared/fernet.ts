/**
 * Fernet (https://github.com/fernet/spec) on node:crypto, byte-compatible with Python's `cryptography.fernet`.
 *
 * Token = base64url( 0x80 | ts:u64be | iv:16 | AES-128-CBC(PKCS7(msg)) | HMAC-SHA256(signing key, all before) ).
 * Built for payloads of tens of MB: encryption allocates the raw token once and copies the cipher output into it chunk
 * by chunk; decryption streams the token text piece by piece (HMAC pass, then decrypt pass), so its only large
 * allocation is the plaintext. No hex or intermediate string round trips.
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { SealError } from './errors.js';

const VERSION = 0x80;
const HEADER = 1 + 8 + 16; // version, timestamp, iv
const MAC = 32;
const BLOCK = 16;
const MIN_RAW = HEADER + BLOCK + MAC;
const MAX_CLOCK_SKEW_S = 60;
/** Cipher chunk: large enough to amortise the call, small enough that the transient copy stays small. */
const CHUNK = 1 << 20;

export interface DecryptOptions {
  /** Refuse tokens older than this many seconds (60 s of clock skew allowed into the future, as in Python). */
  ttlSeconds?: number;
  /** The current time in seconds; for the spec's fixed vectors. */
  nowSeconds?: number;
}

/** Hooks for the spec's fixed test vectors: a given IV and time instead of random and now. */
export interface EncryptInternals {
  iv?: Uint8Array;
  nowSeconds?: number;
}

interface KeyPair {
  signing: Buffer;
  encryption: Buffer;
}

function parseKey(key: string): KeyPair {
  const bytes = decodeBase64Url(key.trim());
  if (bytes === null || bytes.length !== 32) {
    throw new SealError('BAD_INPUT', 'a Fernet key must be url-safe base64 of 32 bytes');
  }
  return { signing: bytes.subarray(0, 16), encryption: bytes.subarray(16, 32) };
}

/**
 * Strict, canonical url-safe base64 with padding, as Fernet writes it: the decoded length, or -1 when the text is not
 * exactly that. No regex pass over tens of MB: '+', '/' and misplaced '=' are found with indexOf, and any other
 * character outside the alphabet makes Node's decoder (which skips it) come up short, which the decoders check.
 */
function canonicalLength(text: string): number {
  if (text.length % 4 !== 0) return -1;
  const pad = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  const firstPad = text.indexOf('=');
  if (firstPad !== -1 && firstPad !== text.length - pad) return -1;
  if (text.indexOf('+') !== -1 || text.indexOf('/') !== -1) return -1;
  if (pad > 0) {
    // Canonical: the bits beyond the last whole byte must be zero, so each token has one spelling only.
    const value = base64Value(text.charCodeAt(text.length - pad - 1));
    if ((pad === 2 && (value & 0x0f) !== 0) || (pad === 1 && (value & 0x03) !== 0)) return -1;
  }
  return (text.length / 4) * 3 - pad;
}

/** Decodes canonical url-safe base64 with padding; null when the text is not exactly that. */
export function decodeBase64Url(text: string): Buffer | null {
  const length = canonicalLength(text);
  if (length < 0) return null;
  const bytes = Buffer.from(text, 'base64url');
  return bytes.length === length ? bytes : null;
}

/** Characters per decoded piece when streaming a token (a multiple of 4: 768 KiB of bytes). */
const PIECE_CHARS = 1 << 20;

/**
 * Visits the decoded bytes of a canonical token piece by piece (never the whole buffer at once), with each piece's
 * byte offset. Returns false if the text turns out not to be base64 (a piece decodes short).
 */
function eachPiece(text: string, total: number, visit: (piece: Buffer, offset: number) => void): boolean {
  // One scratch buffer for every piece: decoding allocates nothing per piece.
  const scratch = Buffer.allocUnsafe(Math.min(total, (PIECE_CHARS / 4) * 3));
  let offset = 0;
  for (let at = 0; at < text.length; at += PIECE_CHARS) {
    const written = scratch.write(text.slice(at, at + PIECE_CHARS), 0, 'base64url');
    if (written !== Math.min(total - offset, scratch.length)) return false;
    visit(scratch.subarray(0, written), offset);
    offset += written;
  }
  return offset === total;
}

function base64Value(c: number): number {
  if (c >= 65 && c <= 90) return c - 65;
  if (c >= 97 && c <= 122) return c - 71;
  if (c >= 48 && c <= 57) return c + 4;
  return c === 45 ? 62 : 63;
}

function encodeBase64Url(raw: Buffer): string {
  const text = raw.toString('base64url');
  const pad = (4 - (text.length % 4)) % 4;
  return pad === 0 ? text : text + '='.repeat(pad);
}

function toBytes(data: Uint8Array | string): Uint8Array {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (data instanceof Uint8Array) return data;
  throw new SealError('BAD_INPUT', 'Fernet encrypts bytes or a string');
}

function decryptFailed(message: string): SealError {
  return new SealError('DECRYPT_FAILED', message);
}

export class Fernet {
  readonly #keys: KeyPair[];

  /** One key, a comma-separated list, or an array: the first encrypts, every one is tried to decrypt (MultiFernet). */
  constructor(keyOrKeys: string | readonly string[]) {
    const list = (typeof keyOrKeys === 'string' ? keyOrKeys.split(',') : [...keyOrKeys])
      .map((k) => k.trim())
      .filter((k) => k.length > 0);
    if (list.length === 0) throw new SealError('BAD_INPUT', 'no Fernet key given');
    this.#keys = list.map(parseKey);
  }

  static generateKey(): string {
    return encodeBase64Url(randomBytes(32));
  }

  /** Number of keys this instance holds (the first encrypts). */
  get keyCount(): number {
    return this.#keys.length;
  }

  encrypt(data: Uint8Array | string, internals: EncryptInternals = {}): string {
    const message = toBytes(data);
    const key = this.#keys[0]!;
    const iv = internals.iv ? Buffer.from(internals.iv) : randomBytes(16);
    if (iv.length !== 16) throw new SealError('BAD_INPUT', 'a Fernet IV is 16 bytes');
    const now = internals.nowSeconds ?? Math.floor(Date.now() / 1000);

    const cipherLength = (Math.floor(message.length / BLOCK) + 1) * BLOCK;
    const raw = Buffer.allocUnsafe(HEADER + cipherLength + MAC);
    raw[0] = VERSION;
    raw.writeBigUInt64BE(BigInt(now), 1);
    iv.copy(raw, 9);

    const cipher = createCipheriv('aes-128-cbc', key.encryption, iv);
    let offset = HEADER;
    for (let start = 0; start < message.length; start += CHUNK) {
      offset += cipher.update(message.subarray(start, start + CHUNK)).copy(raw, offset);
    }
    offset += cipher.final().copy(raw, offset);
    if (offset !== HEADER + cipherLength) throw new SealError('INTERNAL', 'cipher length mismatch');

    createHmac('sha256', key.signing).update(raw.subarray(0, offset)).digest().copy(raw, offset);
    return encodeBase64Url(raw);
  }

  /** Verifies then decrypts. The returned Buffer is a view into a buffer owned by the caller from now on. */
  decrypt(token: string, options: DecryptOptions = {}): Buffer {
    return this.#open(token, options).message;
  }

  /** Re-encrypts a token under the first key, keeping its timestamp (like MultiFernet.rotate). */
  rotate(token: string): string {
    const { message, issued } = this.#open(token, {});
    return this.encrypt(message, { nowSeconds: issued });
  }

  /**
   * Two passes over the token text, decoding a piece at a time: the first computes the HMAC (of every key) and reads
   * header and MAC; only if a key's MAC matches does the second decrypt, into a buffer the size of the ciphertext.
   * So a 40 MB token never costs a second 40 MB buffer of decoded bytes.
   */
  #open(token: string, options: DecryptOptions): { message: Buffer; issued: number } {
    if (typeof token !== 'string') throw decryptFailed('a Fernet token must be a string');
    const text = isTrimmed(token) ? token : token.trim();
    const total = canonicalLength(text);
    if (total < 0) throw decryptFailed('token is not canonical url-safe base64');
    if (total < MIN_RAW || (total - HEADER - MAC) % BLOCK !== 0) throw decryptFailed('token has an invalid length');

    const signedLength = total - MAC;
    const header = Buffer.alloc(HEADER);
    const mac = Buffer.alloc(MAC);
    const hmacs = this.#keys.map((k) => createHmac('sha256', k.signing));
    const decoded = eachPiece(text, total, (piece, offset) => {
      copyRange(piece, offset, header, 0, HEADER);
      copyRange(piece, offset, mac, signedLength, total);
      const signedPart = piece.subarray(0, Math.max(0, Math.min(piece.length, signedLength - offset)));
      for (const h of hmacs) h.update(signedPart);
    });
    if (!decoded) throw decryptFailed('token is not canonical url-safe base64');
    if (header[0] !== VERSION) throw decryptFailed('token has an unknown version');
    const index = hmacs.findIndex((h) => timingSafeEqual(h.digest(), mac));
    if (index < 0) throw decryptFailed('token signature does not match any key');
    const key = this.#keys[index]!;

    // Time is checked after the signature so that only an authentic token can be called expired.
    const issued = Number(header.readBigUInt64BE(1));
    if (options.ttlSeconds !== undefined) {
      const now = options.nowSeconds ?? Math.floor(Date.now() / 1000);
      if (issued + options.ttlSeconds < now) throw new SealError('TOKEN_EXPIRED', 'token is older than its time to live');
      if (now + MAX_CLOCK_SKEW_S < issued) {
        throw new SealError('TOKEN_EXPIRED', 'token is dated in the future beyond the 60 s clock-skew allowance (check the clock)');
      }
    }

    const out = Buffer.allocUnsafe(signedLength - HEADER);
    const decipher = createDecipheriv('aes-128-cbc', key.encryption, header.subarray(9, HEADER));
    decipher.setAutoPadding(false);
    let written = 0;
    eachPiece(text, total, (piece, offset) => {
      const from = Math.max(HEADER, offset);
      const to = Math.min(signedLength, offset + piece.length);
      if (to > from) written += decipher.update(piece.subarray(from - offset, to - offset)).copy(out, written);
    });
    written += decipher.final().copy(out, written);

    const pad = out[written - 1]!;
    if (pad < 1 || pad > BLOCK) throw decryptFailed('token padding is invalid');
    for (let i = written - pad; i < written; i++) {
      if (out[i] !== pad) throw decryptFailed('token padding is invalid');
    }
    return { message: out.subarray(0, written - pad), issued };
  }
}

/** Copies the part of `piece` (at `offset` in the whole) that falls in [from, to) of the whole into `target`. */
function copyRange(piece: Buffer, offset: number, target: Buffer, from: number, to: number): void {
  const start = Math.max(from, offset);
  const end = Math.min(to, offset + piece.length);
  if (end > start) piece.copy(target, start - from, start - offset, end - offset);
}

function isTrimmed(text: string): boolean {
  if (text.length === 0) return true;
  const first = text.charCodeAt(0);
  const last = text.charCodeAt(text.length - 1);
  return first > 32 && last > 32;
}
