/**
 * The fixed lists real ComfyUI v0.27.1 offers for combo inputs (samplers, schedulers, methods, types), as its
 * /object_info lists them, so a workflow checked against the simulator is checked as against ComfyUI. Held to the
 * recorded dump by tests/simulator/object-info.test.ts.
 */

/** comfy.samplers.KSampler.SAMPLERS: KSampler, KSamplerAdvanced, KSamplerSelect. */
export const SAMPLERS = [
  'euler', 'euler_cfg_pp', 'euler_ancestral', 'euler_ancestral_cfg_pp', 'heun', 'heunpp2', 'exp_heun_2_x0',
  'exp_heun_2_x0_sde', 'dpm_2', 'dpm_2_ancestral', 'lms', 'dpm_fast', 'dpm_adaptive', 'dpmpp_2s_ancestral',
  'dpmpp_2s_ancestral_cfg_pp', 'dpmpp_sde', 'dpmpp_sde_gpu', 'dpmpp_2m', 'dpmpp_2m_cfg_pp', 'dpmpp_2m_sde',
  'dpmpp_2m_sde_gpu', 'dpmpp_2m_sde_heun', 'dpmpp_2m_sde_heun_gpu', 'dpmpp_3m_sde', 'dpmpp_3m_sde_gpu', 'ddpm',
  'lcm', 'ipndm', 'ipndm_v', 'deis', 'res_multistep', 'res_multistep_cfg_pp', 'res_multistep_ancestral',
  'res_multistep_ancestral_cfg_pp', 'gradient_estimation', 'gradient_estimation_cfg_pp', 'er_sde', 'seeds_2',
  'seeds_3', 'sa_solver', 'sa_solver_pece', 'ddim', 'uni_pc', 'uni_pc_bh2',
];

/** comfy.samplers.KSampler.SCHEDULERS. */
export const SCHEDULERS = [
  'simple', 'sgm_uniform', 'karras', 'exponential', 'ddim_uniform', 'beta', 'normal', 'linear_quadratic',
  'kl_optimal',
];

/** The image scalers' upscale_method. */
export const UPSCALE_METHODS = [
  'nearest-exact', 'bilinear', 'area', 'bicubic', 'lanczos',
];

/** CLIPLoader's type. */
export const CLIP_TYPES = [
  'stable_diffusion', 'stable_cascade', 'sd3', 'stable_audio', 'mochi', 'ltxv', 'pixart', 'cosmos', 'lumina2',
  'wan', 'hidream', 'chroma', 'ace', 'omnigen2', 'qwen_image', 'hunyuan_image', 'flux2', 'ovis',
  'longcat_image', 'cogvideox', 'lens', 'pixeldit', 'ideogram4', 'boogu', 'krea2',
];

/** DualCLIPLoader's type. */
export const DUAL_CLIP_TYPES = [
  'sdxl', 'sd3', 'flux', 'hunyuan_video', 'hidream', 'hunyuan_image', 'hunyuan_video_15', 'kandinsky5',
  'kandinsky5_image', 'ltxv', 'newbie', 'ace',
];

/** UNETLoader's weight_dtype. */
export const WEIGHT_DTYPES = [
  'default', 'fp8_e4m3fn', 'fp8_e4m3fn_fast', 'fp8_e5m2',
];

/** SetUnionControlNetType's type. */
export const UNION_CONTROLNET_TYPES = [
  'auto', 'openpose', 'depth', 'hed/pidi/scribble/ted', 'canny/lineart/anime_lineart/mlsd', 'normal',
  'segment', 'tile', 'repaint',
];

/** A device choice of the text encoder loaders. */
export const DEVICES = ['default', 'cpu'];
