/**
 * The RunPod worker loop: take a job, run it, deliver its result exactly once, repeat.
 *
 * - One job at a time. A heartbeat beats on its own timer, carrying the ids of the jobs taken and not yet posted (the
 *   running one and any batch jobs waiting), whatever the job is doing; none without a ping URL.
 * - Progress posts go out one at a time; a newer update replaces one still waiting; none is sent after the result
 *   (a late progress post can overwrite the result on RunPod: runpod-python#250).
 * - The result post is retried on 5xx and connection errors until delivered; a 4xx is not retried (it would fail the
 *   same way), and a result refused as too large is replaced by an OUTPUT_TOO_LARGE failure.
 * - job-stop aborts the running job (it is interrupted and wiped) or drops a batch job still waiting; nothing is posted
 *   for either.
 * - Unhealthy (contract §6): the result goes out with stopPod, no further job runs, and the loop ends 'unhealthy'.
 * - Shutdown (SIGTERM): stop taking, finish the running job, post it, return.
 */
import pRetry, { AbortError } from 'p-retry';
import { SealedOutput, sealError } from '../../shared/envelope.js';
import { SealError } from '../../shared/errors.js';
import type { Clock } from '../clock.js';
import { isUnhealthy } from '../health.js';
import type { JobContext, JobOutcome } from '../job.js';
import type { Logger } from '../log.js';
import { PostRejected, type Platform, type TakenJob } from './platform.js';

export interface JobRunner {
  run(job: TakenJob, ctx: JobContext): Promise<JobOutcome>;
  healthy(): Promise<boolean>;
}

export interface WorkerLoopOptions {
  platform: Platform;
  runner: JobRunner;
  log: Logger;
  clock: Clock;
  pingIntervalMs: number;
  /** Delay after a 429 on take. */
  backoffMs?: number;
  /** Result post: tries after the first, and the cap of the delay between them. */
  postRetries?: number;
  postMaxDelayMs?: number;
}

/** Sends progress one post at a time; keeps only the newest waiting update; stops for good at `close()`. */
export class ProgressSender {
  #pending: unknown = undefined;
  #hasPending = false;
  #inFlight: Promise<void> | null = null;
  #closed = false;

  constructor(
    private readonly post: (output: unknown) => Promise<void>,
    private readonly onError: () => void,
  ) {}

  push(output: unknown): void {
    if (this.#closed) return;
    this.#pending = output;
    this.#hasPending = true;
    if (!this.#inFlight) this.#inFlight = this.#drain();
  }

  async #drain(): Promise<void> {
    while (this.#hasPending && !this.#closed) {
      const output = this.#pending;
      this.#hasPending = false;
      this.#pending = undefined;
      await this.post(output).catch(this.onError);
    }
    this.#inFlight = null;
  }

  /** Drops what is waiting and waits for the post in flight, so nothing lands after what follows. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#hasPending = false;
    this.#pending = undefined;
    await this.#inFlight;
  }
}

/** Beats every interval with the ids of the jobs taken and not yet done, independent of what the job is doing. */
export class Heartbeat {
  #timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly platform: Platform,
    private readonly intervalMs: number,
    private readonly log: Logger,
    private readonly jobs: () => string[],
  ) {}

  /** Without a ping URL (RUNPOD_WEBHOOK_PING unset) there is nothing to beat, and nothing to log about it. */
  start(): void {
    if (!this.platform.canPing) return;
    let failing = false;
    // One warning when pings start failing, not one per interval.
    const beat = () => {
      this.platform.ping(this.jobs()).then(
        () => (failing = false),
        () => {
          if (!failing) this.log.log('warn', 'ping.error');
          failing = true;
        },
      );
    };
    beat();
    this.#timer = setInterval(beat, this.intervalMs);
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }
}

/** How the loop ended: asked to (SIGTERM), or because the worker is unhealthy and must be replaced (exit non-zero). */
export type LoopEnd = 'shutdown' | 'unhealthy';

/** What job-stop can reach (the running job, and jobs of a batch take still waiting their turn) and what pings carry. */
interface LoopState {
  running: { id: string; controller: AbortController } | null;
  /** The job taken and not yet posted (running, or its result on the way). */
  current: string | null;
  backlog: TakenJob[];
}

export async function runWorkerLoop(options: WorkerLoopOptions, shutdown: AbortSignal): Promise<LoopEnd> {
  const { platform, runner, log, clock } = options;
  const state: LoopState = { running: null, current: null, backlog: [] };
  // As runpod-python's JobsProgress: every job taken counts as in progress until posted, batch jobs waiting included.
  const heartbeat = new Heartbeat(platform, options.pingIntervalMs, log, () => [...(state.current ? [state.current] : []), ...state.backlog.map((j) => j.id)]);
  const stopWatch = new AbortController();
  const stopLoop = watchJobStops(platform, clock, state, log, stopWatch.signal);
  let end: LoopEnd = 'shutdown';

  heartbeat.start();
  log.log('info', 'worker.start');
  try {
    while (!shutdown.aborted || state.backlog.length > 0) {
      let job = state.backlog.shift();
      if (!job) {
        const taken = await platform.take(false, shutdown).catch((error: unknown) => {
          if (!shutdown.aborted) log.log('warn', 'take.error', { reason: (error as { code?: string }).code ?? 'error' });
          return null;
        });
        if (shutdown.aborted && !taken) break;
        if (!taken) {
          await clock.sleep(1_000, shutdown).catch(() => undefined);
          continue;
        }
        if (taken.kind === 'backoff') {
          log.log('info', 'take.backoff');
          await clock.sleep(options.backoffMs ?? 5_000, shutdown).catch(() => undefined);
          continue;
        }
        if (taken.kind === 'none') continue;
        job = taken.jobs[0]!;
        state.backlog.push(...taken.jobs.slice(1));
      }

      const controller = new AbortController();
      state.running = { id: job.id, controller };
      state.current = job.id;
      const progress = new ProgressSender(
        (output) => platform.postDone(job.id, { status: 'IN_PROGRESS', output }),
        () => log.log('warn', 'job.post_retry', { job_id: job.id }),
      );
      const outcome = await runner.run(job, { signal: controller.signal, onProgress: (p) => progress.push(p) });
      await progress.close();
      state.running = null;

      let unhealthy = isUnhealthy(outcome);
      if (outcome.kind === 'failure' && !unhealthy) unhealthy = !(await runner.healthy());
      if (outcome.kind !== 'cancelled') await deliver(options, job.id, outcome, unhealthy);
      state.current = null;
      if (unhealthy) {
        // Files of this job may remain, or ComfyUI may still run it: no further job here, the platform gets a new worker.
        end = 'unhealthy';
        log.log('error', 'worker.unhealthy', { job_id: job.id, ...(outcome.kind === 'failure' ? { code: outcome.code } : {}) });
        for (const waiting of state.backlog.splice(0)) await deliver(options, waiting.id, NOT_RUN, true);
        break;
      }
    }
  } finally {
    stopWatch.abort();
    heartbeat.stop();
    await stopLoop;
    log.log('info', 'worker.stop');
  }
  return end;
}

/** What a batch job still waiting gets when the worker turns unhealthy: it never ran, so a plain failure. */
const NOT_RUN: Extract<JobOutcome, { kind: 'failure' }> = {
  kind: 'failure',
  error: sealError(new SealError('COMFY_UNAVAILABLE', 'the worker became unhealthy before this job started; submit it again'), null),
  code: 'COMFY_UNAVAILABLE',
  unhealthy: true,
};

/** Posts the result until it is delivered. */
async function deliver(options: WorkerLoopOptions, jobId: string, outcome: Exclude<JobOutcome, { kind: 'cancelled' }>, stopPod: boolean): Promise<void> {
  const { platform, log } = options;
  let body: Record<string, unknown> = outcome.kind === 'success' ? { output: outcome.output } : { error: outcome.error };
  if (stopPod) body.stopPod = true;
  for (let round = 0; round < 2; round++) {
    try {
      await pRetry(
        async () => {
          try {
            await platform.postDone(jobId, body);
          } catch (error) {
            if (error instanceof PostRejected) throw new AbortError(error);
            throw error;
          }
        },
        {
          retries: options.postRetries ?? 12,
          minTimeout: 200,
          maxTimeout: options.postMaxDelayMs ?? 10_000,
          onFailedAttempt: ({ attemptNumber }) => log.log('warn', 'job.post_retry', { job_id: jobId, attempt: attemptNumber }),
        },
      );
      log.log('info', 'job.posted', { job_id: jobId });
      break;
    } catch (error) {
      // A success refused (RunPod answers 400 to bodies near 20 MB) becomes a failure the client can read.
      if (error instanceof PostRejected && outcome.kind === 'success' && round === 0) {
        body = { error: sealError(new SealError('OUTPUT_TOO_LARGE', `RunPod refused the result (${error.status})`), null) };
        if (stopPod) body.stopPod = true;
        continue;
      }
      log.log('error', 'job.post_retry', { job_id: jobId, reason: error instanceof PostRejected ? error.status : 'gave_up' });
      break;
    }
  }
  // Posted or given up: either way the token's memory goes back now, not at some later GC.
  if (outcome.kind === 'success' && outcome.output instanceof SealedOutput) outcome.output.release();
}

/** Long-polls job-stop: aborts the running job, or drops a waiting batch job, when its id comes back. Ends with `signal`. */
async function watchJobStops(platform: Platform, clock: Clock, state: LoopState, log: Logger, signal: AbortSignal): Promise<void> {
  while (!signal.aborted) {
    const started = clock.now();
    const ids = await platform.jobsToStop(signal).catch(() => [] as string[]);
    for (const id of ids) {
      if (state.running?.id === id) state.running.controller.abort();
      const waiting = state.backlog.findIndex((job) => job.id === id);
      if (waiting >= 0) {
        state.backlog.splice(waiting, 1);
        log.log('info', 'job.cancelled', { job_id: id });
      }
    }
    // A quick empty answer (no long-poll support) must not become a busy loop.
    if (clock.now() - started < 1_000) await clock.sleep(1_000, signal).catch(() => undefined);
  }
}
