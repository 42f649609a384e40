/**
 * A RunPod-compatible endpoint API on loopback, served by the worker's own pipeline (`comfy-seal worker --local`).
 * Routes and shapes as RunPod's REST API, so runpod-sdk with `baseUrl` works unchanged:
 *   POST /{ep}/run | /{ep}/runsync?wait=ms        GET /{ep}/status/{id} | /{ep}/status-sync/{id}?wait=ms
 *   GET /{ep}/stream/{id}   POST /{ep}/cancel/{id}   GET /{ep}/health   POST /{ep}/purge-queue
 * and runpod-python's local test API without the endpoint segment: POST /run, /runsync, /status/{id}.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { webhookUrlProblem } from '../../shared/webhook.js';
import { corsHeaders, requestProblem } from './guard.js';
import { JobTable, statusBody, type JobRunnerLike, type LocalJob } from './jobs.js';
import { DEFAULT_WEBHOOK_OPTIONS, deliverWebhook, type WebhookOptions } from './webhook.js';

export interface LocalApiOptions {
  runner: JobRunnerLike;
  port?: number;
  host?: string;
  /** RunPod's body limits: 10 MB on /run, 20 MB on /runsync. */
  maxRunBytes?: number;
  maxRunSyncBytes?: number;
  keepMs?: number;
  /** Jobs waiting (not counting the one running) before /run and /runsync answer 429. */
  maxQueue?: number;
  /** Origins (as browsers send them) whose pages may call the endpoint; any other request with an Origin is refused. */
  allowedOrigins?: ReadonlySet<string>;
  /** Webhook delivery; RunPod's 10 s between retries unless a test shortens it. */
  webhook?: Partial<WebhookOptions>;
}

export interface LocalApi {
  url: string;
  port: number;
  jobs: JobTable;
  close(): Promise<void>;
}

const MB = 1024 * 1024;
const ACTIONS = new Set(['run', 'runsync', 'status', 'status-sync', 'stream', 'cancel', 'health', 'purge-queue']);

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** Reads a JSON body, refusing more than `limit` bytes with 413 as RunPod does. */
async function readBody(req: IncomingMessage, limit: number): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) throw new HttpError(413, `request body is ${declared} bytes; this route takes at most ${limit / MB} MB`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new HttpError(413, `request body is over ${limit / MB} MB, the most this route takes`);
    chunks.push(chunk as Buffer);
  }
  if (size === 0) return {};
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new HttpError(400, 'request body is not valid JSON');
  }
}

function inputOf(body: unknown): unknown {
  const input = (body as { input?: unknown } | null)?.input;
  if (input === null || typeof input !== 'object' || Array.isArray(input)) throw new HttpError(400, 'the body must be {"input": {...}}');
  return input;
}

function webhookOf(body: unknown): string | undefined {
  const webhook = (body as { webhook?: unknown }).webhook;
  if (webhook === undefined || webhook === null) return undefined;
  const problem = typeof webhook === 'string' ? webhookUrlProblem(webhook) : 'the webhook must be a URL string';
  if (problem !== null) throw new HttpError(400, problem);
  return webhook as string;
}

function waitParam(url: URL, fallback: number): number {
  const wait = Number(url.searchParams.get('wait') ?? fallback);
  return Number.isFinite(wait) ? Math.min(Math.max(wait, 1_000), 300_000) : fallback;
}

export const DEFAULT_MAX_QUEUE = 100;

export async function startLocalApi(options: LocalApiOptions): Promise<LocalApi> {
  const jobs = new JobTable({ runner: options.runner, ...(options.keepMs ? { keepMs: options.keepMs } : {}) });
  const maxQueue = options.maxQueue ?? DEFAULT_MAX_QUEUE;
  const allowedOrigins = options.allowedOrigins ?? new Set<string>();
  const maxRun = options.maxRunBytes ?? 10 * MB;
  const maxRunSync = options.maxRunSyncBytes ?? 20 * MB;
  const webhookOptions = { ...DEFAULT_WEBHOOK_OPTIONS, ...options.webhook };
  const deliveries = new Set<Promise<boolean>>();
  const stopDeliveries = new AbortController();
  // As RunPod: the final status of a finished (not cancelled) job goes to its webhook.
  jobs.on('settled', (job: LocalJob) => {
    if (job.webhook === undefined || (job.status !== 'COMPLETED' && job.status !== 'FAILED')) return;
    const delivery = deliverWebhook(job.webhook, JSON.stringify(statusBody(job, Date.now())), stopDeliveries.signal, webhookOptions);
    deliveries.add(delivery);
    void delivery.finally(() => deliveries.delete(delivery));
  });

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://local');
    const parts = url.pathname.split('/').filter(Boolean);
    // Unprefixed (runpod-python's test API) or /{endpoint}/...: the endpoint id itself is not checked.
    const rest = parts.length > 0 && ACTIONS.has(parts[0]!) ? parts : parts.slice(1);
    const [action, id] = rest;
    const method = req.method ?? 'GET';
    // Checked before the body is read and again after (others may have queued meanwhile).
    const admit = () => {
      if (jobs.waiting >= maxQueue) {
        throw new HttpError(429, `the queue is full (at most ${maxQueue} waiting); wait for some to finish or cancel them (POST /purge-queue cancels every waiting job), or start the worker with a larger --max-queue`);
      }
    };
    const lookup = () => {
      const job = id ? jobs.get(id) : undefined;
      if (!job) throw new HttpError(404, 'job not found (unknown, or its result has expired)');
      return job;
    };

    if (action === 'run' && method === 'POST' && !id) {
      admit();
      const body = await readBody(req, maxRun);
      admit();
      const job = jobs.submit(inputOf(body), '', webhookOf(body));
      return send(res, 200, { id: job.id, status: 'IN_QUEUE' });
    }
    if (action === 'runsync' && method === 'POST' && !id) {
      admit();
      const body = await readBody(req, maxRunSync);
      admit();
      const job = jobs.submit(inputOf(body), 'sync-', webhookOf(body));
      await jobs.waitFor(job, waitParam(url, 90_000));
      return send(res, 200, statusBody(job, Date.now()));
    }
    if ((action === 'status' || action === 'status-sync') && (method === 'GET' || method === 'POST') && id) {
      const job = lookup();
      if (action === 'status-sync') await jobs.waitFor(job, waitParam(url, 90_000));
      return send(res, 200, statusBody(job, Date.now()));
    }
    if (action === 'stream' && (method === 'GET' || method === 'POST') && id) {
      const job = lookup();
      // Our handler is not a generator: the stream carries no chunks, only the state.
      return send(res, 200, { status: job.status, stream: [] });
    }
    if (action === 'cancel' && method === 'POST' && id) {
      const job = lookup();
      jobs.cancel(job.id);
      return send(res, 200, { id: job.id, status: job.status });
    }
    if (action === 'health' && method === 'GET' && !id) return send(res, 200, jobs.health());
    if (action === 'purge-queue' && method === 'POST' && !id) return send(res, 200, { removed: jobs.purgeQueue(), status: 'completed' });
    throw new HttpError(404, 'no such route');
  }

  const server: Server = createServer((req, res) => {
    const refused = requestProblem(req.headers, allowedOrigins);
    if (refused !== null) return send(res, 403, { error: refused, code: 'BAD_INPUT' });
    for (const [name, value] of Object.entries(corsHeaders(req.headers))) res.setHeader(name, value);
    if (req.method === 'OPTIONS') return void res.writeHead(204).end(); // a listed page's preflight
    route(req, res).catch((error: unknown) => {
      const status = error instanceof HttpError ? error.status : 500;
      const message = error instanceof HttpError ? error.message : 'internal error';
      // Contract §4: every refusal names a code; what the caller sent wrong is BAD_INPUT, anything else ours.
      if (!res.headersSent) send(res, status, { error: message, code: status < 500 ? 'BAD_INPUT' : 'INTERNAL' });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 8000, options.host ?? '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = options.host ?? '127.0.0.1';
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    jobs,
    close: async () => {
      // Stop taking requests, then cancel what is queued or running (the pipeline interrupts and wipes it).
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await jobs.shutdown();
      stopDeliveries.abort();
      await Promise.all(deliveries);
      await closed;
    },
  };
}
