/**
 * Reading an API-format graph by its wiring: which text encoders feed the positive and negative conditioning of the
 * samplers and guiders. Titles are never used for this; they only help name candidates in an error.
 */
import type { Workflow } from '../../shared/schema.js';
import { CONDITIONING_ROOTS, ENCODERS, SLOT_INPUTS, ZEROING, type ConditioningInputs } from './encoders.js';

/** A link in an API-format input: `[source node id, output slot]`. */
export type Link = [string, number];

export function isLink(value: unknown): value is Link {
  return Array.isArray(value) && value.length === 2 && typeof value[0] === 'string' && Number.isInteger(value[1]);
}

/**
 * Inputs of a conditioning node that carry conditioning, by name: `conditioning`, `conditioning_1`, `conditioning_to`,
 * `cond1`, `positive`, `negative`. Without /object_info the types are unknown, and following every input would walk
 * through images and latents into an unrelated sampler's encoders; a custom node that names them otherwise ends the
 * walk, and the user is asked to name the node.
 */
const CONDITIONING_INPUT = /cond|positive|negative/i;

export interface Upstream {
  /** Text encoders reached. */
  encoders: string[];
  /** Some branch ended in zeroed conditioning (ConditioningZeroOut). */
  zeroed: boolean;
}

/**
 * The encoders a conditioning link comes from. A node with both `positive` and `negative` inputs (ControlNetApplyAdvanced,
 * InstructPixToPixConditioning, LTXVImgToVideo, WanFirstLastFrameToVideo...) passes output slot 0 on from `positive` and
 * slot 1 from `negative` (its other outputs are latents); any other node passes on all its conditioning inputs.
 */
export function walkUpstream(workflow: Workflow, start: Link): Upstream {
  const result: Upstream = { encoders: [], zeroed: false };
  const seen = new Set<string>();
  // An explicit stack: a long chain of conditioning nodes must not overflow the call stack.
  const stack: Link[] = [start];
  while (stack.length > 0) {
    const [id, slot] = stack.pop()!;
    const key = `${id}\u0000${slot}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const node = workflow[id];
    if (!node) continue;
    if (ENCODERS[node.class_type]) {
      if (!result.encoders.includes(id)) result.encoders.push(id);
      continue;
    }
    if (ZEROING.has(node.class_type)) {
      result.zeroed = true;
      continue;
    }
    const inputs = node.inputs;
    const bySlot = SLOT_INPUTS[node.class_type];
    let follow: string[];
    if (bySlot) follow = bySlot[slot] === undefined ? [] : [bySlot[slot]];
    else if (isLink(inputs.positive) && isLink(inputs.negative)) follow = slot === 0 ? ['positive'] : slot === 1 ? ['negative'] : [];
    else follow = Object.keys(inputs).filter((name) => CONDITIONING_INPUT.test(name));
    for (const name of follow) {
      const value = inputs[name];
      if (isLink(value)) stack.push(value);
    }
  }
  return result;
}

/** Why a sampler or guider has no negative text: zeroed conditioning, no negative input at all, or a chain we cannot read. */
export type NoNegative = 'zeroed' | 'absent' | 'unresolved';

export interface Sides {
  /** Encoders feeding a positive input of some sampler or guider. */
  positive: string[];
  /** Encoders feeding a negative input. An encoder can be on both lists. */
  negative: string[];
  /** Samplers and guiders whose negative reaches no encoder, with the reason. */
  withoutNegative: Array<{ node_id: string; reason: NoNegative }>;
  /** Samplers and guiders found at all. */
  roots: string[];
}

const PLAIN_SAMPLER: ConditioningInputs = { positive: ['positive'], negative: ['negative'] };

/**
 * The samplers and guiders: the known ones, and any other node with `positive` and `negative` links whose outputs feed
 * no conditioning input (a custom sampler such as "KSampler //Inspire"). A node whose outputs are passed on as
 * conditioning (ControlNetApplyAdvanced, WanImageToVideo...) is a step on the way, not a root.
 */
function findRoots(workflow: Workflow): Array<[string, ConditioningInputs]> {
  const passedOn = new Set<string>();
  for (const node of Object.values(workflow)) {
    for (const [name, value] of Object.entries(node.inputs)) if (CONDITIONING_INPUT.test(name) && isLink(value)) passedOn.add(value[0]);
  }
  const roots: Array<[string, ConditioningInputs]> = [];
  for (const [id, node] of Object.entries(workflow)) {
    const known = CONDITIONING_ROOTS[node.class_type];
    if (known) roots.push([id, known]);
    else if (isLink(node.inputs.positive) && isLink(node.inputs.negative) && !passedOn.has(id)) roots.push([id, PLAIN_SAMPLER]);
  }
  return roots;
}

/** Every encoder feeding a positive and a negative input of any sampler or guider in the graph. */
export function findSides(workflow: Workflow): Sides {
  const sides: Sides = { positive: [], negative: [], withoutNegative: [], roots: [] };
  for (const [id, root] of findRoots(workflow)) {
    sides.roots.push(id);
    for (const side of ['positive', 'negative'] as const) {
      let reached = false;
      let zeroed = false;
      for (const name of root[side]) {
        const value = workflow[id]!.inputs[name];
        if (!isLink(value)) continue;
        const up = walkUpstream(workflow, value);
        zeroed ||= up.zeroed;
        for (const e of up.encoders) {
          reached = true;
          if (!sides[side].includes(e)) sides[side].push(e);
        }
      }
      if (side === 'negative' && !reached) {
        sides.withoutNegative.push({ node_id: id, reason: root.negative.length === 0 ? 'absent' : zeroed ? 'zeroed' : 'unresolved' });
      }
    }
  }
  return sides;
}
