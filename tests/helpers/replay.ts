/**
 * A ComfyUI that says exactly what the real v0.27.1 server said in one recorded scenario (tests/fixtures/
 * comfyui-v0.27.1/transcripts): POST /prompt answers as recorded and then plays the recorded WebSocket messages, in order,
 * to the connected client; GET /history answers with the recorded entry. For driving the worker's ComfyUI driver with
 * the real server's messages, over real sockets.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { WebSocketServer, type WebSocket } from 'ws';

export const TRANSCRIPTS = fileURLToPath(new URL('../fixtures/comfyui-v0.27.1/transcripts/', import.meta.url));

interface Exchange {
  method: string;
  path: string;
  request_body: unknown;
  status: number;
  response_json?: unknown;
}
type WsMessage =
  | { kind: 'text'; json: { type: string; data: Record<string, unknown> } }
  | {
      kind: 'binary';
      event_type_be_u32?: number;
      second_word_be_u32?: number;
      decoded?: { metadata?: Record<string, unknown>; image_size?: [number, number] };
    };

const images = new Map<string, Buffer>();
/** An image of the recorded size (the recording kept the frame's header, not its bytes): JPEG, or PNG for format 2. */
function recordedImage(format: number, size: [number, number] = [8, 8]): Buffer {
  const key = `${format}:${size.join('x')}`;
  let image = images.get(key);
  if (!image) {
    const [width, height] = size;
    const data = Buffer.alloc(width * height * 4, 0x80);
    if (format === 2) {
      const png = new PNG({ width, height });
      data.copy(png.data);
      image = PNG.sync.write(png);
    } else image = Buffer.from(jpeg.encode({ width, height, data }, 80).data);
    images.set(key, image);
  }
  return image;
}

/** A recorded binary frame rebuilt: the same type, format or metadata, an image of the recorded size. */
function binaryFrame(m: Extract<WsMessage, { kind: 'binary' }>): Buffer {
  const header = Buffer.alloc(8);
  header.writeUInt32BE(m.event_type_be_u32 ?? 1, 0);
  const meta = m.decoded?.metadata;
  if (m.event_type_be_u32 === 4 && meta) {
    const json = Buffer.from(JSON.stringify(meta));
    header.writeUInt32BE(json.length, 4);
    return Buffer.concat([header, json, recordedImage(meta.image_type === 'image/png' ? 2 : 1, m.decoded?.image_size)]);
  }
  header.writeUInt32BE(m.second_word_be_u32 ?? 1, 4);
  return Buffer.concat([header, recordedImage(m.second_word_be_u32 ?? 1, m.decoded?.image_size)]);
}

export interface Transcript {
  prompt_id: string;
  http: Exchange[];
  ws_messages: WsMessage[];
}

export function loadTranscript(name: string): Transcript {
  return JSON.parse(readFileSync(path.join(TRANSCRIPTS, `${name}.json`), 'utf8')) as Transcript;
}

/** The API workflow the scenario posted. */
export function recordedPrompt(t: Transcript): Record<string, { class_type: string; inputs: Record<string, unknown> }> {
  const post = t.http.find((h) => h.method === 'POST' && h.path === '/prompt');
  return (post!.request_body as { prompt: never }).prompt;
}

export interface Replay {
  url: string;
  /** Every request received: method and path. */
  calls: string[];
  close(): Promise<void>;
}

export async function startReplay(t: Transcript, options: { messageGapMs?: number } = {}): Promise<Replay> {
  const calls: string[] = [];
  const sockets = new Set<WebSocket>();
  const post = t.http.find((h) => h.method === 'POST' && h.path === '/prompt')!;
  const history = [...t.http].reverse().find((h) => h.method === 'GET' && h.path.startsWith('/history/'));
  const play = async () => {
    for (const m of t.ws_messages) {
      await new Promise((r) => setTimeout(r, options.messageGapMs ?? 1));
      for (const ws of sockets) {
        if (m.kind === 'text') ws.send(JSON.stringify(m.json));
        else ws.send(binaryFrame(m));
      }
    }
  };
  const server: Server = createServer((req, res) => {
    calls.push(`${req.method} ${req.url}`);
    req.resume();
    req.on('end', () => {
      const send = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (req.method === 'POST' && req.url === '/prompt') {
        send(post.status, post.response_json);
        void play();
      } else if (req.method === 'GET' && req.url?.startsWith('/history/')) send(200, history?.response_json ?? {});
      else if (req.method === 'GET' && req.url === '/queue') send(200, { queue_running: [], queue_pending: [] });
      else if (req.method === 'GET' && req.url === '/system_stats') send(200, { system: { comfyui_version: '0.27.1' }, devices: [] });
      else send(200, {});
    });
  });
  const wss = new WebSocketServer({ server, path: '/ws' });
  wss.on('connection', (ws) => {
    sockets.add(ws);
    ws.on('close', () => sockets.delete(ws));
    ws.send(JSON.stringify({ type: 'status', data: { status: { exec_info: { queue_remaining: 0 } }, sid: 'replay' } }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    calls,
    close: async () => {
      for (const ws of sockets) ws.terminate();
      wss.close();
      await new Promise((r) => server.close(r));
    },
  };
}
