/**
 * POST /prompt's validation for the bridge: the workflow checked against the endpoint's definitions with the SDK's
 * checker (client/workflow/check.ts, ComfyUI's rules), each problem put in ComfyUI's 400 shapes (`error` +
 * `node_errors` with `dependent_outputs`), and the files the loaders name looked up in the bridge's folders, as
 * LoadImage's own check does.
 */
import { checkWorkflow, type Problem } from '../client/workflow/check.js';
import type { ObjectInfo } from '../client/workflow/definitions.js';
import { workflowSchema, type Workflow } from '../shared/schema.js';
import type { Dirs } from '../simulator/context.js';
import type { ErrorEntry, ValidationResult } from '../simulator/validate.js';
import { loaderFiles } from './inputs.js';

/** ComfyUI's message for each of its error types. */
const MESSAGES: Record<Problem['type'], string> = {
  missing_node_type: 'Node not found. The custom node may not be installed.',
  required_input_missing: 'Required input is missing',
  bad_linked_input: 'Bad linked input, must be a length-2 list of [string, int]',
  return_type_mismatch: 'Return type mismatch between linked nodes',
  invalid_input_type: 'Failed to convert an input value',
  value_smaller_than_min: 'Value smaller than min',
  value_bigger_than_max: 'Value bigger than max',
  value_not_in_list: 'Value not in list',
  prompt_no_outputs: 'Prompt has no outputs',
};

const entry = (type: string, message: string, details = '', extra_info: Record<string, unknown> = {}): ErrorEntry => ({ type, message, details, extra_info });

const isLink = (v: unknown): v is [string, number] => Array.isArray(v) && v.length === 2 && typeof v[0] === 'string';

export function validateForEndpoint(prompt: unknown, info: ObjectInfo, dirs: Dirs): ValidationResult {
  const parsed = workflowSchema.safeParse(prompt);
  if (!parsed.success) return { ok: false, error: entry('invalid_prompt', 'Cannot execute because a node is missing the class_type property.', 'the prompt is not an API-format workflow'), nodeErrors: {} };
  const workflow = parsed.data;
  const problems = checkWorkflow(workflow, info);
  for (const file of loaderFiles(workflow, dirs)) {
    if (!file.path) problems.push({ node_id: file.nodeId, class_type: workflow[file.nodeId]!.class_type, input: file.input, type: 'value_not_in_list', what: `Invalid image file: ${file.value}`, fix: 'upload it first' });
  }
  const missing = problems.find((p) => p.type === 'missing_node_type');
  if (missing) {
    const node = workflow[missing.node_id]!;
    const message = `Node '${missing.class_type}' not found. The custom node may not be installed.`;
    return { ok: false, error: entry('missing_node_type', message, `Node ID '#${missing.node_id}'`, { node_id: missing.node_id, class_type: missing.class_type, node_title: (node._meta as { title?: string } | undefined)?.title ?? missing.class_type }), nodeErrors: {} };
  }
  if (problems.some((p) => p.type === 'prompt_no_outputs')) return { ok: false, error: entry('prompt_no_outputs', MESSAGES.prompt_no_outputs), nodeErrors: {} };
  const outputs = Object.keys(workflow).filter((id) => info[workflow[id]!.class_type]?.output_node === true);
  const nodeErrors: Record<string, { errors: ErrorEntry[]; dependent_outputs: string[]; class_type: string }> = {};
  for (const p of problems) {
    const type = p.what.startsWith('Invalid image file') ? 'custom_validation_failed' : p.type;
    const message = type === 'custom_validation_failed' ? 'Custom validation failed for node' : MESSAGES[p.type];
    const node = (nodeErrors[p.node_id] ??= { errors: [], dependent_outputs: outputs.filter((o) => dependsOn(workflow, o, p.node_id)), class_type: p.class_type });
    node.errors.push(entry(type, message, `${p.input ?? ''}: ${p.what}`, { input_name: p.input }));
  }
  const failed = new Set(Object.values(nodeErrors).flatMap((n) => n.dependent_outputs));
  const good = outputs.filter((o) => !failed.has(o));
  if (good.length === 0) return { ok: false, error: entry('prompt_outputs_failed_validation', 'Prompt outputs failed validation'), nodeErrors };
  return { ok: true, outputs: good, nodeErrors };
}

function dependsOn(workflow: Workflow, from: string, target: string, seen = new Set<string>()): boolean {
  if (from === target) return true;
  if (seen.has(from)) return false;
  seen.add(from);
  return Object.values(workflow[from]?.inputs ?? {}).some((v) => isLink(v) && dependsOn(workflow, v[0], target, seen));
}
