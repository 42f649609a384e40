/**
 * prepareWorkflow: the user's prompt, negative prompt, images, seeds and --set values into an API-format workflow, by
 * wiring and never by titles, with a report of every change (for the CLI to print and for --dry-run --json).
 * Pure: the input is deep-copied and never modified; nothing is read or written; randomness only for `randomSeed`,
 * from the injectable `random`. The rules live with each step: text.ts, images.ts, seeds.ts, set.ts.
 */
import type { BundleImage } from '../../shared/bundle.js';
import { SealError } from '../../shared/errors.js';
import { parseWith, workflowSchema, type Workflow } from '../../shared/schema.js';
import type { ObjectInfo } from '../workflow/definitions.js';
import type { EmbeddedImageFormat } from '../workflow/embedded.js';
import { loadWorkflow, toApiWorkflow, type LoadedWorkflow, type WorkflowSource } from '../workflow/load.js';
import { findSides } from './graph.js';
import { assignFiles, type ImageAssignment, type NodeFile } from './images.js';
import { applySeeds, type SeedChange } from './seeds.js';
import { applySets, type SetChange } from './set.js';
import { applyText, type TextChange } from './text.js';

export type { ImageAssignment, NodeFile, SeedChange, SetChange, TextChange, WorkflowSource };

export interface PrepareOptions {
  /** Goes to every text encoder feeding a positive input of a sampler or guider (see text.ts for ambiguity). */
  prompt?: string;
  /** Goes to every text encoder feeding a negative input. */
  negative?: string;
  /** The node that gets the prompt (an encoder, or a PrimitiveString), overriding the wiring rule. */
  promptNode?: string;
  /** The node that gets the negative prompt. */
  negativeNode?: string;
  /** One file per image loader, numeric ids ascending then named ids in workflow order (loaders given a file in `files` left out). */
  images?: readonly BundleImage[];
  /** A file for a named loader node of any kind (LoadAudio, LoadVideo, VHS_LoadVideo, an image loader...). */
  files?: readonly NodeFile[];
  /** Sets every `seed` / `noise_seed`. */
  seed?: number;
  /** A random seed for each `seed` / `noise_seed`, from `random`. */
  randomSeed?: boolean;
  /** `NODE.inputs.FIELD=VALUE`, applied last. */
  set?: readonly string[];
  /** For randomSeed: returns a number in [0, 1). @default Math.random */
  random?: () => number;
  /**
   * Node definitions (GET /object_info, e.g. from `client.nodes()`) for converting a UI-format workflow; with them,
   * `set` may also add an input the node's definition has but the workflow left out.
   */
  objectInfo?: ObjectInfo;
}

export interface PrepareReport {
  prompt: TextChange[];
  negative: TextChange[];
  images: ImageAssignment[];
  files: ImageAssignment[];
  seeds: SeedChange[];
  set: SetChange[];
}

export interface Prepared {
  workflow: Workflow;
  /** The bundle's files (images and the rest): each distinct file once, names unique. */
  images: BundleImage[];
  report: PrepareReport;
  /** What the workflow was: API format, UI format (converted), or an image's embedded `prompt` / `workflow`. */
  source: WorkflowSource;
  /** Set when the workflow came out of a PNG or WebP. */
  image?: EmbeddedImageFormat;
}

/** Keys under which request files (a bundle, a RunPod job input, a /prompt body) hold the workflow. */
const WRAPPERS = ['workflow', 'prompt', 'input'];

function parseWorkflow(input: unknown): Workflow {
  if (input !== null && typeof input === 'object' && !Array.isArray(input)) {
    const wrapper = WRAPPERS.find((k) => {
      const inner = (input as Record<string, unknown>)[k];
      return inner !== null && typeof inner === 'object' && !('class_type' in inner);
    });
    if (wrapper !== undefined) {
      throw new SealError('BAD_INPUT', `this JSON wraps its workflow under "${wrapper}"; give the API-format workflow itself (ComfyUI: Workflow > Export (API))`);
    }
  }
  const workflow = parseWith(workflowSchema, input, 'workflow');
  if (Object.keys(workflow).length === 0) throw new SealError('BAD_INPUT', 'workflow has no nodes');
  return structuredClone(workflow);
}

/**
 * `input`: a parsed workflow (API or UI format), or a file's bytes (that JSON, or a PNG / WebP that ComfyUI saved).
 */
export function prepareWorkflow(input: unknown, options: PrepareOptions = {}): Prepared {
  const convert = options.objectInfo ? { objectInfo: options.objectInfo } : {};
  const loaded: LoadedWorkflow = input instanceof Uint8Array ? loadWorkflow(input, convert) : toApiWorkflow(input, convert);
  const workflow = parseWorkflow(loaded.workflow);
  const text = applyText(workflow, findSides(workflow), options);
  const { images, assignments, files } = assignFiles(workflow, options.images ?? [], options.files ?? []);
  const seeds = applySeeds(workflow, { seed: options.seed, randomSeed: options.randomSeed, random: options.random ?? Math.random });
  const set = applySets(workflow, options.set ?? [], options.objectInfo);
  return { workflow, images, report: { prompt: text.prompt, negative: text.negative, images: assignments, files, seeds, set }, source: loaded.source, ...(loaded.image ? { image: loaded.image } : {}) };
}
