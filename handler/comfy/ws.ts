/**
 * One WebSocket to ComfyUI for the worker's whole life, under one clientId, reconnected with backoff when it drops.
 * ComfyUI drops (does not buffer) messages for a client that is not connected, so every drop is reported as a 'down'
 * and every reconnect as an 'up': the job watching a prompt then asks /history for what it may have missed.
 * Binary frames (live previews) are passed on as 'binary' only while someone listens: a job without previews pays nothing.
 */
import { EventEmitter } from 'node:events';
import WebSocket from 'ws';
import { SealError } from '../../shared/errors.js';
import { parseEvent, type ComfyEvent } from './messages.js';

export interface ComfySocketOptions {
  /** ComfyUI's origin (http://...); the socket is ws://.../ws?clientId=... */
  url: string;
  clientId: string;
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
  /** Frames larger than this close the socket (previews are small; nothing legitimate is near it). */
  maxPayload?: number;
}

const DEFAULTS = { reconnectMinMs: 50, reconnectMaxMs: 2_000, maxPayload: 64 * 1024 * 1024 };

export interface ComfySocketEvents {
  event: [ComfyEvent];
  up: [];
  down: [];
  binary: [Buffer];
}

/**
 * Sent first on every connection: previews then come as type 4 frames, which name their prompt and node (type 1 frames
 * say neither). A release without feature flags ignores the message and sends type 1.
 */
const FEATURE_FLAGS = JSON.stringify({ type: 'feature_flags', data: { supports_preview_metadata: true } });

export class ComfySocket extends EventEmitter<ComfySocketEvents> {
  readonly clientId: string;
  readonly #url: string;
  readonly #options: typeof DEFAULTS;
  #ws: WebSocket | null = null;
  #open = false;
  #closed = false;
  #attempt = 0;
  #timer: NodeJS.Timeout | null = null;

  constructor(options: ComfySocketOptions) {
    super();
    this.clientId = options.clientId;
    const url = new URL(options.url);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    url.pathname = '/ws';
    url.search = `clientId=${encodeURIComponent(options.clientId)}`;
    this.#url = url.toString();
    this.#options = {
      reconnectMinMs: options.reconnectMinMs ?? DEFAULTS.reconnectMinMs,
      reconnectMaxMs: options.reconnectMaxMs ?? DEFAULTS.reconnectMaxMs,
      maxPayload: options.maxPayload ?? DEFAULTS.maxPayload,
    };
    this.#connect();
  }

  get isOpen(): boolean {
    return this.#open;
  }

  /** Resolves once the socket is open; COMFY_UNAVAILABLE after `timeoutMs`. */
  waitOpen(timeoutMs: number): Promise<void> {
    if (this.#open) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off('up', onUp);
        reject(new SealError('COMFY_UNAVAILABLE', 'ComfyUI WebSocket did not open in time'));
      }, timeoutMs);
      const onUp = () => {
        clearTimeout(timer);
        resolve();
      };
      this.once('up', onUp);
    });
  }

  #connect(): void {
    if (this.#closed) return;
    const ws = new WebSocket(this.#url, { maxPayload: this.#options.maxPayload, perMessageDeflate: false });
    this.#ws = ws;
    ws.on('open', () => {
      ws.send(FEATURE_FLAGS);
      this.#attempt = 0;
      this.#open = true;
      this.emit('up');
    });
    ws.on('message', (data, isBinary) => {
      if (isBinary) {
        if (this.listenerCount('binary') > 0) this.emit('binary', toBuffer(data));
        return;
      }
      const event = parseEvent(data.toString());
      if (event) this.emit('event', event);
    });
    ws.on('error', () => {
      // 'close' follows every 'error'; the reconnect happens there.
    });
    ws.on('close', () => {
      if (this.#ws !== ws) return;
      this.#ws = null;
      const wasOpen = this.#open;
      this.#open = false;
      if (wasOpen) this.emit('down');
      this.#scheduleReconnect();
    });
  }

  #scheduleReconnect(): void {
    if (this.#closed || this.#timer) return;
    const delay = Math.min(this.#options.reconnectMaxMs, this.#options.reconnectMinMs * 2 ** this.#attempt);
    this.#attempt += 1;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#connect();
    }, delay);
    this.#timer.unref();
  }

  close(): void {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    const ws = this.#ws;
    this.#ws = null;
    this.#open = false;
    ws?.terminate();
  }
}

function toBuffer(data: WebSocket.RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  return Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
}
