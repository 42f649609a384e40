/** Shared by the prepare*.test.ts files: node builders, error capture, and a diff of inputs. */
import type { Workflow } from '../../shared/schema.js';

export { sealErrorOf as errorOf } from '../helpers/errors.js';

/** Every input that differs between two workflows, as "node.input", sorted. */
export function changedInputs(before: Workflow, after: Workflow): string[] {
  const out: string[] = [];
  for (const [id, node] of Object.entries(after)) {
    for (const [field, value] of Object.entries(node.inputs)) {
      if (JSON.stringify(value) !== JSON.stringify(before[id]?.inputs[field])) out.push(`${id}.${field}`);
    }
  }
  return out.sort();
}

/** Freezes a value and everything in it, so any write to the input throws. */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

export const png = (name: string, content = name) => ({ name, data: new TextEncoder().encode(content) });

// Node builders after ComfyUI's node definitions (nodes.py, comfy_extras), with the inputs ComfyUI requires.
export const link = (id: string, slot = 0): [string, number] => [id, slot];
export const checkpoint = () => ({ class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'model.safetensors' } });
export const emptyLatent = () => ({ class_type: 'EmptyLatentImage', inputs: { width: 512, height: 512, batch_size: 1 } });
export const clipText = (text: string | [string, number], clip = link('1', 1), title?: string) => ({
  class_type: 'CLIPTextEncode',
  inputs: { text, clip },
  ...(title ? { _meta: { title } } : {}),
});
export const kSampler = (positive: [string, number], negative: [string, number], extra: Record<string, unknown> = {}) => ({
  class_type: 'KSampler',
  inputs: { model: link('1'), seed: 5, steps: 20, cfg: 7, sampler_name: 'euler', scheduler: 'normal', positive, negative, latent_image: link('2'), denoise: 1, ...extra },
});
export const loadImage = (image = 'example.png') => ({ class_type: 'LoadImage', inputs: { image, upload: 'image' } });
