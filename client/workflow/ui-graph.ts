/**
 * ComfyUI's UI format (what Save writes), read into one shape: v0.4 files keep links as arrays
 * `[id, origin, origin_slot, target, target_slot, type]`, v1 files and every subgraph definition as objects. Subgraph
 * definitions (`definitions.subgraphs`, nested ones included) are collected by id.
 */
import { SealError } from '../../shared/errors.js';

export type UiNodeId = number | string;

export interface UiInput {
  name: string;
  type: unknown;
  link: number | null;
  widget?: { name: string };
}

export interface UiOutput {
  name?: string;
  type: unknown;
}

export interface UiNode {
  id: UiNodeId;
  type: string;
  mode: number;
  title?: string;
  inputs: UiInput[];
  outputs: UiOutput[];
  widgets_values?: unknown[] | Record<string, unknown>;
}

export interface UiLink {
  originId: UiNodeId;
  originSlot: number;
  targetId: UiNodeId;
  targetSlot: number;
  type: unknown;
}

export interface UiGraph {
  nodes: Map<string, UiNode>;
  links: Map<number, UiLink>;
}

/** Subgraph: its own nodes and links, and the graph boundary's slots. */
export interface UiSubgraph extends UiGraph {
  id: string;
  name: string;
  inputs: Array<{ name: string; type: unknown }>;
  outputs: Array<{ name: string; type: unknown }>;
}

export interface UiWorkflow {
  root: UiGraph;
  subgraphs: Map<string, UiSubgraph>;
  /** The older group nodes' definitions (`extra.groupNodes`) by node type: `workflow>NAME`, or `workflow/NAME` in older files. */
  groupNodes: Map<string, UiGroupDefinition>;
}

/**
 * A group node definition as the frontend stores it: its inner nodes (in execution order, addressed by index), the
 * links between them as `[originIndex, originSlot, targetIndex, targetSlot, originId, type]` (originIndex null for a
 * link from outside the group), the outputs also used outside (`[index, slot, type]`), and the Manage dialog's config.
 */
export interface UiGroupDefinition {
  name: string;
  nodes: UiNode[];
  links: Array<[number | null, number, number, number]>;
  external: Array<[number, number]>;
  config: Record<string, { input?: Record<string, { visible?: boolean }>; output?: Record<string, { visible?: boolean }> }>;
}

/** The ids the frontend gives a subgraph's input and output boundary nodes. */
export const SUBGRAPH_INPUT_ID = -10;
export const SUBGRAPH_OUTPUT_ID = -20;

/** Node modes (litegraph's LGraphEventMode). */
export const MODE_NEVER = 2;
export const MODE_BYPASS = 4;

function invalid(what: string): SealError {
  return new SealError('BAD_INPUT', `UI workflow: ${what}`);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function readLink(raw: unknown): [number, UiLink] {
  if (Array.isArray(raw) && raw.length >= 5) {
    const [id, originId, originSlot, targetId, targetSlot, type] = raw as [number, UiNodeId, number, UiNodeId, number, unknown];
    return [Number(id), { originId, originSlot: Number(originSlot), targetId, targetSlot: Number(targetSlot), type }];
  }
  if (isRecord(raw) && 'origin_id' in raw && 'target_id' in raw) {
    return [
      Number(raw.id),
      {
        originId: raw.origin_id as UiNodeId,
        originSlot: Number(raw.origin_slot),
        targetId: raw.target_id as UiNodeId,
        targetSlot: Number(raw.target_slot),
        type: raw.type,
      },
    ];
  }
  throw invalid('a link is neither an array nor a link object');
}

function readNode(raw: unknown, index: number): UiNode {
  if (!isRecord(raw) || (typeof raw.id !== 'number' && typeof raw.id !== 'string') || typeof raw.type !== 'string') {
    throw invalid(`node ${index + 1} has no id or type`);
  }
  const inputs = Array.isArray(raw.inputs) ? (raw.inputs as unknown[]) : [];
  const outputs = Array.isArray(raw.outputs) ? (raw.outputs as unknown[]) : [];
  const wv = raw.widgets_values;
  return {
    id: raw.id,
    type: raw.type,
    mode: typeof raw.mode === 'number' ? raw.mode : 0,
    ...(typeof raw.title === 'string' ? { title: raw.title } : {}),
    inputs: inputs.map((i) => {
      const input = isRecord(i) ? i : {};
      const widget = isRecord(input.widget) && typeof input.widget.name === 'string' ? { widget: { name: input.widget.name } } : {};
      return { name: String(input.name ?? ''), type: input.type, link: typeof input.link === 'number' ? input.link : null, ...widget };
    }),
    outputs: outputs.map((o) => ({ type: isRecord(o) ? o.type : undefined, ...(isRecord(o) && typeof o.name === 'string' ? { name: o.name } : {}) })),
    ...(Array.isArray(wv) || isRecord(wv) ? { widgets_values: wv as unknown[] | Record<string, unknown> } : {}),
  };
}

function readGraph(raw: Record<string, unknown>): UiGraph {
  if (!Array.isArray(raw.nodes) || !Array.isArray(raw.links)) throw invalid('nodes and links must be lists');
  const nodes = new Map<string, UiNode>();
  raw.nodes.forEach((n, i) => {
    const node = readNode(n, i);
    nodes.set(String(node.id), node);
  });
  const links = new Map<number, UiLink>();
  for (const l of raw.links) {
    if (l === null) continue; // some savers leave holes
    const [id, link] = readLink(l);
    links.set(id, link);
  }
  return { nodes, links };
}

function slots(raw: unknown): Array<{ name: string; type: unknown }> {
  return Array.isArray(raw) ? raw.map((s) => (isRecord(s) ? { name: String(s.name ?? ''), type: s.type } : { name: '', type: undefined })) : [];
}

function collectSubgraphs(raw: Record<string, unknown>, into: Map<string, UiSubgraph>): void {
  const defs = isRecord(raw.definitions) ? raw.definitions.subgraphs : undefined;
  if (!Array.isArray(defs)) return;
  for (const def of defs) {
    if (!isRecord(def) || typeof def.id !== 'string') throw invalid('a subgraph definition has no id');
    if (into.has(def.id)) continue;
    into.set(def.id, { id: def.id, name: String(def.name ?? ''), inputs: slots(def.inputs), outputs: slots(def.outputs), ...readGraph(def) });
    collectSubgraphs(def, into);
  }
}

/** A parsed UI-format file → its graphs. BAD_INPUT when its shape is not a UI workflow. */
export function readUiWorkflow(raw: unknown): UiWorkflow {
  if (!isRecord(raw)) throw invalid('not a JSON object');
  const subgraphs = new Map<string, UiSubgraph>();
  collectSubgraphs(raw, subgraphs);
  const groupNodes = new Map<string, UiGroupDefinition>();
  const groups = isRecord(raw.extra) && isRecord(raw.extra.groupNodes) ? raw.extra.groupNodes : {};
  for (const [name, def] of Object.entries(groups)) {
    const group = readGroup(name, def);
    groupNodes.set(`workflow>${name}`, group);
    groupNodes.set(`workflow/${name}`, group);
  }
  return { root: readGraph(raw), subgraphs, groupNodes };
}

function readGroup(name: string, raw: unknown): UiGroupDefinition {
  if (!isRecord(raw) || !Array.isArray(raw.nodes)) throw new SealError('BAD_INPUT', 'UI workflow: a group node definition (extra.groupNodes) has no node list', { group: name });
  const index = (v: unknown) => (v === null || v === undefined ? null : Number(v));
  const links = (Array.isArray(raw.links) ? raw.links : []).filter(Array.isArray).map((l) => [index(l[0]), Number(l[1]), Number(l[2]), Number(l[3])] as [number | null, number, number, number]);
  const external = (Array.isArray(raw.external) ? raw.external : []).filter(Array.isArray).map((e) => [Number(e[0]), Number(e[1])] as [number, number]);
  return { name, nodes: raw.nodes.map((n, i) => readNode(isRecord(n) ? { ...n, id: i } : n, i)), links, external, config: isRecord(raw.config) ? (raw.config as UiGroupDefinition['config']) : {} };
}
