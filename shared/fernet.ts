/**
 * Fernet (https://github.com/fernet/spec) on node:crypto, byte-compatible with Python's `cryptography.fernet`.
 *
 * Token = base64url( 0x80 | ts:u64be | iv:16 | AES-128-CBC(PKCS7(msg)) | HMAC-SHA256(signing key, all before) ).
 * Built for payloads of tens of MB: one buffer is allocated for the whole raw token and the cipher output is copied into
 * it chunk by chunk; decryption runs in place in the decoded buffer. No hex or intermediate string round trips.
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
const BASE64URL = /^[A-Za-z0-9_-]*={0,2}$/;

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
 * Strict, canonical url-safe base64 with padding, as Fernet writes it. Returns null when the text is not exactly that.
 * (Node's own decoder silently skips bad characters, so the check comes first.)
 */
export function decodeBase64Url(text: string): Buffer | null {
  if (text.length % 4 !== 0 || !BASE64URL.test(text)) return null;
  const pad = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  if (pad > 0) {
    // Canonical: the bits beyond the last whole byte must be zero, so each token has one spelling only.
    const last = text.charCodeAt(text.length - pad - 1);
    const value = base64Value(last);
    if ((pad === 2 && (value & 0x0f) !== 0) || (pad === 1 && (value & 0x03) !== 0)) return null;
  }
  return Buffer.from(text, 'base64url');
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

  #open(token: string, options: DecryptOptions): { message: Buffer; issued: number } {
    if (typeof token !== 'string') throw decryptFailed('a Fernet token must be a string');
    const raw = decodeBase64Url(token.trim());
    if (raw === null) throw decryptFailed('token is not canonical url-safe base64');
    if (raw.length < MIN_RAW || (raw.length - HEADER - MAC) % BLOCK !== 0) {
      throw decryptFailed('token has an invalid length');
    }
    if (raw[0] !== VERSION) throw decryptFailed('token has an unknown version');

    const signed = raw.subarray(0, raw.length - MAC);
    const mac = raw.subarray(raw.length - MAC);
    const key = this.#keys.find((k) => timingSafeEqual(createHmac('sha256', k.signing).update(signed).digest(), mac));
    if (!key) throw decryptFailed('token signature does not match any key');

    // Time is checked after the signature so that only an authentic token can be called expired.
    const issued = Number(raw.readBigUInt64BE(1));
    if (options.ttlSeconds !== undefined) {
      const now = options.nowSeconds ?? Math.floor(Date.now() / 1000);
      if (issued + options.ttlSeconds < now) throw new SealError('TOKEN_EXPIRED', 'token is older than its time to live');
      if (now + MAX_CLOCK_SKEW_S < issued) {
        throw new SealError('TOKEN_EXPIRED', 'token is dated in the future beyond the 60 s clock-skew allowance (check the clock)');
      }
    }

    const decipher = createDecipheriv('aes-128-cbc', key.encryption, raw.subarray(9, HEADER));
    decipher.setAutoPadding(false);
    // In place: plaintext block i is written at i*16, always behind the ciphertext still to be read at 25 + i*16.
    let written = 0;
    for (let start = HEADER; start < signed.length; start += CHUNK) {
      written += decipher.update(signed.subarray(start, Math.min(start + CHUNK, signed.length))).copy(raw, written);
    }
    written += decipher.final().copy(raw, written);

    const pad = raw[written - 1]!;
    if (pad < 1 || pad > BLOCK) throw decryptFailed('token padding is invalid');
    for (let i = written - pad; i < written; i++) {
      if (raw[i] !== pad) throw decryptFailed('token padding is invalid');
    }
    return { message: raw.subarray(0, written - pad), issued };
  }
}
