/**
 * The models dir, listed as ComfyUI's folder_paths lists it: each folder kind reads one or more subfolders of the dir
 * (text_encoders also reads clip/, diffusion_models also unet/), recursively, keeping files with the kind's extensions;
 * names are relative with '/', deduplicated and sorted. Read afresh on every call, as ComfyUI notices new files.
 */
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';

/** ComfyUI's supported_pt_extensions. */
const PT: readonly string[] = ['.ckpt', '.pt', '.pt2', '.bin', '.pth', '.safetensors', '.pkl', '.sft'];

/** Folder kind → its subfolders of the models dir and the extensions it lists (folder_paths.py of v0.27.1). */
export const MODEL_FOLDERS = {
  checkpoints: { dirs: ['checkpoints'], extensions: PT },
  configs: { dirs: ['configs'], extensions: ['.yaml'] },
  loras: { dirs: ['loras'], extensions: PT },
  vae: { dirs: ['vae'], extensions: PT },
  text_encoders: { dirs: ['text_encoders', 'clip'], extensions: PT },
  diffusion_models: { dirs: ['unet', 'diffusion_models'], extensions: PT },
  clip_vision: { dirs: ['clip_vision'], extensions: PT },
  style_models: { dirs: ['style_models'], extensions: PT },
  embeddings: { dirs: ['embeddings'], extensions: PT },
  // ComfyUI's extension set here is {"folder"}: a diffusers model is a folder, never a file.
  diffusers: { dirs: ['diffusers'], extensions: ['folder'] },
  vae_approx: { dirs: ['vae_approx'], extensions: PT },
  controlnet: { dirs: ['controlnet', 't2i_adapter'], extensions: PT },
  gligen: { dirs: ['gligen'], extensions: PT },
  upscale_models: { dirs: ['upscale_models'], extensions: PT },
  latent_upscale_models: { dirs: ['latent_upscale_models'], extensions: PT },
  custom_nodes: { dirs: ['custom_nodes'], extensions: [] },
  hypernetworks: { dirs: ['hypernetworks'], extensions: PT },
  photomaker: { dirs: ['photomaker'], extensions: PT },
  classifiers: { dirs: ['classifiers'], extensions: [] },
  model_patches: { dirs: ['model_patches'], extensions: PT },
  audio_encoders: { dirs: ['audio_encoders'], extensions: PT },
  background_removal: { dirs: ['background_removal'], extensions: PT },
  frame_interpolation: { dirs: ['frame_interpolation'], extensions: PT },
  geometry_estimation: { dirs: ['geometry_estimation'], extensions: PT },
  optical_flow: { dirs: ['optical_flow'], extensions: PT },
  detection: { dirs: ['detection'], extensions: PT },
} as const satisfies Record<string, { dirs: readonly string[]; extensions: readonly string[] }>;

export type ModelFolder = keyof typeof MODEL_FOLDERS;

export const isModelFolder = (name: string): name is ModelFolder => Object.hasOwn(MODEL_FOLDERS, name);

/** A folder kind's files in `modelsDir`; none without a models dir, or for a folder that is missing. */
export function listModels(modelsDir: string | undefined, folder: ModelFolder): string[] {
  if (!modelsDir) return [];
  const kind: { dirs: readonly string[]; extensions: readonly string[] } = MODEL_FOLDERS[folder];
  const names = new Set<string>();
  for (const dir of kind.dirs) {
    for (const name of walk(path.join(modelsDir, dir))) {
      if (kind.extensions.length === 0 || kind.extensions.includes(path.extname(name).toLowerCase())) names.add(name);
    }
  }
  return [...names].sort();
}

/** A symlink loop ends here instead of overflowing the stack. */
const MAX_DEPTH = 32;

/** Files under dir, relative with '/'; symlinks followed as ComfyUI's os.walk(followlinks=True) does, .git skipped. */
function walk(dir: string, prefix = '', depth = 0): string[] {
  if (depth > MAX_DEPTH) return [];
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names.flatMap((name) => {
    const full = path.join(dir, name);
    const stat = statSync(full, { throwIfNoEntry: false });
    if (stat?.isFile()) return [prefix + name];
    return stat?.isDirectory() && name !== '.git' ? walk(full, `${prefix}${name}/`, depth + 1) : [];
  });
}
