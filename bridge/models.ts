/**
 * GET /models/{folder} for the bridge: the models live on the endpoint, so a folder's files are what its core loader
 * offers in the endpoint's definitions (CheckpointLoaderSimple's ckpt_name for checkpoints...). A folder no core loader
 * reads (embeddings, configs...) lists nothing.
 */
import { definitionInputs, type ObjectInfo } from '../client/workflow/definitions.js';
import { MODEL_FOLDERS } from '../simulator/models.js';

/** Folder kind → the core loader input that lists it. */
const LISTED_BY: Readonly<Record<string, readonly [string, string]>> = {
  checkpoints: ['CheckpointLoaderSimple', 'ckpt_name'],
  loras: ['LoraLoader', 'lora_name'],
  vae: ['VAELoader', 'vae_name'],
  text_encoders: ['CLIPLoader', 'clip_name'],
  diffusion_models: ['UNETLoader', 'unet_name'],
  clip_vision: ['CLIPVisionLoader', 'clip_name'],
  style_models: ['StyleModelLoader', 'style_model_name'],
  controlnet: ['ControlNetLoader', 'control_net_name'],
  gligen: ['GLIGENLoader', 'gligen_name'],
  upscale_models: ['UpscaleModelLoader', 'model_name'],
  hypernetworks: ['HypernetworkLoader', 'hypernetwork_name'],
  photomaker: ['PhotoMakerLoader', 'photomaker_model_name'],
};

/** The folder's files on the endpoint; null for a folder kind ComfyUI does not have. */
export function endpointModels(info: ObjectInfo, folder: string): string[] | null {
  if (!Object.hasOwn(MODEL_FOLDERS, folder)) return null;
  const by = LISTED_BY[folder];
  const def = by && Object.hasOwn(info, by[0]) ? info[by[0]] : undefined;
  const entry = def && definitionInputs(def).find((e) => e.name === by![1]);
  return (entry?.options ?? []).filter((v): v is string => typeof v === 'string');
}
