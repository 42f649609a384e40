/** A WebSocket client of the simulator that keeps every message in the recordings' shape (transcripts' `ws_messages`). */
import WebSocket from 'ws';
import type { Simulator } from '../../simulator/index.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;

export interface Recorded {
  kind: 'text' | 'binary';
  json?: { type: string; data: Record<string, Any> };
  event_type_be_u32?: number;
  second_word_be_u32?: number;
  decoded?: { metadata?: Record<string, unknown> };
}

/** A frame as the recordings describe it. */
function recordedShape(data: WebSocket.RawData, isBinary: boolean): Recorded {
  if (!isBinary) return { kind: 'text', json: JSON.parse(data.toString()) };
  const b = data as Buffer;
  const type = b.readUInt32BE(0);
  if (type !== 4) return { kind: 'binary', event_type_be_u32: type, second_word_be_u32: b.readUInt32BE(4) };
  const metaLength = b.readUInt32BE(4);
  return { kind: 'binary', event_type_be_u32: 4, decoded: { metadata: JSON.parse(b.subarray(8, 8 + metaLength).toString()) } };
}

export class Listener {
  readonly log: Recorded[] = [];
  constructor(readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => this.log.push(recordedShape(data, isBinary)));
  }

  static async open(sim: Simulator, clientId?: string, firstMessage?: unknown): Promise<Listener> {
    const ws = new WebSocket(`${sim.url.replace('http', 'ws')}/ws${clientId ? `?clientId=${clientId}` : ''}`);
    const listener = new Listener(ws);
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    if (firstMessage) ws.send(JSON.stringify(firstMessage));
    return listener;
  }

  until(pred: (m: Recorded) => boolean, what: string, ms = 20_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
      const check = () => {
        if (!this.log.some(pred)) return;
        clearTimeout(timer);
        this.ws.off('message', check);
        resolve();
      };
      this.ws.on('message', check);
      check();
    });
  }

  done(promptId: string): Promise<void> {
    return this.until((m) => m.json?.type === 'executing' && m.json.data.node === null && m.json.data.prompt_id === promptId, `the end of ${promptId}`);
  }
}

