/**
 * prepareWorkflow: put the user's prompt, negative prompt, images, seeds and --set values into an API-format workflow —
 * by wiring, never by titles — and report every change. Pure: the input is not modified, nothing is read or written.
 *
 * Rules:
 * - The prompt goes into every text encoder feeding a positive side of a sampler or guider, when they all hold the
 *   same text now (base + refiner, parallel samplers of one prompt). If they hold different texts the graph is
 *   ambiguous: the error lists them; choose with `promptNode` or `set`. Likewise for the negative.
 * - A negative side that is zeroed (ConditioningZeroOut) or absent (BasicGuider) has no text: a negative prompt for a
 *   workflow where no side has one is an error.
 * - Text arriving by link is set at its source (PrimitiveString / PrimitiveStringMultiline `value`).
 * - Images fill LoadImage / LoadImageMask / LoadImageOutput in ascending node-id order (shared/node-ids.ts).
 */
import type { BundleImage } from '../../shared/bundle.js';
import { isUiFormat, UI_FORMAT_MESSAGE } from '../../shared/bundle.js';
import { SealError } from '../../shared/errors.js';
import { compareNodeIds } from '../../shared/node-ids.js';
import { parseWith, workflowSchema, type Workflow } from '../../shared/schema.js';
import { ENCODERS, findSides, isLink, TEXT_SOURCES } from './graph.js';
import { assignImages, type ImageAssignment } from './images.js';
import { applySets, type SetChange } from './set.js';

export interface PrepareOptions {
  prompt?: string;
  negative?: string;
  /** Node that gets the prompt (an encoder, or a text source), when the graph is ambiguous. */
  promptNode?: string;
  negativeNode?: string;
  /** Files for the image loaders, in ascending node-id order. */
  images?: BundleImage[];
  /** Set every seed / noise_seed. */
  seed?: number;
  /** A fresh random seed for each seed / noise_seed. */
  randomSeed?: boolean;
  /** `NODE.inputs.FIELD=VALUE` (VALUE as JSON when it parses, else text). */
  set?: string[];
  /** For randomSeed; returns [0, 1). @default Math.random */
  random?: () => number;
}

export interface TextChange {
  node_id: string;
  class_type: string;
  fields: string[];
}

export interface PrepareReport {
  prompt: TextChange[];
  negative: TextChange[];
  images: ImageAssignment[];
  seeds: Array<{ node_id: string; field: string; value: number }>;
  set: SetChange[];
}

export interface Prepared {
  workflow: Workflow;
  /** The bundle's images, names unique. */
  images: BundleImage[];
  report: PrepareReport;
}

const SEED_FIELDS = ['seed', 'noise_seed'];

function describe(workflow: Workflow, ids: string[]): string {
  return ids
    .sort(compareNodeIds)
    .map((id) => {
      const title = workflow[id]?._meta?.title;
      return `${id} (${workflow[id]?.class_type}${title ? `, "${title}"` : ''})`;
    })
    .join(', ');
}

/** The text fields to set for an encoder: its own, or the source node of a linked one. */
function textTargets(workflow: Workflow, id: string): Array<{ nodeId: string; field: string }> {
  const node = workflow[id]!;
  const sourceField = TEXT_SOURCES[node.class_type];
  if (sourceField) return [{ nodeId: id, field: sourceField }];
  const fields = ENCODERS[node.class_type];
  if (!fields) throw new SealError('BAD_INPUT', `node ${id} (${node.class_type}) is not a text encoder or text source`);
  return fields.map((field) => {
    const value = node.inputs[field];
    if (isLink(value)) {
      const source = workflow[value[0]];
      const sf = source && TEXT_SOURCES[source.class_type];
      if (!sf) throw new SealError('BAD_INPUT', `node ${id}'s ${field} comes from node ${value[0]} (${source?.class_type}), which is not a text source; use --set`);
      return { nodeId: value[0], field: sf };
    }
    return { nodeId: id, field };
  });
}

function currentText(workflow: Workflow, id: string): string {
  return JSON.stringify(textTargets(workflow, id).map((t) => workflow[t.nodeId]!.inputs[t.field]));
}

function setText(workflow: Workflow, ids: string[], text: string, which: string, explicit: string | undefined, flag: string): TextChange[] {
  let targets = ids;
  if (explicit !== undefined) {
    if (!workflow[explicit]) throw new SealError('BAD_INPUT', `${flag} ${explicit}: no such node`);
    targets = [explicit];
  } else {
    if (targets.length === 0) {
      throw new SealError('BAD_INPUT', `no text encoder feeds a ${which} side of a sampler; name one with ${flag} ID or use --set NODE.inputs.FIELD=...`);
    }
    if (new Set(targets.map((id) => currentText(workflow, id))).size > 1) {
      throw new SealError(
        'BAD_INPUT',
        `the ${which} prompt could go to several encoders holding different texts: ${describe(workflow, [...targets])}; choose with ${flag} ID or --set NODE.inputs.FIELD=...`,
      );
    }
  }
  const changes: TextChange[] = [];
  const done = new Set<string>();
  for (const id of targets) {
    const fields: string[] = [];
    for (const { nodeId, field } of textTargets(workflow, id)) {
      const key = `${nodeId}.${field}`;
      if (!done.has(key)) workflow[nodeId]!.inputs[field] = text;
      done.add(key);
      fields.push(nodeId === id ? field : `${field} (via ${nodeId}.${TEXT_SOURCES[workflow[nodeId]!.class_type]})`);
    }
    changes.push({ node_id: id, class_type: workflow[id]!.class_type, fields });
  }
  return changes;
}

export function prepareWorkflow(input: unknown, options: PrepareOptions = {}): Prepared {
  if (isUiFormat(input)) throw new SealError('BAD_INPUT', UI_FORMAT_MESSAGE);
  const workflow = structuredClone(parseWith(workflowSchema, input, 'workflow'));
  if (Object.keys(workflow).length === 0) throw new SealError('BAD_INPUT', 'workflow has no nodes');
  const report: PrepareReport = { prompt: [], negative: [], images: [], seeds: [], set: [] };

  const sides = findSides(workflow);
  const both = sides.positive.filter((id) => sides.negative.includes(id));
  if (options.prompt !== undefined) {
    if (options.promptNode === undefined && both.length > 0) {
      throw new SealError('BAD_INPUT', `encoder ${describe(workflow, both)} feeds both a positive and a negative side; choose with --prompt-node ID`);
    }
    report.prompt = setText(workflow, sides.positive, options.prompt, 'positive', options.promptNode, '--prompt-node');
  }
  if (options.negative !== undefined) {
    const negatives = sides.negative.filter((id) => !sides.positive.includes(id));
    if (options.negativeNode === undefined && negatives.length === 0 && sides.negativeless.length > 0) {
      throw new SealError('BAD_INPUT', 'this workflow has no negative prompt (its negative side is zeroed or absent, as with Flux guidance); drop --negative');
    }
    report.negative = setText(workflow, negatives, options.negative, 'negative', options.negativeNode, '--negative-node');
  }

  const { images, assignments } = assignImages(workflow, options.images);
  report.images = assignments;

  if (options.seed !== undefined || options.randomSeed) {
    const random = options.random ?? Math.random;
    for (const id of Object.keys(workflow).sort(compareNodeIds)) {
      for (const field of SEED_FIELDS) {
        const current = workflow[id]!.inputs[field];
        if (typeof current !== 'number') continue;
        const value = options.seed !== undefined ? options.seed : Math.floor(random() * Number.MAX_SAFE_INTEGER);
        workflow[id]!.inputs[field] = value;
        report.seeds.push({ node_id: id, field, value });
      }
    }
  }

  report.set = applySets(workflow, options.set ?? []);
  return { workflow, images, report };
}
