/**
 * The simulator's HTTP server and prompt queue: ComfyUI's routes (server.py) with their shapes, one prompt at a time,
 * FIFO, history written after execution_success and before `executing null` (the race a worker must survive).
 */
import { randomUUID } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Dirs } from './context.js';
import { Executor, type Faults, type Outcome } from './executor.js';
import { Hub } from './hub.js';
import { ComfyLog } from './logs.js';
import { isModelFolder, listModels, MODEL_FOLDERS, type ModelFolder } from './models.js';
import { objectInfo, type ComboLists, type NodeDef } from './nodes/registry.js';
import { validatePrompt, type Prompt } from './validate.js';

export interface SimulatorSettings {
  host: string;
  port: number;
  dirs: Dirs;
  stepMs: number;
  /** Delay between execution_success and the history write (the race window). */
  historyDelayMs: number;
  /** Refuse connections for this long after start. */
  slowStartMs: number;
  /** Prompts from another client queued ahead of each submitted prompt. */
  foreignPrompts: number;
  dropAfterMessages: number | undefined;
  faults: Faults;
  maxUploadBytes: number;
  /** ComfyUI's --disable-metadata: savers embed neither prompt nor workflow. */
  disableMetadata: boolean;
  /** ComfyUI's models dir (checkpoints/, loras/...), listed by the loaders' combos; none lists no models. */
  modelsDir: string | undefined;
  /** Entries ComfyUI's in-memory log keeps (300); 0 as docker/comfyui-launch.py starts it. */
  logCapacity: number;
  /** Called when a crash fault fires (the CLI exits, as ComfyUI's process would). */
  onCrash?: () => void;
}

export interface RecordedCall {
  method: string;
  path: string;
  at: number;
}

type QueueItem = [number, string, Prompt, Record<string, unknown>, string[]];

interface HistoryEntry {
  prompt: QueueItem;
  outputs: Record<string, Record<string, unknown>>;
  status: { status_str: string; completed: boolean; messages: Array<[string, Record<string, unknown>]> };
  meta: Record<string, unknown>;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const MAX_HISTORY = 10_000;

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {
    super(String(status));
  }
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > limit) throw new HttpError(413, { error: 'request too large' });
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

async function readJson(req: IncomingMessage, limit: number): Promise<Record<string, unknown>> {
  const body = await readBody(req, limit);
  try {
    return body.length ? (JSON.parse(body.toString('utf8')) as Record<string, unknown>) : {};
  } catch {
    // aiohttp's json() raises and the route has no handler for it: a 500.
    throw new HttpError(500, { error: 'Internal Server Error' });
  }
}

const IMAGE_EXTENSIONS = new Set(['.png', '.jpg', '.jpeg', '.webp', '.gif', '.bmp', '.tif', '.tiff']);

const MIME: Record<string, string> = { '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.webp': 'image/webp', '.gif': 'image/gif', '.mp4': 'video/mp4', '.webm': 'video/webm', '.flac': 'audio/flac' };

export class SimulatorServer {
  readonly calls: RecordedCall[] = [];
  readonly settings: SimulatorSettings;
  readonly registry: Map<string, NodeDef>;
  readonly #hub: Hub;
  readonly #executor: Executor;
  readonly #http: Server;
  readonly #history = new Map<string, HistoryEntry>();
  readonly #log: ComfyLog;
  /** POST /free's flags, taken by the queue loop after the prompt running (or at once when idle), as main.py does. */
  #flags: { free_memory?: unknown; unload_models?: unknown } = {};
  #pending: Array<QueueItem & { clientId?: string }> = [];
  #running: (QueueItem & { clientId?: string }) | null = null;
  #number = 0;
  #pumping = false;
  #crashed = false;
  #port = 0;
  /** The delayed bind of a slow start: it keeps a CLI simulator alive until then, and close() cancels it. */
  #slowStart: NodeJS.Timeout | undefined;
  /** Prompt ids whose prompt came from a foreign client (fault knob), so tests can tell them apart. */
  readonly foreignIds: string[] = [];

  constructor(settings: SimulatorSettings, registry: Map<string, NodeDef>) {
    this.settings = settings;
    this.registry = registry;
    this.#hub = new Hub({
      ...(settings.dropAfterMessages !== undefined ? { dropAfterMessages: settings.dropAfterMessages } : {}),
      queueRemaining: () => this.queueRemaining,
      executingFor: (clientId) => (this.#running?.clientId === clientId ? this.#executor.runningNode : null),
      features: this.features,
    });
    this.#log = new ComfyLog(settings.logCapacity, (clientId, data) => {
      if (!this.#hub.isConnected(clientId)) return false;
      this.#hub.send('logs', data, clientId);
      return true;
    });
    this.#executor = new Executor(registry, settings.dirs, {
      stepMs: () => this.settings.stepMs,
      faults: () => this.settings.faults,
      onCrash: () => this.crash(),
    });
    this.#http = createServer((req, res) => {
      this.#route(req, res).catch((error: unknown) => {
        if (res.headersSent) return res.destroy();
        if (error instanceof HttpError) json(res, error.status, error.body);
        else json(res, 500, { error: 'Internal Server Error' });
      });
    });
    this.#http.on('upgrade', (req, socket, head) => {
      const p = new URL(req.url ?? '/', 'http://x').pathname.replace(/^\/api(?=\/)/, '');
      if (p === '/ws' && !this.#crashed) this.#hub.handleUpgrade(req, socket, head);
      else socket.destroy();
    });
  }

  /** What the real v0.27.1 server answered on /features and to a client's feature_flags. */
  get features(): Record<string, unknown> {
    return { supports_preview_metadata: true, max_upload_size: this.settings.maxUploadBytes, extension: { manager: { supports_v4: true } }, node_replacements: true, assets: false };
  }

  get queueRemaining(): number {
    return this.#pending.length + (this.#running ? 1 : 0);
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
    this.#log.write('Starting server\n');
    this.#log.write(`To see the GUI go to: http://${host}:${this.#port}`);
  }

  /** The process "dies": every socket cut, the port closed, nothing more runs. */
  crash(): void {
    this.#crashed = true;
    this.#hub.terminateAll();
    this.#http.closeAllConnections();
    this.#http.close();
    this.settings.onCrash?.();
  }

  async close(): Promise<void> {
    clearTimeout(this.#slowStart);
    this.#crashed = true;
    this.#executor.interrupt();
    this.#hub.close();
    this.#http.closeAllConnections();
    await new Promise<void>((resolve) => (this.#http.listening ? this.#http.close(() => resolve()) : resolve()));
  }

  /** Queues a prompt as ComfyUI's POST /prompt does (validation included); used by the route and the foreign-prompt knob. */
  submit(body: Record<string, unknown>): { status: number; body: unknown } {
    this.#log.write('got prompt');
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
    const result = validatePrompt(body.prompt, this.registry, this.settings.dirs, partial);
    this.#logValidation(result.nodeErrors);
    if (!result.ok) {
      this.#log.write(`invalid prompt: ${JSON.stringify(result.error)}`);
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
    this.#broadcastStatus();
    void this.#pump();
    return { status: 200, body: { prompt_id: promptId, number, node_errors: result.nodeErrors } };
  }

  /** execution.py logs every failed input with its details, which name the values (file names, texts). */
  #logValidation(nodeErrors: Record<string, unknown>): void {
    for (const [id, entry] of Object.entries(nodeErrors)) {
      const { errors, dependent_outputs: outputs, class_type: classType } = entry as { errors: Array<{ message: string; details: string }>; dependent_outputs: string[]; class_type: string };
      this.#log.write(`Failed to validate prompt for output ${outputs[0] ?? id}:`);
      this.#log.write(`* ${classType} ${id}:`);
      for (const e of errors) this.#log.write(`  - ${e.message}: ${e.details}`);
      this.#log.write('Output will be ignored');
    }
  }

  #broadcastStatus(): void {
    this.#hub.send('status', { status: { exec_info: { queue_remaining: this.queueRemaining } } }, null);
  }

  async #pump(): Promise<void> {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      while (this.#pending.length > 0 && !this.#crashed) {
        const item = this.#pending.shift()!;
        this.#running = item;
        this.#broadcastStatus();
        await this.#execute(item);
        this.#running = null;
        this.#applyFlags();
      }
    } finally {
      this.#pumping = false;
    }
  }

  /** main.py's prompt_worker after each prompt: free_memory resets the cache; unload_models defaults to free_memory. */
  #applyFlags(): void {
    const flags = this.#flags;
    this.#flags = {};
    // Models would be unloaded here too (`{"unload_models": false}` sets no flag, so it defaults to free_memory); the
    // simulator has none loaded.
    if (flags.free_memory) this.#executor.clearCache();
  }

  async #execute(item: QueueItem & { clientId?: string }): Promise<void> {
    const [, promptId, prompt, extra, outputs] = item;
    const started = Date.now();
    const clientId = item.clientId ?? null;
    const hub = this.#hub;
    const emit = Object.assign(
      (type: string, data: Record<string, unknown>, audience: 'submitter' | 'submitter-or-all') => {
        if (clientId === null && audience === 'submitter') return; // no client id: those events go nowhere
        hub.send(type, data, clientId);
      },
      {
        preview: (image: Buffer, format: 'PNG' | 'JPEG', nodeId: string, to: 'metadata' | 'legacy') =>
          hub.sendPreview(image, format, { node_id: nodeId, prompt_id: promptId, display_node_id: nodeId, parent_node_id: null, real_node_id: nodeId }, clientId, to),
      },
    );
    const pnginfo = extra.extra_pnginfo;
    const outcome: Outcome = await this.#executor.run(promptId, prompt, outputs, emit, {
      previews: extra.preview_method !== 'none',
      metadata: this.settings.disableMetadata ? null : { prompt, ...(pnginfo && typeof pnginfo === 'object' ? { extraPnginfo: pnginfo as Record<string, unknown> } : {}) },
    });
    if (outcome.status === 'crashed') return;
    if (outcome.status === 'interrupted') this.#log.write('Processing interrupted');
    const error = outcome.messages.find(([type]) => type === 'execution_error')?.[1];
    if (error) {
      // execution.py: the exception's text, then its traceback (both hold whatever the node put in its message).
      this.#log.write(`!!! Exception during processing !!! ${String(error.exception_message)}`);
      this.#log.write(`Traceback (most recent call last):\n${(error.traceback as string[]).join('')}`);
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
    this.#running = null;
    this.#broadcastStatus();
    emit('executing', { node: null, prompt_id: promptId }, 'submitter');
    this.#log.write(`Prompt executed in ${((Date.now() - started) / 1000).toFixed(2)} seconds`);
  }

  /** Queues a prompt of another client (fault knob: other users' work interleaved with ours). */
  submitForeign(): string {
    const prompt = {
      '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 0 } },
      '2': { class_type: 'PreviewImage', inputs: { images: ['1', 0] } },
    };
    const res = this.submit({ prompt, client_id: `foreign-${randomUUID()}`, prompt_id: randomUUID() });
    const id = (res.body as { prompt_id: string }).prompt_id;
    this.foreignIds.push(id);
    return id;
  }

  async #route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const pathname = url.pathname.replace(/^\/api(?=\/)/, '');
    const method = req.method ?? 'GET';
    this.calls.push({ method, path: pathname, at: Date.now() });

    // server.py's origin middleware: a browser page elsewhere must not drive a loopback ComfyUI.
    const host = req.headers.host ?? '';
    const origin = req.headers.origin;
    if (origin && /^(127\.0\.0\.1|localhost|\[::1\])(:\d+)?$/.test(host) && new URL(origin).host !== host) {
      res.writeHead(403).end();
      return;
    }

    const limit = this.settings.maxUploadBytes;
    if (method === 'POST' && pathname === '/prompt') {
      const body = await readJson(req, limit);
      const foreign = this.settings.foreignPrompts;
      for (let n = 0; n < foreign; n++) this.submitForeign();
      const result = this.submit(body);
      return json(res, result.status, result.body);
    }
    if (method === 'GET' && pathname === '/prompt') return json(res, 200, { exec_info: { queue_remaining: this.queueRemaining } });
    if (method === 'GET' && pathname === '/history') {
      const max = Number(url.searchParams.get('max_items') ?? Infinity);
      const offset = Number(url.searchParams.get('offset') ?? 0);
      const entries = [...this.#history.entries()].slice(offset > 0 ? offset : 0, Number.isFinite(max) ? (offset > 0 ? offset : 0) + max : undefined);
      return json(res, 200, Object.fromEntries(entries));
    }
    if (method === 'GET' && pathname.startsWith('/history/')) {
      const id = decodeURIComponent(pathname.slice('/history/'.length));
      const entry = this.#history.get(id);
      return json(res, 200, entry ? { [id]: entry } : {});
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
      return json(res, 200, { queue_running: this.#running ? [strip(this.#running)] : [], queue_pending: this.#pending.map(strip) });
    }
    if (method === 'POST' && pathname === '/queue') {
      const body = await readJson(req, limit);
      if (body.clear) this.#pending = [];
      if (Array.isArray(body.delete)) this.#pending = this.#pending.filter((i) => !(body.delete as unknown[]).includes(i[1]));
      this.#broadcastStatus();
      res.writeHead(200).end();
      return;
    }
    if (method === 'POST' && pathname === '/interrupt') {
      const body = await readJson(req, limit);
      // With a prompt_id, only that prompt is interrupted, and only if it is the one running.
      if (body.prompt_id === undefined || this.#running?.[1] === body.prompt_id) this.#executor.interrupt();
      res.writeHead(200).end();
      return;
    }
    if (method === 'POST' && pathname === '/free') {
      // server.py only sets flags (a false one not at all); the queue loop acts on them after the prompt running, or
      // as soon as it wakes when idle. The answer comes before either.
      const body = await readJson(req, limit);
      if (this.settings.faults.freeFails) throw new HttpError(500, { error: 'Internal Server Error' });
      if (body.unload_models) this.#flags.unload_models = body.unload_models;
      if (body.free_memory) this.#flags.free_memory = body.free_memory;
      setImmediate(() => {
        if (!this.#pumping) this.#applyFlags();
      });
      res.writeHead(200).end();
      return;
    }
    if (method === 'GET' && pathname === '/internal/logs') return json(res, 200, this.#log.text());
    if (method === 'GET' && pathname === '/internal/logs/raw') return json(res, 200, this.#log.raw());
    if (method === 'PATCH' && pathname === '/internal/logs/subscribe') {
      const body = await readJson(req, limit);
      this.#log.subscribe(String(body.clientId), Boolean(body.enabled));
      res.writeHead(200).end();
      return;
    }
    if (method === 'GET' && pathname === '/view') return this.#view(url, res);
    if (method === 'POST' && (pathname === '/upload/image' || pathname === '/upload/mask')) return this.#upload(req, res);
    if (method === 'GET' && pathname === '/system_stats') {
      return json(res, 200, {
        system: {
          os: process.platform,
          ram_total: 24 * 1024 ** 3,
          ram_free: 20 * 1024 ** 3,
          comfyui_version: '0.27.1-simulator',
          required_frontend_version: '1.45.20',
          installed_templates_version: null,
          required_templates_version: '0.11.6',
          comfy_package_versions: [],
          python_version: '3.12.0 (simulated)',
          pytorch_version: '2.8.0+simulated',
          embedded_python: false,
          deploy_environment: 'simulator',
          argv: ['main.py', '--listen', this.settings.host, '--port', String(this.#port)],
        },
        devices: [{ name: 'cuda:0 Simulated GPU', type: 'cuda', index: 0, vram_total: 24 * 1024 ** 3, vram_free: 23 * 1024 ** 3, torch_vram_total: 0, torch_vram_free: 0 }],
      });
    }
    // ComfyUI serves its frontend here; the simulator has none to serve.
    if (method === 'GET' && pathname === '/') {
      res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>ComfyUI simulator</title>');
      return;
    }
    if (method === 'GET' && pathname === '/object_info') {
      const lists = this.#comboLists();
      return json(res, 200, Object.fromEntries([...this.registry.values()].map((d) => [d.name, objectInfo(d, lists)])));
    }
    if (method === 'GET' && pathname.startsWith('/object_info/')) {
      const def = this.registry.get(decodeURIComponent(pathname.slice('/object_info/'.length)));
      return json(res, 200, def ? { [def.name]: objectInfo(def, this.#comboLists()) } : {});
    }
    if (method === 'GET' && pathname === '/features') return json(res, 200, this.features);
    // As ComfyUI: embedding names without their extension, the folder kinds, one kind's files (404 for an unknown one).
    if (method === 'GET' && pathname === '/embeddings') return json(res, 200, this.#models('embeddings').map((n) => n.slice(0, n.length - path.extname(n).length)));
    if (method === 'GET' && pathname === '/models') return json(res, 200, Object.keys(MODEL_FOLDERS));
    if (method === 'GET' && pathname.startsWith('/models/')) {
      const folder = decodeURIComponent(pathname.slice('/models/'.length));
      if (isModelFolder(folder)) return json(res, 200, this.#models(folder));
      res.writeHead(404).end('404: Not Found');
      return;
    }
    res.writeHead(404).end('404: Not Found');
  }

  /** The dynamic combos' lists, read now (ComfyUI lists its folders afresh on each /object_info); each folder once. */
  #comboLists(): ComboLists {
    const read = new Map<ModelFolder, string[]>();
    const models = (folder: ModelFolder) => read.get(folder) ?? read.set(folder, this.#models(folder)).get(folder)!;
    return { inputImages: this.#inputImages(), models };
  }

  #models(folder: ModelFolder): string[] {
    return listModels(this.settings.modelsDir, folder);
  }

  /** What LoadImage offers: the input dir's image files (top level), sorted, as ComfyUI lists them. */
  #inputImages(): string[] {
    const dir = this.settings.dirs.input;
    return readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isFile() && IMAGE_EXTENSIONS.has(path.extname(e.name).toLowerCase()))
      .map((e) => e.name)
      .sort();
  }

  #dirFor(type: string | null): string | null {
    if (type === null || type === 'output') return this.settings.dirs.output;
    if (type === 'input') return this.settings.dirs.input;
    if (type === 'temp') return this.settings.dirs.temp;
    return null;
  }

  #view(url: URL, res: ServerResponse): void {
    let filename = url.searchParams.get('filename');
    if (!filename) return void res.writeHead(404).end();
    let type = url.searchParams.get('type');
    const annotated = / \[(input|output|temp)\]$/.exec(filename);
    if (annotated) {
      type = annotated[1]!;
      filename = filename.slice(0, annotated.index);
    }
    if (filename.startsWith('/') || filename.includes('..')) return void res.writeHead(400).end();
    const root = this.#dirFor(type);
    if (!root) return void res.writeHead(400).end();
    const subfolder = url.searchParams.get('subfolder') ?? '';
    const dir = path.resolve(root, subfolder);
    if (path.relative(path.resolve(root), dir).startsWith('..')) return void res.writeHead(403).end();
    const file = path.join(dir, path.basename(filename));
    if (!existsSync(file) || !statSync(file).isFile()) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': MIME[path.extname(file).toLowerCase()] ?? 'application/octet-stream', 'content-disposition': `filename="${path.basename(file)}"` });
    createReadStream(file).pipe(res);
  }

  async #upload(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req, this.settings.maxUploadBytes);
    const form = await new Request('http://x', { method: 'POST', headers: { 'content-type': req.headers['content-type'] ?? '' }, body }).formData().catch(() => null);
    const image = form?.get('image');
    if (!form || !image || typeof image === 'string') return void res.writeHead(400).end();
    const root = this.#dirFor((form.get('type') as string | null) ?? 'input');
    if (!root) return void res.writeHead(400).end();
    const subfolder = String(form.get('subfolder') ?? '');
    const dir = path.resolve(root, subfolder);
    if (path.relative(path.resolve(root), dir).startsWith('..')) return void res.writeHead(400).end();
    let name = path.basename(image.name);
    if (!name || name.startsWith('.')) return void res.writeHead(400).end();
    mkdirSync(dir, { recursive: true });
    const overwrite = ['true', '1'].includes(String(form.get('overwrite') ?? '').toLowerCase());
    if (!overwrite) {
      // ComfyUI renames "name (1).ext", "name (2).ext"... rather than replace an existing file.
      const ext = path.extname(name);
      const stem = name.slice(0, name.length - ext.length);
      for (let n = 1; existsSync(path.join(dir, name)); n++) name = `${stem} (${n})${ext}`;
    }
    writeFileSync(path.join(dir, name), Buffer.from(await image.arrayBuffer()));
    json(res, 200, { name, subfolder, type: (form.get('type') as string | null) ?? 'input' });
  }
}

async function freePort(host: string): Promise<number> {
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, host, () => r()));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((r) => probe.close(() => r()));
  return port;
}
