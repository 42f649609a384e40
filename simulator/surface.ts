/**
 * ComfyUI's API surface (server.py + main.py's queue loop) with the work itself passed in: the HTTP routes with their
 * `/api/` aliases and shapes, the WebSocket hub, the queue with ComfyUI's numbering (front, delete, clear), history
 * written after the final event and before `executing null` (the race a worker must survive), /interrupt, /free,
 * /view and /upload over the three folders, the in-memory log. The simulator runs nodes here behind it; the bridge runs
 * prompts on the endpoint behind it. The executor decides validation, running (emitting ComfyUI's events), interrupts,
 * /object_info and /system_stats, and how many prompts run at once.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { isLoopbackHost } from '../shared/loopback.js';
import { isForeignOrigin } from '../shared/origin.js';
import type { Dirs } from './context.js';
import type { Emit, Outcome } from './executor.js';
import { HttpError, readJson, sendError, sendJson } from './http.js';
import { Hub } from './hub.js';
import { findJob, listJobs } from './jobs.js';
import { ComfyLog } from './logs.js';
import type { Prompt, ValidationResult } from './validate.js';
import { upload, view } from './view-upload.js';

export interface SurfaceSettings {
  host: string;
  port: number;
  dirs: Dirs;
  /** Delay between the final event and the history write (the race window). */
  historyDelayMs: number;
  /** Refuse connections for this long after start. */
  slowStartMs: number;
  dropAfterMessages: number | undefined;
  maxUploadBytes: number;
  /** Entries ComfyUI's in-memory log keeps (300); 0 keeps nothing. */
  logCapacity: number;
  /** The title of the page at / when no web UI answers it. */
  title: string;
  /** Refuse requests whose Host is not loopback (DNS rebinding), for a server that listens on loopback for its user. */
  loopbackHostOnly: boolean;
  /** Keep every call in `calls` (the simulator's tests read them; a long-running bridge must not grow). */
  recordCalls: boolean;
}

export interface RecordedCall {
  method: string;
  path: string;
  at: number;
}

/** ComfyUI's queue item: number, prompt id, prompt, extra_data, the outputs to execute (+ who queued it). */
export type QueueItem = [number, string, Prompt, Record<string, unknown>, string[]];
export type QueuedPrompt = QueueItem & { clientId?: string };

interface HistoryEntry {
  prompt: QueueItem;
  outputs: Record<string, Record<string, unknown>>;
  status: { status_str: string; completed: boolean; messages: Array<[string, Record<string, unknown>]> };
  meta: Record<string, unknown>;
}

/** What runs the prompts behind the surface. */
export interface PromptExecutor {
  /** Prompts run at once (ComfyUI: 1). */
  readonly concurrency: number;
  /** POST /prompt's validation, ComfyUI's shapes (sync when it can be: the queue then takes the item at once). */
  validate(prompt: unknown, partialTargets: string[] | undefined): ValidationResult | Promise<ValidationResult>;
  /** A prompt was queued (the bridge prints a status line). */
  queued?(item: QueuedPrompt): void;
  /** Runs one queued prompt, emitting its events up to the final one (execution_success/error/interrupted). */
  run(item: QueuedPrompt, emit: Emit): Promise<Outcome>;
  /** /interrupt: one running prompt, or every running prompt when no id is given. */
  interrupt(promptId?: string): void;
  /** POST /queue {"delete"} named a running prompt (ComfyUI ignores those; the bridge cancels them). */
  cancelRunning?(promptId: string): void;
  /** The node a running prompt is executing (sent to its client on reconnect). */
  runningNode(promptId: string): string | null;
  objectInfo(): Record<string, unknown> | Promise<Record<string, unknown>>;
  /** One class's definition, or none. */
  objectInfoOf(classType: string): Record<string, unknown> | undefined | Promise<Record<string, unknown> | undefined>;
  systemStats(address: { host: string; port: number }): Record<string, unknown>;
  /** The files of a model folder (/models/{folder}; null: no such folder), the folder kinds (/models). */
  models(folder: string): string[] | null | Promise<string[] | null>;
  modelFolders(): string[];
  /** POST /free's flags, once the queue loop takes them (after the prompt running, or at once when idle). */
  free?(flags: { free_memory?: unknown; unload_models?: unknown }): void;
  /** True when POST /free must fail (a fault knob of the simulator). */
  freeFails?(): boolean;
}

type Answer = { status: number; body: unknown };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const MAX_HISTORY = 10_000;

export class ComfySurface {
  readonly calls: RecordedCall[] = [];
  readonly settings: SurfaceSettings;
  readonly #executor: PromptExecutor;
  readonly #hub: Hub;
  readonly #http: Server;
  readonly #history = new Map<string, HistoryEntry>();
  readonly log: ComfyLog;
  /** Called on each POST /prompt before it is queued (the simulator's foreign-prompt knob). */
  readonly #beforePrompt: (() => void) | undefined;
  /** Routes of another module (the web UI's), tried before the 404, given the path as received (/api aliases are its own). */
  readonly #extraRoutes: ((req: IncomingMessage, res: ServerResponse, pathname: string) => Promise<boolean>) | undefined;
  /** POST /free's flags, taken by the queue loop after the prompt running (or at once when idle), as main.py does. */
  #flags: { free_memory?: unknown; unload_models?: unknown } = {};
  #pending: QueuedPrompt[] = [];
  #running: QueuedPrompt[] = [];
  #number = 0;
  #crashed = false;
  #port = 0;
  /** The delayed bind of a slow start: it keeps a CLI process alive until then, and close() cancels it. */
  #slowStart: NodeJS.Timeout | undefined;

  constructor(
    settings: SurfaceSettings,
    executor: PromptExecutor,
    hooks: {
      beforePrompt?: () => void;
      extraRoutes?: (req: IncomingMessage, res: ServerResponse, pathname: string) => Promise<boolean>;
    } = {},
  ) {
    this.settings = settings;
    this.#executor = executor;
    this.#beforePrompt = hooks.beforePrompt;
    this.#extraRoutes = hooks.extraRoutes;
    this.#hub = new Hub({
      ...(settings.dropAfterMessages !== undefined ? { dropAfterMessages: settings.dropAfterMessages } : {}),
      queueRemaining: () => this.queueRemaining,
      executingFor: (clientId) => {
        const item = this.#running.find((i) => i.clientId === clientId);
        return item ? this.#executor.runningNode(item[1]) : null;
      },
      features: this.features,
    });
    this.log = new ComfyLog(settings.logCapacity, (clientId, data) => {
      if (!this.#hub.isConnected(clientId)) return false;
      this.#hub.send('logs', data, clientId);
      return true;
    });
    this.#http = createServer((req, res) => {
      this.#route(req, res).catch((error: unknown) => {
        if (res.headersSent) return res.destroy();
        if (error instanceof HttpError) sendError(res, error);
        else sendJson(res, 500, { error: 'Internal Server Error' });
      });
    });
    this.#http.on('upgrade', (req, socket, head) => {
      const p = new URL(req.url ?? '/', 'http://x').pathname.replace(/^\/api(?=\/)/, '');
      if (p === '/ws' && !this.#crashed && this.#hostAllowed(req)) this.#hub.handleUpgrade(req, socket, head);
      else socket.destroy();
    });
  }

  /** What the real v0.27.1 server answered on /features and to a client's feature_flags. */
  get features(): Record<string, unknown> {
    return { supports_preview_metadata: true, max_upload_size: this.settings.maxUploadBytes, extension: { manager: { supports_v4: true } }, node_replacements: true, assets: false };
  }

  get queueRemaining(): number {
    return this.#pending.length + this.#running.length;
  }

  get port(): number {
    return this.#port;
  }

  async listen(): Promise<void> {
    const { host, port, slowStartMs } = this.settings;
    let chosen = port;
    if (slowStartMs > 0) {
      // Connections must be refused (not reset) meanwhile: learn a free port, then bind it only after the delay.
      if (chosen === 0) chosen = await freePort(host);
      this.#port = chosen;
      this.#slowStart = setTimeout(() => this.#http.listen(chosen, host), slowStartMs);
      return;
    }
    await new Promise<void>((resolve, reject) => {
      this.#http.once('error', reject);
      this.#http.listen(chosen, host, () => resolve());
    });
    this.#port = (this.#http.address() as AddressInfo).port;
    this.log.write('Starting server\n');
    this.log.write(`To see the GUI go to: http://${host}:${this.#port}`);
  }

  /** The process "dies": every socket cut, the port closed, nothing more runs. */
  crash(): void {
    this.#crashed = true;
    this.#hub.terminateAll();
    this.#http.closeAllConnections();
    this.#http.close();
  }

  async close(): Promise<void> {
    clearTimeout(this.#slowStart);
    this.#crashed = true;
    this.#executor.interrupt();
    this.#hub.close();
    this.#http.closeAllConnections();
    await new Promise<void>((resolve) => (this.#http.listening ? this.#http.close(() => resolve()) : resolve()));
  }

  /**
   * Queues a prompt as ComfyUI's POST /prompt does (validation included). With a synchronous validation the answer is
   * too, and the prompt is queued before this returns (the answer then goes out before the prompt's first event).
   */
  submit(body: Record<string, unknown>): Answer | Promise<Answer> {
    this.log.write('got prompt');
    // server.py numbers every POST before looking at it, rejected ones included; `front` negates.
    let number = typeof body.number === 'number' ? body.number : this.#number++;
    if (body.number === undefined && body.front) number = -number;
    if (!('prompt' in body)) {
      return { status: 400, body: { error: { type: 'no_prompt', message: 'No prompt provided', details: 'No prompt provided', extra_info: {} }, node_errors: {} } };
    }
    const promptId = body.prompt_id === undefined ? randomUUID() : body.prompt_id;
    if (typeof promptId !== 'string' || !UUID.test(promptId)) {
      return { status: 400, body: { error: { type: 'invalid_prompt_id', message: 'prompt_id must be a valid UUID', details: 'prompt_id must be a UUID string in canonical lowercase hyphenated form; omit it to let the server generate one', extra_info: {} }, node_errors: {} } };
    }
    const partial = Array.isArray(body.partial_execution_targets) ? (body.partial_execution_targets as string[]) : undefined;
    const validated = this.#executor.validate(body.prompt, partial);
    const queue = (result: ValidationResult) => this.#queue(body, number, promptId, result);
    return validated instanceof Promise ? validated.then(queue) : queue(validated);
  }

  #queue(body: Record<string, unknown>, number: number, promptId: string, result: ValidationResult): Answer {
    this.#logValidation(result.nodeErrors);
    if (!result.ok) {
      this.log.write(`invalid prompt: ${JSON.stringify(result.error)}`);
      return { status: 400, body: { error: result.error, node_errors: result.nodeErrors } };
    }
    const extra = { ...((body.extra_data as Record<string, unknown>) ?? {}) };
    const clientId = typeof body.client_id === 'string' ? body.client_id : undefined;
    if (clientId) extra.client_id = clientId;
    extra.create_time = Date.now();
    const item = Object.assign([number, promptId, body.prompt as Prompt, extra, result.outputs] as QueueItem, clientId ? { clientId } : {});
    if (body.front) this.#pending.unshift(item);
    else this.#pending.push(item);
    this.#history.delete(promptId); // a reused id overwrites its history
    this.#executor.queued?.(item);
    this.#broadcastStatus();
    this.#pump();
    return { status: 200, body: { prompt_id: promptId, number, node_errors: result.nodeErrors } };
  }

  /** execution.py logs every failed input with its details, which name the values (file names, texts). */
  #logValidation(nodeErrors: Record<string, unknown>): void {
    for (const [id, entry] of Object.entries(nodeErrors)) {
      const { errors, dependent_outputs: outputs, class_type: classType } = entry as { errors: Array<{ message: string; details: string }>; dependent_outputs: string[]; class_type: string };
      this.log.write(`Failed to validate prompt for output ${outputs[0] ?? id}:`);
      this.log.write(`* ${classType} ${id}:`);
      for (const e of errors) this.log.write(`  - ${e.message}: ${e.details}`);
      this.log.write('Output will be ignored');
    }
  }

  #broadcastStatus(): void {
    this.#hub.send('status', { status: { exec_info: { queue_remaining: this.queueRemaining } } }, null);
  }

  /** Starts pending prompts while fewer than the executor's concurrency run. */
  #pump(): void {
    while (this.#pending.length > 0 && this.#running.length < this.#executor.concurrency && !this.#crashed) {
      const item = this.#pending.shift()!;
      this.#running.push(item);
      this.#broadcastStatus();
      void this.#execute(item).finally(() => {
        this.#drop(item);
        this.#applyFlags();
        this.#pump();
      });
    }
  }

  #drop(item: QueuedPrompt): void {
    const at = this.#running.indexOf(item);
    if (at >= 0) this.#running.splice(at, 1);
  }

  /** main.py's prompt_worker after each prompt: the flags POST /free set, taken once. */
  #applyFlags(): void {
    const flags = this.#flags;
    this.#flags = {};
    if (flags.free_memory || flags.unload_models) this.#executor.free?.(flags);
  }

  async #execute(item: QueuedPrompt): Promise<void> {
    const [, promptId] = item;
    const started = Date.now();
    const clientId = item.clientId ?? null;
    const hub = this.#hub;
    const emit: Emit = Object.assign(
      (type: string, data: Record<string, unknown>, audience: 'submitter' | 'submitter-or-all') => {
        if (clientId === null && audience === 'submitter') return; // no client id: those events go nowhere
        hub.send(type, data, clientId);
      },
      {
        preview: (image: Buffer, format: 'PNG' | 'JPEG', nodeId: string, to: 'metadata' | 'legacy') =>
          hub.sendPreview(image, format, { node_id: nodeId, prompt_id: promptId, display_node_id: nodeId, parent_node_id: null, real_node_id: nodeId }, clientId, to),
      },
    );
    // ComfyUI's worker thread takes the prompt after POST /prompt has answered, and clients (the SDKs on npm) listen
    // for a prompt's events only once they hold its id. A client in this very process reads the answer in the next
    // poll phase: the first event waits a few loop turns (not a timer, which a busy loop fires before that poll).
    for (let turn = 0; turn < 3; turn++) await new Promise((r) => setImmediate(r));
    const outcome: Outcome = await this.#executor.run(item, emit);
    if (outcome.status === 'crashed') return;
    if (outcome.status === 'interrupted') this.log.write('Processing interrupted');
    const error = outcome.messages.find(([type]) => type === 'execution_error')?.[1];
    if (error) {
      // execution.py: the exception's text, then its traceback (both hold whatever the node put in its message).
      this.log.write(`!!! Exception during processing !!! ${String(error.exception_message)}`);
      this.log.write(`Traceback (most recent call last):\n${(error.traceback as string[]).join('')}`);
    }
    // ComfyUI: the event is queued first, then history is built and written, then status and `executing null`.
    if (this.settings.historyDelayMs > 0) await sleep(this.settings.historyDelayMs);
    else await new Promise((r) => setImmediate(r));
    this.#history.set(promptId, {
      prompt: [item[0], item[1], item[2], item[3], item[4]],
      outputs: outcome.outputs,
      status: { status_str: outcome.status === 'success' ? 'success' : 'error', completed: outcome.status === 'success', messages: outcome.messages },
      meta: Object.fromEntries(Object.keys(outcome.outputs).map((id) => [id, { node_id: id, display_node: id, parent_node: null, real_node_id: id }])),
    });
    while (this.#history.size > MAX_HISTORY) this.#history.delete(this.#history.keys().next().value as string);
    this.#drop(item);
    this.#broadcastStatus();
    emit('executing', { node: null, prompt_id: promptId }, 'submitter');
    this.log.write(`Prompt executed in ${((Date.now() - started) / 1000).toFixed(2)} seconds`);
  }

  #hostAllowed(req: IncomingMessage): boolean {
    return !this.settings.loopbackHostOnly || isLoopbackHost(req.headers.host);
  }

  /** Pending jobs are dropped, running ones interrupted (the bridge cancels them on the endpoint), others left. */
  #cancelJobs(ids: string[]): void {
    this.#pending = this.#pending.filter((i) => !ids.includes(i[1]));
    for (const item of this.#running) if (ids.includes(item[1])) this.#executor.interrupt(item[1]);
    this.#broadcastStatus();
  }

  #jobSource() {
    return { pending: this.#pending, running: this.#running, history: this.#history };
  }

  async #route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const pathname = url.pathname.replace(/^\/api(?=\/)/, '');
    const method = req.method ?? 'GET';
    if (this.settings.recordCalls) this.calls.push({ method, path: pathname, at: Date.now() });

    if (!this.#hostAllowed(req)) {
      res.writeHead(403).end();
      return;
    }
    // server.py's origin middleware: a browser page elsewhere must not drive a loopback ComfyUI.
    if (isForeignOrigin(req.headers.host, req.headers.origin)) {
      res.writeHead(403).end();
      return;
    }

    const limit = this.settings.maxUploadBytes;
    const dirs = this.settings.dirs;
    if (method === 'POST' && pathname === '/prompt') {
      const body = await readJson(req, limit);
      this.#beforePrompt?.();
      const answer = this.submit(body);
      const { status, body: reply } = answer instanceof Promise ? await answer : answer;
      return sendJson(res, status, reply);
    }
    if (method === 'GET' && pathname === '/prompt') return sendJson(res, 200, { exec_info: { queue_remaining: this.queueRemaining } });
    if (method === 'GET' && pathname === '/history') {
      const max = Number(url.searchParams.get('max_items') ?? Infinity);
      const offset = Number(url.searchParams.get('offset') ?? 0);
      const entries = [...this.#history.entries()].slice(offset > 0 ? offset : 0, Number.isFinite(max) ? (offset > 0 ? offset : 0) + max : undefined);
      return sendJson(res, 200, Object.fromEntries(entries));
    }
    if (method === 'GET' && pathname.startsWith('/history/')) {
      const id = decodeURIComponent(pathname.slice('/history/'.length));
      const entry = this.#history.get(id);
      return sendJson(res, 200, entry ? { [id]: entry } : {});
    }
    if (method === 'POST' && pathname === '/history') {
      const body = await readJson(req, limit);
      if (body.clear) this.#history.clear();
      if (Array.isArray(body.delete)) for (const id of body.delete) this.#history.delete(String(id));
      res.writeHead(200).end();
      return;
    }
    if (method === 'GET' && pathname === '/queue') {
      const strip = (i: QueueItem) => [i[0], i[1], i[2], i[3], i[4]];
      return sendJson(res, 200, { queue_running: this.#running.map(strip), queue_pending: this.#pending.map(strip) });
    }
    if (method === 'POST' && pathname === '/queue') {
      const body = await readJson(req, limit);
      if (body.clear) this.#pending = [];
      if (Array.isArray(body.delete)) {
        const ids = body.delete as unknown[];
        this.#pending = this.#pending.filter((i) => !ids.includes(i[1]));
        for (const item of this.#running) if (ids.includes(item[1])) this.#executor.cancelRunning?.(item[1]);
      }
      this.#broadcastStatus();
      res.writeHead(200).end();
      return;
    }
    if (method === 'GET' && pathname === '/jobs') return sendJson(res, 200, listJobs(this.#jobSource(), url.searchParams));
    const jobRoute = /^\/jobs\/([^/]+)(\/cancel)?$/.exec(pathname);
    if (jobRoute && method === 'GET' && !jobRoute[2]) {
      const job = findJob(this.#jobSource(), decodeURIComponent(jobRoute[1]!));
      return job ? sendJson(res, 200, job) : sendJson(res, 404, { error: 'Job not found' });
    }
    // ComfyUI's job cancel routes (PR #14493): one id, 200 even when there is nothing to cancel; a batch
    // (`{"job_ids": [...]}`) is refused whole (404) when it names a job never heard of.
    if (jobRoute && method === 'POST' && jobRoute[2]) {
      this.#cancelJobs([decodeURIComponent(jobRoute[1]!)]);
      return sendJson(res, 200, {});
    }
    if (method === 'POST' && pathname === '/jobs/cancel') {
      const body = await readJson(req, limit);
      const ids = Array.isArray(body.job_ids) ? body.job_ids.map(String) : null;
      if (!ids) return sendJson(res, 400, { error: 'job_ids must be a list of job ids' });
      const known = (id: string) => this.#history.has(id) || this.#pending.some((i) => i[1] === id) || this.#running.some((i) => i[1] === id);
      const unknown = ids.filter((id) => !known(id));
      if (unknown.length > 0) return sendJson(res, 404, { error: 'Job not found', job_ids: unknown });
      this.#cancelJobs(ids);
      return sendJson(res, 200, {});
    }
    if (method === 'POST' && pathname === '/interrupt') {
      const body = await readJson(req, limit);
      // With a prompt_id, only that prompt is interrupted, and only if it is running.
      if (body.prompt_id === undefined) this.#executor.interrupt();
      else if (this.#running.some((i) => i[1] === body.prompt_id)) this.#executor.interrupt(String(body.prompt_id));
      res.writeHead(200).end();
      return;
    }
    if (method === 'POST' && pathname === '/free') {
      // server.py only sets flags (a false one not at all); the queue loop acts on them after the prompt running, or
      // as soon as it wakes when idle. The answer comes before either.
      const body = await readJson(req, limit);
      if (this.#executor.freeFails?.()) throw new HttpError(500, { error: 'Internal Server Error' });
      if (body.unload_models) this.#flags.unload_models = body.unload_models;
      if (body.free_memory) this.#flags.free_memory = body.free_memory;
      setImmediate(() => {
        if (this.#running.length === 0) this.#applyFlags();
      });
      res.writeHead(200).end();
      return;
    }
    if (method === 'GET' && pathname === '/internal/logs') return sendJson(res, 200, this.log.text());
    if (method === 'GET' && pathname === '/internal/logs/raw') return sendJson(res, 200, this.log.raw());
    if (method === 'PATCH' && pathname === '/internal/logs/subscribe') {
      const body = await readJson(req, limit);
      this.log.subscribe(String(body.clientId), Boolean(body.enabled));
      res.writeHead(200).end();
      return;
    }
    if (method === 'GET' && pathname === '/view') return view(dirs, url, res);
    if (method === 'POST' && (pathname === '/upload/image' || pathname === '/upload/mask')) return upload(dirs, limit, req, res);
    if (method === 'GET' && pathname === '/system_stats') return sendJson(res, 200, this.#executor.systemStats({ host: this.settings.host, port: this.#port }));
    if (method === 'GET' && pathname === '/object_info') return sendJson(res, 200, await this.#executor.objectInfo());
    if (method === 'GET' && pathname.startsWith('/object_info/')) {
      const name = decodeURIComponent(pathname.slice('/object_info/'.length));
      const def = await this.#executor.objectInfoOf(name);
      return sendJson(res, 200, def ? { [name]: def } : {});
    }
    if (method === 'GET' && pathname === '/features') return sendJson(res, 200, this.features);
    // As ComfyUI: embedding names without their extension, the folder kinds, one kind's files (404 for an unknown one).
    if (method === 'GET' && pathname === '/embeddings') return sendJson(res, 200, ((await this.#executor.models('embeddings')) ?? []).map((n) => n.slice(0, n.length - path.extname(n).length)));
    if (method === 'GET' && pathname === '/models') return sendJson(res, 200, this.#executor.modelFolders());
    if (method === 'GET' && pathname.startsWith('/models/')) {
      const files = await this.#executor.models(decodeURIComponent(pathname.slice('/models/'.length)));
      if (files) return sendJson(res, 200, files);
      res.writeHead(404).end('404: Not Found');
      return;
    }
    // ComfyUI reads safetensors headers of its model files here; the surface has none to read: a missing file's 404.
    if (method === 'GET' && pathname.startsWith('/view_metadata/')) {
      res.writeHead(404).end();
      return;
    }
    if (this.#extraRoutes && (await this.#extraRoutes(req, res, url.pathname))) return;
    // ComfyUI serves its frontend here; without one there is a page that says what this is.
    if (method === 'GET' && pathname === '/') {
      res.writeHead(200, { 'content-type': 'text/html' }).end(`<!doctype html><title>${this.settings.title}</title>`);
      return;
    }
    res.writeHead(404).end('404: Not Found');
  }
}

async function freePort(host: string): Promise<number> {
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, host, () => r()));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((r) => probe.close(() => r()));
  return port;
}
