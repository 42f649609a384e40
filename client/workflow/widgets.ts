/**
 * A UI node's saved widget values → the named inputs the frontend sends. An array `widgets_values` is positional in
 * widget order (from the node's definition, or from the widget names newer files put on their inputs), and holds
 * values the frontend never sends: a seed's `control_after_generate` and the upload button's value. A dict
 * `widgets_values` (VideoHelperSuite) is keyed by widget name.
 */
import { widgetSlots, type NodeDefinition, type WidgetSlot } from './definitions.js';
import type { UiNode } from './ui-graph.js';

/** The values a control widget holds (KSampler (Efficient) saves null in its place). */
const CONTROL_VALUES = new Set<unknown>(['fixed', 'increment', 'decrement', 'randomize', null]);

/** Widget types whose value is the frontend's own (an upload button). */
const FRONTEND_ONLY_TYPES = new Set(['IMAGEUPLOAD']);

/** Named widget values, in widget order; null when the widgets cannot be named (no definition, no names in the file). */
export function widgetValues(node: UiNode, def: NodeDefinition | undefined): Array<[string, unknown]> | null {
  const wv = node.widgets_values;
  if (wv === undefined || (Array.isArray(wv) && wv.length === 0)) return [];
  const slots = def ? widgetSlots(def) : namedSlots(node);
  if (slots === null) return null;
  if (!Array.isArray(wv)) return slots.filter((s) => !s.frontendOnly && s.name in wv).map((s) => [s.name, wv[s.name]]);
  return def ? byDefinition(slots, wv) : byFileNames(slots, wv);
}

function byDefinition(slots: WidgetSlot[], wv: unknown[]): Array<[string, unknown]> {
  const out: Array<[string, unknown]> = [];
  slots.forEach((slot, i) => {
    if (i < wv.length && !slot.frontendOnly) out.push([slot.name, wv[i]]);
  });
  return out;
}

/** The widget inputs a newer file names (in widget order), or null when it names none. */
function namedSlots(node: UiNode): WidgetSlot[] | null {
  const named = node.inputs.filter((i) => i.widget !== undefined);
  if (named.length === 0) return null;
  return named.map((i) => {
    const type = typeof i.type === 'string' ? i.type : 'COMBO';
    return { name: i.widget!.name, type, frontendOnly: FRONTEND_ONLY_TYPES.has(type) };
  });
}

/**
 * Without a definition the control widgets are not named: a value after an INT widget that looks like a control value
 * is taken as one only while the list holds more values than names. Values left over mean the names do not cover the
 * widgets: null.
 */
function byFileNames(slots: WidgetSlot[], wv: unknown[]): Array<[string, unknown]> | null {
  const out: Array<[string, unknown]> = [];
  let extra = wv.length - slots.length;
  let at = 0;
  for (const slot of slots) {
    if (at >= wv.length) break;
    const value = wv[at++];
    if (!slot.frontendOnly) out.push([slot.name, value]);
    if (slot.type === 'INT' && extra > 0 && CONTROL_VALUES.has(wv[at])) {
      at++;
      extra--;
    }
  }
  return at >= wv.length ? out : null;
}
