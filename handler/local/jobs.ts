/**
 * The local endpoint's job table: RunPod's states and shapes, an in-memory FIFO served by the same pipeline,
 * results kept for a while (30 min for /run, as RunPod does) and then forgotten. A job's input is held only while it
 * waits: the table lets go of it when the job starts (the runner holds it while it runs) or ends without starting.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { SealedOutput, sealError } from '../../shared/envelope.js';
import { isUnhealthy, unhealthyError, type HealthProblem } from '../health.js';
import type { JobContext, JobOutcome } from '../job.js';

export type JobStatus = 'IN_QUEUE' | 'IN_PROGRESS' | 'COMPLETED' | 'FAILED' | 'CANCELLED' | 'TIMED_OUT';

const TERMINAL = new Set<JobStatus>(['COMPLETED', 'FAILED', 'CANCELLED', 'TIMED_OUT']);

export interface LocalJob {
  id: string;
  /** The request's input while the job waits; gone once it has started or ended. */
  input?: unknown;
  status: JobStatus;
  createdAt: number;
  startedAt?: number;
  endedAt?: number;
  /** Latest progress while IN_PROGRESS, the result when COMPLETED. */
  output?: unknown;
  error?: string;
  controller: AbortController;
  /** When the finished job is forgotten. */
  expiresAt?: number;
  /** Where its final status is POSTed (`webhook` of /run). */
  webhook?: string;
}

export interface JobRunnerLike {
  run(job: { id: string; input: unknown }, ctx: JobContext): Promise<JobOutcome>;
  /** Once a job left the worker unhealthy, asked before each next job: null when it may run jobs again. */
  recheck(): Promise<HealthProblem | null>;
}

export interface JobTableOptions {
  runner: JobRunnerLike;
  /** How long a finished job can still be read. */
  keepMs?: number;
  now?: () => number;
}

/** What RunPod's /status and /runsync answer for a job. */
export function statusBody(job: LocalJob, now: number): Record<string, unknown> {
  const body: Record<string, unknown> = { id: job.id, status: job.status };
  body.delayTime = Math.round((job.startedAt ?? now) - job.createdAt);
  if (job.startedAt !== undefined) body.executionTime = Math.round((job.endedAt ?? now) - job.startedAt);
  if (job.output !== undefined) body.output = job.output;
  if (job.error !== undefined) body.error = job.error;
  return body;
}

export class JobTable extends EventEmitter<{ settled: [LocalJob] }> {
  readonly #jobs = new Map<string, LocalJob>();
  readonly #queue: LocalJob[] = [];
  readonly #runner: JobRunnerLike;
  readonly #keepMs: number;
  readonly #now: () => number;
  #running: LocalJob | null = null;
  /** Set by an unhealthy outcome; cleared by a passing re-check. */
  #unhealthy = false;
  #idle: Array<() => void> = [];
  #counts = { completed: 0, failed: 0, retried: 0 };

  constructor(options: JobTableOptions) {
    super();
    this.#runner = options.runner;
    this.#keepMs = options.keepMs ?? 30 * 60_000;
    this.#now = options.now ?? Date.now;
  }

  submit(input: unknown, idPrefix = '', webhook?: string): LocalJob {
    this.#sweep();
    const job: LocalJob = { id: `${idPrefix}${randomUUID()}-l1`, input, status: 'IN_QUEUE', createdAt: this.#now(), controller: new AbortController() };
    if (webhook !== undefined) job.webhook = webhook;
    this.#jobs.set(job.id, job);
    this.#queue.push(job);
    void this.#pump();
    return job;
  }

  get(id: string): LocalJob | undefined {
    this.#sweep();
    return this.#jobs.get(id);
  }

  /** Jobs waiting to start. */
  get waiting(): number {
    return this.#queue.length;
  }

  isTerminal(job: LocalJob): boolean {
    return TERMINAL.has(job.status);
  }

  /** Resolves when the job ends or after `waitMs`, whichever is first. */
  waitFor(job: LocalJob, waitMs: number): Promise<LocalJob> {
    if (this.isTerminal(job)) return Promise.resolve(job);
    return new Promise((resolve) => {
      const onSettled = (settled: LocalJob) => {
        if (settled !== job) return;
        clearTimeout(timer);
        this.off('settled', onSettled);
        resolve(job);
      };
      const timer = setTimeout(() => {
        this.off('settled', onSettled);
        resolve(job);
      }, waitMs);
      this.on('settled', onSettled);
    });
  }

  cancel(id: string): LocalJob | undefined {
    const job = this.get(id);
    if (!job || this.isTerminal(job)) return job;
    const index = this.#queue.indexOf(job);
    if (index >= 0) this.#queue.splice(index, 1);
    job.controller.abort(); // a running job is interrupted and wiped by the pipeline
    this.#finish(job, 'CANCELLED');
    return job;
  }

  /** Cancels everything queued or running and resolves once the running job has let go (or after `waitMs`). */
  async shutdown(waitMs = 15_000): Promise<void> {
    this.purgeQueue();
    const running = this.#running;
    if (!running) return;
    const settled = new Promise<void>((resolve) => this.#idle.push(resolve));
    this.cancel(running.id);
    await Promise.race([settled, new Promise((r) => setTimeout(r, waitMs).unref())]);
  }

  purgeQueue(): number {
    const removed = this.#queue.splice(0);
    for (const job of removed) this.#finish(job, 'CANCELLED');
    return removed.length;
  }

  health(): Record<string, unknown> {
    return {
      jobs: { ...this.#counts, inProgress: this.#running ? 1 : 0, inQueue: this.#queue.length },
      workers: { idle: this.#running || this.#unhealthy ? 0 : 1, running: this.#running ? 1 : 0, unhealthy: this.#unhealthy ? 1 : 0 },
    };
  }

  #finish(job: LocalJob, status: JobStatus, fields: { output?: unknown; error?: string } = {}): void {
    job.status = status;
    job.endedAt = this.#now();
    job.expiresAt = job.endedAt + this.#keepMs;
    delete job.input;
    // Progress shown while running is not the result.
    delete job.output;
    if (fields.output instanceof SealedOutput) {
      // Kept as the string every /status poll serves, once; the token's bytes go back now.
      job.output = { encrypted_output: fields.output.encrypted_output };
      fields.output.release();
    } else if (fields.output !== undefined) job.output = fields.output;
    if (fields.error !== undefined) job.error = fields.error;
    if (status === 'COMPLETED') this.#counts.completed += 1;
    if (status === 'FAILED') this.#counts.failed += 1;
    this.emit('settled', job);
  }

  async #pump(): Promise<void> {
    if (this.#running) return;
    const job = this.#queue.shift();
    if (!job) return;
    this.#running = job;
    job.status = 'IN_PROGRESS';
    job.startedAt = this.#now();
    try {
      // An unhealthy worker runs nothing (files of the last job may remain) until a re-check passes.
      const problem = this.#unhealthy ? await this.#runner.recheck() : null;
      if (problem) {
        if (job.status === 'IN_PROGRESS') this.#finish(job, 'FAILED', { error: sealError(unhealthyError(problem), null) });
        return;
      }
      this.#unhealthy = false;
      const outcome = await this.#runner.run({ id: job.id, input: this.#takeInput(job) }, {
        signal: job.controller.signal,
        onProgress: (output) => {
          if (job.status === 'IN_PROGRESS') job.output = output;
        },
      });
      if (isUnhealthy(outcome)) this.#unhealthy = true;
      if (job.status === 'IN_PROGRESS') {
        if (outcome.kind === 'success') this.#finish(job, 'COMPLETED', { output: outcome.output });
        else if (outcome.kind === 'failure') this.#finish(job, 'FAILED', { error: outcome.error });
        else this.#finish(job, 'CANCELLED');
      }
    } catch {
      if (job.status === 'IN_PROGRESS') this.#finish(job, 'FAILED', { error: JSON.stringify({ code: 'INTERNAL', message: 'internal error' }) });
    } finally {
      this.#running = null;
      for (const resolve of this.#idle.splice(0)) resolve();
      void this.#pump();
    }
  }

  /** Hands the input to the runner and forgets it here: 30 min of retention must not keep megabytes of tokens. */
  #takeInput(job: LocalJob): unknown {
    const input = job.input;
    delete job.input;
    return input;
  }

  #sweep(): void {
    const now = this.#now();
    for (const [id, job] of this.#jobs) if (job.expiresAt !== undefined && job.expiresAt <= now) this.#jobs.delete(id);
  }
}
