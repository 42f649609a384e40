/**
 * UI format → API format, by the frontend's own rules (Comfy-Org/ComfyUI_frontend `graphToPrompt` with its
 * ExecutableNodeDTO link resolution):
 * - subgraph nodes are replaced by their inner nodes, ids `outer:inner` (nested: `a:b:c`); a link into a subgraph input
 *   continues outside it, a subgraph output continues inside;
 * - group nodes (the older `workflow>NAME`) of the root graph are flattened the same way, ids `instance:index`
 *   (group-nodes.ts builds each instance's inner graph);
 * - virtual nodes (Note, MarkdownNote, Reroute, PrimitiveNode, see VIRTUAL_NODES), muted (mode 2) and bypassed
 *   (mode 4) nodes are left out; a Reroute (or a GetNode, through its SetNode) is followed to its source, a PrimitiveNode's value goes into the widget it feeds, a bypassed node's
 *   consumers get its input of the same type (same slot first);
 * - widget values first, in widget order, without frontend-only values; a link then overrides the widget of its name;
 *   array values become `{"__value__": [...]}`; links to nodes that are not in the result are dropped.
 * Pure: reads its arguments only.
 */
import { SealError } from '../../shared/errors.js';
import type { Workflow } from '../../shared/schema.js';
import type { ObjectInfo } from './definitions.js';
import { expandGroupNodes } from './group-nodes.js';
import { MODE_BYPASS, MODE_NEVER, readUiWorkflow, SUBGRAPH_INPUT_ID, SUBGRAPH_OUTPUT_ID, type UiGraph, type UiNode } from './ui-graph.js';
import { widgetValues } from './widgets.js';

/**
 * Frontend-only nodes: never sent to ComfyUI. Core ones, and the common extensions' (rgthree's reroute and group
 * togglers, KJNodes' SetNode/GetNode, which pass a link on by name).
 */
export const VIRTUAL_NODES = new Set([
  'Note',
  'MarkdownNote',
  'Reroute',
  'PrimitiveNode',
  'Reroute (rgthree)',
  'Fast Groups Muter (rgthree)',
  'Fast Groups Bypasser (rgthree)',
  'Label (rgthree)',
  'Bookmark (rgthree)',
  'SetNode',
  'GetNode',
]);

/** Subgraphs inside subgraphs deeper than this are refused (a definition that contains itself would never end). */
const MAX_SUBGRAPH_DEPTH = 32;

interface Scope {
  graph: UiGraph;
  /** Subgraph node ids from the root to this graph. */
  path: string[];
  /** The subgraph node this graph is the inside of. */
  parent?: { scope: Scope; node: UiNode };
}

type Resolved = { id: string; slot: number } | { value: unknown };

/** The graphs nodes expand into: subgraph definitions by type, group node instances (root graph only) by node id. */
interface InnerGraphs {
  subgraphs: Map<string, UiGraph>;
  groups: Map<string, UiGraph>;
}

export interface ConvertOptions {
  /** Node definitions (GET /object_info); needed for nodes whose file does not name their widgets. */
  objectInfo?: ObjectInfo;
}

/** A parsed UI-format workflow → the API-format workflow ComfyUI's frontend would queue. */
export function convertUiWorkflow(raw: unknown, options: ConvertOptions = {}): Workflow {
  const ui = readUiWorkflow(raw);
  const defs = options.objectInfo ?? {};
  const { instances, unknown } = expandGroupNodes(ui.root, ui.groupNodes, defs, VIRTUAL_NODES);
  const graphs: InnerGraphs = { subgraphs: ui.subgraphs, groups: instances };
  const resolver = new Resolver(graphs);
  const output: Workflow = {};

  for (const { scope, node } of executableNodes(graphs, { graph: ui.root, path: [] }, 0)) {
    if (ui.groupNodes.has(node.type)) {
      // The frontend refuses them there too.
      throw new SealError('BAD_INPUT', 'this workflow has a group node inside a subgraph, which is not converted: in ComfyUI convert it to a subgraph (right-click > Convert to Subgraph), or use Workflow > Export (API)');
    }
    const def = Object.hasOwn(defs, node.type) ? defs[node.type] : undefined;
    const values = widgetValues(node, def);
    if (values === null) {
      unknown.add(node.type);
      continue;
    }
    const inputs: Record<string, unknown> = {};
    for (const [name, value] of values) inputs[name] = wrapArray(value);
    node.inputs.forEach((input, slot) => {
      const resolved = resolver.input(scope, node, slot, new Set());
      if (resolved === undefined) return;
      inputs[input.name] = 'value' in resolved ? wrapArray(resolved.value) : [resolved.id, resolved.slot];
    });
    output[executionId(scope, node.id)] = {
      inputs,
      class_type: node.type,
      _meta: { title: node.title ?? (def?.display_name || def?.name || node.type) },
    };
  }
  if (unknown.size > 0) {
    const types = [...unknown].sort();
    throw new SealError(
      'BAD_INPUT',
      `no node definitions for ${types.join(', ')}, and the file does not name their widgets: run 'comfy-seal nodes' (the endpoint's definitions) or pass --object-info FILE`,
      { class_types: types },
    );
  }
  // What links to a node left out (muted, or gone) is dropped, as the frontend does.
  for (const node of Object.values(output)) {
    for (const [name, value] of Object.entries(node.inputs)) {
      if (Array.isArray(value) && value.length === 2 && !Object.hasOwn(output, String(value[0]))) delete node.inputs[name];
    }
  }
  return output;
}

function wrapArray(value: unknown): unknown {
  return Array.isArray(value) ? { __value__: value } : value;
}

function executionId(scope: Scope, id: string | number): string {
  return [...scope.path, String(id)].join(':');
}

function isSent(node: UiNode): boolean {
  return !VIRTUAL_NODES.has(node.type) && node.mode !== MODE_NEVER && node.mode !== MODE_BYPASS;
}

/** Every node ComfyUI will get, subgraphs expanded (a muted or bypassed subgraph node sends none of its inside). */
function* executableNodes(graphs: InnerGraphs, scope: Scope, depth: number): Generator<{ scope: Scope; node: UiNode }> {
  if (depth > MAX_SUBGRAPH_DEPTH) throw new SealError('BAD_INPUT', `UI workflow: subgraphs nest deeper than ${MAX_SUBGRAPH_DEPTH} levels (or one contains itself)`);
  for (const node of scope.graph.nodes.values()) {
    const inner = innerScope(graphs, scope, node);
    if (inner) {
      if (node.mode !== MODE_NEVER && node.mode !== MODE_BYPASS) yield* executableNodes(graphs, inner, depth + 1);
    } else if (isSent(node)) {
      yield { scope, node };
    }
  }
}

function innerScope(graphs: InnerGraphs, scope: Scope, node: UiNode): Scope | undefined {
  const sub = graphs.subgraphs.get(node.type) ?? (scope.path.length === 0 ? graphs.groups.get(String(node.id)) : undefined);
  return sub && { graph: sub, path: [...scope.path, String(node.id)], parent: { scope, node } };
}

/** litegraph's isValidConnection: equal, any (`*`, empty), or overlapping comma lists. */
function typesMatch(a: unknown, b: unknown): boolean {
  const x = typeof a === 'string' ? a : '';
  const y = typeof b === 'string' ? b : '';
  if (!x || !y || x === '*' || y === '*' || x === y) return true;
  const ys = y.toLowerCase().split(',');
  return x
    .toLowerCase()
    .split(',')
    .some((t) => ys.includes(t));
}

class Resolver {
  constructor(private readonly graphs: InnerGraphs) {}

  /** Where input `slot` of `node` really comes from: a node's output, a widget value, or nothing. */
  input(scope: Scope, node: UiNode, slot: number, visited: Set<string>): Resolved | undefined {
    this.#guard(visited, `${executionId(scope, node.id)}[I]${slot}`);
    const input = node.inputs[slot];
    if (!input || input.link === null) return undefined;
    const link = scope.graph.links.get(input.link);
    if (!link) return undefined;
    if (scope.parent && Number(link.originId) === SUBGRAPH_INPUT_ID) {
      const outer = scope.parent.node;
      const outerInput = outer.inputs[link.originSlot];
      if (!outerInput) return undefined;
      if (outerInput.link === null) return promotedWidget(outer, link.originSlot);
      return this.input(scope.parent.scope, outer, link.originSlot, visited);
    }
    return this.output(scope, link.originId, link.originSlot, input.type, visited);
  }

  output(scope: Scope, originId: string | number, slot: number, type: unknown, visited: Set<string>): Resolved | undefined {
    this.#guard(visited, `${executionId(scope, originId)}[O]${slot}`);
    const origin = scope.graph.nodes.get(String(originId));
    if (!origin) return undefined;
    if (origin.mode === MODE_BYPASS) {
      const group = scope.path.length === 0 && this.graphs.groups.has(String(originId));
      const index = group ? groupBypassSlot(origin, slot, type) : bypassSlot(origin, slot, type);
      return index === -1 ? undefined : this.input(scope, origin, index, visited);
    }
    const inner = innerScope(this.graphs, scope, origin);
    if (inner) {
      const link = [...inner.graph.links.values()].find((l) => Number(l.targetId) === SUBGRAPH_OUTPUT_ID && l.targetSlot === slot);
      return link && this.output(inner, link.originId, link.originSlot, type, visited);
    }
    if (origin.type === 'PrimitiveNode') {
      // The frontend writes a PrimitiveNode's value into every widget it feeds before sending.
      const wv = origin.widgets_values;
      return Array.isArray(wv) && wv.length > 0 ? { value: wv[0] } : undefined;
    }
    if (origin.type === 'GetNode') {
      // KJNodes: a GetNode hands on what the SetNode of the same name (its first widget) in the same graph gets.
      const name = Array.isArray(origin.widgets_values) ? origin.widgets_values[0] : undefined;
      const setter = [...scope.graph.nodes.values()].find((n) => n.type === 'SetNode' && Array.isArray(n.widgets_values) && n.widgets_values[0] === name);
      return setter?.inputs[0] ? this.input(scope, setter, 0, visited) : undefined;
    }
    if (VIRTUAL_NODES.has(origin.type)) return origin.inputs[slot] ? this.input(scope, origin, slot, visited) : undefined;
    return { id: executionId(scope, originId), slot };
  }

  #guard(visited: Set<string>, key: string): void {
    if (visited.has(key)) throw new SealError('BAD_INPUT', 'UI workflow: its links go round in a circle (through reroutes, bypassed nodes or subgraphs)');
    visited.add(key);
  }
}

/**
 * A subgraph node's own widget for an unlinked input (a promoted widget): its value is the subgraph node's
 * widgets_values entry at the widget input's position.
 */
function promotedWidget(outer: UiNode, slot: number): Resolved | undefined {
  const input = outer.inputs[slot];
  const wv = outer.widgets_values;
  if (!input?.widget || !Array.isArray(wv)) return undefined;
  const index = outer.inputs.filter((i) => i.widget !== undefined).indexOf(input);
  return index < wv.length ? { value: wv[index] } : undefined;
}

/** The input a bypassed group node hands on (ExecutableGroupNodeDTO's rule): the same slot, else the first, of the exact type. */
function groupBypassSlot(node: UiNode, slot: number, type: unknown): number {
  return [slot, ...node.inputs.keys()].find((i) => node.inputs[i]?.type === type) ?? -1;
}

/** The input a bypassed node hands on for output `slot` (ExecutableNodeDTO's rule), or -1. */
function bypassSlot(node: UiNode, slot: number, type: unknown): number {
  const { inputs } = node;
  if (inputs.length === 0) return -1;
  if (type === '*' || type === '') return inputs.length > slot ? slot : 0;
  const outputType = node.outputs[slot]?.type;
  const fits = (t: unknown) => typesMatch(t, outputType) && typesMatch(t, type);
  if (inputs[slot] && fits(inputs[slot].type)) return slot;
  const exact = inputs.findIndex((i) => i.type === type);
  return exact !== -1 ? exact : inputs.findIndex((i) => fits(i.type));
}
