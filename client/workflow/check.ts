/**
 * An API-format workflow checked against node definitions with ComfyUI's own rules (execution.py validate_inputs and
 * validate_prompt): unknown class types, required inputs missing, links to missing nodes or outputs, link types that do
 * not fit, values of the wrong type, outside min/max, or not in a list (a model not installed: with the nearest names
 * installed). Pure; every problem found, not just the first.
 */
import { FILE_LOADERS } from '../../shared/loaders.js';
import type { Workflow } from '../../shared/schema.js';
import { definitionInputs, modelFolderOf, outputTypes, type InputEntry, type ObjectInfo } from './definitions.js';

/** ComfyUI's own error types, so a user can look them up. */
export type ProblemType =
  | 'missing_node_type'
  | 'required_input_missing'
  | 'bad_linked_input'
  | 'return_type_mismatch'
  | 'invalid_input_type'
  | 'value_smaller_than_min'
  | 'value_bigger_than_max'
  | 'value_not_in_list'
  | 'prompt_no_outputs';

export interface Problem {
  node_id: string;
  class_type: string;
  input?: string;
  type: ProblemType;
  /** What is wrong. */
  what: string;
  /** What to do about it. */
  fix: string;
  /** For a value not in a list: the nearest allowed values. */
  nearest?: string[];
}

const NUMBER_TYPES = new Set(['INT', 'FLOAT']);
/** A value that looks like a file name: its list is a models (or files) folder. */
const FILE_LIKE = /\.[a-z0-9]{2,12}$/i;

/** What is known of the endpoint beyond its definitions, for the fixes: its ComfyUI's version (`nodes` records it). */
export interface CheckContext {
  /** The simulator's ends in `-simulator`: it lists models only from its --models-dir. */
  comfyVersion?: string | undefined;
}

/** ComfyUI stand-ins that list models only from a folder given at start (`comfy-seal simulator --models-dir`). */
const isSimulator = (context: CheckContext) => context.comfyVersion?.endsWith('-simulator') === true;

export function checkWorkflow(workflow: Workflow, info: ObjectInfo, context: CheckContext = {}): Problem[] {
  const problems: Problem[] = [];
  let outputs = 0;
  for (const [id, node] of Object.entries(workflow)) {
    const at = { node_id: id, class_type: node.class_type };
    const def = Object.hasOwn(info, node.class_type) ? info[node.class_type] : undefined;
    if (!def) {
      problems.push({ ...at, type: 'missing_node_type', what: 'this node type is not installed on the endpoint', fix: 'install its custom node package in the image, or remove the node' });
      continue;
    }
    if (def.output_node) outputs++;
    for (const entry of definitionInputs(def)) {
      const value = node.inputs[entry.name];
      const problem = value === undefined ? missing(id, entry) : Array.isArray(value) ? checkLink(workflow, info, entry, value) : checkValue(node.class_type, entry, value, context);
      if (problem) problems.push({ ...at, input: entry.name, ...problem });
    }
  }
  if (outputs === 0 && problems.every((p) => p.type !== 'missing_node_type')) {
    problems.push({ node_id: '', class_type: '', type: 'prompt_no_outputs', what: 'the workflow has no output node', fix: 'add a node that saves its result (SaveImage, SaveVideo, ...)' });
  }
  return problems;
}

type Found = Omit<Problem, 'node_id' | 'class_type' | 'input'> | null;

function missing(nodeId: string, entry: InputEntry): Found {
  if (!entry.required) return null;
  return { type: 'required_input_missing', what: 'required input is missing', fix: `give it a value or a link (--set ${nodeId}.inputs.${entry.name}=VALUE)` };
}

/** ComfyUI's validate_node_input: `*` fits anything; otherwise every received type must be among the accepted ones. */
function typeFits(received: string, accepted: string): boolean {
  if (received === '*' || accepted === '*' || received === accepted) return true;
  const ok = new Set(accepted.split(','));
  return received.split(',').every((t) => ok.has(t));
}

function checkLink(workflow: Workflow, info: ObjectInfo, entry: InputEntry, value: unknown[]): Found {
  const [source, slot] = value;
  const from = typeof source === 'string' && Object.hasOwn(workflow, source) ? workflow[source] : undefined;
  if (!from) return { type: 'bad_linked_input', what: 'links to a node that is not in the workflow', fix: 'link it to an existing node, or remove the link' };
  const def = Object.hasOwn(info, from.class_type) ? info[from.class_type] : undefined;
  if (!def) return null; // reported at that node
  const types = outputTypes(def);
  if (typeof slot !== 'number' || !Number.isInteger(slot) || slot < 0 || slot >= types.length) {
    return { type: 'bad_linked_input', what: `links to output ${String(slot)} of node ${source} (${from.class_type}), which has ${types.length}`, fix: 'link it to an output that exists' };
  }
  const received = types[slot]!;
  if (!typeFits(received, entry.type)) {
    return { type: 'return_type_mismatch', what: `gets ${received} from node ${source} (${from.class_type}) but takes ${entry.type}`, fix: `link it to an output of type ${entry.type}` };
  }
  return null;
}

function checkValue(classType: string, entry: InputEntry, value: unknown, context: CheckContext): Found {
  if (value !== null && typeof value === 'object') return null; // {"__value__": [...]}: ComfyUI unwraps it
  if (NUMBER_TYPES.has(entry.type)) {
    const n = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : NaN;
    if (!Number.isFinite(n) || (entry.type === 'INT' && !Number.isInteger(n))) {
      return { type: 'invalid_input_type', what: `${JSON.stringify(value)} is not ${entry.type === 'INT' ? 'an integer' : 'a number'}`, fix: 'give a number' };
    }
    const { min, max } = entry.spec;
    if (typeof min === 'number' && n < min) return { type: 'value_smaller_than_min', what: `${n} is below the minimum ${min}`, fix: `use ${min} or more` };
    if (typeof max === 'number' && n > max) return { type: 'value_bigger_than_max', what: `${n} is above the maximum ${max}`, fix: `use ${max} or less` };
    return null;
  }
  if (entry.type !== 'COMBO' || entry.options === null) return null;
  // Loader files come with the job (the worker stages them): the endpoint's input folder is always empty.
  if (FILE_LOADERS[classType] === entry.name) return null;
  const choices = entry.options.map(String);
  if (choices.includes(String(value))) return null;
  const nearest = nearestNames(String(value), choices);
  const isFile = FILE_LIKE.test(String(value)) || choices.some((c) => FILE_LIKE.test(c));
  if (!isFile) {
    return {
      type: 'value_not_in_list',
      what: `${JSON.stringify(value)} is not one of its ${choices.length} choices`,
      fix: nearest.length ? `use one of: ${nearest.join(', ')}` : "the endpoint's node offers no choices here: check its version ('comfy-seal nodes --refresh')",
      nearest,
    };
  }
  return { type: 'value_not_in_list', ...missingFile(String(value), modelFolderOf(classType, entry.name), choices.length, nearest, context), nearest };
}

/** A model not installed: what the endpoint lists, and where the file goes (an empty list says more than "not there"). */
function missingFile(value: string, folder: string | undefined, listed: number, nearest: string[], context: CheckContext): { what: string; fix: string } {
  const where = folder ?? 'its models folder';
  const what = listed === 0 ? `${JSON.stringify(value)} is not installed: the endpoint lists no ${folder ?? 'files for this input'} at all` : `${JSON.stringify(value)} is not installed on the endpoint`;
  const use = nearest.length ? `use an installed one (${nearest.join(', ')}), or ` : '';
  const add = isSimulator(context)
    ? `the simulator lists models only from its --models-dir: start it with --models-dir DIR, the file in DIR/${where}/`
    : `put the model in the endpoint's models/${where}/ (MODELS), then 'comfy-seal nodes --refresh'`;
  return { what, fix: `${use}${add}` };
}

/** The allowed values closest to `value` (edit distance, case-insensitive), at most three. */
export function nearestNames(value: string, choices: readonly string[], count = 3): string[] {
  const v = value.toLowerCase();
  return choices
    .map((c) => ({ c, d: distance(v, c.toLowerCase()) }))
    .sort((a, b) => a.d - b.d || a.c.localeCompare(b.c))
    .slice(0, count)
    .map((x) => x.c);
}

function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length]!;
}

/** One line per problem: node id, class type, input, what, fix. */
export function formatProblem(p: Problem): string {
  const where = p.node_id ? `node ${p.node_id} (${p.class_type})${p.input ? ` ${p.input}` : ''}` : 'workflow';
  return `${where}: ${p.what} [${p.type}]; fix: ${p.fix}`;
}
