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
      ws.on('message', (data, isBinary) => {
        if (isBinary) return;
        try {
          const msg = JSON.parse(data.toString()) as { type?: string; data?: { supports_preview_metadata?: boolean } };
          if (msg.type === 'feature_flags') client.previewMetadata = Boolean(msg.data?.supports_preview_metadata);
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

  /** To one client (dropped if it is not connected), or to everyone when `clientId` is null. */
  send(type: string, data: unknown, clientId: string | null): void {
    const payload = JSON.stringify({ type, data });
    if (clientId === null) for (const c of this.#clients.values()) this.#sendTo(c, payload);
    else {
      const client = this.#clients.get(clientId);
      if (client) this.#sendTo(client, payload);
    }
  }

  /** Binary preview: type 1 `[1][fmt][bytes]`, or type 4 `[4][len][meta][bytes]` for clients that asked for metadata. */
  sendPreview(image: Buffer, format: 'PNG' | 'JPEG', meta: Record<string, unknown>, clientId: string | null): void {
    const targets = clientId === null ? [...this.#clients.values()] : [this.#clients.get(clientId)].filter((c): c is Client => !!c);
    for (const client of targets) {
      if (client.previewMetadata) {
        const json = Buffer.from(JSON.stringify({ ...meta, image_type: format === 'PNG' ? 'image/png' : 'image/jpeg' }));
        const header = Buffer.alloc(8);
        header.writeUInt32BE(4, 0);
        header.writeUInt32BE(json.length, 4);
        this.#sendTo(client, Buffer.concat([header, json, image]));
      } else {
        const header = Buffer.alloc(8);
        header.writeUInt32BE(1, 0);
        header.writeUInt32BE(format === 'PNG' ? 2 : 1, 4);
        this.#sendTo(client, Buffer.concat([header, image]));
      }
    }
  }

  /** Type 3 text frame `[3][len(node_id)][node_id][text]`. */
  sendText(nodeId: string, text: string, clientId: string | null): void {
    const id = Buffer.from(nodeId);
    const header = Buffer.alloc(8);
    header.writeUInt32BE(3, 0);
    header.writeUInt32BE(id.length, 4);
    const frame = Buffer.concat([header, id, Buffer.from(text)]);
    const targets = clientId === null ? [...this.#clients.values()] : [this.#clients.get(clientId)].filter((c): c is Client => !!c);
    for (const client of targets) this.#sendTo(client, frame);
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
