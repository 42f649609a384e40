/**
 * Query bundles (contract §10), answered without staging, running or wiping anything:
 * - `object_info`: ComfyUI's GET /object_info (node definitions and installed model names: private, so sealed only);
 * - `ping`: whether ComfyUI answers GET /system_stats within 5 s, and its version. Never touches the dirs or the queue.
 */
import { SealError } from '../shared/errors.js';
import type { Fernet } from '../shared/fernet.js';
import { sealQueryAnswer } from '../shared/query.js';
import { sealError } from '../shared/envelope.js';
import type { BundleQuery, QueryResult } from '../shared/schema.js';
import type { JobDeps, JobOutcome } from './job.js';

/** How long a ping waits for ComfyUI. */
export const PING_TIMEOUT_MS = 5_000;

/** The answer names the job that asked (§11), as a result does. */
async function answer(jobId: string, query: BundleQuery, deps: JobDeps, key: Fernet | null, signal?: AbortSignal): Promise<QueryResult> {
  if (query === 'object_info' && !key) {
    throw new SealError('PLAINTEXT_REFUSED', 'node definitions name the installed models, so they are answered only to a sealed query');
  }
  if (query === 'object_info') return { status: 'success', job_id: jobId, outputs: [], object_info: await deps.http.objectInfo(signal) };
  const timer = new AbortController();
  const version = await Promise.race([
    deps.http.probe(),
    deps.clock.sleep(PING_TIMEOUT_MS, timer.signal).then(
      () => null,
      () => null,
    ),
  ]);
  timer.abort();
  return { status: 'success', job_id: jobId, outputs: [], ping: { comfy: version === null ? { ok: false } : { ok: true, version } } };
}

/** One query job, start to end; failures become a sealed failure like any job's. */
export async function runQuery(jobId: string, query: BundleQuery, deps: JobDeps, key: Fernet | null, signal?: AbortSignal): Promise<JobOutcome> {
  const started = deps.clock.now();
  try {
    const output = sealQueryAnswer(await answer(jobId, query, deps, key, signal), key, deps.config.maxResultBytes);
    const ms = deps.clock.now() - started;
    deps.log.log('info', 'job.done', { job_id: jobId, ms });
    return { kind: 'success', output, timingsMs: { total: Math.round(ms * 10) / 10 } };
  } catch (caught) {
    const error = SealError.from(caught);
    if (signal?.aborted) return { kind: 'cancelled' };
    deps.log.log('warn', 'job.failed', { job_id: jobId, code: error.code, ms: deps.clock.now() - started });
    return { kind: 'failure', error: sealError(error, key, jobId), code: error.code, unhealthy: false };
  }
}
