/**
 * /object_info held to the real v0.27.1 dump (tests/fixtures/comfyui-v0.27.1/object_info.json): for every node the
 * simulator implements that the dump has, the required/optional/hidden input names and types, input_order and the
 * outputs (types, names, lists, output_node) must be the real ones, so validation and UI conversion see ComfyUI's graph;
 * and every combo must list what the real one lists (that ComfyUI had no models, so its model lists are empty too).
 */
import { describe, expect, it } from 'vitest';
import { NODES } from '../../simulator/index.js';
import { objectInfo } from '../../simulator/nodes/registry.js';
import { realObjectInfo } from '../helpers/recorded.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;
const REAL = realObjectInfo() as Record<string, Any>;

/** An input's type as a signature sees it: a combo is COMBO whichever way it is spelled (a list, or "COMBO" + options). */
const typeOf = (spec: Any) => (Array.isArray(spec[0]) || spec[0] === 'COMBO' ? 'COMBO' : spec[0]);

/** A combo's list, whichever way it is spelled; none for another type. */
const listOf = (spec: Any): string[] | undefined => (Array.isArray(spec[0]) ? spec[0] : spec[0] === 'COMBO' ? (spec[1]?.options ?? []) : undefined);

/** Every combo of a class: "section.input" → its list. */
function combos(info: Any): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const section of ['required', 'optional']) {
    for (const [name, spec] of Object.entries<Any>(info.input[section] ?? {})) {
      const list = listOf(spec);
      if (list) out[`${section}.${name}`] = list;
    }
  }
  return out;
}

function signature(info: Any) {
  const section = (name: string) => Object.fromEntries(Object.entries<Any>(info.input[name] ?? {}).map(([k, v]) => [k, name === 'hidden' ? (Array.isArray(v) ? v[0] : v) : typeOf(v)]));
  return {
    required: section('required'),
    optional: section('optional'),
    hidden: section('hidden'),
    input_order: { required: info.input_order.required ?? [], optional: info.input_order.optional ?? [], hidden: info.input_order.hidden ?? [] },
    output: info.output,
    output_name: info.output_name,
    output_is_list: info.output_is_list,
    output_node: info.output_node,
  };
}

describe('/object_info against the real ComfyUI v0.27.1 dump', () => {
  const shared = NODES.filter((n) => REAL[n.name]);
  it('covers the nodes the recordings use', () => {
    expect(shared.map((n) => n.name)).toEqual(expect.arrayContaining(['LoadImage', 'ImageInvert', 'SaveImage', 'ImageScale', 'PreviewImage', 'SaveImageWebsocket', 'KSampler', 'CheckpointLoaderSimple', 'VAELoader']));
  });
  it.each(shared.map((n) => n.name))('%s has the real signature', (name) => {
    const def = NODES.find((n) => n.name === name)!;
    expect(signature(objectInfo(def))).toEqual(signature(REAL[name]));
  });
  it.each(shared.map((n) => n.name))('%s lists what the real combos list', (name) => {
    const def = NODES.find((n) => n.name === name)!;
    expect(combos(objectInfo(def))).toEqual(combos(REAL[name]));
  });
  it('the combos compared include the fixed lists (samplers, schedulers, methods, types)', () => {
    const lists = shared.flatMap((n) => Object.entries(combos(REAL[n.name])).filter(([, list]) => list.length > 0).map(([input]) => `${n.name}.${input}`));
    expect(lists).toEqual(expect.arrayContaining(['KSampler.required.sampler_name', 'KSampler.required.scheduler', 'ImageScale.required.upscale_method', 'UNETLoader.required.weight_dtype', 'VAELoader.required.vae_name']));
    expect(lists.length).toBeGreaterThanOrEqual(25);
  });
});
