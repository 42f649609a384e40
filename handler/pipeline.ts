/**
 * The worker's job runner: one ComfyUI connection (HTTP pool + one WebSocket) shared by all jobs, jobs run strictly one
 * at a time, files wiped at start-up. The RunPod loop and the local API both drive jobs through this.
 */
import { randomUUID } from 'node:crypto';
import { Fernet } from '../shared/fernet.js';
import { systemClock, type Clock } from './clock.js';
import { ComfyHttp } from './comfy/http.js';
import { waitForComfy } from './comfy/ready.js';
import { ComfySocket } from './comfy/ws.js';
import { checkHealth, type HealthProblem } from './health.js';
import type { JobConfig, JobContext, JobDeps, JobOutcome } from './job.js';
import { runJob } from './job.js';
import type { Logger } from './log.js';
import { ensureDirs, nodeFileSystem, wipeDirs, type FileSystem } from './storage.js';
import { warmUp, warmupStatusFile, type WarmupOptions } from './warmup.js';

export interface PipelineOptions {
  comfyUrl: string;
  /** ENCRYPTION_KEY (one or comma-separated keys); undefined = plaintext jobs only. */
  key: string | undefined;
  job: JobConfig;
  log: Logger;
  clock?: Clock;
  fs?: FileSystem;
  /** Run once in start(), after ComfyUI is ready (COMFY_SEAL_WARMUP_WORKFLOW). */
  warmup?: WarmupOptions;
}

export class Pipeline {
  readonly http: ComfyHttp;
  readonly socket: ComfySocket;
  readonly #options: PipelineOptions;
  readonly #clock: Clock;
  readonly #fernet: Fernet | null;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(options: PipelineOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#fernet = options.key ? new Fernet(options.key) : null;
    this.http = new ComfyHttp({ url: options.comfyUrl });
    this.socket = new ComfySocket({ url: options.comfyUrl, clientId: randomUUID() });
    this.socket.on('down', () => options.log.log('warn', 'comfy.socket_down'));
  }

  /** Creates the dirs, wipes what a previous run left, and waits for ComfyUI. Returns its version. */
  async start(readyTimeoutMs: number, signal?: AbortSignal): Promise<string> {
    const fs = this.#options.fs ?? nodeFileSystem;
    await ensureDirs(this.#options.job.dirs, fs);
    const wipe = await wipeDirs(this.#options.job.dirs, fs);
    this.#options.log.log('info', 'wipe.done', { files: wipe.files, bytes: wipe.bytes });
    const started = this.#clock.now();
    const version = await waitForComfy(this.http, this.#clock, readyTimeoutMs, signal);
    this.#options.log.log('info', 'comfy.ready', { ms: this.#clock.now() - started });
    // Contract §12: a ComfyUI started without the image's launcher keeps every job's printed error texts in memory.
    const kept = await this.http.inMemoryLog().catch(() => null);
    if (kept) this.#options.log.log('warn', 'comfy.log_kept', { count: kept.split('\n').length - 1 });
    if (this.#options.warmup) {
      // Its only plaintext job: the workflow is the image's own, not a user's, so its cache (the loaded models) may stay
      // for the first job.
      const config = { ...this.#options.job, allowPlaintext: true, clearCache: false };
      await warmUp(this.#options.warmup, {
        runJob: (job) => runJob(job, this.#deps(config), signal ? { signal } : {}),
        log: this.#options.log,
        clock: this.#clock,
        statusFile: warmupStatusFile(this.#options.job.dirs.input),
      });
    }
    return version;
  }

  /** Runs a job after any job already running; jobs never overlap (one ComfyUI, one set of dirs). */
  run(job: { id: string; input: unknown }, ctx: JobContext = {}): Promise<JobOutcome> {
    const next = this.#queue.then(() => runJob(job, this.#deps(this.#options.job), ctx));
    this.#queue = next.catch(() => undefined);
    return next;
  }

  #deps(config: JobConfig): JobDeps {
    return {
      http: this.http,
      socket: this.socket,
      clock: this.#clock,
      log: this.#options.log,
      fernet: this.#fernet,
      config,
      ...(this.#options.fs ? { fs: this.#options.fs } : {}),
    };
  }

  /** Whether ComfyUI still answers (after a failed job, to decide on asking RunPod for a new worker). */
  async healthy(): Promise<boolean> {
    return (await this.http.probe()) !== null;
  }

  /** An unhealthy worker's re-check before a job (handler/health.ts): null when it may take jobs again. */
  recheck(): Promise<HealthProblem | null> {
    const { dirs, clearCache } = this.#options.job;
    return checkHealth({ http: this.http, clientId: this.socket.clientId, dirs, fs: this.#options.fs ?? nodeFileSystem, clearCache });
  }

  async close(): Promise<void> {
    this.socket.close();
    await this.http.close();
  }
}
