/** Workflows several test files run against the simulator. */
import type { Workflow } from '../../shared/index.js';

/**
 * SD1.5 text-to-image (checkpoint, two encoders, KSampler, VAEDecode, SaveImage `gen`) whose prompt holds `prompt`, so
 * a test can look for it anywhere it must not be; `extra` nodes are added (a PreviewImage on '15', say).
 */
export function samplingWorkflow(prompt: string, options: { steps: number; seed?: number; extra?: Workflow }): Workflow {
  return {
    '10': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'sd15.safetensors' } },
    '11': { class_type: 'CLIPTextEncode', inputs: { text: prompt, clip: ['10', 1] } },
    '12': { class_type: 'CLIPTextEncode', inputs: { text: 'blurry', clip: ['10', 1] } },
    '13': { class_type: 'EmptyLatentImage', inputs: { width: 16, height: 16, batch_size: 1 } },
    '14': {
      class_type: 'KSampler',
      inputs: { model: ['10', 0], seed: options.seed ?? 7, steps: options.steps, cfg: 7, sampler_name: 'euler', scheduler: 'normal', positive: ['11', 0], negative: ['12', 0], latent_image: ['13', 0], denoise: 1 },
    },
    '15': { class_type: 'VAEDecode', inputs: { samples: ['14', 0], vae: ['10', 2] } },
    '16': { class_type: 'SaveImage', inputs: { images: ['15', 0], filename_prefix: 'gen' } },
    ...options.extra,
  };
}
