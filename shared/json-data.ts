/**
 * JSON that carries binary data as base64 strings (bundles with images, results with files), written without ever
 * building the text, or one file's base64, whole: its exact byte length is known up front, then its bytes come in
 * pieces that go straight into a Fernet encrypter.
 */
import type { Fernet } from './fernet.js';

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

  /** Feeds the JSON to `sink` in order; each piece is valid only during the call. */
  writeTo(sink: (piece: Buffer) => void): void {
    const scratch = Buffer.allocUnsafe((BASE64_PIECE / 3) * 4);
    for (const part of this.#parts) {
      if (typeof part === 'string') {
        sink(Buffer.from(part, 'utf8'));
        continue;
      }
      const data = Buffer.from(part.buffer, part.byteOffset, part.byteLength);
      for (let at = 0; at < data.length; at += BASE64_PIECE) {
        const n = scratch.write(data.toString('base64', at, Math.min(data.length, at + BASE64_PIECE)), 'latin1');
        sink(scratch.subarray(0, n));
      }
    }
  }

  /** The JSON sealed as one Fernet token, kept as its ASCII bytes (releasable: the caller gives them back). */
  sealBytes(fernet: Fernet): Buffer {
    const e = fernet.encrypter(this.byteLength);
    this.writeTo((piece) => e.update(piece));
    return e.finalBytes();
  }
}
