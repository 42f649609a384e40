/**
 * ComfySealClient: seal a job, submit it to a RunPod endpoint, wait with progress, open the result.
 *
 * RunPod's REST calls go through runpod-sdk (run / status / cancel / health) with our own retries and polling: its
 * runSync logs to stdout on every poll and it retries nothing. Its types are not re-exported (they import ts-toolbelt,
 * which strict consumers do not have).
 */
import pRetry, { AbortError as StopRetrying } from 'p-retry';
import runpodSdk from 'runpod-sdk';
import { blobPointerJson } from '../shared/blob.js';
import { bundleJson, serializeBundle, type Bundle, type BundleImage } from '../shared/bundle.js';
import { openError, openOutput, openProgress, openResultBlob, type Result } from '../shared/envelope.js';
import { release } from '../shared/releasable.js';
import { SealingBody } from '../shared/sealing-body.js';
import { fetchBlob, putBlob } from './blob/transfer.js';
import { DEFAULT_BLOB_TTL_S, newBlobKeys, requestKeyOf, type BlobStore } from './blob/store.js';
import { SealError } from '../shared/errors.js';
import { Fernet } from '../shared/fernet.js';
import { openQueryAnswer } from '../shared/query.js';
import { PreviewTracker, type LivePreview } from './preview.js';
import type { BundleOptions, BundleQuery, Progress, QueryResult, Workflow } from '../shared/schema.js';
import { webhookUrlProblem } from '../shared/webhook.js';
import type { ObjectInfo } from './workflow/definitions.js';
import {
  AbortError,
  CONFIG_SETTINGS,
  ComfySealError,
  ConfigError,
  JobFailedError,
  RequestTooLargeError,
  RunpodApiError,
  RunpodConnectionError,
  WaitTimeoutError,
  type ConfigSetting,
} from './errors.js';

export const DEFAULT_API_URL = 'https://api.runpod.ai/v2';
/** RunPod refuses /run bodies over 10 MB. */
export const MAX_RUN_BYTES = 10 * 1024 * 1024;

export interface ComfySealClientOptions {
  /** Defaults to process.env.RUNPOD_ENDPOINT_ID. */
  endpointId?: string;
  /** Defaults to process.env.RUNPOD_API_KEY. */
  apiKey?: string;
  /** Defaults to process.env.RUNPOD_API_URL, then https://api.runpod.ai/v2 (e.g. http://127.0.0.1:8000 for `worker --local`). */
  apiUrl?: string;
  /** Fernet key(s); defaults to process.env.ENCRYPTION_KEY. */
  key?: string;
  /** Send the bundle in plaintext (debugging only; the endpoint must allow it). @default false */
  plaintext?: boolean;
  /** Retries of a status/cancel/health call on 429, 5xx and connection errors. @default 5 */
  maxRetries?: number;
  /**
   * A refused connection or an unknown host (a wrong URL or port, or a local endpoint that is not running) is retried
   * only while the retries fit in this time. @default 10000
   */
  connectRetryMs?: number;
  /** Called before each retry (e.g. to show it on a terminal). */
  onRetry?: (event: RetryEvent) => void;
  /** First retry delay (then ×2, jittered, up to 8 s). @default 500 */
  retryMinMs?: number;
  /** Per-request limit. @default 30000 */
  requestTimeoutMs?: number;
  /** Status polling: first delay, growing ×1.5 up to the max. @default 250 / 3000 */
  pollMinMs?: number;
  pollMaxMs?: number;
  /** Environment to read defaults from. @default process.env */
  env?: NodeJS.ProcessEnv;
  /**
   * Your storage for requests and results too large for RunPod (§9), e.g. `new S3BlobStore('s3://bucket/prefix')`.
   * With one, every sealed request carries presigned reply URLs, and a request over /run's 10 MB goes as a blob.
   */
  blobStore?: BlobStore;
  /** How long presigned URLs live, seconds. @default COMFY_SEAL_BLOB_TTL_S, then 86400 */
  blobTtlS?: number;
}

export interface RetryEvent {
  /** The failed attempt's error. */
  error: ComfySealError;
  /** 1 for the first retry. */
  attempt: number;
  retriesLeft: number;
}

export interface SubmitRequest {
  workflow: Workflow;
  images?: BundleImage[];
  options?: BundleOptions;
  /** RunPod POSTs the job's final status here (open it with `openWebhook`); http(s) only. */
  webhook?: string;
}

export interface JobProgress {
  jobId: string;
  /** RunPod's state: IN_QUEUE or IN_PROGRESS. */
  status: string;
  /** The worker's sealed progress, opened (IN_PROGRESS only, once the worker has said something). */
  progress: Progress | null;
  /** Time spent in RunPod's queue so far (RunPod's delayTime), when known. */
  queueMs?: number;
  elapsedMs: number;
  /** A new live preview (§13; submit with `options: { previews: true }`), each one handed out once. */
  preview?: LivePreview;
}

export interface WaitOptions {
  onProgress?: (event: JobProgress) => void;
  signal?: AbortSignal;
  /** Give up waiting (the job goes on) after this long. @default no limit */
  timeoutMs?: number;
}

/** RunPod's /status answer, as far as the client reads it. */
export interface StatusBody {
  id?: string;
  status?: string;
  output?: unknown;
  error?: unknown;
  delayTime?: number;
}

type Endpoint = NonNullable<ReturnType<ReturnType<typeof runpodSdk>['endpoint']>>;

/** Says which API a URL is, for messages: RunPod's, a local endpoint (`comfy-seal worker --local`), or another. */
export function describeApi(apiUrl: string): string {
  if (apiUrl === DEFAULT_API_URL) return `the RunPod API at ${apiUrl}`;
  let host = '';
  try {
    host = new URL(apiUrl).hostname;
  } catch {
    return `the endpoint API at ${apiUrl}`;
  }
  return ['127.0.0.1', 'localhost', '[::1]', '0.0.0.0'].includes(host)
    ? `the local endpoint at ${apiUrl} (is 'comfy-seal worker --local' running on that port?)`
    : `the endpoint API at ${apiUrl}`;
}

/** Connection failures that retrying will not fix soon (nothing listens, no such host): retried briefly. */
const FAST_FAIL = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

/** The reason a local endpoint (`comfy-seal worker --local`) gives with a refusal (`{"error","code"}`, contract §4),
 * printable ASCII only and bounded, since it is shown on the user's terminal. */
function endpointReason(data: unknown): string | undefined {
  const { error, code } = (data ?? {}) as { error?: unknown; code?: unknown };
  if (typeof error !== 'string' || typeof code !== 'string') return undefined;
  return error.replace(/[^\x20-\x7e]/g, '?').slice(0, 400);
}

function toClientError(error: unknown, apiUrl: string): ComfySealError {
  if (error instanceof ComfySealError) return error;
  const response = (error as { response?: { status?: number; data?: unknown } })?.response;
  if (typeof response?.status === 'number') {
    const status = response.status;
    const hint =
      endpointReason(response.data) ??
      (status === 401 || status === 403
        ? 'check RUNPOD_API_KEY'
        : status === 404
          ? 'unknown endpoint or job (RunPod keeps results 30 min)'
          : status === 429
            ? 'rate limited'
            : 'RunPod error');
    return new RunpodApiError(status, `${apiUrl === DEFAULT_API_URL ? 'RunPod' : apiUrl} answered ${status}: ${hint}`, response.data);
  }
  const timedOut = /^timeout of \d+ms exceeded/.test((error as Error)?.message ?? '');
  const cause = timedOut ? 'ETIMEDOUT' : ((error as { cause?: { code?: string } })?.cause?.code ?? (error as { code?: string })?.code);
  return new RunpodConnectionError(`could not reach ${describeApi(apiUrl)}${cause ? ` (${cause})` : ''}`, cause, { cause: error });
}

function retryable(error: ComfySealError): boolean {
  if (error instanceof RunpodConnectionError) return true;
  return error instanceof RunpodApiError && (error.status === 429 || error.status >= 500);
}

export class ComfySealClient {
  readonly endpointId: string;
  readonly apiUrl: string;
  readonly #fernet: Fernet | null;
  readonly #endpoint: Endpoint;
  readonly #options: Required<
    Pick<ComfySealClientOptions, 'maxRetries' | 'connectRetryMs' | 'retryMinMs' | 'requestTimeoutMs' | 'pollMinMs' | 'pollMaxMs' | 'plaintext' | 'blobTtlS'>
  > &
    Pick<ComfySealClientOptions, 'onRetry'>;
  readonly #store: BlobStore | undefined;
  /** Blob keys per job, deleted by releaseBlobs once the result is safe. */
  readonly #blobs = new Map<string, Set<string>>();

  /** Throws ConfigError listing every missing setting at once. */
  constructor(options: ComfySealClientOptions = {}) {
    const env = options.env ?? process.env;
    const endpointId = options.endpointId ?? env.RUNPOD_ENDPOINT_ID;
    const apiUrl = (options.apiUrl ?? env.RUNPOD_API_URL ?? DEFAULT_API_URL).replace(/\/+$/, '');
    const apiKey = options.apiKey ?? env.RUNPOD_API_KEY ?? '';
    const key = options.key ?? env.ENCRYPTION_KEY;
    const plaintext = options.plaintext ?? false;
    const missing: ConfigSetting[] = [];
    if (!endpointId) missing.push(CONFIG_SETTINGS.endpointId);
    if (!apiKey && apiUrl === DEFAULT_API_URL) missing.push(CONFIG_SETTINGS.apiKey); // a local endpoint needs none
    if (!key && !plaintext) missing.push(CONFIG_SETTINGS.key);
    if (missing.length > 0 || !endpointId) throw new ConfigError(missing);
    this.endpointId = endpointId;
    this.apiUrl = apiUrl;
    this.#options = {
      maxRetries: options.maxRetries ?? 5,
      connectRetryMs: options.connectRetryMs ?? 10_000,
      retryMinMs: options.retryMinMs ?? 500,
      requestTimeoutMs: options.requestTimeoutMs ?? 30_000,
      pollMinMs: options.pollMinMs ?? 250,
      pollMaxMs: options.pollMaxMs ?? 3_000,
      plaintext,
      blobTtlS: options.blobTtlS ?? blobTtl(env.COMFY_SEAL_BLOB_TTL_S),
      ...(options.onRetry ? { onRetry: options.onRetry } : {}),
    };
    this.#store = options.blobStore;
    this.#fernet = key ? new Fernet(key) : null;
    const endpoint = runpodSdk(apiKey || 'local', { baseUrl: this.apiUrl }).endpoint(endpointId);
    if (!endpoint) throw new ConfigError([CONFIG_SETTINGS.endpointId]);
    this.#endpoint = endpoint;
  }

  /** The RunPod request body for a job: sealed unless the client is in plaintext (debug) mode. */
  buildRequest(request: SubmitRequest): { input: Record<string, unknown>; webhook?: string } {
    const bundle: Bundle = { workflow: request.workflow, images: request.images ?? [], options: request.options ?? {} };
    const text = serializeBundle(bundle);
    const webhook = request.webhook !== undefined ? { webhook: checkedWebhook(request.webhook) } : {};
    if (this.#options.plaintext || !this.#fernet) return { input: JSON.parse(text) as Record<string, unknown>, ...webhook };
    return { input: { encrypted_input: this.#fernet.encrypt(text) }, ...webhook };
  }

  /**
   * With a blob store (and a key): the request with presigned reply URLs, and, when it would not fit /run, its sealed
   * bundle stored as a blob and a sealed pointer sent instead (then the result always comes as a blob, so that a
   * result pointer names both keys: see newBlobKeys).
   */
  async #blobRequest(request: SubmitRequest, store: BlobStore, fernet: Fernet): Promise<{ body: { input: Record<string, unknown> }; keys: string[] }> {
    const keys = newBlobKeys(store.prefix);
    const ttl = this.#options.blobTtlS;
    const [put, get] = await Promise.all([store.presign(keys.result, 'PUT', ttl), store.presign(keys.result, 'GET', ttl)]);
    const bundle: Bundle = { workflow: request.workflow, images: request.images ?? [], options: request.options ?? {}, reply: { put, get, always: false } };
    const inline = bundleJson(bundle);
    if (Fernet.tokenLength(inline.byteLength) + RUN_BODY_OVERHEAD <= MAX_RUN_BYTES) {
      const token = inline.sealBytes(fernet);
      const text = token.toString('latin1');
      release(token);
      return { body: { input: { encrypted_input: text } }, keys: [keys.result] };
    }
    bundle.reply!.always = true;
    // Sealed while it is PUT, through a presigned URL as the worker's are: the upload starts with the first MB.
    const body = new SealingBody(bundleJson(bundle), fernet);
    try {
      const [putUrl, url] = await Promise.all([store.presign(keys.request, 'PUT', ttl), store.presign(keys.request, 'GET', ttl)]);
      await putBlob(putUrl, body);
      const pointer = fernet.encrypt(blobPointerJson({ url, sha256: body.sha256, size: body.length }));
      return { body: { input: { encrypted_input: pointer } }, keys: [keys.request, keys.result] };
    } finally {
      body.release();
    }
  }

  /** Seals and submits; resolves with the job id. Retried only where RunPod cannot have queued it. */
  async submit(request: SubmitRequest): Promise<string> {
    const blob = this.#store && this.#fernet && !this.#options.plaintext ? await this.#blobRequest(request, this.#store, this.#fernet) : undefined;
    const body = blob ? { ...blob.body, ...(request.webhook !== undefined ? { webhook: checkedWebhook(request.webhook) } : {}) } : this.buildRequest(request);
    const id = await this.#send(body, requestOverhead(request));
    if (blob) this.#blobs.set(id, new Set(blob.keys));
    return id;
  }

  /** `overhead`: what the request spends besides its files, for RequestTooLargeError's advice. */
  async #send(body: { input: Record<string, unknown> }, overhead = 0): Promise<string> {
    const bytes = Buffer.byteLength(JSON.stringify(body));
    if (bytes > MAX_RUN_BYTES) throw new RequestTooLargeError(bytes, MAX_RUN_BYTES, overhead);
    const answer = (await this.#call(() => this.#endpoint.run(body, this.#options.requestTimeoutMs), (e) => e instanceof RunpodApiError && e.status === 429)) as StatusBody;
    if (typeof answer?.id !== 'string') throw new RunpodApiError(200, 'RunPod accepted the job but returned no id', answer);
    return answer.id;
  }

  /** A completed job's output → Result; a result pointer is fetched, checked against it and opened (§9). */
  async #openCompleted(jobId: string, output: unknown): Promise<Result> {
    const opened = openOutput(output, this.#fernet);
    if (!opened.pointer) return opened.result;
    // A resumed client knows the job's blobs from the pointer alone.
    const key = this.#store?.keyOf?.(opened.pointer.url);
    if (key) {
      const keys = this.#blobs.get(jobId) ?? new Set<string>();
      keys.add(key);
      const requestKey = requestKeyOf(key);
      if (requestKey) keys.add(requestKey);
      this.#blobs.set(jobId, keys);
    }
    return openResultBlob(await fetchBlob(opened.pointer), this.#fernet!); // decrypted over itself: the files are views of it
  }

  /**
   * Deletes the job's blobs (request and result) from the store: call it once the result is safe (files written).
   * Resolves with how many keys were deleted.
   */
  async releaseBlobs(jobId: string): Promise<number> {
    const keys = this.#blobs.get(jobId);
    if (!keys || !this.#store) return 0;
    const store = this.#store;
    await Promise.all([...keys].map((k) => store.delete(k).catch((error: unknown) => Promise.reject(storeFailed('delete a blob', error)))));
    this.#blobs.delete(jobId);
    return keys.size;
  }

  async status(jobId: string): Promise<StatusBody> {
    return (await this.#call(() => this.#endpoint.status(jobId, this.#options.requestTimeoutMs), retryable)) as StatusBody;
  }

  /** Waits for the job to end; the opened result, or JobFailedError with the opened details. */
  wait(jobId: string, options: WaitOptions = {}): Promise<Result> {
    return this.#waitFor(jobId, options, (output) => this.#openCompleted(jobId, output));
  }

  /** Asks the endpoint a question (contract §10: `object_info`, `ping`), sealed both ways, and waits for the answer. */
  async query(query: BundleQuery, options: WaitOptions = {}): Promise<QueryResult> {
    const text = serializeBundle({ workflow: {}, images: [], options: {}, query });
    const input = this.#options.plaintext || !this.#fernet ? (JSON.parse(text) as Record<string, unknown>) : { encrypted_input: this.#fernet.encrypt(text) };
    const jobId = await this.#send({ input });
    return this.#waitFor(jobId, options, (output) => openQueryAnswer(output, this.#fernet));
  }

  /** The endpoint's node definitions (its ComfyUI's GET /object_info), for converting and checking workflows. */
  async nodes(options: WaitOptions = {}): Promise<ObjectInfo> {
    const answer = await this.query('object_info', options);
    if (!answer.object_info) throw new ComfySealError('BAD_ANSWER', 'the endpoint answered the object_info query without node definitions');
    return answer.object_info as ObjectInfo;
  }

  /** Whether the endpoint's ComfyUI answers (within 5 s), and its version; goes through the queue like any job. */
  async ping(options: WaitOptions = {}): Promise<{ comfy: { ok: boolean; version?: string } }> {
    const answer = await this.query('ping', options);
    if (!answer.ping) throw new ComfySealError('BAD_ANSWER', 'the endpoint answered the ping without a ping field');
    return answer.ping;
  }

  async #waitFor<T>(jobId: string, options: WaitOptions, open: (output: unknown) => T | Promise<T>): Promise<T> {
    const started = Date.now();
    const previews = new PreviewTracker();
    let delay = this.#options.pollMinMs;
    for (;;) {
      if (options.signal?.aborted) throw new AbortError(jobId);
      const s = await this.status(jobId);
      switch (s.status) {
        case 'COMPLETED':
          return await open(s.output);
        case 'FAILED': {
          const failure = openError(s.error, this.#fernet);
          throw new JobFailedError(jobId, failure.code, failure.message, failure.details);
        }
        case 'CANCELLED':
        case 'TIMED_OUT':
          throw new JobFailedError(jobId, s.status, s.status === 'CANCELLED' ? 'the job was cancelled' : "the job ran past the endpoint's execution timeout");
        default: {
          const progress = s.status === 'IN_PROGRESS' ? safeProgress(s.output, this.#fernet) : null;
          const preview = previews.next(progress);
          options.onProgress?.({
            jobId,
            status: s.status ?? 'UNKNOWN',
            progress,
            ...(typeof s.delayTime === 'number' ? { queueMs: s.delayTime } : {}),
            elapsedMs: Date.now() - started,
            ...(preview ? { preview } : {}),
          });
        }
      }
      if (options.timeoutMs !== undefined && Date.now() - started >= options.timeoutMs) throw new WaitTimeoutError(jobId, options.timeoutMs);
      await sleep(delay, options.signal);
      delay = Math.min(this.#options.pollMaxMs, Math.round(delay * 1.5));
    }
  }

  /** submit + wait; the job's blobs are deleted once its result is opened (or the job failed), unless `keepBlobs`. */
  async run(
    request: SubmitRequest,
    options: WaitOptions & { onSubmitted?: (jobId: string) => void; keepBlobs?: boolean } = {},
  ): Promise<{ jobId: string; result: Result }> {
    const jobId = await this.submit(request);
    options.onSubmitted?.(jobId);
    let result: Result;
    try {
      result = await this.wait(jobId, options);
    } catch (error) {
      // A failed job's blobs serve nothing; a wait that stopped early leaves them for resume().
      if (error instanceof JobFailedError && !options.keepBlobs) await this.releaseBlobs(jobId).catch(() => undefined);
      throw error;
    }
    if (!options.keepBlobs) await this.releaseBlobs(jobId);
    return { jobId, result };
  }

  /** Re-attaches to a job submitted earlier (e.g. before a crash) and waits for its result. */
  resume(jobId: string, options: WaitOptions = {}): Promise<Result> {
    return this.wait(jobId, options);
  }

  async cancel(jobId: string): Promise<{ id: string; status: string }> {
    return (await this.#call(() => this.#endpoint.cancel(jobId, this.#options.requestTimeoutMs), retryable)) as { id: string; status: string };
  }

  async health(): Promise<{ jobs: Record<string, number>; workers: Record<string, number> }> {
    return (await this.#call(() => this.#endpoint.health(this.#options.requestTimeoutMs), retryable)) as {
      jobs: Record<string, number>;
      workers: Record<string, number>;
    };
  }

  async #call<T>(fn: () => Promise<T>, shouldRetry: (e: ComfySealError) => boolean): Promise<T> {
    const { maxRetries, retryMinMs, connectRetryMs, onRetry } = this.#options;
    const maxTimeout = 8_000;
    const started = performance.now();
    return pRetry(
      async () => {
        try {
          return await fn();
        } catch (error) {
          const mapped = toClientError(error, this.apiUrl);
          // /run is never repeated after it may have reached RunPod; refused connections sent nothing.
          if (shouldRetry(mapped) || (mapped instanceof RunpodConnectionError && mapped.connectionCode === 'ECONNREFUSED')) throw mapped;
          throw new StopRetrying(mapped);
        }
      },
      {
        retries: maxRetries,
        minTimeout: retryMinMs,
        maxTimeout,
        randomize: true,
        shouldRetry: ({ error, retriesConsumed, retriesLeft }) => {
          const mapped = error as ComfySealError;
          if (mapped instanceof RunpodConnectionError && FAST_FAIL.has(mapped.connectionCode ?? '')) {
            // The next delay is at most twice its nominal value (randomize): stop when it would end past the budget.
            const next = 2 * Math.min(maxTimeout, retryMinMs * 2 ** retriesConsumed);
            if (performance.now() - started + next > connectRetryMs) return false;
          }
          onRetry?.({ error: mapped, attempt: retriesConsumed + 1, retriesLeft });
          return true;
        },
      },
    );
  }
}

function checkedWebhook(url: string): string {
  const problem = webhookUrlProblem(url);
  if (problem !== null) throw new ComfySealError('BAD_INPUT', problem);
  return url;
}

/** What the sealed request spends besides its files (the workflow, sealed: ×4/3), for RequestTooLargeError's advice. */
function requestOverhead(request: SubmitRequest): number {
  return (Buffer.byteLength(JSON.stringify({ workflow: request.workflow, options: request.options ?? {} })) * 4) / 3;
}

/** `{"input":{"encrypted_input":""}}` around the token. */
const RUN_BODY_OVERHEAD = 32;

function blobTtl(text: string | undefined): number {
  if (text === undefined || text === '') return DEFAULT_BLOB_TTL_S;
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) throw new ComfySealError('CONFIG', 'COMFY_SEAL_BLOB_TTL_S must be a positive number of seconds');
  return n;
}

/** A store call that failed: STORAGE_FAILED, with the store's own error kept as the cause. */
function storeFailed(what: string, error: unknown): SealError {
  const name = (error as { name?: string })?.name ?? 'error';
  const status = (error as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
  return new SealError('STORAGE_FAILED', `could not ${what} (${name}${status ? `, ${status}` : ''}): check the bucket, AWS_* credentials and AWS_ENDPOINT_URL_S3`, {}, { cause: error });
}

function safeProgress(output: unknown, fernet: Fernet | null): Progress | null {
  try {
    return openProgress(output, fernet);
  } catch (error) {
    if (error instanceof SealError) return null; // a progress we cannot read is not worth failing the wait for
    throw error;
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
