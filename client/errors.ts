/**
 * The SDK's errors: one base class, one subclass per way a call can fail, each with a stable `code` from
 * CLIENT_ERROR_CODES. Callers use `instanceof` (or `code`), never message text.
 */
import type { ErrorCode, ErrorDetails } from '../shared/errors.js';

/**
 * Every `ComfySealError.code`:
 * - CONFIG: a setting is missing (endpoint id, API key, key); `ConfigError.missing` lists them all.
 * - NETWORK: the API could not be reached (refused, DNS, reset, timed out).
 * - ABORTED: the caller's AbortSignal stopped the wait; the job goes on.
 * - RUNPOD_AUTH / RUNPOD_NOT_FOUND / RUNPOD_RATE_LIMITED / RUNPOD_ERROR: the API answered 401-403 / 404 / 429 / else.
 * - REQUEST_TOO_LARGE: the sealed request is over RunPod's 10 MB /run limit (checked before sending).
 * - WAIT_TIMEOUT: `wait`'s `timeoutMs` passed; the job goes on.
 * - JOB_FAILED: the job ended without a result; `JobFailedError.jobCode` holds the worker's code.
 * - UNSAFE_NAME / OUTPUT_EXISTS / OUTPUT_FAILED: writing result files (a name that is not a plain file name; 9,999
 *   files of one name; the file system refused).
 * - BAD_INPUT: an argument is unusable (a webhook URL that is not http(s)).
 * - BAD_ANSWER: an answer the client refuses, writing nothing (§11): a result, failure, query answer or blob pointer
 *   that does not name the job asked about (`WrongJobError`), a result blob pointer to a URL this client did not issue
 *   for the job or over its `maxBlobBytes`, a query answered without its data (an older worker).
 * - WEBHOOK_REJECTED: `openWebhook` refused a body (`WebhookRejectedError.reason`).
 */
export const CLIENT_ERROR_CODES = [
  'CONFIG',
  'NETWORK',
  'ABORTED',
  'RUNPOD_AUTH',
  'RUNPOD_NOT_FOUND',
  'RUNPOD_RATE_LIMITED',
  'RUNPOD_ERROR',
  'REQUEST_TOO_LARGE',
  'WAIT_TIMEOUT',
  'JOB_FAILED',
  'UNSAFE_NAME',
  'OUTPUT_EXISTS',
  'OUTPUT_FAILED',
  'BAD_INPUT',
  'BAD_ANSWER',
  'WEBHOOK_REJECTED',
] as const;

export type ClientErrorCode = (typeof CLIENT_ERROR_CODES)[number];

export class ComfySealError extends Error {
  override name = 'ComfySealError';
  constructor(
    readonly code: ClientErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A client setting, with where it comes from: an option of `ComfySealClient`, a variable, a CLI flag. */
export interface ConfigSetting {
  option: 'endpointId' | 'apiKey' | 'key';
  env: string;
  flag: string;
  hint?: string;
}

export const CONFIG_SETTINGS: Record<ConfigSetting['option'], ConfigSetting> = {
  endpointId: { option: 'endpointId', env: 'RUNPOD_ENDPOINT_ID', flag: '--endpoint ID' },
  apiKey: { option: 'apiKey', env: 'RUNPOD_API_KEY', flag: '--api-key KEY', hint: 'RunPod console: Settings > API Keys' },
  key: { option: 'key', env: 'ENCRYPTION_KEY', flag: '--key KEY', hint: "make one with 'comfy-seal keygen'" },
};

const describeSettings = (settings: readonly ConfigSetting[], how: (s: ConfigSetting) => string) =>
  settings.map((s) => `${how(s)}${s.hint ? ` (${s.hint})` : ''}`).join('; ');

/** Settings are missing: every one of them is listed, not just the first. */
export class ConfigError extends ComfySealError {
  override name = 'ConfigError';
  constructor(readonly missing: readonly ConfigSetting[]) {
    super('CONFIG', `missing ${missing.length === 1 ? 'setting' : 'settings'}: ${describeSettings(missing, (s) => `${s.option} or ${s.env}`)}`);
  }

  /** The same in command-line terms: flags and variables. */
  get cliMessage(): string {
    return `missing ${this.missing.length === 1 ? 'setting' : 'settings'}: ${describeSettings(this.missing, (s) => `${s.flag} or ${s.env}`)}`;
  }
}

/** RunPod's API answered with an error status. */
export class RunpodApiError extends ComfySealError {
  override name = 'RunpodApiError';
  constructor(
    readonly status: number,
    message: string,
    readonly body?: unknown,
  ) {
    super(status === 401 || status === 403 ? 'RUNPOD_AUTH' : status === 404 ? 'RUNPOD_NOT_FOUND' : status === 429 ? 'RUNPOD_RATE_LIMITED' : 'RUNPOD_ERROR', message);
  }
}

/** The API could not be reached (DNS, refused, reset, timed out). */
export class RunpodConnectionError extends ComfySealError {
  override name = 'RunpodConnectionError';
  constructor(
    message: string,
    /** The system error code when there is one (ECONNREFUSED: nothing was sent). */
    readonly connectionCode?: string,
    options?: { cause?: unknown },
  ) {
    super('NETWORK', message, options);
  }
}

/** The request is too large for the route (RunPod: 10 MB on /run). */
export class RequestTooLargeError extends ComfySealError {
  override name = 'RequestTooLargeError';
  constructor(
    readonly bytes: number,
    readonly limit: number,
    /** What the request holds besides its files (the workflow, JSON), so the room left for files can be told. */
    overheadBytes = 0,
  ) {
    // A file travels as base64 (×4/3) inside the token's base64 (×4/3 again).
    const roomForFiles = Math.max(0, ((limit - overheadBytes) * 9) / 16);
    super(
      'REQUEST_TOO_LARGE',
      `the sealed request is ${mb(bytes)} MB; RunPod's /run takes at most ${Math.round(limit / 1e6)} MB, which holds about ${mb(roomForFiles)} MB of files ` +
        '(sealing adds about 78 %): send smaller files, or send the request through your own storage with --blob-url',
    );
  }
}

const mb = (bytes: number) => (bytes / 1e6).toFixed(1).replace(/\.0$/, '');

/** `wait` gave up before the job ended; the job goes on, and `resume(jobId)` can pick it up again. */
export class WaitTimeoutError extends ComfySealError {
  override name = 'WaitTimeoutError';
  constructor(readonly jobId: string, ms: number) {
    super('WAIT_TIMEOUT', `job ${jobId} did not finish within ${Math.round(ms / 1000)} s; it is still running`);
  }
}

/**
 * The caller's AbortSignal stopped `wait` (named like the platform's AbortError). Either the job goes on, or
 * (`resultReady`) it is done and its result, stopped while it was being fetched, can be fetched again with `resume`.
 */
export class AbortError extends ComfySealError {
  override name = 'AbortError';
  constructor(
    readonly jobId: string,
    readonly resultReady = false,
  ) {
    super('ABORTED', resultReady ? `stopped fetching the result of job ${jobId}; the job is done, and its result can be fetched again` : `stopped waiting for job ${jobId}; it is still running`);
  }
}

/**
 * A sealed answer that does not name the job it was asked about (§11): the key proves who sealed it, not which job it
 * belongs to, so a result, failure or query answer of another job (or of none) is refused and nothing is written.
 */
export class WrongJobError extends ComfySealError {
  override name = 'WrongJobError';
  constructor(
    readonly jobId: string,
    /** The job the answer names; undefined when it names none. */
    readonly namedJobId: string | undefined,
    what: string,
  ) {
    super(
      'BAD_ANSWER',
      namedJobId === undefined
        ? `the ${what} for job ${jobId} names no job, so nothing proves it is this job's; nothing was written (an endpoint image older than this client: update it)`
        : `the ${what} for job ${jobId} belongs to another job; nothing was written (someone with your RunPod API key, or on RunPod's side, answered for it: rotate the API key)`,
    );
  }
}

/** A result file could not be written; the result is still on the endpoint, so it can be fetched again. */
export class OutputWriteError extends ComfySealError {
  override name = 'OutputWriteError';
  constructor(
    readonly path: string,
    /** The system error code (EACCES, ENOSPC, ENOTDIR...). */
    readonly systemCode: string,
    options?: { cause?: unknown },
  ) {
    super('OUTPUT_FAILED', `could not write ${path} (${systemCode})`, options);
  }
}

/** The job ended without a result: the worker's code (plaintext) and the details it sealed, opened with your key. */
export class JobFailedError extends ComfySealError {
  override name = 'JobFailedError';
  constructor(
    readonly jobId: string,
    readonly jobCode: ErrorCode | 'CANCELLED' | 'TIMED_OUT',
    message: string,
    readonly details: ErrorDetails = {},
  ) {
    super('JOB_FAILED', `job ${jobId} failed: ${jobCode}: ${message}`);
  }
}

/** A webhook body that cannot be trusted: not RunPod's shape, not sealed with your key, or sealed for another job. */
export class WebhookRejectedError extends ComfySealError {
  override name = 'WebhookRejectedError';
  constructor(
    /** MALFORMED (not a job status body), UNSEALED (nothing in it proves who wrote it), FORGED (the token does not
     * open with your key), MISMATCH (the token belongs to another job: a replayed or swapped body). */
    readonly reason: 'MALFORMED' | 'UNSEALED' | 'FORGED' | 'MISMATCH',
    message: string,
  ) {
    super('WEBHOOK_REJECTED', message);
  }
}
