/**
 * `--set NODE.inputs.FIELD=VALUE`: any existing input of any node, by id. VALUE is JSON when it parses (30, 0.5, true,
 * ["4", 0] — a link — or "30" to force text), else the text as given. Applied last, so it wins over everything else.
 */
import { SealError } from '../../shared/errors.js';
import type { Workflow } from '../../shared/schema.js';

export interface SetChange {
  node_id: string;
  field: string;
  value: unknown;
}

// The node id is everything before the first ".inputs.": ids may hold ":" (subgraphs) but not that.
const FORM = /^(.+?)\.inputs\.([^=]+)=([\s\S]*)$/;

export function parseSet(spec: string): { nodeId: string; field: string; value: unknown } {
  const m = FORM.exec(spec);
  // The spec may hold prompt text: it goes to the details only.
  if (!m) throw new SealError('BAD_INPUT', '--set takes NODE.inputs.FIELD=VALUE (e.g. 3.inputs.steps=30)', { spec });
  const text = m[3]!;
  let value: unknown = text;
  try {
    value = JSON.parse(text);
  } catch {
    // Not JSON: the text itself.
  }
  return { nodeId: m[1]!, field: m[2]!, value };
}

export function applySets(workflow: Workflow, specs: readonly string[]): SetChange[] {
  return specs.map((spec) => {
    const { nodeId, field, value } = parseSet(spec);
    const node = workflow[nodeId];
    if (!node) throw new SealError('BAD_INPUT', `--set: no node ${nodeId} in the workflow`, { node_id: nodeId });
    if (!Object.hasOwn(node.inputs, field)) {
      throw new SealError('BAD_INPUT', `--set: node ${nodeId} (${node.class_type}) has no input ${field}; it has ${Object.keys(node.inputs).join(', ') || 'none'}`, {
        node_id: nodeId,
        field,
      });
    }
    node.inputs[field] = value;
    return { node_id: nodeId, field, value };
  });
}
