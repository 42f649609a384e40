/** `--set NODE.inputs.FIELD=VALUE`: any input, by node id; VALUE is JSON when it parses, else text. */
import { SealError } from '../../shared/errors.js';
import type { Workflow } from '../../shared/schema.js';

export interface SetChange {
  node_id: string;
  field: string;
  value: unknown;
}

const FORM = /^(.+?)\.inputs\.([^=]+)=([\s\S]*)$/;

export function parseSet(spec: string): { nodeId: string; field: string; value: unknown } {
  const m = FORM.exec(spec);
  if (!m) throw new SealError('BAD_INPUT', `--set ${spec.split('=')[0]}: expected NODE.inputs.FIELD=VALUE`);
  let value: unknown = m[3];
  try {
    value = JSON.parse(m[3]!);
  } catch {
    // Not JSON: the text itself.
  }
  return { nodeId: m[1]!, field: m[2]!, value };
}

export function applySets(workflow: Workflow, specs: readonly string[]): SetChange[] {
  return specs.map((spec) => {
    const { nodeId, field, value } = parseSet(spec);
    const node = workflow[nodeId];
    if (!node) throw new SealError('BAD_INPUT', `--set: no node ${nodeId} in the workflow`);
    if (!(field in node.inputs)) {
      throw new SealError('BAD_INPUT', `--set: node ${nodeId} (${node.class_type}) has no input ${field}; it has ${Object.keys(node.inputs).join(', ')}`);
    }
    node.inputs[field] = value;
    return { node_id: nodeId, field, value };
  });
}
