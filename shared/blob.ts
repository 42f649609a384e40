/**
 * Blobs (contract §9): the sealed pointer that stands for a request or result too large for RunPod, the bundle's
 * `reply` URLs, and the size arithmetic both sides state their limits in.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { allocReleasable, release } from './releasable.js';
import { blobUrlSchema, parseWith } from './schema.js';
export { blobReplySchema, type BlobReply } from './schema.js';

/** A sealed token of n bytes of plaintext is ~4/3 n; base64 of a file is 4/3 of it: a file costs 16/9 of itself inline. */
const SEALED_PER_BYTE = 16 / 9;

/** How many MB of images fit inline in a sealed message of at most `limitBytes`, each image sent `copies` times. */
export function inlineImageMb(limitBytes: number, copies = 1): number {
  return Math.floor(limitBytes / SEALED_PER_BYTE / copies / 1e5) / 10;
}

/** The words a size error ends with: what fits, and what lifts the limit. */
export function inlineAdvice(limitBytes: number, copies = 1): string {
  return `about ${inlineImageMb(limitBytes, copies)} MB of images fit inline; a blob store (--blob-url s3://BUCKET/PREFIX) lifts the limit`;
}

/**
 * `{"blob": {url, sha256, size}}`: the plaintext of a token that stands for a larger token stored at `url` (§9). A
 * result pointer also names its job (`job_id`, §11), as the result itself does.
 */
export const blobPointerSchema = z.strictObject({
  job_id: z.string().optional(),
  blob: z.strictObject({
    url: blobUrlSchema,
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
    size: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
  }),
});
export type BlobPointer = z.infer<typeof blobPointerSchema>['blob'];

/** Whether an opened payload is a pointer rather than a bundle or a result: it has `blob` and nothing of theirs. */
export function isBlobPointer(value: unknown): boolean {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && 'blob' in value;
}

/** A parsed payload → the pointer it holds; BAD_INPUT when it is not exactly one. */
export function parseBlobPointer(value: unknown, what: string): BlobPointer {
  return parseWith(blobPointerSchema, value, what).blob;
}

/** The pointer's plaintext JSON; a result pointer names the job it belongs to. */
export function blobPointerJson(pointer: BlobPointer, jobId?: string): string {
  return JSON.stringify({ ...(jobId !== undefined ? { job_id: jobId } : {}), blob: { url: pointer.url, sha256: pointer.sha256, size: pointer.size } });
}

/** What a blob PUT sends: its length up front, then its bytes; each `pieces()` starts from the first byte (a retry). */
export interface BlobBody {
  readonly length: number;
  pieces(): AsyncIterable<Buffer>;
}

/** A buffer as a blob body: views of it, 1 MiB at a time (an HTTP client would copy a resizable buffer whole). */
export function bufferBody(bytes: Buffer): BlobBody {
  const PIECE = 1 << 20;
  return {
    length: bytes.length,
    async *pieces() {
      for (let at = 0; at < bytes.length; at += PIECE) yield bytes.subarray(at, Math.min(bytes.length, at + PIECE));
    },
  };
}

/**
 * Receives a blob's bytes into a buffer of the size its pointer states, hashing them on the way. Releasable (the
 * worker's, given back once used) or ordinary (the client's: the result's files are views of it, and an app may hand
 * them to fetch, which refuses a resizable buffer).
 */
export class BlobReceiver {
  readonly bytes: Buffer;
  readonly #hash = createHash('sha256');
  #received = 0;

  constructor(
    readonly size: number,
    releasable = true,
  ) {
    this.bytes = releasable ? allocReleasable(size) : Buffer.allocUnsafeSlow(size);
  }

  get received(): number {
    return this.#received;
  }

  /** Takes a chunk; false (and the chunk not kept) when it would go past the stated size. */
  push(chunk: Uint8Array): boolean {
    if (this.#received + chunk.length > this.size) return false;
    this.bytes.set(chunk, this.#received);
    this.#hash.update(chunk);
    this.#received += chunk.length;
    return true;
  }

  /** After the last chunk: whether all bytes came, and whether they are the ones the pointer names. */
  verdict(sha256: string): 'ok' | 'truncated' | 'sha256' {
    if (this.#received < this.size) return 'truncated';
    return this.#hash.digest('hex') === sha256 ? 'ok' : 'sha256';
  }

  release(): void {
    release(this.bytes);
  }
}
