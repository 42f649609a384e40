/**
 * The simulator's models dir, as ComfyUI's folder_paths lists one: the loaders' combos list its files (per folder kind,
 * recursive, model extensions only, both of a kind's folders merged and sorted), read afresh on every /object_info, so
 * `comfy-seal check` against the simulator's definitions passes an installed checkpoint and flags a missing one. Without
 * a models dir the lists are empty, as on a ComfyUI with no models; POST /prompt never checks models against the list.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkWorkflow } from '../../client/workflow/check.js';
import type { ObjectInfo } from '../../client/workflow/definitions.js';
import type { Workflow } from '../../shared/schema.js';
import { command } from '../../simulator/cli.js';
import { startSimulator, type Simulator } from '../../simulator/index.js';
import { getJson } from '../helpers/http.js';

let root: string;
let models: string;
let sim: Simulator;

function put(relative: string) {
  const file = path.join(models, relative);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, 'not really a model');
}

beforeAll(async () => {
  root = mkdtempSync(path.join(os.tmpdir(), 'sim-models-'));
  models = path.join(root, 'models');
  put('checkpoints/sd15.safetensors');
  sim = await startSimulator({ port: 0, stepMs: 1, modelsDir: models });
});
afterAll(async () => {
  await sim?.close();
  rmSync(root, { recursive: true, force: true });
});

/** A combo's list in an /object_info entry. */
const listed = (info: ObjectInfo, node: string, input: string): unknown => info[node]!.input!.required![input]![0];

function sd15(ckpt: string): Workflow {
  return {
    '4': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: ckpt } },
    '5': { class_type: 'EmptyLatentImage', inputs: { width: 64, height: 64, batch_size: 1 } },
    '6': { class_type: 'CLIPTextEncode', inputs: { text: 'a cat', clip: ['4', 1] } },
    '7': { class_type: 'CLIPTextEncode', inputs: { text: '', clip: ['4', 1] } },
    '3': { class_type: 'KSampler', inputs: { seed: 1, steps: 2, cfg: 8, sampler_name: 'euler', scheduler: 'normal', denoise: 1, model: ['4', 0], positive: ['6', 0], negative: ['7', 0], latent_image: ['5', 0] } },
    '8': { class_type: 'VAEDecode', inputs: { samples: ['3', 0], vae: ['4', 2] } },
    '9': { class_type: 'SaveImage', inputs: { filename_prefix: 'ComfyUI', images: ['8', 0] } },
  };
}

describe('the models dir', () => {
  it('/object_info lists its checkpoint, and check passes that checkpoint with euler and flags one not there', async () => {
    const info = (await getJson(`${sim.url}/object_info`)) as ObjectInfo;
    expect(listed(info, 'CheckpointLoaderSimple', 'ckpt_name')).toEqual(['sd15.safetensors']);
    expect(checkWorkflow(sd15('sd15.safetensors'), info)).toEqual([]);
    const problems = checkWorkflow(sd15('nope.safetensors'), info);
    expect(problems.map((p) => `${p.node_id}.${p.input}:${p.type}`)).toEqual(['4.ckpt_name:value_not_in_list']);
    expect(problems[0]!.nearest).toEqual(['sd15.safetensors']);
    const typo = sd15('sd15.safetensors');
    typo['3']!.inputs.sampler_name = 'eulr';
    expect(checkWorkflow(typo, info).map((p) => `${p.node_id}.${p.input}:${p.type}`)).toEqual(['3.sampler_name:value_not_in_list']);
  });

  it('lists each folder kind as ComfyUI does, read afresh on every call', async () => {
    put('loras/style/ink.safetensors');
    put('loras/README.txt'); // not a model extension
    put('loras/.git/objects/x.safetensors'); // ComfyUI skips .git
    put('text_encoders/t5xxl.safetensors');
    put('clip/clip_l.safetensors'); // clip/ is text_encoders' older folder
    put('unet/flux.sft'); // unet/ is diffusion_models' older folder
    put('diffusion_models/wan.GGUF.PTH'); // extensions match in any case
    put('vae/ae.safetensors');
    put('embeddings/easyneg.pt');
    const info = (await getJson(`${sim.url}/object_info`)) as ObjectInfo;
    expect(listed(info, 'LoraLoader', 'lora_name')).toEqual(['style/ink.safetensors']);
    expect(listed(info, 'CLIPLoader', 'clip_name')).toEqual(['clip_l.safetensors', 't5xxl.safetensors']);
    expect(listed(info, 'DualCLIPLoader', 'clip_name2')).toEqual(['clip_l.safetensors', 't5xxl.safetensors']);
    expect(listed(info, 'UNETLoader', 'unet_name')).toEqual(['flux.sft', 'wan.GGUF.PTH']);
    expect(listed(info, 'VAELoader', 'vae_name')).toEqual(['ae.safetensors', 'pixel_space']);
    const one = (await getJson(`${sim.url}/object_info/LoraLoaderModelOnly`)) as ObjectInfo;
    expect(listed(one, 'LoraLoaderModelOnly', 'lora_name')).toEqual(['style/ink.safetensors']);
    expect(await getJson(`${sim.url}/models/loras`)).toEqual(['style/ink.safetensors']);
    expect(await getJson(`${sim.url}/models`)).toEqual(expect.arrayContaining(['checkpoints', 'loras', 'vae', 'text_encoders', 'diffusion_models', 'embeddings']));
    expect((await fetch(`${sim.url}/models/nope`)).status).toBe(404);
    expect(await getJson(`${sim.url}/embeddings`)).toEqual(['easyneg']);
  });

  it('POST /prompt does not check models against the list: a missing checkpoint still runs', async () => {
    const res = await fetch(`${sim.url}/prompt`, { method: 'POST', body: JSON.stringify({ prompt: sd15('nope.safetensors'), client_id: 'c' }) });
    expect(res.status).toBe(200);
  });

  it('without a models dir every model list is empty, as on a ComfyUI with no models', async () => {
    const bare = await startSimulator({ port: 0 });
    try {
      const info = (await getJson(`${bare.url}/object_info`)) as ObjectInfo;
      expect(listed(info, 'CheckpointLoaderSimple', 'ckpt_name')).toEqual([]);
      expect(listed(info, 'VAELoader', 'vae_name')).toEqual(['pixel_space']);
      expect(listed(info, 'KSampler', 'sampler_name')).toContain('euler');
      expect(await getJson(`${bare.url}/models/checkpoints`)).toEqual([]);
    } finally {
      await bare.close();
    }
  });

  it('`comfy-seal simulator --models-dir D` lists D', async () => {
    const controller = new AbortController();
    const stdout = new PassThrough();
    const up = new Promise<string>((resolve) => {
      let text = '';
      stdout.on('data', (c: Buffer) => {
        text += c.toString();
        const url = /on (http:\/\/\S+)/.exec(text)?.[1];
        if (url) resolve(url);
      });
    });
    const dirs = ['input', 'output', 'temp'].flatMap((d) => [`--${d}-dir`, path.join(root, 'cli', d)]);
    const running = command(['--port', '0', '--models-dir', models, ...dirs], { stdin: new PassThrough(), stdout, stderr: new PassThrough(), env: {}, signal: controller.signal });
    try {
      const info = (await getJson(`${await up}/object_info/CheckpointLoaderSimple`)) as ObjectInfo;
      expect(listed(info, 'CheckpointLoaderSimple', 'ckpt_name')).toEqual(['sd15.safetensors']);
    } finally {
      controller.abort();
      expect(await running).toBe(0);
    }
  });
});
