/**
 * The older group nodes (`workflow>NAME`, definitions in `extra.groupNodes`) → one inner graph per instance, in the
 * shape of a subgraph so the converter flattens it the same way (inner ids `instance:index`). The rules are the
 * frontend's (Comfy-Org/ComfyUI_frontend groupNode.ts GroupNodeConfig / GroupNodeHandler), read, not copied:
 * - inner nodes are addressed by their index in the definition;
 * - the instance's widgets are, in inner-node order, each inner node's widgets that are not converted to inputs (a
 *   seed's control value after it); then, after every inner node, the converted widgets no inner link feeds, each
 *   node's in input order; the instance's widgets_values hold their values in that order;
 * - the instance's inputs are, in inner-node order, the socket inputs no inner link feeds, then the converted widgets
 *   above; its outputs are the inner outputs not linked inside (or also used outside when the group was made);
 * - a Reroute both fed and read inside is internal; otherwise it is an input and an output of the group;
 * - a group output from a bypassed inner node is dropped (the frontend hands on no bypass there).
 */
import { SealError } from '../../shared/errors.js';
import { definitionInputs, hasWidgetType, isWidgetInput, outputTypes, widgetSlots, type ObjectInfo, type WidgetSlot } from './definitions.js';
import { MODE_BYPASS, SUBGRAPH_INPUT_ID, SUBGRAPH_OUTPUT_ID, type UiGraph, type UiGroupDefinition, type UiLink, type UiNode } from './ui-graph.js';

/** An inner node's slot (input or output) by inner-node index. */
interface InnerSlot {
  node: number;
  slot: number;
}

/** An instance widget: the inner node's widget of that name, with a control value after it or not. */
interface InnerWidget {
  node: number;
  name: string;
  control: boolean;
}

interface GroupLayout {
  inputs: InnerSlot[];
  outputs: InnerSlot[];
  widgets: InnerWidget[];
}

export interface GroupExpansion {
  /** Inner graph of each group instance of the root graph, by instance node id. */
  instances: Map<string, UiGraph>;
  /** Inner class types without a definition. */
  unknown: Set<string>;
}

function refuse(what: string): SealError {
  return new SealError('BAD_INPUT', `this workflow's group node ${what}, which is not converted: in ComfyUI convert it to a subgraph (right-click > Convert to Subgraph), or use Workflow > Export (API)`);
}

/** Every group instance of the root graph → its inner graph. */
export function expandGroupNodes(root: UiGraph, groups: Map<string, UiGroupDefinition>, defs: ObjectInfo, skip: ReadonlySet<string>): GroupExpansion {
  const instances = new Map<string, UiGraph>();
  const unknown = new Set<string>();
  const layouts = new Map<UiGroupDefinition, GroupLayout>();
  for (const node of root.nodes.values()) {
    const group = groups.get(node.type);
    if (!group) continue;
    let layout = layouts.get(group);
    if (!layout) layouts.set(group, (layout = groupLayout(group, defs, skip, unknown)));
    instances.set(String(node.id), instanceGraph(group, layout, node, defs));
  }
  return { instances, unknown };
}

function definition(defs: ObjectInfo, type: string) {
  return Object.hasOwn(defs, type) ? defs[type] : undefined;
}

/**
 * Which of `names` (the definition's widgets) the inner node has converted to inputs, in input order (the frontend
 * sorts their input indexes as text).
 */
function convertedWidgets(node: UiNode, names: string[]): string[] {
  const found = node.inputs.flatMap((input, index) => (input.widget?.name === input.name && names.includes(input.name) ? [{ index, name: input.name }] : []));
  return found.sort((a, b) => String(a.index).localeCompare(String(b.index))).map((c) => c.name);
}

/** The inner node's widget `name`, with the control value that follows it in widgets_values, if any. */
function innerWidget(slots: WidgetSlot[], node: number, name: string): InnerWidget {
  const next = slots[slots.findIndex((s) => s.name === name && !s.frontendOnly) + 1];
  return { node, name, control: slots.some((s) => s.name === name) && next?.frontendOnly === true && next.name === 'control_after_generate' };
}

function groupLayout(group: UiGroupDefinition, defs: ObjectInfo, skip: ReadonlySet<string>, unknown: Set<string>): GroupLayout {
  const linkedIn = new Set<string>();
  const linkedOut = new Set<string>();
  for (const [origin, originSlot, target, targetSlot] of group.links) {
    if (origin === null) continue;
    linkedOut.add(`${origin}:${originSlot}`);
    linkedIn.add(`${target}:${targetSlot}`);
  }
  const external = new Set(group.external.map(([node, slot]) => `${node}:${slot}`));
  const layout: GroupLayout = { inputs: [], outputs: [], widgets: [] };
  const later: GroupLayout = { inputs: [], outputs: [], widgets: [] };
  const addOutput = (node: number, slot: number) => {
    const hidden = linkedOut.has(`${node}:${slot}`) && !external.has(`${node}:${slot}`);
    if (group.config[node]?.output?.[slot]?.visible ?? !hidden) layout.outputs.push({ node, slot });
  };
  const addInput = (node: number, slot: number, name: string) => {
    if (!linkedIn.has(`${node}:${slot}`) && group.config[node]?.input?.[name]?.visible !== false) layout.inputs.push({ node, slot });
  };

  group.nodes.forEach((node, index) => {
    if (node.type === 'PrimitiveNode') throw refuse('holds a PrimitiveNode');
    if (node.type === 'Reroute') {
      if (linkedIn.has(`${index}:0`) && linkedOut.has(`${index}:0`) && !external.has(`${index}:0`)) return; // internal
      addInput(index, 0, '');
      addOutput(index, 0);
      return;
    }
    const def = definition(defs, node.type);
    if (!def) {
      if (!skip.has(node.type)) unknown.add(node.type);
      return;
    }
    const slots = widgetSlots(def);
    if (slots.some((s) => s.type === 'IMAGEUPLOAD')) throw refuse('holds a node with an upload button');
    // The group code counts every input of a widget type as a widget, a forceInput one too.
    const entries = definitionInputs(def);
    const widgets = entries.filter(hasWidgetType);
    const converted = convertedWidgets(node, widgets.map((e) => e.name));
    for (const entry of widgets) {
      if (converted.includes(entry.name)) continue;
      if (!isWidgetInput(entry)) throw refuse('holds a node with an input only the older frontends drew as a widget');
      layout.widgets.push(innerWidget(slots, index, entry.name));
    }
    const sockets = entries.filter((e) => !hasWidgetType(e));
    sockets.forEach((entry, slot) => addInput(index, slot, entry.name));
    converted.forEach((name, i) => {
      const slot = sockets.length + i;
      if (linkedIn.has(`${index}:${slot}`)) return;
      later.inputs.push({ node: index, slot });
      later.widgets.push(innerWidget(slots, index, name));
    });
    outputTypes(def).forEach((_, slot) => addOutput(index, slot));
  });
  return { inputs: [...layout.inputs, ...later.inputs], outputs: layout.outputs, widgets: [...layout.widgets, ...later.widgets] };
}

type WidgetValues = unknown[] | Record<string, unknown>;

/**
 * The instance's widget values written into its inner nodes' widgets_values (by position, or by name for a dict);
 * a widget the inner node does not draw (a forceInput one) takes its value, which is never sent.
 */
function innerValues(group: UiGroupDefinition, layout: GroupLayout, instance: UiNode, defs: ObjectInfo): Map<number, WidgetValues> {
  const values = new Map<number, WidgetValues>();
  const own = Array.isArray(instance.widgets_values) ? instance.widgets_values : [];
  let at = 0;
  for (const widget of layout.widgets) {
    const inner = group.nodes[widget.node]!;
    let wv = values.get(widget.node);
    if (!wv) {
      const saved = inner.widgets_values;
      values.set(widget.node, (wv = Array.isArray(saved) ? [...saved] : { ...saved }));
    }
    const count = widget.control ? 2 : 1;
    if (at < own.length) {
      if (!Array.isArray(wv)) wv[widget.name] = own[at];
      else {
        const position = widgetSlots(definition(defs, inner.type)!).findIndex((s) => s.name === widget.name);
        for (let i = 0; position !== -1 && i < count && at + i < own.length; i++) wv[position + i] = own[at + i];
      }
    }
    at += count;
  }
  return values;
}

function instanceGraph(group: UiGroupDefinition, layout: GroupLayout, instance: UiNode, defs: ObjectInfo): UiGraph {
  const values = innerValues(group, layout, instance, defs);
  const nodes = group.nodes.map((n, index): UiNode => {
    const wv = values.get(index);
    return { ...n, id: index, inputs: n.inputs.map((i) => ({ ...i, link: null })), ...(wv ? { widgets_values: wv } : {}) };
  });
  const links = new Map<number, UiLink>();
  const connect = (link: UiLink) => {
    const input = typeof link.targetId === 'number' ? nodes[link.targetId]?.inputs[link.targetSlot] : undefined;
    if (input === undefined && link.targetId !== SUBGRAPH_OUTPUT_ID) return;
    const id = links.size + 1;
    links.set(id, link);
    if (input) input.link = id;
  };
  for (const [origin, originSlot, target, targetSlot] of group.links) {
    if (origin !== null && nodes[origin]) connect({ originId: origin, originSlot, targetId: target, targetSlot, type: undefined });
  }
  layout.inputs.forEach(({ node, slot }, k) => {
    if (instance.inputs[k]?.link != null) connect({ originId: SUBGRAPH_INPUT_ID, originSlot: k, targetId: node, targetSlot: slot, type: undefined });
  });
  layout.outputs.forEach(({ node, slot }, k) => {
    if (nodes[node]!.mode !== MODE_BYPASS) connect({ originId: node, originSlot: slot, targetId: SUBGRAPH_OUTPUT_ID, targetSlot: k, type: undefined });
  });
  return { nodes: new Map(nodes.map((n) => [String(n.id), n])), links };
}
