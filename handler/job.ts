/**
 * One job, start to end: open → validate → stage → run → collect → seal, and wipe whatever happened.
 * Collaborators come in `JobDeps`, so tests drive the real pipeline against the simulator and temp dirs.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { buildResultPayload, resultTooLarge, ResultJson, SealedOutput, sealError, sealProgress, sealResultBytes } from '../shared/envelope.js';
import { SealError, type ErrorCode } from '../shared/errors.js';
import type { Fernet } from '../shared/fernet.js';
import type { Limits } from '../shared/limits.js';
import { release } from '../shared/releasable.js';
import type { Progress, ProgressUpdate } from '../shared/schema.js';
import type { Clock } from './clock.js';
import { collectOutputs } from './collect.js';
import type { ComfyHttp } from './comfy/http.js';
import type { ComfySocket } from './comfy/ws.js';
import type { Logger } from './log.js';
import { deliverResult } from './blob/reply.js';
import { DEFAULT_BLOB_OPTIONS, type BlobOptions } from './blob/transfer.js';
import { openJobInput } from './open.js';
import { runPrompt } from './run.js';
import { jobFolder, planStage, writeStage } from './stage.js';
import { ensureDirs, nodeFileSystem, scrubFile, wipeDirs, type Dirs, type FileSystem } from './storage.js';

export interface JobConfig {
  dirs: Dirs;
  allowPlaintext: boolean;
  /** Oldest accepted token; 0 = no limit. */
  tokenTtlS: number;
  jobTimeoutS: number;
  /** Largest result (the sealed token, or the plaintext JSON), bytes. */
  maxResultBytes: number;
  /** Output settle: how long a file may take to finish, and the quiet period for formats without an end mark. */
  settleTimeoutMs: number;
  settleQuietMs: number;
  /** After an interrupt, how long to wait for ComfyUI to let go of the prompt before wiping. */
  releaseTimeoutMs: number;
  /** Files kept open by others (ComfyUI's log) that are zeroed and truncated after every job. */
  scrubFiles: string[];
  limits?: Partial<Limits>;
  /** Request and result blobs (§9): size limit, private addresses, time limits, retries. */
  blob: BlobOptions;
}

export const DEFAULT_JOB_CONFIG: Omit<JobConfig, 'dirs'> = {
  allowPlaintext: false,
  tokenTtlS: 86_400,
  jobTimeoutS: 600,
  maxResultBytes: 18_000_000,
  settleTimeoutMs: 30_000,
  settleQuietMs: 250,
  releaseTimeoutMs: 10_000,
  scrubFiles: [],
  blob: DEFAULT_BLOB_OPTIONS,
};

export interface JobDeps {
  http: ComfyHttp;
  socket: ComfySocket;
  clock: Clock;
  log: Logger;
  fs?: FileSystem;
  /** ENCRYPTION_KEY's keys; null when the worker has none (plaintext only). */
  fernet: Fernet | null;
  config: JobConfig;
}

export interface JobContext {
  /** Aborted when RunPod cancels the job: interrupt, wipe, and post nothing. */
  signal?: AbortSignal;
  /** A RunPod-ready progress output (sealed for sealed jobs). */
  onProgress?: (output: unknown) => void;
}

export type JobOutcome =
  | { kind: 'success'; output: unknown; timingsMs: Record<string, number> }
  /** `error` is RunPod's error string; `unhealthy` asks for this worker to be replaced (ComfyUI gone, files left). */
  | { kind: 'failure'; error: string; code: ErrorCode; unhealthy: boolean }
  | { kind: 'cancelled' };

export async function runJob(job: { id: string; input: unknown }, deps: JobDeps, ctx: JobContext = {}): Promise<JobOutcome> {
  const { clock, log, config } = deps;
  const fs = deps.fs ?? nodeFileSystem;
  const started = clock.now();
  const timings: Record<string, number> = {};
  const mark = (name: string, since: number) => {
    timings[name] = Math.round((clock.now() - since) * 10) / 10;
    return clock.now();
  };
  const promptId = randomUUID();
  let replyKey: Fernet | null = null;
  let submitted = false;
  let finished = false;
  let outcome: JobOutcome;
  log.log('info', 'job.start', { job_id: job.id });

  // A sealed job gets a sealed answer once its token has opened; only a token that cannot be opened gets plaintext.
  const sealedInput = typeof (job.input as { encrypted_input?: unknown } | null)?.encrypted_input === 'string';
  try {
    let t = clock.now();
    if (sealedInput) replyKey = deps.fernet;
    const opened = await openJobInput(job.input, {
      fernet: deps.fernet,
      allowPlaintext: config.allowPlaintext,
      ttlSeconds: config.tokenTtlS,
      blob: config.blob,
      ...(config.limits ? { limits: config.limits } : {}),
    });
    // A sealed job with a reply may send its result to the user's storage (which sees only tokens): the blob's limit.
    const reply = opened.fernet ? opened.bundle.reply : undefined;
    const maxResultBytes = reply ? config.blob.maxBytes : config.maxResultBytes;
    replyKey = opened.fernet;
    const key = replyKey;
    const emit = (p: ProgressUpdate) => {
      if (!ctx.onProgress) return;
      const progress: Progress = { ...p, elapsed_ms: Math.round(clock.now() - started) };
      ctx.onProgress(key ? sealProgress(progress, key) : progress);
    };
    const limitS = Math.min(config.jobTimeoutS, opened.bundle.options.timeout_s ?? Infinity);
    const deadline = started + limitS * 1000;
    t = mark('open', t);

    const jobTag = randomBytes(6).toString('hex');
    const plan = planStage(opened.bundle, { jobTag });
    await ensureDirs(config.dirs, fs);
    await wipeDirs(config.dirs, fs); // leftovers of a crashed run, before anything of this job is written
    await writeStage(plan, config.dirs.input, fs);
    // Staged: the decoded inputs are not needed again, give their memory back now rather than at some later GC.
    for (const image of opened.bundle.images) release(image.data);
    t = mark('stage', t);
    emit({ state: 'submitted' });

    submitted = true;
    const run = await runPrompt(plan.workflow, deps, {
      promptId,
      deadline,
      ...(ctx.signal ? { signal: ctx.signal } : {}),
      onProgress: emit,
    });
    finished = true;
    t = mark('run', t);
    if (run.completionMs !== null) timings.completion = run.completionMs;
    emit({ state: 'collecting', percent: 100 });

    const files = await collectOutputs(run.outputs, {
      outputDir: config.dirs.output,
      jobFolder: jobFolder(jobTag),
      maxResultBytes,
      olderImages: opened.olderShape,
      toBlob: reply !== undefined,
      settleTimeoutMs: Math.max(0, Math.min(config.settleTimeoutMs, deadline - clock.now())),
      quietMs: config.settleQuietMs,
      clock,
      fs,
    });
    mark('collect', t);
    timings.total = Math.round((clock.now() - started) * 10) / 10;

    const result = { files, timingsMs: timings, olderImages: opened.olderShape };
    let output: unknown;
    try {
      if (key) output = sealResultBytes(result, key, maxResultBytes);
      else {
        const bytes = new ResultJson(result).byteLength;
        if (bytes > config.maxResultBytes) throw resultTooLarge(bytes, config.maxResultBytes);
        output = buildResultPayload(files, timings, opened.olderShape);
      }
    } finally {
      for (const f of files) release(f.data);
    }
    if (reply && output instanceof SealedOutput) output = await deliverResult(output, key!, reply, config.maxResultBytes, config.blob);
    outcome = { kind: 'success', output, timingsMs: timings };
  } catch (caught) {
    const error = SealError.from(caught);
    if (error.code === 'DECRYPT_FAILED') replyKey = null;
    if (ctx.signal?.aborted) outcome = { kind: 'cancelled' };
    else outcome = { kind: 'failure', error: sealError(error, replyKey), code: error.code, unhealthy: error.code === 'COMFY_UNAVAILABLE' };
  }

  // Wipe whatever happened. If the prompt did not end normally, ComfyUI may still be writing: wait for it to let go.
  if (submitted && !finished) await waitForRelease(deps, promptId);
  if (submitted) await deps.http.deleteHistory([promptId]).catch(() => undefined);
  const wipe = await wipeDirs(config.dirs, fs);
  for (const file of config.scrubFiles) await scrubFile(file, fs, wipe);
  if (wipe.failures.length > 0) {
    log.log('error', 'wipe.incomplete', { job_id: job.id, count: wipe.failures.length, reason: wipe.failures[0] });
    // Files may remain: this worker must not take another job.
    if (outcome.kind === 'failure') outcome.unhealthy = true;
    else if (outcome.kind === 'success') {
      if (outcome.output instanceof SealedOutput) outcome.output.release();
      outcome = { kind: 'failure', error: sealError(new SealError('INTERNAL', 'the worker could not wipe its files'), replyKey), code: 'INTERNAL', unhealthy: true };
    }
  } else {
    log.log('debug', 'wipe.done', { job_id: job.id, files: wipe.files, bytes: wipe.bytes });
  }

  const ms = clock.now() - started;
  if (outcome.kind === 'success') log.log('info', 'job.done', { job_id: job.id, ms });
  else if (outcome.kind === 'failure') log.log('warn', 'job.failed', { job_id: job.id, code: outcome.code, ms });
  else log.log('info', 'job.cancelled', { job_id: job.id, ms });
  return outcome;
}

/** Bounded wait until ComfyUI neither runs nor queues the prompt (after an interrupt, a node may still finish). */
async function waitForRelease(deps: JobDeps, promptId: string): Promise<void> {
  const until = deps.clock.now() + deps.config.releaseTimeoutMs;
  for (let wait = 10; deps.clock.now() < until; wait = Math.min(200, wait * 2)) {
    try {
      const queue = await deps.http.queue();
      if (!queue.running.includes(promptId) && !queue.pending.includes(promptId)) return;
    } catch {
      return; // ComfyUI gone: nothing more will be written
    }
    await deps.clock.sleep(wait);
  }
}
