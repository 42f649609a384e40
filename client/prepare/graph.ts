/**
 * Reading an API-format graph by its wiring: which text encoders feed the samplers' positive and negative sides.
 * Titles are never used for this; they only help name candidates in an error.
 */
import type { Workflow } from '../../shared/schema.js';

export type Link = [string, number];

export function isLink(value: unknown): value is Link {
  return Array.isArray(value) && value.length === 2 && typeof value[0] === 'string' && typeof value[1] === 'number';
}

/** Prompt fields of every text encoder of ComfyUI (comfyui-protocol.md §6). */
export const ENCODERS: Readonly<Record<string, readonly string[]>> = {
  CLIPTextEncode: ['text'],
  CLIPTextEncodeSDXL: ['text_g', 'text_l'],
  CLIPTextEncodeSDXLRefiner: ['text'],
  CLIPTextEncodeFlux: ['clip_l', 't5xxl'],
  CLIPTextEncodeSD3: ['clip_l', 'clip_g', 't5xxl'],
  CLIPTextEncodeHiDream: ['clip_l', 'clip_g', 't5xxl', 'llama'],
  CLIPTextEncodeHunyuanDiT: ['bert', 'mt5xl'],
  TextEncodeHunyuanVideo_ImageToVideo: ['prompt'],
  TextEncodeQwenImageEdit: ['prompt'],
  TextEncodeQwenImageEditPlus: ['prompt'],
  CLIPTextEncodePixArtAlpha: ['text'],
  CLIPTextEncodeLumina2: ['user_prompt'],
  CLIPTextEncodeControlnet: ['text'],
  PhotoMakerEncode: ['text'],
  TextEncodeAceStepAudio: ['tags', 'lyrics'],
};

/** Nodes that hold text for others (set at the source when an encoder's text arrives by link). */
export const TEXT_SOURCES: Readonly<Record<string, string>> = {
  PrimitiveString: 'value',
  PrimitiveStringMultiline: 'value',
};

/** Where positive and negative conditioning enter a sampler or guider. */
export const CONDITIONING_ROOTS: Readonly<Record<string, { positive: readonly string[]; negative: readonly string[] }>> = {
  KSampler: { positive: ['positive'], negative: ['negative'] },
  KSamplerAdvanced: { positive: ['positive'], negative: ['negative'] },
  SamplerCustom: { positive: ['positive'], negative: ['negative'] },
  'KSampler (Efficient)': { positive: ['positive'], negative: ['negative'] },
  'KSampler Adv. (Efficient)': { positive: ['positive'], negative: ['negative'] },
  CFGGuider: { positive: ['positive'], negative: ['negative'] },
  BasicGuider: { positive: ['conditioning'], negative: [] },
  // cond2 sits between the two (in instruct-pix2pix graphs it carries the negative text through the image
  // conditioning), so it is neither side: only cond1 is the prompt.
  DualCFGGuider: { positive: ['cond1'], negative: ['negative'] },
};

/** Conditioning with no text in it: a side that ends here has no prompt to set. */
const ZEROING = new Set(['ConditioningZeroOut']);

/** Nodes whose conditioning outputs are not slot 0 = positive, slot 1 = negative. */
const SLOT_INPUTS: Readonly<Record<string, Readonly<Record<number, string>>>> = {
  'KSampler (Efficient)': { 1: 'positive', 2: 'negative' },
  'KSampler Adv. (Efficient)': { 1: 'positive', 2: 'negative' },
};

/**
 * The encoders a conditioning link comes from, walking upstream. A node with both `positive` and `negative` inputs
 * (ControlNetApplyAdvanced, InstructPixToPixConditioning, LTXVConditioning, WanFirstLastFrameToVideo...) passes output
 * slot 0 from `positive` and slot 1 from `negative`; any other node passes all its linked inputs.
 */
export function encodersUpstream(workflow: Workflow, link: Link, seen = new Set<string>()): string[] {
  const [id, slot] = link;
  const key = `${id}#${slot}`;
  if (seen.has(key)) return [];
  seen.add(key);
  const node = workflow[id];
  if (!node) return [];
  if (ENCODERS[node.class_type]) return [id];
  if (ZEROING.has(node.class_type)) return [];
  const inputs = node.inputs;
  const bySlot = SLOT_INPUTS[node.class_type];
  let follow: string[];
  if (bySlot) follow = bySlot[slot] ? [bySlot[slot]!] : [];
  else if (isLink(inputs.positive) && isLink(inputs.negative)) follow = slot === 0 ? ['positive'] : slot === 1 ? ['negative'] : [];
  else follow = Object.keys(inputs);
  const found: string[] = [];
  for (const name of follow) {
    const value = inputs[name];
    if (isLink(value)) for (const e of encodersUpstream(workflow, value, seen)) if (!found.includes(e)) found.push(e);
  }
  return found;
}

export interface Sides {
  positive: string[];
  negative: string[];
  /** Roots whose negative side ends in zeroed conditioning or is absent (BasicGuider). */
  negativeless: string[];
}

/** Every encoder feeding a positive and a negative side of any sampler or guider in the graph. */
export function findSides(workflow: Workflow): Sides {
  const sides: Sides = { positive: [], negative: [], negativeless: [] };
  for (const [id, node] of Object.entries(workflow)) {
    const root = CONDITIONING_ROOTS[node.class_type];
    if (!root) continue;
    for (const side of ['positive', 'negative'] as const) {
      let any = false;
      for (const name of root[side]) {
        const value = node.inputs[name];
        if (!isLink(value)) continue;
        for (const e of encodersUpstream(workflow, value)) {
          any = true;
          if (!sides[side].includes(e)) sides[side].push(e);
        }
      }
      if (side === 'negative' && !any) sides.negativeless.push(id);
    }
  }
  return sides;
}
