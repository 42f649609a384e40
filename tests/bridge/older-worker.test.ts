/**
 * A worker image older than the bridge refuses the bundle options the bridge sends (BAD_INPUT "options has N unknown
 * fields"), so every prompt fails: the bridge says why and what to do, in execution_error and in its status line.
 * The endpoint is a small local HTTP server answering as RunPod does for that failure (sealed, as a worker seals it).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { foldersUnder, startBridge, type Bridge } from '../../bridge/server.js';
import { ComfySealClient } from '../../client/client.js';
import { sealError } from '../../shared/envelope.js';
import { SealError } from '../../shared/errors.js';
import { Fernet } from '../../shared/fernet.js';
import { connectClient, postJson } from './helpers.js';

const key = Fernet.generateKey();
let endpoint: Server;
let bridge: Bridge;
let base: string;
const lines: string[] = [];

beforeAll(async () => {
  // What an older worker answers: the job failed on the bundle's options, its details sealed with the key.
  endpoint = createServer((req, res) => {
    const reply = (body: unknown) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    req.resume().on('end', () => {
      if (req.method === 'POST' && req.url!.endsWith('/run')) return reply({ id: 'job-old', status: 'IN_QUEUE' });
      if (req.url!.includes('/status/job-old')) {
        const error = sealError(new SealError('BAD_INPUT', 'the request is not valid: options has 2 unknown fields (known: timeout_s)'), new Fernet(key), 'job-old');
        return reply({ id: 'job-old', status: 'FAILED', error });
      }
      reply({});
    });
  });
  await new Promise<void>((r) => endpoint.listen(0, '127.0.0.1', r));
  base = mkdtempSync(path.join(os.tmpdir(), 'cs-bridge-old-'));
  const apiUrl = `http://127.0.0.1:${(endpoint.address() as AddressInfo).port}`;
  const client = new ComfySealClient({ endpointId: 'old', apiUrl, key, pollMinMs: 20, pollMaxMs: 40, env: { HOME: base } });
  const objectInfoFile = path.join(import.meta.dirname, '..', 'fixtures', 'comfyui-v0.27.1', 'object_info.json');
  bridge = await startBridge({ client, folders: foldersUnder(base), port: 0, env: { HOME: base }, objectInfoFile, report: (id, state) => lines.push(`${id} ${state}`) });
});

afterAll(async () => {
  await bridge?.close();
  endpoint?.closeAllConnections();
  await new Promise((r) => endpoint?.close(r));
  rmSync(base, { recursive: true, force: true });
});

it("says the endpoint's image is older than the bridge and must be updated, in execution_error and the status line", async () => {
  const c = await connectClient(bridge.url, 'old-client');
  const prompt = {
    '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 0 } },
    '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'x' } },
  };
  const queued = await postJson(bridge.url, '/prompt', { prompt, client_id: 'old-client' });
  expect(queued.status).toBe(200);
  const id = queued.json.prompt_id as string;
  await c.done(id);
  c.close();
  const error = c.messages.find((m) => m.type === 'execution_error')?.data;
  expect(error?.exception_type).toBe('comfy_seal.WORKER_TOO_OLD');
  expect(error?.exception_message).toMatch(/worker image is older than this comfy-seal bridge.*update the endpoint to the current comfy-seal image/);
  expect(error?.exception_message).toContain('options has 2 unknown fields');
  expect(lines.find((l) => l.startsWith(`${id} failed`))).toMatch(/^\S+ failed \(BAD_INPUT\): the endpoint's worker image is older than this comfy-seal bridge/);
});
