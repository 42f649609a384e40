import { rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { PNG } from 'pngjs';
import { afterEach, describe, expect, it } from 'vitest';
import { ComfySealClient } from '../../client/client.js';
import { ComfySealError, JobFailedError, WebhookRejectedError } from '../../client/errors.js';
import { openWebhook } from '../../client/webhook.js';
import { startLocalApi, type LocalApi } from '../../handler/local/server.js';
import { deliverWebhook } from '../../handler/local/webhook.js';
import { Fernet } from '../../shared/fernet.js';
import { runCli } from '../helpers/cli.js';
import { pngOf, startRig, type Rig } from '../helpers/pipeline.js';

const CANARY = 'canary-webhook-3f1c-heron';
const red = pngOf(4, 3, () => [200, 10, 10]);
const workflow = {
  '1': { class_type: 'LoadImage', inputs: { image: `${CANARY}.png` } },
  '2': { class_type: 'ImageInvert', inputs: { image: ['1', 0] } },
  '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: `inv-${CANARY}` } },
};

interface Receiver {
  url: string;
  bodies: Array<{ text: string; at: number }>;
  /** Status answers for the next deliveries (then 200). */
  answers: number[];
  next(count: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** A webhook receiver on loopback that records every delivery. */
async function startReceiver(port = 0): Promise<Receiver> {
  const bodies: Receiver['bodies'] = [];
  const answers: number[] = [];
  const waiters: Array<() => void> = [];
  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    bodies.push({ text: Buffer.concat(chunks).toString('utf8'), at: Date.now() });
    res.writeHead(answers.shift() ?? 200).end();
    for (const w of waiters.splice(0)) w();
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook?secret=s`,
    bodies,
    answers,
    next: (count, timeoutMs = 10_000) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`receiver: ${bodies.length} of ${count} deliveries`)), timeoutMs);
        const check = () => {
          if (bodies.length >= count) {
            clearTimeout(timer);
            resolve();
          } else waiters.push(check);
        };
        check();
      }),
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

let rig: Rig | undefined;
let api: LocalApi | undefined;
let receiver: Receiver | undefined;
afterEach(async () => {
  await api?.close();
  await rig?.close();
  await receiver?.close();
  rig = api = receiver = undefined;
});

async function setup(retryDelayMs = 150) {
  rig = await startRig();
  api = await startLocalApi({ runner: rig.pipeline, port: 0, webhook: { retryDelayMs } });
  receiver = await startReceiver();
  const client = new ComfySealClient({ endpointId: 'local', apiUrl: api.url, key: rig.key, pollMinMs: 20, pollMaxMs: 50 });
  return { rig, api, receiver, client };
}

const images = [{ name: `${CANARY}.png`, data: red }];

describe('sealed webhooks through the local endpoint', () => {
  it('delivers the final status, retries after a refused first delivery, and the body opens to the job result', async () => {
    const { rig, receiver, client } = await setup();
    receiver.answers.push(500);
    const jobId = await client.submit({ workflow, images, webhook: receiver.url });
    const result = await client.wait(jobId);
    await receiver.next(2);
    expect(receiver.bodies).toHaveLength(2);
    const [first, second] = receiver.bodies;
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(140);
    expect(second!.text).toBe(first!.text);
    const body = JSON.parse(second!.text);
    expect(body).toMatchObject({ id: jobId, status: 'COMPLETED', output: { encrypted_output: expect.any(String) } });
    expect(typeof body.delayTime).toBe('number');
    // Nothing of the bundle in plaintext: not the image's name, not the prefix.
    for (const b of receiver.bodies) expect(b.text).not.toContain(CANARY);

    const event = openWebhook(second!.text, rig.key);
    expect(event.status).toBe('COMPLETED');
    if (event.status !== 'COMPLETED') return;
    expect(event.jobId).toBe(jobId);
    expect(event.result.jobId).toBe(jobId);
    expect(event.result.files.map((f) => f.filename)).toEqual(result.files.map((f) => f.filename));
    expect(event.result.files[0]!.filename).toContain(CANARY); // it was there, sealed
    const png = PNG.sync.read(event.result.files[0]!.data);
    expect([png.data[0], png.data[1], png.data[2]]).toEqual([54, 245, 245]);
    // A second delivery of the same body (RunPod retried) opens the same.
    expect(openWebhook(JSON.parse(first!.text), rig.key).jobId).toBe(jobId);
    expect(rig.leftovers()).toEqual([]);
  });

  it('refuses a replayed or swapped body, a forged token, another key and an unsealed body', async () => {
    const { rig, receiver, client } = await setup();
    const a = await client.submit({ workflow, images, webhook: receiver.url });
    await receiver.next(1);
    const b = await client.submit({ workflow, images, webhook: receiver.url });
    await receiver.next(2);
    const bodyA = JSON.parse(receiver.bodies[0]!.text);
    const bodyB = JSON.parse(receiver.bodies[1]!.text);
    expect([bodyA.id, bodyB.id]).toEqual([a, b]);

    const reason = (body: unknown, key: string | Fernet = rig.key) => {
      try {
        openWebhook(body, key);
        return 'accepted';
      } catch (error) {
        expect(error).toBeInstanceOf(WebhookRejectedError);
        expect((error as WebhookRejectedError).code).toBe('WEBHOOK_REJECTED');
        return (error as WebhookRejectedError).reason;
      }
    };
    expect(reason({ ...bodyA, id: b })).toBe('MISMATCH'); // A's sealed result replayed as B
    expect(reason({ ...bodyB, output: bodyA.output })).toBe('MISMATCH'); // B's body carrying A's result
    const token: string = bodyA.output.encrypted_output;
    const flipped = `${token.slice(0, 40)}${token[40] === 'A' ? 'B' : 'A'}${token.slice(41)}`;
    expect(reason({ ...bodyA, output: { encrypted_output: flipped } })).toBe('FORGED');
    expect(reason(bodyA, Fernet.generateKey())).toBe('FORGED');
    // A character outside ASCII is refused wherever it is, even one whose low byte spells the same token.
    for (const at of [0, 40, token.length >> 1, token.length - 3]) {
      const twin = `${token.slice(0, at)}${String.fromCharCode(0x100 | token.charCodeAt(at))}${token.slice(at + 1)}`;
      expect(reason({ ...bodyA, output: { encrypted_output: twin } })).toBe('FORGED');
      expect(reason(Buffer.from(JSON.stringify({ ...bodyA, output: { encrypted_output: twin } })))).toBe('FORGED');
    }
    expect(reason({ id: a, status: 'FAILED', error: JSON.stringify({ code: 'EXECUTION_FAILED', message: 'trust me' }) })).toBe('UNSEALED');
    expect(reason({ id: a, status: 'COMPLETED', output: { status: 'success', outputs: [] } })).toBe('UNSEALED');
    expect(reason('{"id":')).toBe('MALFORMED');
    expect(reason({ status: 'COMPLETED', output: bodyA.output })).toBe('MALFORMED');
    expect(reason(bodyA, new Fernet(rig.key))).toBe('accepted');
  });

  it('delivers a failed job: its sealed error opens, names the job, and keeps the canary sealed', async () => {
    const { rig, receiver, client } = await setup();
    rig.sim.settings.faults = { errorAt: '3' };
    const jobId = await client.submit({ workflow, images, webhook: receiver.url });
    await receiver.next(1);
    expect(receiver.bodies[0]!.text).not.toContain(CANARY);
    expect(receiver.bodies[0]!.text).not.toContain('SaveImage');
    const event = openWebhook(receiver.bodies[0]!.text, rig.key);
    expect(event.status).toBe('FAILED');
    if (event.status !== 'FAILED') return;
    expect(event.error).toBeInstanceOf(JobFailedError);
    expect(event.error.jobCode).toBe('EXECUTION_FAILED');
    expect(event.error.details.node_type).toBe('SaveImage');
    expect(event.jobId).toBe(jobId);
  });

  it('gives up after two retries, sends nothing for a cancelled job, and refuses non-http webhook URLs', async () => {
    const { api, receiver, client } = await setup(30);
    receiver.answers.push(500, 503, 502, 500);
    await client.wait(await client.submit({ workflow, images, webhook: receiver.url }));
    await receiver.next(3);
    await new Promise((r) => setTimeout(r, 200));
    expect(receiver.bodies).toHaveLength(3);

    rig!.sim.settings.faults = { hangAt: '3' };
    const hung = await client.submit({ workflow, images, webhook: receiver.url });
    await client.cancel(hung);
    await new Promise((r) => setTimeout(r, 300));
    expect(receiver.bodies).toHaveLength(3);

    const refused = await fetch(`${api.url}/local/run`, { method: 'POST', body: JSON.stringify({ input: {}, webhook: 'file:///etc/passwd' }) });
    expect(refused.status).toBe(400);
    expect(await refused.json()).toEqual({ error: expect.stringMatching(/http/), code: 'BAD_INPUT' });
    const error = await client.submit({ workflow, webhook: 'ftp://example.com/x' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ComfySealError);
    expect((error as ComfySealError).code).toBe('BAD_INPUT');
  });

  it('run --webhook: checked before anything is sent, and set on the /run body', async () => {
    const wf = path.join(os.tmpdir(), `cs-webhook-wf-${process.pid}.json`);
    writeFileSync(wf, JSON.stringify({ '1': { class_type: 'EmptyImage', inputs: {} } }));
    try {
      const env = { ENCRYPTION_KEY: Fernet.generateKey(), RUNPOD_API_URL: 'http://127.0.0.1:9', RUNPOD_ENDPOINT_ID: 'e' };
      const bad = await runCli(['run', '--workflow', wf, '--webhook', 'javascript:alert(1)'], { env });
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/--webhook: the webhook URL must be http/);
      const dry = await runCli(['run', '--workflow', wf, '--webhook', 'https://me.example/hook', '--dry-run', '--json'], { env });
      expect(dry.code).toBe(0);
      expect(JSON.parse(dry.stdout.toString()).webhook).toBe('https://me.example/hook');
      const client = new ComfySealClient({ endpointId: 'e', apiUrl: 'http://127.0.0.1:9', key: env.ENCRYPTION_KEY });
      expect(client.buildRequest({ workflow: {}, webhook: 'https://me.example/hook' }).webhook).toBe('https://me.example/hook');
    } finally {
      rmSync(wf, { force: true });
    }
  });

  it('retries a refused connection and delivers once the receiver is up', async () => {
    const probe = await startReceiver();
    const port = new URL(probe.url).port;
    await probe.close();
    const stop = new AbortController();
    const delivered = deliverWebhook(`http://127.0.0.1:${port}/hook`, '{"id":"x"}', stop.signal, { retryDelayMs: 300, retries: 2, timeoutMs: 2_000 });
    await new Promise((r) => setTimeout(r, 100));
    receiver = await startReceiver(Number(port));
    expect(await delivered).toBe(true);
    expect(receiver.bodies.map((b) => b.text)).toEqual(['{"id":"x"}']);
  });
});
