/**
 * Node definitions: a compact signature per class (inputs with types, outputs) that /object_info and validation read,
 * and a run function. Signatures use `name:TYPE`, `name?:TYPE` for optional inputs; COMBO accepts any listed value.
 */
import type { RunContext } from '../context.js';
import type { ModelFolder } from '../models.js';
import type { Value } from '../values.js';

export interface InputSpec {
  name: string;
  type: string;
  optional: boolean;
  /** Literal defaults and bounds, shown by /object_info and checked by validation. */
  options: { default?: unknown; min?: number; max?: number; choices?: string[]; image_upload?: boolean; models?: ModelList };
}

/** A combo listing a models folder's files (then `plus`, e.g. VAELoader's "pixel_space"), read at each /object_info. */
export interface ModelList {
  folder: ModelFolder;
  plus?: string[];
}

/** What the dynamic combos list at the time of the call: the input dir's images, a models folder's files. */
export interface ComboLists {
  inputImages: string[];
  models(folder: ModelFolder): string[];
}

const NO_LISTS: ComboLists = { inputImages: [], models: () => [] };

/** The options /object_info shows beside the type or list: what the simulator keeps for itself taken out. */
export function shownOptions(spec: InputSpec): Omit<InputSpec['options'], 'choices' | 'models'> {
  const { choices: _choices, models: _models, ...shown } = spec.options;
  return shown;
}

export interface NodeResult {
  outputs: Value[];
  /** The UI output sent with `executed` and kept in history (images, gifs, audio...). */
  ui?: Record<string, unknown>;
}

export interface NodeDef {
  name: string;
  inputs: InputSpec[];
  outputs: string[];
  outputNames: string[];
  outputNode: boolean;
  /** Outputs that are lists (ComfyUI's OUTPUT_IS_LIST). */
  outputIsList: boolean[];
  /** Inputs the server fills in itself (PROMPT, EXTRA_PNGINFO, UNIQUE_ID): name → type. */
  hidden: Record<string, string>;
  category: string;
  run(ctx: RunContext, inputs: Record<string, unknown>): Promise<NodeResult> | NodeResult;
  /** Extra validation of literal inputs (VALIDATE_INPUTS, e.g. a loader's file must exist): the failing input and message, or null. */
  check?(inputs: Record<string, unknown>, ctx: { inputDir: string; outputDir: string; tempDir: string }): { input: string; message: string } | null;
}

const NUMBER_BOUNDS: Record<string, { min: number; max: number }> = {
  INT: { min: -0xffffffffffffffff, max: 0xffffffffffffffff },
  FLOAT: { min: -Number.MAX_VALUE, max: Number.MAX_VALUE },
};

export function parseInputs(signature: string): InputSpec[] {
  return signature
    .split(/\s+/)
    .filter(Boolean)
    .map((part) => {
      const [rawName, rawType] = part.split(':') as [string, string];
      const optional = rawName.endsWith('?');
      const name = optional ? rawName.slice(0, -1) : rawName;
      const type = rawType ?? '*';
      return { name, type, optional, options: { ...(NUMBER_BOUNDS[type] ?? {}) } };
    });
}

export interface DefineOptions {
  outputNode?: boolean;
  names?: string;
  category?: string;
  check?: NodeDef['check'];
  hidden?: Record<string, string>;
  outputIsList?: boolean[];
  /** Per-input option overrides (defaults, bounds, combo choices). */
  options?: Record<string, InputSpec['options']>;
}

/** What ComfyUI's savers take from the server: the prompt and the workflow to embed. */
export const SAVER_HIDDEN = { prompt: 'PROMPT', extra_pnginfo: 'EXTRA_PNGINFO' };

export function define(name: string, inputs: string, outputs: string, run: NodeDef['run'], opts: DefineOptions = {}): NodeDef {
  const outs = outputs.split(/\s+/).filter(Boolean);
  const specs = parseInputs(inputs);
  for (const spec of specs) if (opts.options?.[spec.name]) spec.options = { ...spec.options, ...opts.options[spec.name] };
  return {
    name,
    inputs: specs,
    outputs: outs,
    outputNames: opts.names ? opts.names.split(/\s+/) : outs,
    outputNode: opts.outputNode ?? false,
    outputIsList: opts.outputIsList ?? outs.map(() => false),
    hidden: opts.hidden ?? {},
    category: opts.category ?? 'simulated',
    run,
    ...(opts.check ? { check: opts.check } : {}),
  };
}

/** A combo's list now: fixed choices, the input dir's images (image upload), a models folder's files, or none. */
function comboList(spec: InputSpec, lists: ComboLists): string[] {
  const { choices, image_upload, models } = spec.options;
  if (choices) return choices;
  if (image_upload) return lists.inputImages;
  if (models) return [...lists.models(models.folder), ...(models.plus ?? [])];
  return [];
}

/** /object_info's entry for a class, in ComfyUI's shape, its combos listed from `lists`. */
export function objectInfo(def: NodeDef, lists: ComboLists = NO_LISTS): Record<string, unknown> {
  const section = (optional: boolean) =>
    Object.fromEntries(
      def.inputs.filter((i) => i.optional === optional).map((i) => [i.name, [i.type === 'COMBO' ? comboList(i, lists) : i.type, shownOptions(i)]]),
    );
  const required = section(false);
  const optional = section(true);
  const hidden = Object.keys(def.hidden).length ? { hidden: def.hidden } : {};
  return {
    input: { required, ...(Object.keys(optional).length ? { optional } : {}), ...hidden },
    input_order: {
      required: Object.keys(required),
      ...(Object.keys(optional).length ? { optional: Object.keys(optional) } : {}),
      ...(hidden.hidden ? { hidden: Object.keys(hidden.hidden) } : {}),
    },
    output: def.outputs,
    output_is_list: def.outputIsList,
    output_name: def.outputNames,
    name: def.name,
    display_name: def.name,
    description: '',
    python_module: 'nodes',
    category: def.category,
    output_node: def.outputNode,
  };
}
