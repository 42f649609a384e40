/**
 * The model side, simulated: loaders give tokens, encoders hash their text, samplers step (progress per step at the
 * step time, previews) and give a latent whose hash depends on prompt, seed and size, decoders paint that latent.
 */
import { generateFrame, hashOf } from '../images.js';
import { imageFromLatent, isImage, isLatent, latent, token, valueHash, type Latent, type Token } from '../values.js';
import type { ModelFolder } from '../models.js';
import { CLIP_TYPES, DEVICES, DUAL_CLIP_TYPES, SAMPLERS, SCHEDULERS, UNION_CONTROLNET_TYPES, WEIGHT_DTYPES } from './combos.js';
import { define, type DefineOptions, type InputSpec, type NodeDef } from './registry.js';

const tokenOf = (kind: string) => (_ctx: unknown, i: Record<string, unknown>) => ({ outputs: [token(kind, i)] });

/** A combo of a models folder's files (never checked by validation: ComfyUI's loaders fail at load, not before). */
const files = (folder: ModelFolder, plus?: string[]): InputSpec['options'] => ({ models: { folder, ...(plus ? { plus } : {}) } });
const choices = (list: string[]): InputSpec['options'] => ({ choices: list });
const TEXT_ENCODERS = files('text_encoders');

/** Loaders: every output a token of its type, named after the inputs (the file names). */
function loader(name: string, inputs: string, outputs: string, options: DefineOptions['options'] = {}): NodeDef {
  return define(name, inputs, outputs, (_ctx, i) => ({ outputs: outputs.split(' ').map((type, n) => token(type, name, i, n)) }), {
    category: 'loaders',
    options,
  });
}

/** MODEL in, MODEL out (patches, sampling tweaks): the token changes with the settings. */
function modelPatch(name: string, inputs: string, outputName = 'MODEL', options: DefineOptions['options'] = {}): NodeDef {
  return define(name, inputs, 'MODEL', (_ctx, i) => ({ outputs: [token('MODEL', name, Object.fromEntries(Object.entries(i).map(([k, v]) => [k, valueHash(v)])))] }), { names: outputName, options });
}

/** Text encoders: conditioning hashed from every text field (so prompt text decides the picture). */
function encoder(name: string, inputs: string, options: DefineOptions['options'] = {}): NodeDef {
  return define(name, inputs, 'CONDITIONING', (_ctx, i) => ({ outputs: [token('CONDITIONING', name, Object.fromEntries(Object.entries(i).map(([k, v]) => [k, valueHash(v)])))] }), {
    category: 'conditioning',
    options,
  });
}

const hashes = (i: Record<string, unknown>) => Object.fromEntries(Object.entries(i).map(([k, v]) => [k, valueHash(v)]));

/** Conditioning transforms with one output per listed type, each distinct. */
function condNode(name: string, inputs: string, outputs: string, names?: string, options: DefineOptions['options'] = {}): NodeDef {
  return define(
    name,
    inputs,
    outputs,
    (_ctx, i) => {
      const base = latentIn(i);
      return {
        outputs: outputs.split(' ').map((type, n) =>
          type === 'LATENT' ? latent(base?.width ?? Number(i.width) ?? 512, base?.height ?? Number(i.height) ?? 512, Number(i.length) || base?.frames || 1, base?.batch ?? 1, name, hashes(i), n) : token(type, name, hashes(i), n),
        ),
      };
    },
    { category: 'conditioning', options, ...(names ? { names } : {}) },
  );
}

function latentIn(i: Record<string, unknown>): Latent | undefined {
  for (const key of ['latent_image', 'latent', 'samples', 'video_latent', 'av_latent']) if (isLatent(i[key])) return i[key] as Latent;
  for (const key of ['pixels', 'image', 'start_image']) {
    const img = i[key];
    if (isImage(img)) return latent(img.frames[0]!.width, img.frames[0]!.height, 1, img.frames.length, valueHash(img));
  }
  return undefined;
}

/** A sampler: steps with progress at the step time, then a latent derived from everything it was given. */
async function sample(ctx: Parameters<NodeDef['run']>[0], i: Record<string, unknown>, steps: number): Promise<Latent> {
  const base = latentIn(i) ?? latent(512, 512, 1, 1, 'none');
  const out = latent(base.width, base.height, base.frames, base.batch, 'sampled', hashes(i));
  const total = Math.max(1, Math.min(1000, Math.round(steps) || 1));
  for (let s = 1; s <= total; s++) await ctx.step(s, total, generateFrame(32, 32, hashOf(out.hash, s)));
  return out;
}

function stepsOf(i: Record<string, unknown>): number {
  const sigmas = i.sigmas as (Token & { steps?: number }) | undefined;
  return Number(i.steps) || sigmas?.steps || 20;
}

function scheduler(name: string, inputs: string, options: DefineOptions['options'] = {}): NodeDef {
  return define(name, inputs, 'SIGMAS', (_ctx, i) => {
    const manual = typeof i.sigmas === 'string' ? i.sigmas.split(',').length - 1 : 0;
    return { outputs: [{ ...token('SIGMAS', name, hashes(i)), steps: Number(i.steps) || manual || 20 }] };
  }, { category: 'sampling/custom_sampling/schedulers', options });
}

function emptyLatent(name: string, inputs: string): NodeDef {
  return define(name, inputs, 'LATENT', (_ctx, i) => ({ outputs: [latent(Number(i.width), Number(i.height), Number(i.length) || 1, Number(i.batch_size) || 1, name, i)] }), {
    category: 'latent',
    options: { width: { default: 512, min: 16, max: 16384 }, height: { default: 512, min: 16, max: 16384 }, batch_size: { default: 1, min: 1, max: 4096 } },
  });
}

function primitive(name: string, type: string, convert: (v: unknown) => unknown): NodeDef {
  return define(name, `value:${type}`, type, (_ctx, i) => ({ outputs: [convert(i.value) as never] }), { category: 'utils/primitive' });
}

const SAMPLER_INPUTS = 'model:MODEL seed:INT steps:INT cfg:FLOAT sampler_name:COMBO scheduler:COMBO positive:CONDITIONING negative:CONDITIONING latent_image:LATENT denoise:FLOAT';

export const modelNodes: NodeDef[] = [
  loader('CheckpointLoaderSimple', 'ckpt_name:COMBO', 'MODEL CLIP VAE', { ckpt_name: files('checkpoints') }),
  loader('UNETLoader', 'unet_name:COMBO weight_dtype:COMBO', 'MODEL', { unet_name: files('diffusion_models'), weight_dtype: choices(WEIGHT_DTYPES) }),
  loader('CLIPLoader', 'clip_name:COMBO type:COMBO device?:COMBO', 'CLIP', { clip_name: TEXT_ENCODERS, type: choices(CLIP_TYPES), device: choices(DEVICES) }),
  loader('DualCLIPLoader', 'clip_name1:COMBO clip_name2:COMBO type:COMBO device?:COMBO', 'CLIP', {
    clip_name1: TEXT_ENCODERS,
    clip_name2: TEXT_ENCODERS,
    type: choices(DUAL_CLIP_TYPES),
    device: choices(DEVICES),
  }),
  loader('TripleCLIPLoader', 'clip_name1:COMBO clip_name2:COMBO clip_name3:COMBO', 'CLIP', { clip_name1: TEXT_ENCODERS, clip_name2: TEXT_ENCODERS, clip_name3: TEXT_ENCODERS }),
  loader('QuadrupleCLIPLoader', 'clip_name1:COMBO clip_name2:COMBO clip_name3:COMBO clip_name4:COMBO', 'CLIP', {
    clip_name1: TEXT_ENCODERS,
    clip_name2: TEXT_ENCODERS,
    clip_name3: TEXT_ENCODERS,
    clip_name4: TEXT_ENCODERS,
  }),
  // ComfyUI adds its TAESD names when vae_approx/ holds them; the simulator lists vae/ and pixel_space only.
  loader('VAELoader', 'vae_name:COMBO', 'VAE', { vae_name: files('vae', ['pixel_space']) }),
  loader('ControlNetLoader', 'control_net_name:COMBO', 'CONTROL_NET', { control_net_name: files('controlnet') }),
  loader('ControlNetLoaderAdvanced', 'control_net_name:COMBO model?:MODEL', 'CONTROL_NET', { control_net_name: files('controlnet') }),
  loader('CLIPVisionLoader', 'clip_name:COMBO', 'CLIP_VISION', { clip_name: files('clip_vision') }),
  loader('LatentUpscaleModelLoader', 'model_name:COMBO', 'LATENT_UPSCALE_MODEL', { model_name: files('latent_upscale_models') }),
  loader('LTXAVTextEncoderLoader', 'text_encoder:COMBO ckpt_name:COMBO device:COMBO', 'CLIP', { text_encoder: TEXT_ENCODERS, ckpt_name: files('checkpoints'), device: choices(DEVICES) }),
  loader('LTXVAudioVAELoader1', 'ckpt_name:COMBO', 'VAE', { ckpt_name: files('checkpoints') }),
  loader('INPAINT_LoadFooocusInpaint', 'head:COMBO patch:COMBO', 'INPAINT_PATCH'),
  loader('ADE_StandardUniformContextOptions', 'context_length:INT context_stride:INT context_overlap:INT fuse_method?:COMBO use_on_equal_length?:BOOLEAN start_percent?:FLOAT guarantee_steps?:INT', 'CONTEXT_OPTIONS'),
  define('LoraLoader', 'model:MODEL clip:CLIP lora_name:COMBO strength_model:FLOAT strength_clip:FLOAT', 'MODEL CLIP', (_ctx, i) => ({
    outputs: [token('MODEL', 'lora', hashes(i)), token('CLIP', 'lora', hashes(i))],
  }), { category: 'loaders', options: { lora_name: files('loras') } }),
  modelPatch('LoraLoaderModelOnly', 'model:MODEL lora_name:COMBO strength_model:FLOAT', 'MODEL', { lora_name: files('loras') }),
  modelPatch('ModelSamplingSD3', 'model:MODEL shift:FLOAT'),
  modelPatch('ModelSamplingAuraFlow', 'model:MODEL shift:FLOAT'),
  modelPatch('CFGNorm', 'model:MODEL strength:FLOAT pre_cfg?:BOOLEAN', 'patched_model'),
  modelPatch('DifferentialDiffusion', 'model:MODEL strength?:FLOAT'),
  modelPatch('SelfAttentionGuidance', 'model:MODEL scale:FLOAT blur_sigma:FLOAT'),
  modelPatch('INPAINT_ApplyFooocusInpaint', 'model:MODEL patch:INPAINT_PATCH latent:LATENT'),
  modelPatch('ADE_AnimateDiffLoaderGen1', 'model:MODEL model_name:COMBO beta_schedule:COMBO context_options?:CONTEXT_OPTIONS'),

  encoder('CLIPTextEncode', 'text:STRING clip:CLIP'),
  encoder('CLIPTextEncodeSDXL', 'clip:CLIP width:INT height:INT crop_w:INT crop_h:INT target_width:INT target_height:INT text_g:STRING text_l:STRING'),
  encoder('CLIPTextEncodeSDXLRefiner', 'ascore:FLOAT width:INT height:INT text:STRING clip:CLIP'),
  encoder('CLIPTextEncodeFlux', 'clip:CLIP clip_l:STRING t5xxl:STRING guidance:FLOAT'),
  encoder('CLIPTextEncodeSD3', 'clip:CLIP clip_l:STRING clip_g:STRING t5xxl:STRING empty_padding:COMBO', { empty_padding: choices(['none', 'empty_prompt']) }),
  encoder('CLIPTextEncodeHiDream', 'clip:CLIP clip_l:STRING clip_g:STRING t5xxl:STRING llama:STRING'),
  encoder('CLIPTextEncodeHunyuanDiT', 'clip:CLIP bert:STRING mt5xl:STRING'),
  encoder('TextEncodeHunyuanVideo_ImageToVideo', 'clip:CLIP clip_vision_output:CLIP_VISION_OUTPUT prompt:STRING image_interleave:INT'),
  encoder('TextEncodeQwenImageEdit', 'clip:CLIP prompt:STRING vae?:VAE image?:IMAGE'),
  encoder('TextEncodeQwenImageEditPlus', 'clip:CLIP prompt:STRING vae?:VAE image1?:IMAGE image2?:IMAGE image3?:IMAGE'),
  encoder('CLIPTextEncodePixArtAlpha', 'width:INT height:INT text:STRING clip:CLIP'),
  encoder('CLIPTextEncodeLumina2', 'system_prompt:COMBO user_prompt:STRING clip:CLIP', { system_prompt: choices(['superior', 'alignment']) }),
  encoder('CLIPTextEncodeControlnet', 'clip:CLIP conditioning:CONDITIONING text:STRING'),
  encoder('PhotoMakerEncode', 'photomaker:PHOTOMAKER image:IMAGE clip:CLIP text:STRING'),
  encoder('TextEncodeAceStepAudio', 'clip:CLIP tags:STRING lyrics:STRING lyrics_strength:FLOAT'),

  condNode('FluxGuidance', 'conditioning:CONDITIONING guidance:FLOAT', 'CONDITIONING'),
  condNode('ConditioningZeroOut', 'conditioning:CONDITIONING', 'CONDITIONING'),
  condNode('ConditioningCombine', 'conditioning_1:CONDITIONING conditioning_2:CONDITIONING', 'CONDITIONING'),
  condNode('ConditioningSetTimestepRange', 'conditioning:CONDITIONING start:FLOAT end:FLOAT', 'CONDITIONING'),
  condNode('ReferenceLatent', 'conditioning:CONDITIONING latent?:LATENT', 'CONDITIONING'),
  condNode('SetUnionControlNetType', 'control_net:CONTROL_NET type:COMBO', 'CONTROL_NET', undefined, { type: choices(UNION_CONTROLNET_TYPES) }),
  condNode('CLIPVisionEncode', 'clip_vision:CLIP_VISION image:IMAGE crop:COMBO', 'CLIP_VISION_OUTPUT', undefined, { crop: choices(['center', 'none']) }),
  condNode(
    'ControlNetApplyAdvanced',
    'positive:CONDITIONING negative:CONDITIONING control_net:CONTROL_NET image:IMAGE strength:FLOAT start_percent:FLOAT end_percent:FLOAT vae?:VAE',
    'CONDITIONING CONDITIONING',
    'positive negative',
  ),
  condNode('InstructPixToPixConditioning', 'positive:CONDITIONING negative:CONDITIONING vae:VAE pixels:IMAGE', 'CONDITIONING CONDITIONING LATENT', 'positive negative latent'),
  condNode('LTXVConditioning', 'positive:CONDITIONING negative:CONDITIONING frame_rate:FLOAT', 'CONDITIONING CONDITIONING', 'positive negative'),
  condNode(
    'LTXVImgToVideo',
    'positive:CONDITIONING negative:CONDITIONING vae:VAE image:IMAGE width:INT height:INT length:INT batch_size:INT strength:FLOAT',
    'CONDITIONING CONDITIONING LATENT',
    'positive negative latent',
  ),
  condNode('LTXVCropGuides', 'positive:CONDITIONING negative:CONDITIONING latent:LATENT', 'CONDITIONING CONDITIONING LATENT', 'positive negative latent'),
  condNode(
    'WanFirstLastFrameToVideo',
    'positive:CONDITIONING negative:CONDITIONING vae:VAE width:INT height:INT length:INT batch_size:INT clip_vision_start_image?:CLIP_VISION_OUTPUT clip_vision_end_image?:CLIP_VISION_OUTPUT start_image?:IMAGE end_image?:IMAGE',
    'CONDITIONING CONDITIONING LATENT',
    'positive negative latent',
  ),
  condNode(
    'INPAINT_VAEEncodeInpaintConditioning',
    'positive:CONDITIONING negative:CONDITIONING vae:VAE pixels:IMAGE mask:MASK',
    'CONDITIONING CONDITIONING LATENT LATENT',
    'positive negative latent_inpaint latent_samples',
  ),

  emptyLatent('EmptyLatentImage', 'width:INT height:INT batch_size:INT'),
  emptyLatent('EmptySD3LatentImage', 'width:INT height:INT batch_size:INT'),
  emptyLatent('EmptyFlux2LatentImage', 'width:INT height:INT batch_size:INT'),
  emptyLatent('EmptyHunyuanLatentVideo', 'width:INT height:INT length:INT batch_size:INT'),
  emptyLatent('EmptyLTXVLatentVideo', 'width:INT height:INT length:INT batch_size:INT'),
  define('LTXVEmptyLatentAudio', 'frames_number:INT frame_rate:INT batch_size:INT audio_vae:VAE', 'LATENT', (_ctx, i) => ({ outputs: [latent(64, 8, 1, 1, 'audio', hashes(i))] }), { names: 'Latent' }),
  define('LTXVConcatAVLatent', 'video_latent:LATENT audio_latent:LATENT', 'LATENT', (_ctx, i) => {
    const v = i.video_latent as Latent;
    return { outputs: [latent(v.width, v.height, v.frames, v.batch, 'av', hashes(i))] };
  }, { names: 'latent' }),
  define('LTXVSeparateAVLatent', 'av_latent:LATENT', 'LATENT LATENT', (_ctx, i) => {
    const v = i.av_latent as Latent;
    return { outputs: [latent(v.width, v.height, v.frames, v.batch, 'video', v.hash), latent(64, 8, 1, 1, 'audio', v.hash)] };
  }, { names: 'video_latent audio_latent' }),
  define('LTXVLatentUpsampler', 'samples:LATENT upscale_model:LATENT_UPSCALE_MODEL vae:VAE', 'LATENT', (_ctx, i) => {
    const v = i.samples as Latent;
    return { outputs: [latent(v.width * 2, v.height * 2, v.frames, v.batch, 'up', v.hash)] };
  }),
  define('VAEEncode', 'pixels:IMAGE vae:VAE', 'LATENT', (_ctx, i) => ({ outputs: [latentIn(i)!] }), { category: 'latent' }),

  define('KSampler', SAMPLER_INPUTS, 'LATENT', async (ctx, i) => ({ outputs: [await sample(ctx, i, Number(i.steps))] }), {
    category: 'sampling',
    options: {
      seed: { default: 0, min: 0, max: 0xffffffffffffffff },
      steps: { default: 20, min: 1, max: 10000 },
      denoise: { default: 1, min: 0, max: 1 },
      sampler_name: choices(SAMPLERS),
      scheduler: choices(SCHEDULERS),
    },
  }),
  define(
    'KSamplerAdvanced',
    'model:MODEL add_noise:COMBO noise_seed:INT steps:INT cfg:FLOAT sampler_name:COMBO scheduler:COMBO positive:CONDITIONING negative:CONDITIONING latent_image:LATENT start_at_step:INT end_at_step:INT return_with_leftover_noise:COMBO',
    'LATENT',
    async (ctx, i) => {
      const steps = Math.max(1, Math.min(Number(i.steps), Number(i.end_at_step)) - (Number(i.start_at_step) || 0));
      return { outputs: [await sample(ctx, i, steps)] };
    },
    {
      category: 'sampling',
      options: { add_noise: choices(['enable', 'disable']), sampler_name: choices(SAMPLERS), scheduler: choices(SCHEDULERS), return_with_leftover_noise: choices(['disable', 'enable']) },
    },
  ),
  define(
    'SamplerCustom',
    'model:MODEL add_noise:BOOLEAN noise_seed:INT cfg:FLOAT positive:CONDITIONING negative:CONDITIONING sampler:SAMPLER sigmas:SIGMAS latent_image:LATENT',
    'LATENT LATENT',
    async (ctx, i) => {
      const out = await sample(ctx, i, stepsOf(i));
      return { outputs: [out, out] };
    },
    { category: 'sampling/custom_sampling', names: 'output denoised_output' },
  ),
  define('SamplerCustomAdvanced', 'noise:NOISE guider:GUIDER sampler:SAMPLER sigmas:SIGMAS latent_image:LATENT', 'LATENT LATENT', async (ctx, i) => {
    const out = await sample(ctx, i, stepsOf(i));
    return { outputs: [out, out] };
  }, { category: 'sampling/custom_sampling', names: 'output denoised_output' }),
  define(
    'KSampler (Efficient)',
    `${SAMPLER_INPUTS} preview_method:COMBO vae_decode:COMBO optional_vae?:VAE script?:SCRIPT`,
    'MODEL CONDITIONING CONDITIONING LATENT VAE IMAGE',
    async (ctx, i) => {
      const out = await sample(ctx, i, Number(i.steps));
      return { outputs: [i.model as Token, i.positive as Token, i.negative as Token, out, (i.optional_vae ?? token('VAE', 'efficient')) as Token, imageFromLatent(out)] };
    },
    { category: 'Efficiency Nodes/Sampling', names: 'MODEL CONDITIONING+ CONDITIONING- LATENT VAE IMAGE' },
  ),
  define('KSamplerSelect', 'sampler_name:COMBO', 'SAMPLER', tokenOf('SAMPLER'), { options: { sampler_name: choices(SAMPLERS) } }),
  define('SamplerEulerAncestral', 'eta:FLOAT s_noise:FLOAT', 'SAMPLER', tokenOf('SAMPLER')),
  define('RandomNoise', 'noise_seed:INT', 'NOISE', tokenOf('NOISE'), { options: { noise_seed: { default: 0, min: 0, max: 0xffffffffffffffff } } }),
  scheduler('BasicScheduler', 'model:MODEL scheduler:COMBO steps:INT denoise:FLOAT', { scheduler: choices(SCHEDULERS) }),
  scheduler('AlignYourStepsScheduler', 'model_type:COMBO steps:INT denoise:FLOAT', { model_type: choices(['SD1', 'SDXL', 'SVD']) }),
  scheduler('LTXVScheduler', 'steps:INT max_shift:FLOAT base_shift:FLOAT stretch:BOOLEAN terminal:FLOAT latent?:LATENT'),
  scheduler('Flux2Scheduler', 'steps:INT width:INT height:INT'),
  scheduler('ManualSigmas', 'sigmas:STRING'),
  define('CFGGuider', 'model:MODEL positive:CONDITIONING negative:CONDITIONING cfg:FLOAT', 'GUIDER', (_ctx, i) => ({ outputs: [token('GUIDER', hashes(i))] })),
  define('BasicGuider', 'model:MODEL conditioning:CONDITIONING', 'GUIDER', (_ctx, i) => ({ outputs: [token('GUIDER', hashes(i))] })),
  define('DualCFGGuider', 'model:MODEL cond1:CONDITIONING cond2:CONDITIONING negative:CONDITIONING cfg_conds:FLOAT cfg_cond2_negative:FLOAT style:COMBO', 'GUIDER', (_ctx, i) => ({
    outputs: [token('GUIDER', hashes(i))],
  }), { options: { style: choices(['regular', 'nested']) } }),

  define('VAEDecode', 'samples:LATENT vae:VAE', 'IMAGE', (_ctx, i) => ({ outputs: [imageFromLatent(i.samples as Latent, valueHash(i.vae))] }), { category: 'latent' }),
  define('VAEDecodeTiled', 'samples:LATENT vae:VAE tile_size:INT overlap:INT temporal_size:INT temporal_overlap:INT', 'IMAGE', (_ctx, i) => ({
    outputs: [imageFromLatent(i.samples as Latent, valueHash(i.vae))],
  }), { category: 'latent' }),
  define('LTXVAudioVAEDecode', 'samples:LATENT audio_vae:VAE', 'AUDIO', (_ctx, i) => ({ outputs: [token('AUDIO', hashes(i))] }), { names: 'Audio' }),

  primitive('PrimitiveInt', 'INT', Number),
  primitive('PrimitiveFloat', 'FLOAT', Number),
  primitive('PrimitiveBoolean', 'BOOLEAN', Boolean),
  primitive('PrimitiveString', 'STRING', String),
  primitive('PrimitiveStringMultiline', 'STRING', String),
  primitive('INTConstant', 'INT', Number),
  define('StringConcatenate', 'string_a:STRING string_b:STRING delimiter:STRING', 'STRING', (_ctx, i) => ({
    outputs: [[i.string_a, i.string_b].map(String).join(String(i.delimiter ?? '')) as never],
  }), { category: 'utils/string', options: { delimiter: { default: '' } } }),
  // Shows its input as text (ComfyUI: str(), or JSON for lists and dicts); other values have no text of their own here.
  define('PreviewAny', 'source:*', 'STRING', (_ctx, i) => {
    const v = i.source;
    const text = typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? String(v) : `<${valueHash(v).slice(0, 12)}>`;
    return { outputs: [text as never], ui: { text: [text] } };
  }, { outputNode: true, category: 'utilities' }),
];
