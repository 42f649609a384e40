/**
 * POST /prompt validation with ComfyUI's error shapes (execution.py validate_prompt / validate_inputs): unknown
 * class types, missing required inputs, bad links, type mismatches, out-of-range numbers, LoadImage files that do not
 * exist, no outputs. Some outputs valid → 200 with node_errors, and only those run.
 */
import type { Dirs } from './context.js';
import { shownOptions, type NodeDef } from './nodes/registry.js';

export interface ErrorEntry {
  type: string;
  message: string;
  details: string;
  extra_info: Record<string, unknown>;
}

export type Prompt = Record<string, { class_type?: unknown; inputs?: Record<string, unknown>; _meta?: { title?: string } }>;

export type ValidationResult =
  | { ok: true; outputs: string[]; nodeErrors: Record<string, unknown> }
  | { ok: false; error: ErrorEntry; nodeErrors: Record<string, unknown> };

const fail = (type: string, message: string, details = '', extra_info: Record<string, unknown> = {}): ErrorEntry => ({ type, message, details, extra_info });

function isLink(value: unknown): value is [string, number] {
  return Array.isArray(value) && value.length === 2 && typeof value[0] === 'string' && Number.isInteger(value[1]);
}

export function validatePrompt(prompt: unknown, registry: Map<string, NodeDef>, dirs: Dirs, partialTargets?: string[]): ValidationResult {
  if (!prompt || typeof prompt !== 'object' || Array.isArray(prompt)) {
    return { ok: false, error: fail('invalid_prompt', 'Invalid prompt', 'prompt must be an object'), nodeErrors: {} };
  }
  const graph = prompt as Prompt;
  const outputs: string[] = [];
  for (const [id, node] of Object.entries(graph)) {
    if (!node || typeof node !== 'object' || typeof node.class_type !== 'string') {
      return { ok: false, error: fail('invalid_prompt', 'Cannot execute because a node is missing the class_type property.', `Node ID '#${id}'`, { node_id: id }), nodeErrors: {} };
    }
    const def = registry.get(node.class_type);
    if (!def) {
      return {
        ok: false,
        error: fail('missing_node_type', `Node '${node.class_type}' not found. The custom node may not be installed.`, `Node ID '#${id}'`, {
          node_id: id,
          class_type: node.class_type,
          node_title: node._meta?.title ?? node.class_type,
        }),
        nodeErrors: {},
      };
    }
    if (def.outputNode && (!partialTargets || partialTargets.includes(id))) outputs.push(id);
  }
  if (outputs.length === 0) return { ok: false, error: fail('prompt_no_outputs', 'Prompt has no outputs'), nodeErrors: {} };

  const checked = new Map<string, ErrorEntry[]>();
  const visit = (id: string, stack: Set<string>): boolean => {
    if (checked.has(id)) return checked.get(id)!.length === 0 && upstreamOk.get(id) !== false;
    const node = graph[id]!;
    const def = registry.get(node.class_type as string)!;
    const errors: ErrorEntry[] = [];
    let ok = true;
    checked.set(id, errors);
    stack.add(id);
    for (const spec of def.inputs) {
      const value = node.inputs?.[spec.name];
      if (value === undefined) {
        if (!spec.optional) errors.push(fail('required_input_missing', 'Required input is missing', spec.name, { input_name: spec.name }));
        continue;
      }
      if (Array.isArray(value)) {
        if (!isLink(value)) {
          errors.push(fail('bad_linked_input', 'Bad linked input, must be a length-2 list of [string, int]', `${spec.name}, ${JSON.stringify(value)}`, { input_name: spec.name, input_config: [spec.type], received_value: value }));
          continue;
        }
        const source = graph[value[0]];
        // execution.py indexes the prompt by the linked id unguarded: a KeyError, reported against the output.
        if (!source) throw new MissingNode(value[0]);
        const sourceDef = registry.get(source.class_type as string);
        if (!sourceDef || value[1] >= sourceDef.outputs.length || value[1] < 0 || stack.has(value[0])) {
          errors.push(fail('bad_linked_input', 'Bad linked input, must be a length-2 list of [string, int]', `${spec.name}, ${JSON.stringify(value)}`, { input_name: spec.name, received_value: value }));
          continue;
        }
        const received = sourceDef.outputs[value[1]]!;
        if (!typesMatch(received, spec.type)) {
          errors.push(
            fail('return_type_mismatch', 'Return type mismatch between linked nodes', `${spec.name}, received_type(${received}) mismatch input_type(${spec.type})`, {
              input_name: spec.name,
              input_config: [spec.type],
              received_type: received,
              linked_node: value,
            }),
          );
          continue;
        }
        if (!visit(value[0], stack)) ok = false;
        continue;
      }
      const problem = literalProblem(spec, value);
      if (problem) errors.push(problem);
    }
    if (errors.length === 0 && def.check) {
      const failed = def.check(node.inputs ?? {}, { inputDir: dirs.input, outputDir: dirs.output, tempDir: dirs.temp });
      if (failed) {
        const { input, message } = failed;
        errors.push(fail('custom_validation_failed', 'Custom validation failed for node', `${input} - ${message}`, { input_name: input }));
      }
    }
    stack.delete(id);
    upstreamOk.set(id, ok);
    return errors.length === 0 && ok;
  };
  const upstreamOk = new Map<string, boolean>();

  const good: string[] = [];
  const nodeErrors: Record<string, { errors: ErrorEntry[]; dependent_outputs: string[]; class_type: string }> = {};
  const exceptions: string[] = [];
  for (const out of outputs) {
    const before = new Set(checked.keys());
    let ok: boolean;
    try {
      ok = visit(out, new Set());
    } catch (error) {
      if (!(error instanceof MissingNode)) throw error;
      const details = `'${error.nodeId}'`;
      exceptions.push(`Exception when validating node: ${details}`);
      const traceback = ['  File "execution.py", line 1, in validate_prompt\n', `KeyError: ${details}\n`];
      const entry = fail('exception_during_validation', 'Exception when validating node', details, { exception_type: 'KeyError', traceback });
      nodeErrors[out] = { errors: [entry], dependent_outputs: [out], class_type: graph[out]!.class_type as string };
      continue;
    }
    if (ok) good.push(out);
    for (const [id, errors] of checked) {
      if (errors.length === 0) continue;
      const entry = (nodeErrors[id] ??= { errors, dependent_outputs: [], class_type: graph[id]!.class_type as string });
      if (!ok && !entry.dependent_outputs.includes(out) && (!before.has(id) || dependsOn(graph, out, id))) entry.dependent_outputs.push(out);
    }
  }
  if (good.length === 0) return { ok: false, error: fail('prompt_outputs_failed_validation', 'Prompt outputs failed validation', exceptions.join('\n')), nodeErrors };
  return { ok: true, outputs: good, nodeErrors };
}

class MissingNode extends Error {
  constructor(readonly nodeId: string) {
    super('missing node');
  }
}

function dependsOn(graph: Prompt, from: string, target: string, seen = new Set<string>()): boolean {
  if (from === target) return true;
  if (seen.has(from)) return false;
  seen.add(from);
  for (const v of Object.values(graph[from]?.inputs ?? {})) if (isLink(v) && graph[v[0]] && dependsOn(graph, v[0], target, seen)) return true;
  return false;
}

function typesMatch(received: string, expected: string): boolean {
  if (received === '*' || expected === '*' || expected === 'COMBO' || received === expected) return true;
  const r = new Set(received.split(','));
  return expected.split(',').some((t) => r.has(t));
}

function literalProblem(spec: NodeDef['inputs'][number], value: unknown): ErrorEntry | null {
  const input_config = [spec.options.choices ?? spec.type, shownOptions(spec)];
  if (spec.type === 'INT' || spec.type === 'FLOAT') {
    const n = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : NaN;
    if (!Number.isFinite(n) || (spec.type === 'INT' && !Number.isInteger(n) && typeof value !== 'number')) {
      return fail('invalid_input_type', `Failed to convert an input value to a ${spec.type} value`, `${spec.name}, ${String(value)}`, { input_name: spec.name, received_value: value });
    }
    if (spec.options.min !== undefined && n < spec.options.min) {
      return fail('value_smaller_than_min', `Value ${n} smaller than min of ${spec.options.min}`, `${spec.name}`, { input_name: spec.name, input_config, received_value: value });
    }
    if (spec.options.max !== undefined && n > spec.options.max) {
      return fail('value_bigger_than_max', `Value ${n} bigger than max of ${spec.options.max}`, `${spec.name}`, { input_name: spec.name, input_config, received_value: value });
    }
  }
  if (spec.options.choices && !spec.options.choices.includes(String(value))) {
    return fail('value_not_in_list', 'Value not in list', `${spec.name}: '${String(value)}' not in ${JSON.stringify(spec.options.choices)}`, { input_name: spec.name, input_config, received_value: value });
  }
  return null;
}
