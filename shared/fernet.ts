/**
 * Fernet (https://github.com/fernet/spec) on node:crypto, byte-compatible with Python's `cryptography.fernet`.
 *
 * Token = base64url( 0x80 | ts:u64be | iv:16 | AES-128-CBC(PKCS7(msg)) | HMAC-SHA256(signing key, all before) ).
 * Built for payloads of tens of MB: encryption writes each cipher chunk's base64 straight into the token's text, so its
 * only large allocations are that text and the string made of it; decryption streams the token text piece by piece
 * (HMAC pass, then decrypt pass), so its only large allocation is the plaintext. No hex or intermediate string round trips.
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes, timingSafeEqual, type Cipher, type Hmac } from 'node:crypto';
import { Base64UrlWriter, canonicalLength, decodeBase64Url, decodeInPlace, eachPiece, type Base64Text } from './base64url.js';
import { SealError } from './errors.js';
import { allocReleasable, release } from './releasable.js';

export { decodeBase64Url };

const VERSION = 0x80;
const HEADER = 1 + 8 + 16; // version, timestamp, iv
const MAC = 32;
const BLOCK = 16;
const MIN_RAW = HEADER + BLOCK + MAC;
const MAX_CLOCK_SKEW_S = 60;
/** Cipher chunk: large enough to amortise the call; its output and base64 stay small, young garbage. */
const CHUNK = 48 << 10;

export interface DecryptOptions {
  /** Refuse tokens older than this many seconds (60 s of clock skew allowed into the future, as in Python). */
  ttlSeconds?: number;
  /** The current time in seconds; for the spec's fixed vectors. */
  nowSeconds?: number;
  /** Decrypt into a releasable buffer (shared/releasable.ts) that the caller gives back; for the package's own use. */
  releasable?: boolean;
  /**
   * The token is a Buffer the caller gives up (a fetched blob): it is decoded and decrypted over itself, and the message
   * is a view of its front. No second buffer at all; the token's bytes are gone afterwards, even when it is refused.
   */
  inPlace?: boolean;
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

function encodeBase64Url(raw: Buffer): string {
  const writer = new Base64UrlWriter(raw.length);
  writer.push(raw);
  return writer.finish();
}

function toBytes(data: Uint8Array | string): Uint8Array {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (data instanceof Uint8Array) return data;
  throw new SealError('BAD_INPUT', 'Fernet encrypts bytes or a string');
}

function decryptFailed(message: string): SealError {
  return new SealError('DECRYPT_FAILED', message);
}

export interface Encrypter {
  update(bytes: Uint8Array): void;
  /** The token. Throws INTERNAL if the pieces did not add up to the announced length. */
  final(): string;
  /**
   * The token as ASCII bytes in a releasable buffer (shared/releasable.ts), for a caller that sends it on as bytes:
   * a token of tens of MB then never becomes a JS string, which only a GC could free.
   */
  finalBytes(): Buffer;
  /** The token text made so far: a view of the buffer finalBytes returns, whose bytes are final (to send them early). */
  made(): Buffer;
}

function cipherLength(byteLength: number): number {
  return (Math.floor(byteLength / BLOCK) + 1) * BLOCK;
}

/** Each cipher chunk goes into the HMAC and straight into the token's text: no raw token buffer. */
class TokenEncrypter implements Encrypter {
  readonly #cipher: Cipher;
  readonly #hmac: Hmac;
  readonly #text: Base64UrlWriter;
  #left: number;

  constructor(key: KeyPair, iv: Buffer, now: number, byteLength: number) {
    this.#left = byteLength;
    this.#text = new Base64UrlWriter(HEADER + cipherLength(byteLength) + MAC);
    this.#hmac = createHmac('sha256', key.signing);
    this.#cipher = createCipheriv('aes-128-cbc', key.encryption, iv);
    const header = Buffer.allocUnsafe(HEADER);
    header[0] = VERSION;
    header.writeBigUInt64BE(BigInt(now), 1);
    iv.copy(header, 9);
    this.#take(header);
  }

  update(bytes: Uint8Array): void {
    this.#left -= bytes.length;
    if (this.#left < 0) throw new SealError('INTERNAL', 'more bytes to encrypt than announced');
    for (let start = 0; start < bytes.length; start += CHUNK) this.#take(this.#cipher.update(bytes.subarray(start, start + CHUNK)));
  }

  finalBytes(): Buffer {
    if (this.#left !== 0) throw new SealError('INTERNAL', 'fewer bytes to encrypt than announced');
    this.#take(this.#cipher.final());
    this.#text.push(this.#hmac.digest());
    return this.#text.finishBytes();
  }

  made(): Buffer {
    return this.#text.made();
  }

  final(): string {
    const bytes = this.finalBytes();
    const token = bytes.toString('latin1');
    release(bytes);
    return token;
  }

  #take(bytes: Buffer): void {
    this.#hmac.update(bytes);
    this.#text.push(bytes);
  }
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
    const encrypter = this.encrypter(message.length, internals);
    encrypter.update(message);
    return encrypter.final();
  }

  /**
   * Encrypts a message of a known length given in pieces, so a large message never has to exist whole (the worker
   * streams its result JSON through this). Pieces are consumed at once; they may be reused after `update` returns.
   */
  encrypter(byteLength: number, internals: EncryptInternals = {}): Encrypter {
    const key = this.#keys[0]!;
    const iv = internals.iv ? Buffer.from(internals.iv) : randomBytes(16);
    if (iv.length !== 16) throw new SealError('BAD_INPUT', 'a Fernet IV is 16 bytes');
    const now = internals.nowSeconds ?? Math.floor(Date.now() / 1000);
    return new TokenEncrypter(key, iv, now, byteLength);
  }

  /** The length in characters of the token for a message of `byteLength` bytes. */
  static tokenLength(byteLength: number): number {
    return Math.ceil((HEADER + cipherLength(byteLength) + MAC) / 3) * 4;
  }

  /** Verifies then decrypts. The token as a string, or as its ASCII bytes (a blob, which then never becomes a string). */
  decrypt(token: string | Buffer, options: DecryptOptions = {}): Buffer {
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
   * So a 40 MB token never costs a second 40 MB buffer of decoded bytes. In place (a Buffer the caller gives up): one
   * decoding pass over the token itself, then the HMAC and the decryption over those bytes.
   */
  #open(token: Base64Text, options: DecryptOptions): { message: Buffer; issued: number } {
    if (typeof token !== 'string' && !Buffer.isBuffer(token)) throw decryptFailed('a Fernet token must be a string');
    const text = typeof token === 'string' ? trimmed(token) : token;
    const total = canonicalLength(text);
    if (total < 0) throw decryptFailed('token is not canonical url-safe base64');
    if (total < MIN_RAW || (total - HEADER - MAC) % BLOCK !== 0) throw decryptFailed('token has an invalid length');
    if (options.inPlace && typeof text !== 'string') return this.#openInPlace(text, total, options);

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
    const key = this.#verified(header, hmacs, mac, options);

    const out = options.releasable ? allocReleasable(signedLength - HEADER) : Buffer.allocUnsafe(signedLength - HEADER);
    const decipher = createDecipheriv('aes-128-cbc', key.encryption, header.subarray(9, HEADER));
    decipher.setAutoPadding(false);
    let written = 0;
    eachPiece(text, total, (piece, offset) => {
      const from = Math.max(HEADER, offset);
      const to = Math.min(signedLength, offset + piece.length);
      if (to > from) {
        // Through a short-lived latin1 string rather than Buffer.copy: that young heap allocation makes V8 scavenge as
        // it goes, which frees the cipher outputs. With Buffers alone ~32 MB of dead outputs pile up first (measured on
        // a 40 MB token: 180 → 150 MB peak RSS, for ~2 ms).
        const plain = decipher.update(piece.subarray(from - offset, to - offset)).toString('latin1');
        written += out.write(plain, written, 'latin1');
      }
    });
    written += decipher.final().copy(out, written);
    return { message: unpadded(out, written), issued: Number(header.readBigUInt64BE(1)) };
  }

  #openInPlace(token: Buffer, total: number, options: DecryptOptions): { message: Buffer; issued: number } {
    const raw = decodeInPlace(token, total);
    if (!raw) throw decryptFailed('token is not canonical url-safe base64');
    const signedLength = total - MAC;
    const header = Buffer.from(raw.subarray(0, HEADER));
    const hmacs = this.#keys.map((k) => createHmac('sha256', k.signing).update(raw.subarray(0, signedLength)));
    const key = this.#verified(header, hmacs, raw.subarray(signedLength), options);
    const decipher = createDecipheriv('aes-128-cbc', key.encryption, header.subarray(9, HEADER));
    decipher.setAutoPadding(false);
    // The message goes to the front: what is written never passes what has been read.
    let written = 0;
    for (let at = HEADER; at < signedLength; at += CHUNK) {
      const plain = decipher.update(raw.subarray(at, Math.min(signedLength, at + CHUNK))).toString('latin1');
      written += raw.write(plain, written, 'latin1');
    }
    written += decipher.final().copy(raw, written);
    return { message: unpadded(raw, written), issued: Number(header.readBigUInt64BE(1)) };
  }

  /** The key whose MAC matches, once version and time are checked too. */
  #verified(header: Buffer, hmacs: Hmac[], mac: Buffer, options: DecryptOptions): KeyPair {
    if (header[0] !== VERSION) throw decryptFailed('token has an unknown version');
    const index = hmacs.findIndex((h) => timingSafeEqual(h.digest(), mac));
    if (index < 0) throw decryptFailed('token signature does not match any key');
    // Time is checked after the signature so that only an authentic token can be called expired.
    const issued = Number(header.readBigUInt64BE(1));
    if (options.ttlSeconds !== undefined) {
      const now = options.nowSeconds ?? Math.floor(Date.now() / 1000);
      if (issued + options.ttlSeconds < now) throw new SealError('TOKEN_EXPIRED', 'token is older than its time to live');
      if (now + MAX_CLOCK_SKEW_S < issued) {
        throw new SealError('TOKEN_EXPIRED', 'token is dated in the future beyond the 60 s clock-skew allowance (check the clock)');
      }
    }
    return this.#keys[index]!;
  }
}

/** The message of `written` decrypted bytes, its PKCS7 padding checked and cut. */
function unpadded(out: Buffer, written: number): Buffer {
  const pad = out[written - 1]!;
  if (pad < 1 || pad > BLOCK) throw decryptFailed('token padding is invalid');
  for (let i = written - pad; i < written; i++) {
    if (out[i] !== pad) throw decryptFailed('token padding is invalid');
  }
  return out.subarray(0, written - pad);
}

/** Copies the part of `piece` (at `offset` in the whole) that falls in [from, to) of the whole into `target`. */
function copyRange(piece: Buffer, offset: number, target: Buffer, from: number, to: number): void {
  const start = Math.max(from, offset);
  const end = Math.min(to, offset + piece.length);
  if (end > start) piece.copy(target, start - from, start - offset, end - offset);
}

/**
 * Outer ASCII whitespace cut. Not String.prototype.trim: that cuts Unicode spaces too (U+00A0, U+FEFF, ...), and a
 * token's text is ASCII only, so those must reach the ASCII check and be refused.
 */
function trimmed(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && isAsciiSpace(text.charCodeAt(start))) start++;
  while (end > start && isAsciiSpace(text.charCodeAt(end - 1))) end--;
  return start === 0 && end === text.length ? text : text.slice(start, end);
}

function isAsciiSpace(c: number): boolean {
  return c === 32 || (c >= 9 && c <= 13);
}
