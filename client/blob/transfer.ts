/**
 * The client's blob transfers through presigned URLs, as the worker's are: the GET of a result blob, streamed into
 * a buffer of the size its pointer states (bounded first) with its sha256 checked on the way, and the PUT of a
 * request blob, sealed as it is sent. Retried on 5xx and broken connections; their failures are STORAGE_FAILED, as
 * the worker's are. A GET stops at once when its signal fires (Ctrl-C).
 */
import { Readable } from 'node:stream';
import pRetry, { AbortError } from 'p-retry';
import { request } from 'undici';
import { BlobReceiver, type BlobBody, type BlobPointer } from '../../shared/blob.js';
import { SealError } from '../../shared/errors.js';

export interface FetchBlobOptions {
  /** Tries after the first. @default 3 */
  retries?: number;
  retryMinMs?: number;
  /** No byte for this long: the host hangs. @default 60000 */
  stallMs?: number;
  /** The largest blob fetched: a pointer stating more is refused before anything is allocated. @default 2048 MB */
  maxBytes?: number;
  /** Stops the GET (and its retries) at once. */
  signal?: AbortSignal;
}

/** The largest blob by default: the worker's own default (COMFY_SEAL_MAX_BLOB_MB). */
export const DEFAULT_MAX_BLOB_BYTES = 2048 * 1_000_000;

/** Why a blob of `size` bytes is not fetched under `maxBytes`; null when it may be. */
export function blobSizeProblem(size: number, maxBytes: number): string | null {
  if (size <= maxBytes) return null;
  return `the result pointer states ${Math.ceil(size / 1e6)} MB, over this client's limit of ${Math.floor(maxBytes / 1e6)} MB (COMFY_SEAL_MAX_BLOB_MB, or the maxBlobBytes option); nothing was fetched`;
}

type What = 'request blob' | 'result blob';

function failed(message: string, details: Record<string, unknown> = {}): SealError {
  return new SealError('STORAGE_FAILED', message, details);
}

/** A non-2xx answer as a failure: 5xx and 429 worth another try, the rest final. */
function refusal(status: number, what: What, method: 'GET' | 'PUT'): Error {
  const error = failed(
    status === 404
      ? `no ${what} at its URL (404): deleted already, or never stored`
      : status === 403
        ? `storage refused the ${what} URL (403): it expired (COMFY_SEAL_BLOB_TTL_S), or the credentials lack ${method === 'GET' ? 'GetObject' : 'PutObject'}`
        : `storage answered ${status} for the ${what}`,
    { status },
  );
  return status >= 500 || status === 429 ? error : new AbortError(error);
}

function withRetries<T>(options: FetchBlobOptions, attempt: () => Promise<T>): Promise<T> {
  return pRetry(attempt, { retries: options.retries ?? 3, minTimeout: options.retryMinMs ?? 500, maxTimeout: 8_000, randomize: true, ...(options.signal ? { signal: options.signal } : {}) });
}

/** A failure while the signal has fired is the stop itself: no retry, the signal's reason (an AbortError if not an Error). */
function stopOr(signal: AbortSignal | undefined, error: Error): Error {
  if (!signal?.aborted) return error;
  return new AbortError(signal.reason instanceof Error ? signal.reason : new DOMException('the blob GET was stopped', 'AbortError'));
}

/** The sealed result token's bytes, in an ordinary buffer: opening it leaves the files in it (openResultBlob). */
export async function fetchBlob(pointer: BlobPointer, options: FetchBlobOptions = {}): Promise<Buffer> {
  const stallMs = options.stallMs ?? 60_000;
  const { signal } = options;
  // Before anything is allocated or asked: a pointer can state any size (§11).
  const tooLarge = blobSizeProblem(pointer.size, options.maxBytes ?? DEFAULT_MAX_BLOB_BYTES);
  if (tooLarge) throw new SealError('BAD_INPUT', tooLarge, { size: pointer.size });
  return withRetries(options, async () => {
    let res;
    try {
      res = await request(pointer.url, { method: 'GET', headersTimeout: stallMs, bodyTimeout: stallMs, ...(signal ? { signal } : {}) });
    } catch (error) {
      throw stopOr(signal, failed(`could not reach storage for the result blob (${(error as { code?: string }).code ?? 'error'})`));
    }
    res.body.on('error', () => undefined); // a body given up on may still say so; the reader has its reason
    if (res.statusCode !== 200) {
      await res.body.dump().catch(() => undefined);
      throw refusal(res.statusCode, 'result blob', 'GET');
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
      throw stopOr(signal, failed(`the result blob download broke off (${(error as { code?: string }).code ?? 'error'})`));
    }
    const verdict = blob.verdict(pointer.sha256);
    if (verdict === 'ok') return blob.bytes;
    blob.release();
    if (verdict === 'truncated') throw failed(`the result blob was truncated: ${blob.received} of ${pointer.size} bytes`);
    throw new AbortError(failed("the result blob's sha256 does not match its pointer", { size: pointer.size }));
  });
}

/** PUTs the request blob to a presigned URL; a retry sends the body again from its first byte. */
export async function putBlob(url: string, body: BlobBody, options: FetchBlobOptions = {}): Promise<void> {
  const stallMs = options.stallMs ?? 60_000;
  await withRetries(options, async () => {
    let res;
    try {
      res = await request(url, {
        method: 'PUT',
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(body.length) },
        body: Readable.from(body.pieces(), { objectMode: false }),
        headersTimeout: stallMs,
        bodyTimeout: stallMs,
      });
    } catch (error) {
      if (error instanceof SealError) throw new AbortError(error); // the body itself failed: another try would too
      throw failed(`could not store the request blob (${(error as { code?: string }).code ?? 'error'}): check AWS_ENDPOINT_URL_S3 and that storage is reachable`);
    }
    await res.body.dump().catch(() => undefined);
    if (res.statusCode < 200 || res.statusCode >= 300) throw refusal(res.statusCode, 'request blob', 'PUT');
  });
}
