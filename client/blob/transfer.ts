/**
 * The client's GET of a result blob: streamed into a buffer of the size its pointer states, sha256 checked on the
 * way, retried on 5xx and broken connections. Its failures are STORAGE_FAILED, as the worker's are.
 */
import pRetry, { AbortError } from 'p-retry';
import { request } from 'undici';
import { BlobReceiver, type BlobPointer } from '../../shared/blob.js';
import { SealError } from '../../shared/errors.js';

export interface FetchBlobOptions {
  /** Tries after the first. @default 3 */
  retries?: number;
  retryMinMs?: number;
  /** No byte for this long: the host hangs. @default 60000 */
  stallMs?: number;
}

function failed(message: string, details: Record<string, unknown> = {}): SealError {
  return new SealError('STORAGE_FAILED', message, details);
}

/** The sealed result token's bytes, in an ordinary buffer: opening it leaves the files in it (openResultBlob). */
export async function fetchBlob(pointer: BlobPointer, options: FetchBlobOptions = {}): Promise<Buffer> {
  const stallMs = options.stallMs ?? 60_000;
  return pRetry(
    async () => {
      let res;
      try {
        res = await request(pointer.url, { method: 'GET', headersTimeout: stallMs, bodyTimeout: stallMs });
      } catch (error) {
        throw failed(`could not reach storage for the result blob (${(error as { code?: string }).code ?? 'error'})`);
      }
      res.body.on('error', () => undefined); // a body given up on may still say so; the reader has its reason
      if (res.statusCode !== 200) {
        await res.body.dump().catch(() => undefined);
        const error = failed(
          res.statusCode === 404
            ? 'no result blob at its URL (404): deleted already, or never stored'
            : res.statusCode === 403
              ? 'storage refused the result blob URL (403): it expired (COMFY_SEAL_BLOB_TTL_S), or the credentials lack GetObject'
              : `storage answered ${res.statusCode} for the result blob`,
          { status: res.statusCode },
        );
        if (res.statusCode >= 500 || res.statusCode === 429) throw error;
        throw new AbortError(error);
      }
      const blob = new BlobReceiver(pointer.size, false);
      try {
        for await (const chunk of res.body as AsyncIterable<Buffer>) {
          if (!blob.push(chunk)) throw new AbortError(failed('the result blob is larger than its pointer says', { expected: pointer.size }));
        }
      } catch (error) {
        blob.release();
        res.body.destroy();
        if (error instanceof AbortError) throw error;
        throw failed(`the result blob download broke off (${(error as { code?: string }).code ?? 'error'})`);
      }
      const verdict = blob.verdict(pointer.sha256);
      if (verdict === 'ok') return blob.bytes;
      blob.release();
      if (verdict === 'truncated') throw failed(`the result blob was truncated: ${blob.received} of ${pointer.size} bytes`);
      throw new AbortError(failed("the result blob's sha256 does not match its pointer", { size: pointer.size }));
    },
    { retries: options.retries ?? 3, minTimeout: options.retryMinMs ?? 500, maxTimeout: 8_000, randomize: true },
  );
}
