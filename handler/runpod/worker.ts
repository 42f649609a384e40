/**
 * The RunPod worker loop: take a job, run it, deliver its result exactly once, repeat.
 *
 * - One job at a time. A heartbeat beats on its own timer, carrying the running job's id, for as long as the job runs.
 * - Progress posts go out one at a time; a newer update replaces one still waiting; none is sent after the result
 *   (a late progress post can overwrite the result on RunPod: runpod-python#250).
 * - The result post is retried on 5xx and connection errors until delivered; a 4xx is not retried (it would fail the
 *   same way), and a result refused as too large is replaced by an OUTPUT_TOO_LARGE failure.
 * - job-stop aborts the running job: it is interrupted and wiped, and nothing is posted for it.
 * - Shutdown (SIGTERM): stop taking, finish the running job, post it, return.
 */
import pRetry, { AbortError } from 'p-retry';
import { SealedOutput, sealError } from '../../shared/envelope.js';
import { SealError } from '../../shared/errors.js';
import type { Clock } from '../clock.js';
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

/** Beats every interval with the running job ids, independent of what the job is doing. */
export class Heartbeat {
  #timer: NodeJS.Timeout | null = null;
  #jobs: string[] = [];

  constructor(
    private readonly platform: Platform,
    private readonly intervalMs: number,
    private readonly log: Logger,
  ) {}

  start(): void {
    const beat = () => {
      this.platform.ping(this.#jobs).catch(() => this.log.log('warn', 'ping.error'));
    };
    beat();
    this.#timer = setInterval(beat, this.intervalMs);
  }

  setJobs(ids: string[]): void {
    this.#jobs = ids;
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }
}

export async function runWorkerLoop(options: WorkerLoopOptions, shutdown: AbortSignal): Promise<void> {
  const { platform, runner, log, clock } = options;
  const heartbeat = new Heartbeat(platform, options.pingIntervalMs, log);
  let running: { id: string; controller: AbortController } | null = null;
  const stopWatch = new AbortController();
  const stopLoop = watchJobStops(platform, clock, () => running, stopWatch.signal);

  heartbeat.start();
  log.log('info', 'worker.start');
  const backlog: TakenJob[] = [];
  try {
    while (!shutdown.aborted || backlog.length > 0) {
      let job = backlog.shift();
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
        backlog.push(...taken.jobs.slice(1));
      }

      const controller = new AbortController();
      running = { id: job.id, controller };
      heartbeat.setJobs([job.id]);
      const progress = new ProgressSender(
        (output) => platform.postDone(job.id, { status: 'IN_PROGRESS', output }),
        () => log.log('warn', 'job.post_retry', { job_id: job.id }),
      );
      const outcome = await runner.run(job, { signal: controller.signal, onProgress: (p) => progress.push(p) });
      await progress.close();
      running = null;

      if (outcome.kind !== 'cancelled') {
        let unhealthy = outcome.kind === 'failure' && outcome.unhealthy;
        if (outcome.kind === 'failure' && !unhealthy) unhealthy = !(await runner.healthy());
        await deliver(options, job.id, outcome, unhealthy);
      }
      heartbeat.setJobs([]);
    }
  } finally {
    stopWatch.abort();
    heartbeat.stop();
    await stopLoop;
    log.log('info', 'worker.stop');
  }
}

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

/** Long-polls job-stop; aborts the running job when its id comes back. Ends when `signal` aborts. */
async function watchJobStops(platform: Platform, clock: Clock, running: () => { id: string; controller: AbortController } | null, signal: AbortSignal): Promise<void> {
  while (!signal.aborted) {
    const started = clock.now();
    const ids = await platform.jobsToStop(signal).catch(() => [] as string[]);
    const job = running();
    if (job && ids.includes(job.id)) job.controller.abort();
    // A quick empty answer (no long-poll support) must not become a busy loop.
    if (clock.now() - started < 1_000) await clock.sleep(1_000, signal).catch(() => undefined);
  }
}
