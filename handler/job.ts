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
import type { Progress, ProgressUpdate, WirePreview } from '../shared/schema.js';
import type { Clock } from './clock.js';
import { collectOutputs } from './collect.js';
import type { ComfyHttp } from './comfy/http.js';
import type { ComfySocket } from './comfy/ws.js';
import type { Logger } from './log.js';
import { deliverResult } from './blob/reply.js';
import { DEFAULT_BLOB_OPTIONS, type BlobOptions } from './blob/transfer.js';
import { openJobInput } from './open.js';
import { fitPreview, mayFit, previewSettings, PreviewThrottle, type PreviewFrame } from './previews.js';
import { runQuery } from './query.js';
import { runPrompt } from './run.js';
import { hasLinkedPrefix, jobFolder, planStage, writeStage } from './stage.js';
import { ensureDirs, nodeFileSystem, scrubFile, wipeDirs, type Dirs, type FileSystem } from './storage.js';
import { resultUi } from './ui.js';

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
  /** After an interrupt, how long ComfyUI may take to let go of the prompt; past that the worker is unhealthy. */
  releaseTimeoutMs: number;
  /** Files kept open by others (ComfyUI's log) that are zeroed and truncated after every job. */
  scrubFiles: string[];
  /** POST /free after every job that reached ComfyUI, so its node cache keeps nothing of it (off: COMFY_SEAL_KEEP_CACHE). */
  clearCache: boolean;
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
  releaseTimeoutMs: 300_000,
  scrubFiles: [],
  clearCache: true,
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
  /** Nothing is posted for a cancelled job; `unhealthy` still asks for this worker to be replaced. */
  | { kind: 'cancelled'; unhealthy?: boolean };

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
  /** The decoded inputs: views of one buffer (the plaintext, or the fetched blob), given back once staged or failed. */
  let inputs: ReadonlyArray<{ data: Uint8Array }> = [];
  /** Live previews (§13), when asked for: stopped whatever ends the run. */
  let throttle: PreviewThrottle<PreviewFrame & { nodeId: string }> | null = null;
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
    inputs = opened.bundle.images;
    // A sealed job with a reply may send its result to the user's storage (which sees only tokens): the blob's limit.
    const reply = opened.fernet ? opened.bundle.reply : undefined;
    const maxResultBytes = reply ? config.blob.maxBytes : config.maxResultBytes;
    replyKey = opened.fernet;
    // A question, not a workflow: nothing is staged or run, so there is nothing to wipe.
    if (opened.bundle.query) return await runQuery(job.id, opened.bundle.query, deps, replyKey, ctx.signal);
    const key = replyKey;
    const options = opened.bundle.options;
    // The latest preview rides on every running update after it: RunPod's /status (and the local endpoint's) shows only
    // the newest update, so a preview sent once would be overwritten by the next step before a client polls.
    let preview: WirePreview | undefined;
    let last: ProgressUpdate = { state: 'running' };
    const emit = (p: ProgressUpdate) => {
      if (!ctx.onProgress) return;
      last = p;
      const withPreview = preview && p.state === 'running' ? { ...p, preview } : p;
      const progress: Progress = { ...withPreview, elapsed_ms: Math.round(clock.now() - started), job_id: job.id };
      ctx.onProgress(key ? sealProgress(progress, key) : progress);
    };
    const previews = ctx.onProgress ? previewSettings(options.previews) : null;
    throttle = previews
      ? new PreviewThrottle<PreviewFrame & { nodeId: string }>(previews.everyMs, (frame) => {
          const fitted = fitPreview(frame, previews.maxPx);
          if (!fitted) return;
          preview = { mime: fitted.mime, data: fitted.image.toString('base64'), node_id: frame.nodeId };
          emit(last);
        })
      : null;
    const limitS = Math.min(config.jobTimeoutS, options.timeout_s ?? Infinity);
    const deadline = started + limitS * 1000;
    t = mark('open', t);

    const jobTag = randomBytes(6).toString('hex');
    const stringConcatenate = hasLinkedPrefix(opened.bundle.workflow) && (await deps.http.hasNode('StringConcatenate'));
    const plan = planStage(opened.bundle, { jobTag, stringConcatenate });
    await ensureDirs(config.dirs, fs);
    await wipeDirs(config.dirs, fs); // leftovers of a crashed run, before anything of this job is written
    await writeStage(plan, config.dirs.input, fs);
    // Staged: the decoded inputs are not needed again, give their memory back now rather than at some later GC.
    for (const image of inputs) release(image.data);
    t = mark('stage', t);
    emit({ state: 'submitted' });

    submitted = true;
    const run = await runPrompt(plan.workflow, deps, {
      promptId,
      deadline,
      ...(ctx.signal ? { signal: ctx.signal } : {}),
      onProgress: emit,
      ...(throttle && previews ? { onPreview: (frame: PreviewFrame & { nodeId: string }) => void (mayFit(frame, previews.maxPx) && throttle?.offer(frame)) } : {}),
    });
    throttle?.close();
    preview = undefined;
    finished = true;
    t = mark('run', t);
    if (run.completionMs !== null) timings.completion = run.completionMs;
    emit({ state: 'collecting', percent: 100 });

    const files = await collectOutputs(run.outputs, {
      outputDir: config.dirs.output,
      ...(options.temp_outputs ? { tempDir: config.dirs.temp } : {}),
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

    const ui = options.ui ? resultUi(run.outputs, files, jobFolder(jobTag)) : undefined;
    const result = { files, timingsMs: timings, jobId: job.id, olderImages: opened.olderShape, ...(ui ? { ui } : {}) };
    let output: unknown;
    try {
      // With a reply, a result too large to go inline is sealed while it is PUT; the files stay until then.
      if (key && reply) output = await deliverResult(result, key, reply, config.maxResultBytes, config.blob);
      else if (key) output = sealResultBytes(result, key, maxResultBytes);
      else {
        const bytes = new ResultJson(result).byteLength;
        if (bytes > config.maxResultBytes) throw resultTooLarge(bytes, config.maxResultBytes);
        output = buildResultPayload(files, timings, { jobId: job.id, olderImages: opened.olderShape, ui });
      }
    } finally {
      for (const f of files) release(f.data);
    }
    outcome = { kind: 'success', output, timingsMs: timings };
  } catch (caught) {
    const error = SealError.from(caught);
    if (error.code === 'DECRYPT_FAILED') replyKey = null;
    if (ctx.signal?.aborted) outcome = { kind: 'cancelled' };
    else outcome = { kind: 'failure', error: sealError(error, replyKey, job.id), code: error.code, unhealthy: error.code === 'COMFY_UNAVAILABLE' };
  }
  for (const image of inputs) release(image.data); // a job that failed before staging holds them still
  throttle?.close();

  // Wipe whatever happened. A prompt that did not end normally may still be running its last node (savers never look at
  // the interrupt flag): nothing is wiped or deleted until ComfyUI has let go of it, or its history entry could appear
  // after the delete and keep the whole prompt (contract §6).
  const held = submitted && !finished && !(await waitForRelease(deps, promptId));
  if (held) log.log('error', 'comfy.not_released', { job_id: job.id, ms: config.releaseTimeoutMs });
  if (submitted) await deps.http.deleteHistory([promptId]).catch(() => undefined);
  // ComfyUI's node cache holds the job's tensors (conditioning, images) until reset (contract §12). A /free that fails
  // leaves them there: like a failed wipe, this worker must not take another job.
  const cacheKept = submitted && config.clearCache && !(await clearCache(deps, job.id));
  const wipe = await wipeDirs(config.dirs, fs);
  for (const file of config.scrubFiles) await scrubFile(file, fs, wipe);
  if (wipe.failures.length > 0) log.log('error', 'wipe.incomplete', { job_id: job.id, count: wipe.failures.length, reason: wipe.failures[0] });
  else log.log('debug', 'wipe.done', { job_id: job.id, files: wipe.files, bytes: wipe.bytes });
  if (held || cacheKept || wipe.failures.length > 0) {
    // Files may remain, or ComfyUI may still write some: this worker must not take another job.
    if (outcome.kind === 'failure') outcome.unhealthy = true;
    else {
      if (outcome.kind === 'success' && outcome.output instanceof SealedOutput) outcome.output.release();
      const reason = held ? 'ComfyUI did not let go of the prompt in time' : cacheKept ? 'ComfyUI did not clear its cache' : 'the worker could not wipe its files';
      const code = held || cacheKept ? 'COMFY_UNAVAILABLE' : 'INTERNAL';
      // A cancelled job posts nothing, but the worker still has to go.
      outcome = outcome.kind === 'cancelled' ? { kind: 'cancelled', unhealthy: true } : { kind: 'failure', error: sealError(new SealError(code, reason), replyKey, job.id), code, unhealthy: true };
    }
  }

  const ms = clock.now() - started;
  if (outcome.kind === 'success') log.log('info', 'job.done', { job_id: job.id, ms });
  else if (outcome.kind === 'failure') log.log('warn', 'job.failed', { job_id: job.id, code: outcome.code, ms });
  else log.log('info', 'job.cancelled', { job_id: job.id, ms });
  return outcome;
}

/** POST /free; false (logged with the error code) when ComfyUI did not take it. */
async function clearCache(deps: JobDeps, jobId: string): Promise<boolean> {
  try {
    await deps.http.free();
    return true;
  } catch (error) {
    deps.log.log('error', 'comfy.cache_kept', { job_id: jobId, code: SealError.from(error).code });
    return false;
  }
}

/**
 * Waits until ComfyUI has let go of the prompt: its history entry exists, or its queue no longer holds it (contract §6).
 * True when it has (or ComfyUI is gone: then nothing more will be written); false when the release timeout ran out.
 */
async function waitForRelease(deps: JobDeps, promptId: string): Promise<boolean> {
  const until = deps.clock.now() + deps.config.releaseTimeoutMs;
  for (let wait = 10; ; wait = Math.min(500, wait * 2)) {
    try {
      const queue = await deps.http.queue();
      if (!queue.running.includes(promptId) && !queue.pending.includes(promptId)) return true;
      if ((await deps.http.history(promptId)) !== null) return true;
    } catch (error) {
      if (SealError.from(error).code === 'COMFY_UNAVAILABLE') return true;
    }
    if (deps.clock.now() >= until) return false;
    await deps.clock.sleep(Math.min(wait, Math.max(0, until - deps.clock.now())));
  }
}
