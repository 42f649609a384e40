/**
 * Interrupts as ComfyUI looks at them (../shared/docs/comfyui-protocol.md §8): inside sampler steps and between nodes
 * only. A saver never looks, so with `faults.slowSave` a batch keeps being written after /interrupt, and
 * `execution_interrupted` and the history entry come only once its last file is whole.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { PNG } from 'pngjs';
import { afterEach, describe, expect, it } from 'vitest';
import { startSimulator, type Simulator } from '../../simulator/index.js';
import { getJson } from '../helpers/http.js';
import { listFiles } from '../helpers/pipeline.js';
import { Listener } from './listener.js';

/** Checkpoint → KSampler of `steps` → VAEDecode → `last` (node 6). */
function sampled(steps: number, last: { class_type: string; inputs: Record<string, unknown> }) {
  return {
    '1': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'x.safetensors' } },
    '2': { class_type: 'EmptyLatentImage', inputs: { width: 64, height: 64, batch_size: 1 } },
    '3': { class_type: 'CLIPTextEncode', inputs: { text: 'a', clip: ['1', 1] } },
    '4': { class_type: 'KSampler', inputs: { model: ['1', 0], seed: 1, steps, cfg: 1, sampler_name: 'euler', scheduler: 'normal', positive: ['3', 0], negative: ['3', 0], latent_image: ['2', 0], denoise: 1 } },
    '5': { class_type: 'VAEDecode', inputs: { samples: ['4', 0], vae: ['1', 2] } },
    '6': last,
  };
}

let sim: Simulator | undefined;
let client: Listener | undefined;
afterEach(async () => {
  client?.ws.terminate();
  await sim?.close();
  sim = client = undefined;
});

const post = (s: Simulator, route: string, body: unknown) => fetch(`${s.url}${route}`, { method: 'POST', body: JSON.stringify(body) });
const typeOf = (l: Listener, type: string) => l.log.filter((m) => m.json?.type === type);

describe('interrupts, where ComfyUI checks the flag', () => {
  it('a slow saver writes its whole batch after /interrupt; only then execution_interrupted and the history entry', async () => {
    const fileMs = 120;
    sim = await startSimulator({ port: 0, stepMs: 1 });
    sim.settings.faults = { slowSave: { fileMs } };
    client = await Listener.open(sim, 'c');
    const id = randomUUID();
    const prompt = {
      '1': { class_type: 'EmptyImage', inputs: { width: 32, height: 32, batch_size: 4, color: 0x00ff00 } },
      '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'batch' } },
    };
    expect((await post(sim, '/prompt', { prompt, client_id: 'c', prompt_id: id })).status).toBe(200);
    await client.until((m) => m.json?.type === 'executing' && m.json.data.node === '2', 'the saver');
    const interruptedAt = Date.now();
    await post(sim, '/interrupt', { prompt_id: id });
    const writing = await getJson(`${sim.url}/history/${id}`);
    expect(writing).toEqual({}); // nothing recorded while the saver runs
    await client.until((m) => m.json?.type === 'execution_interrupted', 'execution_interrupted');
    const interrupted = Date.now();
    // Four files of four chunks each, fileMs apiece: the saver ran on for most of that after the interrupt.
    expect(interrupted - interruptedAt).toBeGreaterThanOrEqual(3 * fileMs);
    const files = listFiles(sim.dirs.output).sort();
    expect(files.map((f) => path.basename(f))).toEqual(['batch_00001_.png', 'batch_00002_.png', 'batch_00003_.png', 'batch_00004_.png']);
    for (const f of files) expect(PNG.sync.read(readFileSync(f)).data[1]).toBe(255);
    const sizes = files.map((f) => statSync(f).size);
    await new Promise((r) => setTimeout(r, fileMs)); // nothing is written after execution_interrupted
    expect(files.map((f) => statSync(f).size)).toEqual(sizes);
    expect(typeOf(client, 'execution_interrupted')[0]!.json!.data).toMatchObject({ prompt_id: id, node_id: '2', node_type: 'SaveImage' });
    await client.done(id);
    const entry = (await getJson(`${sim.url}/history/${id}`))[id];
    expect(entry.status).toMatchObject({ status_str: 'error', completed: false });
    expect(entry.status.messages.map((m: [string]) => m[0])).toEqual(['execution_start', 'execution_cached', 'execution_interrupted']);
    expect(entry.prompt[2]).toEqual(prompt); // the whole prompt stays until POST /history delete
  });

  it('a sampler stops at its next step; the nodes after it never start', async () => {
    sim = await startSimulator({ port: 0, stepMs: 20 });
    client = await Listener.open(sim, 'c');
    const id = randomUUID();
    const prompt = sampled(500, { class_type: 'SaveImage', inputs: { images: ['5', 0], filename_prefix: 'x' } });
    await post(sim, '/prompt', { prompt, client_id: 'c', prompt_id: id });
    await client.until((m) => m.json?.type === 'progress' && m.json.data.value >= 3, 'step 3');
    await post(sim, '/interrupt', {});
    await client.done(id);
    const steps = typeOf(client, 'progress').map((m) => m.json!.data.value as number);
    expect(Math.max(...steps)).toBeLessThan(10);
    expect(typeOf(client, 'execution_interrupted')[0]!.json!.data).toMatchObject({ node_id: '4', node_type: 'KSampler', executed: expect.not.arrayContaining(['4']) });
    expect(typeOf(client, 'executing').map((m) => m.json!.data.node)).not.toContain('5');
    expect(listFiles(sim.dirs.output)).toEqual([]);
  });

  it('an interrupt for a prompt that is not running hits nothing', async () => {
    sim = await startSimulator({ port: 0, stepMs: 5 });
    client = await Listener.open(sim, 'c');
    const id = randomUUID();
    const prompt = sampled(10, { class_type: 'PreviewImage', inputs: { images: ['5', 0] } });
    await post(sim, '/prompt', { prompt, client_id: 'c', prompt_id: id });
    await client.until((m) => m.json?.type === 'progress', 'a step');
    await post(sim, '/interrupt', { prompt_id: randomUUID() });
    await client.done(id);
    expect(typeOf(client, 'execution_success')).toHaveLength(1);
  });
});
