/**
 * `--set NODE.inputs.FIELD=VALUE`: any input of any node, by id: one the node has, or one its definition has (a
 * required input the workflow left out: what `check` suggests). VALUE is JSON when it parses (30, 0.5, true,
 * ["4", 0] — a link — or "30" to force text), else the text as given. Applied last, so it wins over everything else.
 */
import { SealError } from '../../shared/errors.js';
import type { Workflow } from '../../shared/schema.js';
import { definitionInputs, type ObjectInfo } from '../workflow/definitions.js';

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

/** `objectInfo`: the node definitions, whose inputs a node may be given even when the workflow leaves them out. */
export function applySets(workflow: Workflow, specs: readonly string[], objectInfo?: ObjectInfo): SetChange[] {
  return specs.map((spec) => {
    const { nodeId, field, value } = parseSet(spec);
    const node = Object.hasOwn(workflow, nodeId) ? workflow[nodeId] : undefined;
    if (!node) throw new SealError('BAD_INPUT', `--set: no node ${nodeId} in the workflow`, { node_id: nodeId });
    const def = objectInfo && Object.hasOwn(objectInfo, node.class_type) ? objectInfo[node.class_type] : undefined;
    const defined = def ? definitionInputs(def).map((e) => e.name) : [];
    if (!Object.hasOwn(node.inputs, field) && !defined.includes(field)) {
      const has = [...new Set([...Object.keys(node.inputs), ...defined])];
      const why = def ? '' : objectInfo ? ` (no definition of ${node.class_type} either)` : " (without the node definitions — 'comfy-seal nodes' or --object-info — only the inputs in the workflow)";
      throw new SealError('BAD_INPUT', `--set: node ${nodeId} (${node.class_type}) has no input ${field}${why}; it has ${has.join(', ') || 'none'}`, {
        node_id: nodeId,
        field,
      });
    }
    node.inputs[field] = value;
    return { node_id: nodeId, field, value };
  });
}
