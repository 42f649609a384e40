/**
 * ComfyUI's HTTP API, as the worker uses it: keep-alive connections (undici Pool) to one origin on loopback, bounded
 * request times, and retries only where repeating cannot do harm.
 */
import pRetry, { AbortError } from 'p-retry';
import { Pool } from 'undici';
import { SealError } from '../../shared/errors.js';
import type { HistoryEntry } from './messages.js';

export interface ComfyHttpOptions {
  /** ComfyUI's origin, e.g. http://127.0.0.1:8188. */
  url: string;
  /** Per-request limit (headers and body). */
  requestTimeoutMs?: number;
  /** Tries after the first for calls that are safe to repeat. */
  retries?: number;
  /** First retry delay; doubles up to 1 s. */
  retryMinMs?: number;
}

const DEFAULTS = { requestTimeoutMs: 30_000, retries: 4, retryMinMs: 50 };

export interface PromptResponse {
  status: number;
  body: unknown;
}

/** Errors where the request may never have reached ComfyUI (or it is gone): the only ones worth a retry. */
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

/** The connection-level code of a failed request (its own or its cause's), or undefined for other failures. */
export function connectionCode(error: unknown): string | undefined {
  for (let e: unknown = error; e && typeof e === 'object'; e = (e as { cause?: unknown }).cause) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && CONNECTION_CODES.has(code)) return code;
  }
  return undefined;
}

export class ComfyHttp {
  readonly origin: string;
  readonly #pool: Pool;
  readonly #options: Required<Omit<ComfyHttpOptions, 'url'>>;

  constructor(options: ComfyHttpOptions) {
    const url = new URL(options.url);
    this.origin = url.origin;
    this.#options = { ...DEFAULTS, ...stripUndefined(options) } as Required<Omit<ComfyHttpOptions, 'url'>>;
    this.#pool = new Pool(this.origin, {
      connections: 4,
      keepAliveTimeout: 30_000,
      headersTimeout: this.#options.requestTimeoutMs,
      bodyTimeout: this.#options.requestTimeoutMs,
      connect: { timeout: 5_000 },
    });
  }

  /** One request; connection failures become COMFY_UNAVAILABLE, non-JSON bodies are returned as text. */
  async #request(method: 'GET' | 'POST', path: string, body?: unknown): Promise<PromptResponse> {
    try {
      const res = await this.#pool.request({
        method,
        path,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? null : JSON.stringify(body),
      });
      const text = await res.body.text();
      let parsed: unknown = text;
      if (text.length > 0) {
        try {
          parsed = JSON.parse(text);
        } catch {
          // Left as text: callers treat a non-JSON answer as unexpected.
        }
      }
      return { status: res.statusCode, body: parsed };
    } catch (error) {
      const connection = connectionCode(error);
      if (connection) {
        throw new SealError('COMFY_UNAVAILABLE', `ComfyUI did not answer (${connection})`, { path, connection }, { cause: error });
      }
      throw SealError.from(error);
    }
  }

  /** Repeats a safe call on connection errors and 5xx answers, with a short capped backoff. */
  #retrying<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    return pRetry(
      async () => {
        try {
          return await fn();
        } catch (error) {
          if (error instanceof SealError && error.code === 'COMFY_UNAVAILABLE') throw error;
          throw new AbortError(error as Error);
        }
      },
      { retries: this.#options.retries, minTimeout: this.#options.retryMinMs, maxTimeout: 1_000, factor: 2, ...(signal ? { signal } : {}) },
    );
  }

  async #getJson(path: string, signal?: AbortSignal): Promise<unknown> {
    return this.#retrying(async () => {
      const res = await this.#request('GET', path);
      if (res.status >= 500) throw new SealError('COMFY_UNAVAILABLE', `ComfyUI answered ${res.status}`, { path });
      if (res.status !== 200) throw new SealError('INTERNAL', `ComfyUI answered ${res.status} to a GET`, { path, body: res.body });
      return res.body;
    }, signal);
  }

  /** POST /prompt. Retried only when the connection failed before ComfyUI could have queued anything. */
  async postPrompt(body: { prompt: unknown; client_id: string; prompt_id: string }): Promise<PromptResponse> {
    return pRetry(
      async () => {
        try {
          return await this.#request('POST', '/prompt', body);
        } catch (error) {
          // A refused connection sent nothing; after any other failure the prompt may be queued, so never repeat it.
          if (error instanceof SealError && error.details.connection === 'ECONNREFUSED') throw error;
          throw new AbortError(error as Error);
        }
      },
      { retries: this.#options.retries, minTimeout: this.#options.retryMinMs, maxTimeout: 1_000 },
    );
  }

  /** GET /history/{id}: the entry, or null while it is not written ("unknown" and "not finished" look the same). */
  async history(promptId: string, signal?: AbortSignal): Promise<HistoryEntry | null> {
    const body = await this.#getJson(`/history/${encodeURIComponent(promptId)}`, signal);
    const entry = (body as Record<string, unknown> | null)?.[promptId];
    return entry && typeof entry === 'object' ? (entry as HistoryEntry) : null;
  }

  async systemStats(signal?: AbortSignal): Promise<Record<string, unknown>> {
    return (await this.#getJson('/system_stats', signal)) as Record<string, unknown>;
  }

  /** GET /object_info: every node's definition, with the lists of installed models and files. */
  async objectInfo(signal?: AbortSignal): Promise<Record<string, unknown>> {
    return (await this.#getJson('/object_info', signal)) as Record<string, unknown>;
  }

  /** One GET /system_stats, no retry: ComfyUI's version when it answers, null when it does not (yet). */
  async probe(): Promise<string | null> {
    try {
      const res = await this.#request('GET', '/system_stats');
      if (res.status !== 200) return null;
      const version = (res.body as { system?: { comfyui_version?: unknown } })?.system?.comfyui_version;
      return typeof version === 'string' ? version : 'unknown';
    } catch {
      return null;
    }
  }

  /** Fire-and-forget style calls used in cleanup: each is retried, and none is fatal to the caller. */
  async interrupt(promptId: string): Promise<void> {
    await this.#retrying(() => this.#request('POST', '/interrupt', { prompt_id: promptId }));
  }

  async deleteQueued(promptIds: string[]): Promise<void> {
    await this.#retrying(() => this.#request('POST', '/queue', { delete: promptIds }));
  }

  /**
   * POST /free: ComfyUI's node cache is reset once its queue loop takes the flag (after the prompt running, at once
   * when idle). ComfyUI sets no flag for a false value and defaults unload_models to free_memory, so models are
   * unloaded too whatever `unload_models` says.
   */
  async free(): Promise<void> {
    await this.#retrying(async () => {
      const res = await this.#request('POST', '/free', { free_memory: true, unload_models: false });
      if (res.status >= 500) throw new SealError('COMFY_UNAVAILABLE', `ComfyUI answered ${res.status}`, { path: '/free' });
      if (res.status !== 200) throw new SealError('INTERNAL', `ComfyUI answered ${res.status} to /free`, { path: '/free' });
    });
  }

  /**
   * GET /internal/logs: ComfyUI's in-memory log as one string ('' when it keeps nothing, as the image's launcher
   * starts it), or null when this ComfyUI does not serve one.
   */
  async inMemoryLog(): Promise<string | null> {
    return this.#retrying(async () => {
      const res = await this.#request('GET', '/internal/logs');
      if (res.status === 404) return null;
      if (res.status !== 200 || typeof res.body !== 'string') throw new SealError('COMFY_UNAVAILABLE', `ComfyUI answered ${res.status} to /internal/logs`, { path: '/internal/logs' });
      return res.body;
    });
  }

  async deleteHistory(promptIds: string[]): Promise<void> {
    await this.#retrying(() => this.#request('POST', '/history', { delete: promptIds }));
  }

  /** Whether ComfyUI knows a node class (GET /object_info/{class} answers `{}` for an unknown one). */
  async hasNode(classType: string, signal?: AbortSignal): Promise<boolean> {
    const body = await this.#getJson(`/object_info/${encodeURIComponent(classType)}`, signal);
    return body !== null && typeof body === 'object' && classType in body;
  }

  /** GET /queue: prompt ids running and pending. */
  async queue(signal?: AbortSignal): Promise<{ running: string[]; pending: string[] }> {
    const body = (await this.#getJson('/queue', signal)) as { queue_running?: unknown[][]; queue_pending?: unknown[][] };
    const ids = (items: unknown[][] | undefined) => (items ?? []).map((item) => String(item[1]));
    return { running: ids(body.queue_running), pending: ids(body.queue_pending) };
  }

  /** Prompt ids running or pending that were queued under `clientId` (the queue item's extra_data.client_id). */
  async queuedBy(clientId: string): Promise<string[]> {
    const body = (await this.#getJson('/queue')) as { queue_running?: unknown[][]; queue_pending?: unknown[][] };
    return [...(body.queue_running ?? []), ...(body.queue_pending ?? [])]
      .filter((item) => (item[3] as { client_id?: unknown } | null)?.client_id === clientId)
      .map((item) => String(item[1]));
  }

  close(): Promise<void> {
    return this.#pool.close();
  }
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
