/**
 * What ComfyUI keeps of a job in memory, as the simulator models it (contract §12): its in-memory log (300 entries,
 * exception texts included; /internal/logs, /internal/logs/raw, the `logs` feed) and its node cache, which POST /free
 * resets only when the queue loop takes the flag: after the prompt running, or at once when idle.
 */
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startSimulator, type Simulator, type SimulatorOptions } from '../../simulator/index.js';
import { getJson } from '../helpers/http.js';
import { Listener } from './listener.js';

let sim: Simulator | undefined;
let client: Listener | undefined;
afterEach(async () => {
  client?.ws.terminate();
  await sim?.close();
  sim = client = undefined;
});

const CANARY = 'canary-7f3a91';
const post = (s: Simulator, route: string, body: unknown, method = 'POST') => fetch(`${s.url}${route}`, { method, body: JSON.stringify(body) });

async function start(options: SimulatorOptions = {}): Promise<{ sim: Simulator; client: Listener }> {
  sim = await startSimulator({ port: 0, stepMs: 1, ...options });
  client = await Listener.open(sim, 'c');
  return { sim, client };
}

/** Runs a prompt to its end (`executing null`) and returns the nodes its `execution_cached` listed. */
async function runPrompt(s: Simulator, l: Listener, prompt: unknown): Promise<string[]> {
  const id = randomUUID();
  expect((await post(s, '/prompt', { prompt, client_id: 'c', prompt_id: id })).status).toBe(200);
  await l.done(id);
  return l.log.find((m) => m.json?.type === 'execution_cached' && m.json.data.prompt_id === id)!.json!.data.nodes;
}

/** A file that passes validation (it exists) and fails in LoadImage: PIL's error names it. */
function failingLoad(s: Simulator) {
  writeFileSync(path.join(s.dirs.input, `${CANARY}.png`), 'not an image at all');
  return {
    '1': { class_type: 'LoadImage', inputs: { image: `${CANARY}.png` } },
    '2': { class_type: 'PreviewImage', inputs: { images: ['1', 0] } },
  };
}

const sampled = (text: string, prefix = 'out') => ({
  '1': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'x.safetensors' } },
  '2': { class_type: 'EmptyLatentImage', inputs: { width: 64, height: 64, batch_size: 1 } },
  '3': { class_type: 'CLIPTextEncode', inputs: { text, clip: ['1', 1] } },
  '4': { class_type: 'KSampler', inputs: { model: ['1', 0], seed: 1, steps: 3, cfg: 1, sampler_name: 'euler', scheduler: 'normal', positive: ['3', 0], negative: ['3', 0], latent_image: ['2', 0], denoise: 1 } },
  '5': { class_type: 'VAEDecode', inputs: { samples: ['4', 0], vae: ['1', 2] } },
  '6': { class_type: 'SaveImage', inputs: { images: ['5', 0], filename_prefix: prefix } },
});
const UPSTREAM = ['1', '2', '3', '4', '5'];

describe("ComfyUI's in-memory log", () => {
  it('keeps a failed node\'s exception text (naming the file) after the prompt is done, at /internal/logs and /raw', async () => {
    const { sim, client } = await start();
    await runPrompt(sim, client, failingLoad(sim));
    const text: string = await getJson(`${sim.url}/internal/logs`);
    expect(text).toContain(`!!! Exception during processing !!! cannot identify image file`);
    expect(text).toContain(CANARY);
    expect(text).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6} - Starting server\n/);
    const raw = await getJson(`${sim.url}/internal/logs/raw`);
    expect(raw.size).toEqual({ cols: 80, rows: 24 });
    expect(raw.entries.some((e: { t: string; m: string }) => e.m.includes(CANARY) && e.m.endsWith('\n'))).toBe(true);
  });

  it('logs validation failures with their details, which name the values', async () => {
    const { sim } = await start();
    const prompt = { '1': { class_type: 'LoadImage', inputs: { image: `${CANARY}-missing.png` } }, '2': { class_type: 'PreviewImage', inputs: { images: ['1', 0] } } };
    expect((await post(sim, '/prompt', { prompt, client_id: 'c' })).status).toBe(400);
    const text: string = await getJson(`${sim.url}/internal/logs`);
    expect(text).toContain('* LoadImage 1:');
    expect(text).toContain(`${CANARY}-missing.png`);
  });

  it('keeps its last `capacity` entries only, as ComfyUI\'s deque does', async () => {
    const { sim } = await start({ logCapacity: 3 });
    for (let n = 0; n < 5; n++) await post(sim, '/prompt', {});
    const raw = await getJson(`${sim.url}/internal/logs/raw`);
    // Each POST logs "got prompt" (one without a prompt nothing more): the start-up lines are long gone.
    expect(raw.entries.map((e: { m: string }) => e.m)).toEqual(['got prompt\n', 'got prompt\n', 'got prompt\n']);
  });

  it('sends new entries to a subscribed client as `logs` messages (size first, then null)', async () => {
    const { sim, client } = await start();
    expect((await post(sim, '/internal/logs/subscribe', { clientId: 'c', enabled: true }, 'PATCH')).status).toBe(200);
    await runPrompt(sim, client, failingLoad(sim));
    const feed = client.log.filter((m) => m.json?.type === 'logs').map((m) => m.json!.data);
    expect(feed[0]!.size).toEqual({ cols: 80, rows: 24 });
    expect(feed[1]!.size).toBeNull();
    expect(feed.some((d) => d.entries.some((e: { m: string }) => e.m.includes(CANARY)))).toBe(true);
  });

  it('with capacity 0 (the image\'s launcher) keeps and sends nothing', async () => {
    const { sim, client } = await start({ logCapacity: 0 });
    await post(sim, '/internal/logs/subscribe', { clientId: 'c', enabled: true }, 'PATCH');
    await runPrompt(sim, client, failingLoad(sim));
    expect(await getJson(`${sim.url}/internal/logs`)).toBe('');
    expect((await getJson(`${sim.url}/internal/logs/raw`)).entries).toEqual([]);
    expect(client.log.filter((m) => m.json?.type === 'logs')).toEqual([]);
  });
});

describe('POST /free and the node cache', () => {
  it('without it an identical prompt is answered from the cache; after {"free_memory": true} every node runs again', async () => {
    const { sim, client } = await start();
    expect(await runPrompt(sim, client, sampled(CANARY))).toEqual([]);
    expect(await runPrompt(sim, client, sampled(CANARY))).toEqual([...UPSTREAM, '6']);
    const res = await post(sim, '/free', { free_memory: true, unload_models: false });
    expect(res.status).toBe(200);
    await new Promise((r) => setTimeout(r, 20)); // the idle queue loop wakes and takes the flag
    expect(await runPrompt(sim, client, sampled(CANARY))).toEqual([]);
  });

  it('{"unload_models": true} alone keeps the cache (main.py resets it for free_memory only)', async () => {
    const { sim, client } = await start();
    await runPrompt(sim, client, sampled(CANARY));
    await post(sim, '/free', { unload_models: true });
    await new Promise((r) => setTimeout(r, 20));
    expect(await runPrompt(sim, client, sampled(CANARY))).toEqual([...UPSTREAM, '6']);
  });

  it('sent while a prompt runs, it answers at once, lets that prompt finish from the cache it has, and resets after it', async () => {
    const { sim, client } = await start();
    await runPrompt(sim, client, sampled(CANARY, 'a'));
    sim.settings.stepMs = 150;
    const id = randomUUID();
    // A new text: the sampler runs (slowly); the checkpoint and the latent come from the cache.
    await post(sim, '/prompt', { prompt: sampled(`${CANARY}-2`, 'a'), client_id: 'c', prompt_id: id });
    await client.until((m) => m.json?.type === 'executing' && m.json.data.node === '4', 'the sampler');
    const asked = Date.now();
    await post(sim, '/free', { free_memory: true, unload_models: false });
    expect(Date.now() - asked).toBeLessThan(150); // nothing waited for the prompt
    await client.done(id);
    const during = client.log.find((m) => m.json?.type === 'execution_cached' && m.json.data.prompt_id === id)!.json!.data.nodes;
    expect(during).toEqual(['1', '2']);
    sim.settings.stepMs = 1;
    expect(await runPrompt(sim, client, sampled(`${CANARY}-2`, 'a'))).toEqual([]);
  });
});
