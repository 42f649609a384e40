/**
 * The WebSocket side, as ComfyUI's server.py does it: one socket per clientId (a new one replaces the old in the table,
 * the old is not closed), messages for an absent client dropped, status broadcast, binary preview frames.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';

export interface HubOptions {
  /** Close a client's socket after this many messages were sent on it (fault knob). */
  dropAfterMessages?: number;
  queueRemaining: () => number;
  /** The node the given client's prompt is running, if any (sent on connect, as ComfyUI does). */
  executingFor: (clientId: string) => string | null;
  /** The server's feature flags: /features, and the answer to a client's own `feature_flags` message. */
  features: Record<string, unknown>;
}

interface Client {
  ws: WebSocket;
  sent: number;
  previewMetadata: boolean;
}

export class Hub {
  readonly #wss = new WebSocketServer({ noServer: true });
  readonly #clients = new Map<string, Client>();
  readonly #options: HubOptions;

  constructor(options: HubOptions) {
    this.#options = options;
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://x');
    const clientId = url.searchParams.get('clientId') || randomUUID().replaceAll('-', '');
    this.#wss.handleUpgrade(req, socket, head, (ws) => {
      const client: Client = { ws, sent: 0, previewMetadata: false };
      this.#clients.set(clientId, client);
      let first = true;
      ws.on('message', (data, isBinary) => {
        if (isBinary) return;
        // Only a first message can be the client's feature flags; ComfyUI answers with its own.
        const isFirst = first;
        first = false;
        try {
          const msg = JSON.parse(data.toString()) as { type?: string; data?: { supports_preview_metadata?: boolean } };
          if (isFirst && msg.type === 'feature_flags') {
            client.previewMetadata = Boolean(msg.data?.supports_preview_metadata);
            this.#sendTo(client, JSON.stringify({ type: 'feature_flags', data: this.#options.features }));
          }
        } catch {
          // ComfyUI ignores what it cannot parse.
        }
      });
      ws.on('close', () => {
        if (this.#clients.get(clientId) === client) this.#clients.delete(clientId);
      });
      ws.on('error', () => undefined);
      this.#sendTo(client, JSON.stringify({ type: 'status', data: { status: { exec_info: { queue_remaining: this.#options.queueRemaining() } }, sid: clientId } }));
      const node = this.#options.executingFor(clientId);
      if (node !== null) this.#sendTo(client, JSON.stringify({ type: 'executing', data: { node } }));
    });
  }

  #sendTo(client: Client, payload: string | Buffer): void {
    if (client.ws.readyState !== client.ws.OPEN) return;
    client.ws.send(payload);
    client.sent += 1;
    const limit = this.#options.dropAfterMessages;
    if (limit !== undefined && client.sent >= limit) client.ws.terminate();
  }

  isConnected(clientId: string): boolean {
    return this.#clients.has(clientId);
  }

  /** To one client (dropped if it is not connected), or to everyone when `clientId` is null. */
  send(type: string, data: unknown, clientId: string | null): void {
    const payload = JSON.stringify({ type, data });
    if (clientId === null) for (const c of this.#clients.values()) this.#sendTo(c, payload);
    else {
      const client = this.#clients.get(clientId);
      if (client) this.#sendTo(client, payload);
    }
  }

  /**
   * Binary preview: type 4 `[4][len][meta][bytes]` to clients that asked for metadata (`to: 'metadata'`), or type 1
   * `[1][fmt][bytes]` to the others (`to: 'legacy'`); ComfyUI sends each kind from a different place in the step.
   */
  sendPreview(image: Buffer, format: 'PNG' | 'JPEG', meta: Record<string, unknown>, clientId: string | null, to: 'metadata' | 'legacy'): void {
    const targets = clientId === null ? [...this.#clients.values()] : [this.#clients.get(clientId)].filter((c): c is Client => !!c);
    for (const client of targets) {
      if (client.previewMetadata !== (to === 'metadata')) continue;
      const header = Buffer.alloc(8);
      if (to === 'metadata') {
        const json = Buffer.from(JSON.stringify({ ...meta, image_type: format === 'PNG' ? 'image/png' : 'image/jpeg' }));
        header.writeUInt32BE(4, 0);
        header.writeUInt32BE(json.length, 4);
        this.#sendTo(client, Buffer.concat([header, json, image]));
      } else {
        header.writeUInt32BE(1, 0);
        header.writeUInt32BE(format === 'PNG' ? 2 : 1, 4);
        this.#sendTo(client, Buffer.concat([header, image]));
      }
    }
  }

  /** Every socket, old replaced ones included, is cut (the process died). */
  terminateAll(): void {
    for (const ws of this.#wss.clients) ws.terminate();
    this.#clients.clear();
  }

  close(): void {
    this.terminateAll();
    this.#wss.close();
  }
}
