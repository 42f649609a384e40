/**
 * The prompt and the negative prompt into the encoders the wiring gives them (graph.ts). Rules:
 * - Every encoder feeding a positive input of any sampler or guider gets the prompt, as long as they agree: at most one
 *   distinct non-empty text among them now. That covers SDXL base + refiner (the same prompt in two encoders), parallel
 *   samplers of one prompt, and blank templates. Different texts mean different jobs (two edit pipelines): ambiguous,
 *   and the error names the candidates and how to choose (`--prompt-node ID`, or `--set ID.inputs.FIELD=...`).
 * - Likewise for the negative. A text field that feeds a positive input is positive even if it also feeds a negative
 *   one (cfg 1 graphs that wire one encoder to both): the negative never overwrites it.
 * - A negative input with zeroed conditioning (ConditioningZeroOut) or none at all (BasicGuider) has no text: a negative
 *   prompt for a workflow where no negative text node remains is an error that says so.
 * - Text that arrives by link is set at its source (PrimitiveString / PrimitiveStringMultiline `value`).
 */
import { SealError } from '../../shared/errors.js';
import { compareNodeIds } from '../../shared/node-ids.js';
import type { Workflow } from '../../shared/schema.js';
import { ENCODERS, TEXT_SOURCES } from './encoders.js';
import { isLink, type NoNegative, type Sides } from './graph.js';

export interface TextChange {
  /** The encoder (or, when named with --prompt-node / --negative-node, the text source). */
  node_id: string;
  class_type: string;
  /** Its prompt fields that got the text. */
  fields: string[];
  /** Fields whose text arrives by link: the text was set at the source node's input instead. */
  sources?: Array<{ field: string; node_id: string; input: string }>;
}

/** One input that receives text. */
interface Target {
  nodeId: string;
  input: string;
}

interface Plan {
  nodeId: string;
  fields: Array<{ field: string; target: Target }>;
}

type Side = 'prompt' | 'negative';
const FLAG: Record<Side, string> = { prompt: '--prompt-node', negative: '--negative-node' };

const key = (t: Target) => `${t.nodeId}\u0000${t.input}`;

/** `12 (CLIPTextEncode, "Positive")`: ids and titles help the user pick; prompt text never appears. */
function describeNodes(workflow: Workflow, ids: readonly string[]): string {
  return [...ids]
    .sort(compareNodeIds)
    .map((id) => {
      const node = workflow[id];
      const title = node?._meta?.title;
      return `${id} (${node?.class_type ?? 'missing'}${title ? `, "${title}"` : ''})`;
    })
    .join(', ');
}

/** Where an encoder's (or a text source's) text lives, or why it cannot be set. `id` is a node of the workflow. */
function plan(workflow: Workflow, id: string): Plan | { problem: string } {
  const node = workflow[id]!;
  const sourceInput = TEXT_SOURCES[node.class_type];
  if (sourceInput) return { nodeId: id, fields: [{ field: sourceInput, target: { nodeId: id, input: sourceInput } }] };
  const fields = ENCODERS[node.class_type];
  if (!fields) return { problem: `node ${id} (${node.class_type}) is not a text encoder or a text source (PrimitiveString)` };
  const out: Plan = { nodeId: id, fields: [] };
  for (const field of fields) {
    const value = node.inputs[field];
    if (!isLink(value)) {
      out.fields.push({ field, target: { nodeId: id, input: field } });
      continue;
    }
    const source = workflow[value[0]];
    const input = source && TEXT_SOURCES[source.class_type];
    if (!input) {
      return {
        problem: `the ${field} of node ${id} comes by link from node ${value[0]} (${source?.class_type ?? 'missing'}), which is not a text source; set the text there with --set ${value[0]}.inputs.FIELD=...`,
      };
    }
    out.fields.push({ field, target: { nodeId: value[0], input } });
  }
  return out;
}

function planOrThrow(workflow: Workflow, id: string, side: Side): Plan {
  const p = plan(workflow, id);
  if ('problem' in p) throw new SealError('BAD_INPUT', `cannot set the ${side}: ${p.problem}`, { node_id: id });
  return p;
}

/**
 * Throws when the candidates hold different texts now (see the rules above). An encoder's text is the set of its
 * non-empty fields, so SDXL's text_g = text_l agrees with a refiner's text, and one SD3 encoder with a different t5xxl
 * is still one candidate; a blank encoder agrees with anything.
 */
function assertAgree(workflow: Workflow, plans: Plan[], side: Side): void {
  const texts = new Set<string>();
  for (const p of plans) {
    const values = new Set<string>();
    for (const { target } of p.fields) {
      const value = workflow[target.nodeId]!.inputs[target.input];
      if (value !== '' && value !== undefined) values.add(JSON.stringify(value));
    }
    if (values.size > 0) texts.add(JSON.stringify([...values].sort()));
  }
  if (texts.size <= 1) return;
  const ids = plans.map((p) => p.nodeId).sort(compareNodeIds);
  const example = plans.find((p) => p.nodeId === ids[0])!.fields[0]!.target;
  throw new SealError(
    'BAD_INPUT',
    `the ${side} could go to ${ids.length} text encoders that hold different texts now: ${describeNodes(workflow, ids)}; ` +
      `choose one with ${FLAG[side]} ID, or set each with --set ID.inputs.FIELD=... (e.g. --set ${example.nodeId}.inputs.${example.input}=...)`,
    { candidates: ids },
  );
}

function write(workflow: Workflow, plans: Plan[], text: string): TextChange[] {
  return plans.map((p) => {
    const node = workflow[p.nodeId]!;
    const change: TextChange = { node_id: p.nodeId, class_type: node.class_type, fields: p.fields.map((f) => f.field) };
    for (const { field, target } of p.fields) {
      workflow[target.nodeId]!.inputs[target.input] = text;
      if (target.nodeId !== p.nodeId) (change.sources ??= []).push({ field, node_id: target.nodeId, input: target.input });
    }
    return change;
  });
}

function nodeOrThrow(workflow: Workflow, id: string, side: Side): string {
  if (!workflow[id]) throw new SealError('BAD_INPUT', `${FLAG[side]} ${id}: no such node in the workflow`, { node_id: id });
  return id;
}

const NO_NEGATIVE: Record<NoNegative, string> = {
  zeroed: 'its negative is zeroed conditioning (ConditioningZeroOut)',
  absent: 'its guider takes no negative (BasicGuider)',
  unresolved: 'no text encoder could be found on its negative side',
};

export interface TextOptions {
  prompt?: string;
  negative?: string;
  promptNode?: string;
  negativeNode?: string;
}

export function applyText(workflow: Workflow, sides: Sides, options: TextOptions): { prompt: TextChange[]; negative: TextChange[] } {
  const result = { prompt: [] as TextChange[], negative: [] as TextChange[] };

  // Every input that holds positive text (and, below, every one the prompt goes to): the negative never lands there.
  const positive = new Set<string>();
  for (const id of sides.positive) {
    const p = plan(workflow, id);
    if (!('problem' in p)) for (const f of p.fields) positive.add(key(f.target));
  }

  if (options.prompt !== undefined) {
    let plans: Plan[];
    if (options.promptNode !== undefined) {
      plans = [planOrThrow(workflow, nodeOrThrow(workflow, options.promptNode, 'prompt'), 'prompt')];
    } else {
      if (sides.positive.length === 0) {
        throw new SealError(
          'BAD_INPUT',
          `found no text encoder feeding a sampler's or guider's positive input (${sides.roots.length} sampler/guider node${sides.roots.length === 1 ? '' : 's'} found); name it with --prompt-node ID, or use --set ID.inputs.FIELD=...`,
        );
      }
      plans = sides.positive.map((id) => planOrThrow(workflow, id, 'prompt'));
      assertAgree(workflow, plans, 'prompt');
    }
    for (const p of plans) for (const f of p.fields) positive.add(key(f.target));
    result.prompt = write(workflow, plans, options.prompt);
  }

  if (options.negative !== undefined) {
    let plans: Plan[];
    if (options.negativeNode !== undefined) {
      plans = [planOrThrow(workflow, nodeOrThrow(workflow, options.negativeNode, 'negative'), 'negative')];
      if (options.prompt !== undefined && plans[0]!.fields.some((f) => positive.has(key(f.target)))) {
        throw new SealError('BAD_INPUT', `--negative-node ${options.negativeNode} holds the positive text too; the negative would overwrite the prompt`, {
          node_id: options.negativeNode,
        });
      }
    } else {
      const shared = sides.negative.filter((id) => {
        const p = plan(workflow, id);
        return !('problem' in p) && p.fields.some((f) => positive.has(key(f.target)));
      });
      const candidates = sides.negative.filter((id) => !shared.includes(id));
      if (candidates.length === 0) throw noNegative(workflow, sides, shared);
      plans = candidates.map((id) => planOrThrow(workflow, id, 'negative'));
      assertAgree(workflow, plans, 'negative');
    }
    result.negative = write(workflow, plans, options.negative);
  }
  return result;
}

/** The error for a negative prompt with nowhere to go, saying why. */
function noNegative(workflow: Workflow, sides: Sides, shared: string[]): SealError {
  let why: string;
  if (shared.length > 0) why = `its negative input is wired to the positive text (${describeNodes(workflow, shared)})`;
  else if (sides.roots.length === 0) why = 'it has no sampler or guider this tool knows';
  else why = [...new Set(sides.withoutNegative.map((w) => NO_NEGATIVE[w.reason]))].join('; ');
  return new SealError('BAD_INPUT', `this workflow has no negative prompt to set: ${why}; drop --negative, or name a text node with --negative-node ID`, {
    samplers: sides.withoutNegative,
  });
}
