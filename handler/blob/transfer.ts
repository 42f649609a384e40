/**
 * The worker's blob transfers (contract §9): one streamed GET or PUT over plain HTTP(S) with undici, no cloud SDK and no
 * credential (the URLs are presigned by the client). Bounded in size and time, retried on transient failures (5xx,
 * resets, stalls; never a 4xx, which would only repeat), and every failure is STORAGE_FAILED with a reason of its own.
 */
import { isIP } from 'node:net';
import { Readable } from 'node:stream';
import pRetry, { AbortError } from 'p-retry';
import { Agent, request, type Dispatcher } from 'undici';
import { BlobReceiver, bufferBody, type BlobBody, type BlobPointer } from '../../shared/blob.js';
import { SealError } from '../../shared/errors.js';
import { connectionCode } from '../comfy/http.js';
import { blobUrl, checkedLookup, isPrivateAddress, storageFailed, type AddressPolicy } from './address.js';

export interface BlobOptions extends AddressPolicy {
  /** Largest blob, bytes (COMFY_SEAL_MAX_BLOB_MB). */
  maxBytes: number;
  /** A request's whole time: this, plus a second per MB of blob. */
  timeoutMs: number;
  /** No byte for this long, or no answer: the host hangs. */
  stallMs: number;
  /** Tries after the first, for transient failures. */
  retries: number;
  /** First retry delay (then ×2). */
  retryMinMs: number;
}

export const DEFAULT_BLOB_OPTIONS: BlobOptions = {
  allowPrivate: false,
  maxBytes: 2048 * 1_000_000,
  timeoutMs: 60_000,
  stallMs: 30_000,
  retries: 3,
  retryMinMs: 500,
};

type What = 'request blob' | 'result blob';

/** What a transfer belongs to. */
export interface TransferContext {
  what?: What;
  /**
   * The job's signal: aborted on cancel, and at the job's deadline with a TIMEOUT SealError as its reason. It stops
   * the try under way and every retry and wait after it (contract §11: blob transfers belong to the job).
   */
  signal?: AbortSignal;
  /**
   * PUT only: send `If-None-Match: *`, so a store that honours it refuses to replace an object already there (412):
   * a replayed request must not overwrite a result already delivered (§11). The reply URL is presigned for it.
   */
  ifNoneMatch?: boolean;
}

/** A failure worth another try; anything else is thrown at once. */
class Transient extends Error {
  constructor(readonly failure: SealError) {
    super(failure.message);
  }
}

/** GETs the blob a pointer names into a releasable buffer of its stated size, and checks size and sha256. */
export async function getBlob(pointer: BlobPointer, options: BlobOptions, context: TransferContext = {}): Promise<Buffer> {
  const what = context.what ?? 'request blob';
  const job = { ...context, what };
  const url = blobUrl(pointer.url, what);
  if (pointer.size > options.maxBytes) throw tooLarge(what, pointer.size, options.maxBytes);
  return withRetries(options, job, async () => {
    const res = await send(url, 'GET', options, job, pointer.size);
    const declared = Number(res.headers['content-length'] ?? NaN);
    if (Number.isFinite(declared) && declared !== pointer.size) {
      res.body.destroy();
      const reason = declared > pointer.size ? 'is larger than its pointer says' : 'is smaller than its pointer says';
      throw new AbortError(storageFailed(`the ${what} ${reason}`, { expected: pointer.size, declared }));
    }
    const blob = new BlobReceiver(pointer.size);
    try {
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        if (!blob.push(chunk)) {
          res.body.destroy();
          throw new AbortError(storageFailed(`the ${what} is larger than its pointer says`, { expected: pointer.size }));
        }
      }
    } catch (error) {
      blob.release();
      if (error instanceof AbortError) throw error;
      if (job.signal?.aborted) throw new AbortError(stopped(job.signal, what));
      const code = failureCode(error);
      const details = { received: blob.received, expected: pointer.size, error: code };
      if (code === 'UND_ERR_BODY_TIMEOUT' || code === 'TimeoutError') {
        throw new Transient(storageFailed(`storage stopped sending the ${what} (it hangs: ${code}) after ${blob.received} of ${pointer.size} bytes`, details, error));
      }
      throw new Transient(storageFailed(`the ${what} was truncated: the connection broke off after ${blob.received} of ${pointer.size} bytes (${code})`, details, error));
    }
    const verdict = blob.verdict(pointer.sha256);
    if (verdict !== 'ok') blob.release();
    if (verdict === 'truncated') throw new Transient(storageFailed(`the ${what} was truncated: ${blob.received} of ${pointer.size} bytes`, { received: blob.received, expected: pointer.size }));
    if (verdict === 'sha256') throw new AbortError(storageFailed(`the ${what}'s sha256 does not match its pointer`, { size: pointer.size }));
    return blob.bytes;
  });
}

/**
 * PUTs a sealed token (its bytes, or a body sealed as it is sent) to a presigned URL; resolves once storage has
 * answered 2xx. A retry sends the body again from its first byte.
 */
export async function putBlob(urlText: string, body: Buffer | BlobBody, options: BlobOptions, context: TransferContext = {}): Promise<void> {
  const what = context.what ?? 'result blob';
  const job = { ...context, what };
  const url = blobUrl(urlText, what);
  const source = Buffer.isBuffer(body) ? bufferBody(body) : body;
  if (source.length > options.maxBytes) throw tooLarge(what, source.length, options.maxBytes);
  const put = (ifNoneMatch: boolean) =>
    withRetries(options, job, async () => {
      const res = await send(url, 'PUT', options, { ...job, ifNoneMatch }, source.length, source);
      await res.body.dump().catch(() => undefined);
    });
  try {
    await put(job.ifNoneMatch === true);
  } catch (error) {
    // A store without conditional writes may answer 501 (S3 did before 2024). Unless the URL was signed for the header
    // (then the store claimed it), the PUT is made once more without it: such a store cannot be asked not to replace.
    if (!job.ifNoneMatch || !(error instanceof SealError) || error.details.status !== 501 || signsIfNoneMatch(url)) throw error;
    await put(false);
  }
}

/** Whether a presigned URL (AWS SigV4, or GCS V4) lists If-None-Match among its signed headers. */
function signsIfNoneMatch(url: URL): boolean {
  const signed = url.searchParams.get('X-Amz-SignedHeaders') ?? url.searchParams.get('X-Goog-SignedHeaders') ?? '';
  return signed.toLowerCase().split(';').includes('if-none-match');
}

function tooLarge(what: What, bytes: number, limit: number): SealError {
  return storageFailed(`the ${what} is over the ${Math.floor(limit / 1e6)} MB limit (COMFY_SEAL_MAX_BLOB_MB)`, { bytes, limit_bytes: limit });
}

async function withRetries<T>(options: BlobOptions, context: TransferContext & { what: What }, attempt: () => Promise<T>): Promise<T> {
  const { signal, what } = context;
  try {
    if (signal?.aborted) throw stopped(signal, what);
    return await pRetry(attempt, { retries: options.retries, minTimeout: options.retryMinMs, maxTimeout: 8_000, randomize: true, ...(signal ? { signal } : {}) });
  } catch (error) {
    // Stopped by the job (during a try, or while waiting for the next): that is the reason, whatever the try met.
    if (signal?.aborted) throw stopped(signal, what);
    if (error instanceof Transient) throw withTries(error.failure, options.retries + 1);
    throw SealError.from(error);
  }
}

/** Why a transfer stopped when its job's signal did: the deadline's TIMEOUT, or the cancel. */
function stopped(signal: AbortSignal, what: What): SealError {
  if (signal.reason instanceof SealError) return signal.reason;
  return storageFailed(`the ${what} transfer stopped: the job was cancelled`);
}

function withTries(error: SealError, tries: number): SealError {
  if (tries <= 1) return error;
  return new SealError(error.code, `${error.message}, after ${tries} tries`, error.details, { cause: error.cause });
}

/**
 * One request to storage, through a connection whose address was checked. Resolves with a 2xx response; a 5xx or
 * a connection failure is Transient, a 4xx is final.
 */
async function send(url: URL, method: 'GET' | 'PUT', options: BlobOptions, context: TransferContext & { what: What }, size: number, body?: BlobBody): Promise<Dispatcher.ResponseData> {
  const { what } = context;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  // net.connect skips the lookup for an IP literal: check it here.
  if (isIP(host) && !options.allowPrivate && isPrivateAddress(host)) throw new AbortError(privateRefused(what, url));
  const agent = new Agent({
    connect: { lookup: checkedLookup(options), timeout: options.stallMs },
    headersTimeout: options.stallMs,
    bodyTimeout: options.stallMs,
    connections: 1,
    pipelining: 0,
  });
  // The whole request's time limit; cleared once the body is done with, so it never fires on a finished request.
  // The job's signal stops it too: at once, whatever this request's own limit.
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(Object.assign(new Error('blob request timed out'), { name: 'TimeoutError' })), options.timeoutMs + Math.ceil(size / 1000));
  const onJobStop = () => controller.abort(context.signal!.reason);
  context.signal?.addEventListener('abort', onJobStop, { once: true });
  const done = () => {
    clearTimeout(timer);
    context.signal?.removeEventListener('abort', onJobStop);
    // Destroyed, not closed: a request the job gave up on must not hold its connection until storage answers.
    void (controller.signal.aborted ? agent.destroy() : agent.close());
  };
  const headers: Record<string, string> = body ? { 'content-type': 'application/octet-stream', 'content-length': String(body.length) } : {};
  if (body && context.ifNoneMatch) headers['if-none-match'] = '*';
  let res: Dispatcher.ResponseData;
  try {
    res = await request(url, {
      method,
      dispatcher: agent,
      signal: controller.signal,
      headers,
      ...(body ? { body: Readable.from(body.pieces(), { objectMode: false }) } : {}),
    });
  } catch (error) {
    done();
    if (context.signal?.aborted) throw new AbortError(stopped(context.signal, what));
    throw connectionFailure(error, what, url, method);
  }
  // The agent goes once the body has been read (or given up). A body given up on may still emit an error (aborted):
  // the reader has its reason already.
  res.body.once('close', done);
  res.body.on('error', () => undefined);
  if (res.statusCode >= 200 && res.statusCode < 300) return res;
  const text = await readSome(res.body);
  throw refusal(res.statusCode, text, what, method, url);
}

/** Up to 4 KB of an error body (S3 says why in XML), the rest dropped. */
async function readSome(body: Dispatcher.ResponseData['body']): Promise<string> {
  let text = '';
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      text += chunk.toString('utf8');
      if (text.length >= 4096) break;
    }
  } catch {
    // the reason is the status; the body was only a hint
  }
  body.destroy();
  return text.slice(0, 4096);
}

function refusal(status: number, text: string, what: What, method: 'GET' | 'PUT', url: URL): Error {
  const details = { status, host: url.host, method };
  const verb = method === 'GET' ? 'fetched' : 'stored';
  if (status === 501) return new AbortError(storageFailed(`the ${what} could not be ${verb}: storage does not implement the request (501)`, details));
  if (status >= 500 || status === 429) return new Transient(storageFailed(`the ${what} could not be ${verb}: storage answered ${status}`, details));
  if (status === 403 && /expired/i.test(text)) return new AbortError(storageFailed(`the ${what} URL has expired (403); URLs live COMFY_SEAL_BLOB_TTL_S on the client`, details));
  if (status === 401 || status === 403) return new AbortError(storageFailed(`storage refused the ${what} URL (${status}): expired, or not signed for this`, details));
  if (status === 404) return new AbortError(storageFailed(`no ${what} at its URL (404): deleted, or never stored`, details));
  if (status === 412 && method === 'PUT') return new AbortError(alreadyStored(what, details));
  return new AbortError(storageFailed(`the ${what} could not be ${verb}: storage answered ${status}`, details));
}

/** 412 to a PUT with If-None-Match: an object is there already (a replayed request's result), and stays. */
function alreadyStored(what: What, details: Record<string, unknown>): SealError {
  return storageFailed(`a ${what} is stored at its URL already (412): not replaced; a request run twice (a replayed /run body?) shares its reply URL`, details);
}

function connectionFailure(error: unknown, what: What, url: URL, method: 'GET' | 'PUT'): Error {
  const code = failureCode(error);
  const details = { host: url.host, method, error: code };
  if (code === 'EBLOBPRIVATE') return new AbortError(privateRefused(what, url));
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return new AbortError(storageFailed(`the ${what} host does not resolve (${code})`, details));
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'TimeoutError') {
    return new Transient(storageFailed(`storage did not answer for the ${what} (it hangs: ${code})`, details));
  }
  return new Transient(storageFailed(`the ${what} could not be ${method === 'GET' ? 'fetched' : 'stored'}: connection failed (${code})`, details));
}

function privateRefused(what: What, url: URL): SealError {
  return storageFailed(`the ${what} URL leads to a loopback or private address; set COMFY_SEAL_BLOB_ALLOW_PRIVATE=1 only for development`, { host: url.host });
}

/** A short, URL-free name for what went wrong below HTTP. */
function failureCode(error: unknown): string {
  const known = connectionCode(error);
  if (known) return known;
  for (let e: unknown = error; e && typeof e === 'object'; e = (e as { cause?: unknown }).cause) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code.slice(0, 40);
    const name = (e as { name?: unknown }).name;
    if (name === 'TimeoutError' || name === 'AbortError') return 'TimeoutError';
  }
  return 'error';
}
