/** The node tables prepareWorkflow reads a graph with (comfyui-protocol.md §6). */

import { FILE_LOADERS } from '../../shared/loaders.js';

/**
 * Text encoders and the inputs that hold their prompt. Every listed field gets the same text: that is what the
 * ComfyUI templates do for the multi-encoder models (SDXL text_g/text_l, Flux clip_l/t5xxl, SD3, HiDream...).
 * TextEncodeAceStepAudio: only `tags` (the style prompt); `lyrics` are the words sung, not a description.
 * CLIPTextEncodeLumina2: only `user_prompt`; `system_prompt` is a choice list.
 */
export const ENCODERS: Readonly<Record<string, readonly string[]>> = {
  CLIPTextEncode: ['text'],
  CLIPTextEncodeSDXL: ['text_g', 'text_l'],
  CLIPTextEncodeSDXLRefiner: ['text'],
  CLIPTextEncodeFlux: ['clip_l', 't5xxl'],
  CLIPTextEncodeSD3: ['clip_l', 'clip_g', 't5xxl'],
  CLIPTextEncodeHiDream: ['clip_l', 'clip_g', 't5xxl', 'llama'],
  CLIPTextEncodeHunyuanDiT: ['bert', 'mt5xl'],
  CLIPTextEncodeKandinsky5: ['clip_l', 'qwen25_7b'],
  TextEncodeHunyuanVideo_ImageToVideo: ['prompt'],
  TextEncodeQwenImageEdit: ['prompt'],
  TextEncodeQwenImageEditPlus: ['prompt'],
  CLIPTextEncodePixArtAlpha: ['text'],
  CLIPTextEncodeLumina2: ['user_prompt'],
  CLIPTextEncodeControlnet: ['text'],
  PhotoMakerEncode: ['text'],
  TextEncodeAceStepAudio: ['tags'],
};

/** Nodes that hold text for an encoder that takes it by link; the text is set here, at its source. */
export const TEXT_SOURCES: Readonly<Record<string, string>> = {
  PrimitiveString: 'value',
  PrimitiveStringMultiline: 'value',
};

/** Where a sampler or guider takes its positive and negative conditioning. */
export interface ConditioningInputs {
  positive: readonly string[];
  negative: readonly string[];
}

export const CONDITIONING_ROOTS: Readonly<Record<string, ConditioningInputs>> = {
  KSampler: { positive: ['positive'], negative: ['negative'] },
  KSamplerAdvanced: { positive: ['positive'], negative: ['negative'] },
  SamplerCustom: { positive: ['positive'], negative: ['negative'] },
  // Efficiency Nodes' samplers (fixture 11), same inputs as KSampler.
  'KSampler (Efficient)': { positive: ['positive'], negative: ['negative'] },
  'KSampler Adv. (Efficient)': { positive: ['positive'], negative: ['negative'] },
  CFGGuider: { positive: ['positive'], negative: ['negative'] },
  BasicGuider: { positive: ['conditioning'], negative: [] },
  // DualCFGGuider computes negative + cfg2·(cond2 − negative) + cfg1·(cond1 − cond2): cond2 is the midpoint, not the
  // prompt. In instruct-pix2pix graphs (fixture 15) it is the image conditioning built from the negative text.
  DualCFGGuider: { positive: ['cond1'], negative: ['negative'] },
};

/**
 * Nodes whose outputs are not "slot 0 = positive, slot 1 = negative": the Efficiency samplers pass their conditioning
 * on at slots 1 and 2 (MODEL, CONDITIONING+, CONDITIONING-, LATENT, ...).
 */
export const SLOT_INPUTS: Readonly<Record<string, Readonly<Record<number, string>>>> = {
  'KSampler (Efficient)': { 1: 'positive', 2: 'negative' },
  'KSampler Adv. (Efficient)': { 1: 'positive', 2: 'negative' },
};

/** Conditioning with no text left in it: a side that ends here has no prompt to set. */
export const ZEROING: ReadonlySet<string> = new Set(['ConditioningZeroOut']);

/** Image loaders (the ones --img fills in node-id order) and the input that names their file. */
export const IMAGE_LOADERS: Readonly<Record<string, string>> = Object.fromEntries(
  Object.entries(FILE_LOADERS).filter(([, input]) => input === 'image'),
);

/** Inputs that hold a seed; any node with one as a number is a sampler or noise source (KSampler, RandomNoise...). */
export const SEED_FIELDS: readonly string[] = ['seed', 'noise_seed'];

/** Nodes that hold a number for a seed input that takes it by link. */
export const NUMBER_SOURCES: Readonly<Record<string, string>> = {
  PrimitiveInt: 'value',
};
