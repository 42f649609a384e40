/**
 * Opening a RunPod webhook body (contract §10): RunPod POSTs the job's final /status JSON to the job's `webhook` URL.
 * Anyone who learns that URL can POST to it, so a body is accepted only when its sealed part opens with the key (the
 * Fernet MAC proves we wrote it) and names the same job as the body's `id` (a replayed or swapped body is refused).
 */
import type { BlobPointer } from '../shared/blob.js';
import { openFailure, openOutput, type Result } from '../shared/envelope.js';
import { SealError } from '../shared/errors.js';
import { Fernet } from '../shared/fernet.js';
import { ComfySealError, JobFailedError, WebhookRejectedError } from './errors.js';

export type WebhookEvent =
  | { jobId: string; status: 'COMPLETED'; result: Result }
  /** The job failed; `error` holds the code and the details the worker sealed, opened. */
  | { jobId: string; status: 'FAILED'; error: JobFailedError };

/** A checked body whose result is in a blob (§9): ComfySealClient.openWebhook fetches it from the client's own store. */
export interface WebhookBlobEvent {
  jobId: string;
  status: 'COMPLETED';
  pointer: BlobPointer;
  /** The body's output, as the client opens any job's output. */
  output: unknown;
}

function parseBody(body: unknown): Record<string, unknown> {
  let value = body;
  if (typeof body === 'string' || Buffer.isBuffer(body)) {
    try {
      value = JSON.parse(body.toString());
    } catch {
      throw new WebhookRejectedError('MALFORMED', 'the webhook body is not JSON');
    }
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new WebhookRejectedError('MALFORMED', 'the webhook body is not a job status object');
  return value as Record<string, unknown>;
}

/**
 * Runs an opener: a token that does not open is FORGED; one that opens but is not what the body's status says (an
 * error's token under COMPLETED, a result's under FAILED) is a swapped body, MISMATCH.
 */
function opened<T>(what: string, open: () => T): T {
  try {
    return open();
  } catch (error) {
    if (!(error instanceof SealError)) throw error;
    if (error.code === 'DECRYPT_FAILED') throw new WebhookRejectedError('FORGED', 'the webhook body is not sealed with this key');
    throw new WebhookRejectedError('MISMATCH', `the webhook body's sealed part is not a ${what}: a swapped body`);
  }
}

function checkJobId(sealedId: string | undefined, bodyId: string): void {
  if (sealedId !== bodyId) throw new WebhookRejectedError('MISMATCH', `the sealed ${sealedId === undefined ? 'part names no job, so nothing proves it belongs to' : 'result belongs to another job than'} ${bodyId}: a replayed or swapped body`);
}

/**
 * A webhook body → what it proves: the opened result or failure of the job it names, or the pointer to a result in a
 * blob. WebhookRejectedError for anything that cannot be proven to come from the worker for that job.
 */
export function checkWebhook(body: unknown, fernet: Fernet): WebhookEvent | WebhookBlobEvent {
  const status = parseBody(body);
  const jobId = status.id;
  if (typeof jobId !== 'string' || jobId === '') throw new WebhookRejectedError('MALFORMED', 'the webhook body has no job id');
  const output = status.output as { encrypted_output?: unknown } | undefined;
  if (status.status === 'COMPLETED' && typeof output?.encrypted_output === 'string') {
    const result = opened('result', () => openOutput(output, fernet));
    if (result.pointer) {
      checkJobId(result.jobId, jobId);
      return { jobId, status: 'COMPLETED', pointer: result.pointer, output };
    }
    checkJobId(result.result.jobId, jobId);
    return { jobId, status: 'COMPLETED', result: result.result };
  }
  if (status.status === 'FAILED' && status.error !== undefined) {
    const failure = opened('failure', () => openFailure(status.error, fernet));
    if (failure.sealed) {
      checkJobId(failure.jobId, jobId);
      const { code, message, details } = failure.error;
      return { jobId, status: 'FAILED', error: new JobFailedError(jobId, code, message, details) };
    }
  }
  throw new WebhookRejectedError('UNSEALED', 'the webhook body carries no sealed result or error, so nothing proves who sent it; ask the endpoint for the job status instead');
}

/**
 * A webhook body (the raw text, a Buffer, or parsed JSON) → the opened result or failure of the job it names.
 * Throws WebhookRejectedError for anything that cannot be proven to come from the worker for that job. A result in a
 * blob needs the client's store: ComfySealClient.openWebhook opens those too (here: BAD_INPUT saying so).
 */
export function openWebhook(body: unknown, key: string | Fernet): WebhookEvent {
  const event = checkWebhook(body, typeof key === 'string' ? new Fernet(key) : key);
  if ('pointer' in event) {
    throw new ComfySealError('BAD_INPUT', `the result of job ${event.jobId} is in your blob store: open the body with ComfySealClient.openWebhook(body), which fetches it`);
  }
  return event;
}
