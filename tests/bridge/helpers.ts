/**
 * The bridge against the real chain: the simulator, the built `comfy-seal worker --local` in front of it, a recording
 * proxy in front of that (every request body the endpoint gets), and the bridge in-process; plus a ComfyUI client
 * over real sockets (POST /prompt with a client_id, /ws messages in order, binary frames kept apart).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import WebSocket from 'ws';
import { foldersUnder, startBridge, type Bridge } from '../../bridge/server.js';
import type { FrontEnd } from '../../bridge/webui/index.js';
import { S3BlobStore } from '../../client/blob/s3.js';
import { ComfySealClient } from '../../client/client.js';
import { Fernet } from '../../shared/fernet.js';
import type { S3 } from '../helpers/s3.js';
import { startLocalStack, type LocalStack } from '../helpers/services.js';

export interface BridgeRig {
  stack: LocalStack;
  bridge: Bridge;
  /** Every request body the endpoint received (through the proxy), as text. */
  sent: string[];
  /** The status lines the bridge reported. */
  lines: string[];
  base: string;
  close(): Promise<void>;
}

/** Forwards everything to `target`, keeping each request body. */
async function recordingProxy(target: string, sent: string[]): Promise<{ url: string; server: Server }> {
  const to = new URL(target);
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      sent.push(`${req.method} ${req.url}\n${body.toString('utf8')}`);
      const headers = { ...req.headers, host: to.host };
      const out = request({ host: to.hostname, port: to.port, method: req.method, path: req.url, headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      out.on('error', () => res.writeHead(502).end());
      out.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

export interface BridgeRigOptions {
  maxJobs?: number;
  blobs?: S3;
  /** The web UI the bridge serves. */
  frontEnd?: FrontEnd;
  /** The endpoint's checkpoints. @default ['sd15.safetensors'] */
  checkpoints?: string[];
  /** The simulator's time per sampler step. @default 20 */
  stepMs?: number;
}

export async function startBridgeRig(options: BridgeRigOptions = {}): Promise<BridgeRig> {
  const key = Fernet.generateKey();
  const models = mkdtempSync(path.join(os.tmpdir(), 'cs-bridge-models-'));
  mkdirSync(path.join(models, 'checkpoints'));
  for (const name of options.checkpoints ?? ['sd15.safetensors']) writeFileSync(path.join(models, 'checkpoints', name), 'x');
  // The worker may fetch blobs from a loopback store only when told (a test's s3rver).
  const stack = await startLocalStack(key, { modelsDir: models, stepMs: options.stepMs ?? 20 }, options.blobs ? { COMFY_SEAL_BLOB_ALLOW_PRIVATE: '1' } : {});
  const sent: string[] = [];
  const proxy = await recordingProxy(stack.worker.url, sent);
  const base = mkdtempSync(path.join(os.tmpdir(), 'cs-bridge-'));
  const lines: string[] = [];
  const blobStore = options.blobs ? { blobStore: new S3BlobStore(`s3://${options.blobs.bucket}/jobs`, options.blobs.env) } : {};
  const client = new ComfySealClient({ endpointId: 'e2e', apiUrl: proxy.url, key, pollMinMs: 30, pollMaxMs: 60, env: { HOME: base }, ...blobStore });
  const bridge = await startBridge({
    client,
    folders: foldersUnder(base),
    port: 0,
    env: { HOME: base },
    ...(options.maxJobs ? { maxJobs: options.maxJobs } : {}),
    ...(options.frontEnd ? { frontEnd: options.frontEnd } : {}),
    report: (id, state) => lines.push(`${id} ${state}`),
  });
  return {
    stack,
    bridge,
    sent,
    lines,
    base,
    close: async () => {
      await bridge.close();
      proxy.server.closeAllConnections();
      await new Promise((r) => proxy.server.close(r));
      await stack.close();
      rmSync(base, { recursive: true, force: true });
      rmSync(models, { recursive: true, force: true });
    },
  };
}

export interface ComfyClient {
  ws: WebSocket;
  /** Text messages, parsed. */
  messages: Array<{ type: string; data: Record<string, unknown> }>;
  /** Binary frames. */
  frames: Buffer[];
  /** Resolves when `executing {node: null, prompt_id}` arrives. */
  done(promptId: string, timeoutMs?: number): Promise<void>;
  close(): void;
}

export async function connectClient(url: string, clientId: string, previewMetadata = false): Promise<ComfyClient> {
  const ws = new WebSocket(`${url.replace('http', 'ws')}/ws?clientId=${clientId}`);
  const messages: ComfyClient['messages'] = [];
  const frames: Buffer[] = [];
  const waiters: Array<() => void> = [];
  ws.on('message', (data, isBinary) => {
    if (isBinary) frames.push(data as Buffer);
    else messages.push(JSON.parse(String(data)) as ComfyClient['messages'][number]);
    for (const w of waiters.splice(0)) w();
  });
  await new Promise((r, j) => ws.once('open', r).once('error', j));
  if (previewMetadata) ws.send(JSON.stringify({ type: 'feature_flags', data: { supports_preview_metadata: true } }));
  const finished = (id: string) => messages.some((m) => m.type === 'executing' && m.data.node === null && m.data.prompt_id === id);
  return {
    ws,
    messages,
    frames,
    done: (promptId, timeoutMs = 30_000) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no end for ${promptId}: ${JSON.stringify(messages.map((m) => m.type))}`)), timeoutMs);
        const check = () => {
          if (finished(promptId)) {
            clearTimeout(timer);
            resolve();
          } else waiters.push(check);
        };
        check();
      }),
    close: () => ws.close(),
  };
}

export { getJson, postJson } from '../helpers/http.js';

/** One rig for a whole test file: started before its first test, closed after its last. */
export function useBridgeRig(options: BridgeRigOptions = {}): () => BridgeRig {
  let rig: BridgeRig | undefined;
  beforeAll(async () => {
    rig = await startBridgeRig(options);
  }, 60_000);
  afterAll(async () => {
    await rig?.close();
  });
  return () => rig!;
}
