/**
 * The SDK's errors: one base class, one subclass per way a call can fail, each with a stable `code`.
 * Callers use `instanceof` (or `code`), never message text.
 */
import { inlineAdvice } from '../shared/blob.js';
import type { ErrorCode, ErrorDetails } from '../shared/errors.js';

export class ComfySealError extends Error {
  override name = 'ComfySealError';
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
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
  ) {
    super('REQUEST_TOO_LARGE', `the sealed request is ${(bytes / 1e6).toFixed(1)} MB; RunPod's /run takes at most ${(limit / 1e6).toFixed(0)} MB: ${inlineAdvice(limit)}`);
  }
}

/** `wait` gave up before the job ended; the job goes on, and `resume(jobId)` can pick it up again. */
export class WaitTimeoutError extends ComfySealError {
  override name = 'WaitTimeoutError';
  constructor(readonly jobId: string, ms: number) {
    super('WAIT_TIMEOUT', `job ${jobId} did not finish within ${Math.round(ms / 1000)} s; it is still running`);
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
