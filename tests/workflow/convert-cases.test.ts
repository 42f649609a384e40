/**
 * UI → API conversion on hand-built graphs for what no public pair has: subgraphs (v1 object links, nested, promoted
 * widgets, muted and bypassed instances), bypass chains, reroute chains, PrimitiveNode values, array values, dangling
 * links, cycles. Built from the frontend's rules (graphToPrompt + ExecutableNodeDTO), with the v0.27.1 definitions.
 */
import { describe, expect, it } from 'vitest';
import { convertUiWorkflow } from '../../client/workflow/convert.js';
import { realObjectInfo } from '../helpers/recorded.js';

const DUMP = realObjectInfo();

interface In { name: string; type: string; link?: number | null; widget?: boolean }
interface NodeSpec { id: number; type: string; inputs?: In[]; outputs?: string[]; wv?: unknown; mode?: number; title?: string }

function node(spec: NodeSpec) {
  return {
    id: spec.id,
    type: spec.type,
    mode: spec.mode ?? 0,
    ...(spec.title ? { title: spec.title } : {}),
    inputs: (spec.inputs ?? []).map((i) => ({ name: i.name, type: i.type, link: i.link ?? null, ...(i.widget ? { widget: { name: i.name } } : {}) })),
    outputs: (spec.outputs ?? []).map((t) => ({ name: t, type: t, links: [] })),
    ...(spec.wv !== undefined ? { widgets_values: spec.wv } : {}),
  };
}
/** v1 link object: id, from node/slot, to node/slot. */
const link = (id: number, from: number, fromSlot: number, to: number, toSlot: number, type = '*') => ({ id, origin_id: from, origin_slot: fromSlot, target_id: to, target_slot: toSlot, type });
const linkArray = (id: number, from: number, fromSlot: number, to: number, toSlot: number, type = '*') => [id, from, fromSlot, to, toSlot, type];

/** Subgraph "enc": (clip, text) → CLIPTextEncode → CONDITIONING. */
const ENC = {
  id: '11111111-0000-4000-8000-000000000001',
  name: 'enc',
  inputs: [{ name: 'clip', type: 'CLIP' }, { name: 'text', type: 'STRING' }],
  outputs: [{ name: 'CONDITIONING', type: 'CONDITIONING' }],
  nodes: [node({ id: 1, type: 'CLIPTextEncode', inputs: [{ name: 'clip', type: 'CLIP', link: 1 }, { name: 'text', type: 'STRING', widget: true, link: 2 }], outputs: ['CONDITIONING'], wv: ['inner default'] })],
  links: [link(1, -10, 0, 1, 0, 'CLIP'), link(2, -10, 1, 1, 1, 'STRING'), link(3, 1, 0, -20, 0, 'CONDITIONING')],
};

const ckpt = node({ id: 1, type: 'CheckpointLoaderSimple', outputs: ['MODEL', 'CLIP', 'VAE'], wv: ['m.safetensors'] });
const latent = node({ id: 4, type: 'EmptyLatentImage', outputs: ['LATENT'], wv: [512, 512, 1] });
const sampler = (model: number | null, pos: number | null, neg: number | null, lat: number | null, extra: In[] = []) =>
  node({
    id: 3,
    type: 'KSampler',
    inputs: [{ name: 'model', type: 'MODEL', link: model }, { name: 'positive', type: 'CONDITIONING', link: pos }, { name: 'negative', type: 'CONDITIONING', link: neg }, { name: 'latent_image', type: 'LATENT', link: lat }, ...extra],
    outputs: ['LATENT'],
    wv: [5, 'randomize', 20, 7, 'euler', 'normal', 1],
  });
const SAMPLER_VALUES = { seed: 5, steps: 20, cfg: 7, sampler_name: 'euler', scheduler: 'normal', denoise: 1 };

function convert(ui: unknown) {
  return convertUiWorkflow(ui, { objectInfo: DUMP });
}

describe('subgraphs', () => {
  const instance = (extra: Partial<NodeSpec> = {}, textWidget = true) =>
    node({ id: 2, type: ENC.id, inputs: [{ name: 'clip', type: 'CLIP', link: 10 }, { name: 'text', type: 'STRING', widget: textWidget, link: null }], outputs: ['CONDITIONING'], wv: ['a cat'], ...extra });
  const graph = (sub: ReturnType<typeof node>) => ({
    version: 1,
    nodes: [ckpt, sub, sampler(11, 12, 13, 14), latent],
    links: [link(10, 1, 1, 2, 0, 'CLIP'), link(11, 1, 0, 3, 0, 'MODEL'), link(12, 2, 0, 3, 1, 'CONDITIONING'), link(13, 2, 0, 3, 2, 'CONDITIONING'), link(14, 4, 0, 3, 3, 'LATENT')],
    definitions: { subgraphs: [ENC] },
  });

  it('flattens to outer:inner ids, follows links in and out, takes a promoted widget value', () => {
    const api = convert(graph(instance()));
    expect(Object.keys(api).sort()).toEqual(['1', '2:1', '3', '4']);
    expect(api['2:1']).toEqual({ class_type: 'CLIPTextEncode', inputs: { text: 'a cat', clip: ['1', 1] }, _meta: { title: 'CLIP Text Encode (Prompt)' } });
    expect(api['3']!.inputs).toEqual({ ...SAMPLER_VALUES, model: ['1', 0], positive: ['2:1', 0], negative: ['2:1', 0], latent_image: ['4', 0] });
  });

  it("keeps the inner widget's value when the subgraph input has no widget and no link", () => {
    expect(convert(graph(instance({}, false)))['2:1']!.inputs.text).toBe('inner default');
  });

  it('nests: a subgraph inside a subgraph gets ids a:b:c', () => {
    const outer = {
      id: '11111111-0000-4000-8000-000000000002',
      name: 'outer',
      inputs: [{ name: 'clip', type: 'CLIP' }],
      outputs: [{ name: 'CONDITIONING', type: 'CONDITIONING' }],
      nodes: [node({ id: 9, type: ENC.id, inputs: [{ name: 'clip', type: 'CLIP', link: 1 }, { name: 'text', type: 'STRING', widget: true, link: null }], outputs: ['CONDITIONING'], wv: ['nested text'] })],
      links: [link(1, -10, 0, 9, 0, 'CLIP'), link(2, 9, 0, -20, 0, 'CONDITIONING')],
      definitions: { subgraphs: [ENC] },
    };
    const ui = {
      version: 1,
      nodes: [ckpt, node({ id: 8, type: outer.id, inputs: [{ name: 'clip', type: 'CLIP', link: 10 }], outputs: ['CONDITIONING'] }), sampler(11, 12, 12, 14), latent],
      links: [link(10, 1, 1, 8, 0), link(11, 1, 0, 3, 0), link(12, 8, 0, 3, 1), link(14, 4, 0, 3, 3)],
      definitions: { subgraphs: [outer] },
    };
    const api = convert(ui);
    expect(Object.keys(api).sort()).toEqual(['1', '3', '4', '8:9:1']);
    expect(api['8:9:1']!.inputs).toEqual({ text: 'nested text', clip: ['1', 1] });
    expect(api['3']!.inputs.positive).toEqual(['8:9:1', 0]);
  });

  it('a muted subgraph node sends nothing of its inside, and links to it are dropped', () => {
    const api = convert(graph(instance({ mode: 2 })));
    expect(Object.keys(api).sort()).toEqual(['1', '3', '4']);
    expect(api['3']!.inputs).not.toHaveProperty('positive');
  });

  it('a bypassed subgraph node hands on its input of the same type', () => {
    const passModel = {
      id: '11111111-0000-4000-8000-000000000003',
      name: 'lora',
      inputs: [{ name: 'model', type: 'MODEL' }],
      outputs: [{ name: 'MODEL', type: 'MODEL' }],
      nodes: [node({ id: 1, type: 'LoraLoaderModelOnly', inputs: [{ name: 'model', type: 'MODEL', link: 1 }], outputs: ['MODEL'], wv: ['l.safetensors', 1] })],
      links: [link(1, -10, 0, 1, 0, 'MODEL'), link(2, 1, 0, -20, 0, 'MODEL')],
    };
    const build = (mode: number) => ({
      version: 1,
      nodes: [ckpt, node({ id: 5, type: passModel.id, mode, inputs: [{ name: 'model', type: 'MODEL', link: 20 }], outputs: ['MODEL'] }), sampler(21, null, null, null)],
      links: [link(20, 1, 0, 5, 0, 'MODEL'), link(21, 5, 0, 3, 0, 'MODEL')],
      definitions: { subgraphs: [passModel] },
    });
    expect(convert(build(0))['3']!.inputs.model).toEqual(['5:1', 0]);
    const bypassed = convert(build(4));
    expect(bypassed['3']!.inputs.model).toEqual(['1', 0]);
    expect(bypassed).not.toHaveProperty('5:1');
  });
});

describe('links (v0.4 arrays)', () => {
  const lora = (id: number, mode: number, model: number, clip: number) =>
    node({ id, type: 'LoraLoader', mode, inputs: [{ name: 'model', type: 'MODEL', link: model }, { name: 'clip', type: 'CLIP', link: clip }], outputs: ['MODEL', 'CLIP'], wv: ['l.safetensors', 1, 1] });
  const encoder = (id: number, clip: number, text: string) => node({ id, type: 'CLIPTextEncode', inputs: [{ name: 'clip', type: 'CLIP', link: clip }], outputs: ['CONDITIONING'], wv: [text] });

  it('a chain of bypassed nodes passes each type through to its source, slot by type', () => {
    const ui = {
      version: 0.4,
      nodes: [ckpt, lora(20, 4, 1, 2), lora(21, 4, 3, 4), sampler(5, 6, 6, null), encoder(22, 7, 'x')],
      links: [
        linkArray(1, 1, 0, 20, 0, 'MODEL'),
        linkArray(2, 1, 1, 20, 1, 'CLIP'),
        linkArray(3, 20, 0, 21, 0, 'MODEL'),
        linkArray(4, 20, 1, 21, 1, 'CLIP'),
        linkArray(5, 21, 0, 3, 0, 'MODEL'),
        linkArray(6, 22, 0, 3, 1, 'CONDITIONING'),
        linkArray(7, 21, 1, 22, 0, 'CLIP'),
      ],
    };
    const api = convert(ui);
    expect(api['3']!.inputs.model).toEqual(['1', 0]);
    expect(api['22']!.inputs.clip).toEqual(['1', 1]);
    expect(Object.keys(api).sort()).toEqual(['1', '22', '3']);
  });

  it('follows a chain of Reroutes; a Reroute with nothing behind it leaves the input out', () => {
    const reroute = (id: number, link: number | null) => node({ id, type: 'Reroute', inputs: [{ name: '', type: '*', link }], outputs: ['*'] });
    const ui = {
      version: 0.4,
      nodes: [ckpt, reroute(30, 1), reroute(31, 2), reroute(32, null), sampler(3, 4, null, null)],
      links: [linkArray(1, 1, 0, 30, 0), linkArray(2, 30, 0, 31, 0), linkArray(3, 31, 0, 3, 0, 'MODEL'), linkArray(4, 32, 0, 3, 1, 'CONDITIONING')],
    };
    const api = convert(ui);
    expect(api['3']!.inputs.model).toEqual(['1', 0]);
    expect(api['3']!.inputs).not.toHaveProperty('positive');
  });

  it("follows KJNodes' GetNode to the SetNode of the same name; rgthree's helpers are left out", () => {
    const ui = {
      version: 0.4,
      nodes: [
        ckpt,
        node({ id: 60, type: 'SetNode', inputs: [{ name: 'MODEL', type: 'MODEL', link: 1 }], outputs: ['*'], wv: ['base_model'] }),
        node({ id: 61, type: 'GetNode', outputs: ['MODEL'], wv: ['base_model'] }),
        node({ id: 62, type: 'GetNode', outputs: ['MODEL'], wv: ['nobody_sets_this'] }),
        node({ id: 63, type: 'Fast Groups Bypasser (rgthree)', outputs: ['*'] }),
        sampler(2, 3, null, null),
      ],
      links: [linkArray(1, 1, 0, 60, 0, 'MODEL'), linkArray(2, 61, 0, 3, 0, 'MODEL'), linkArray(3, 62, 0, 3, 1, 'CONDITIONING')],
    };
    const api = convert(ui);
    expect(Object.keys(api).sort()).toEqual(['1', '3']);
    expect(api['3']!.inputs.model).toEqual(['1', 0]);
    expect(api['3']!.inputs).not.toHaveProperty('positive');
  });

  it("writes a PrimitiveNode's value into the widget it feeds, never its control value", () => {
    const ui = {
      version: 0.4,
      nodes: [ckpt, node({ id: 40, type: 'PrimitiveNode', outputs: ['INT'], wv: [42, 'fixed'] }), sampler(null, null, null, null, [{ name: 'seed', type: 'INT', widget: true, link: 1 }])],
      links: [linkArray(1, 40, 0, 3, 4, 'INT')],
    };
    const api = convert(ui);
    expect(api['3']!.inputs.seed).toBe(42);
    expect(api).not.toHaveProperty('40');
  });

  it('wraps array values, drops links to missing nodes and unknown link ids, keeps titles', () => {
    const ui = {
      version: 0.4,
      nodes: [
        node({ id: 50, type: 'ListNode', title: 'My list', inputs: [{ name: 'items', type: 'STRING', widget: true }], outputs: ['STRING'], wv: [['a', 'b']] }),
        sampler(1, 99, null, null),
      ],
      links: [linkArray(1, 77, 0, 3, 0, 'MODEL')],
    };
    const api = convert(ui);
    expect(api['50']).toEqual({ class_type: 'ListNode', inputs: { items: { __value__: ['a', 'b'] } }, _meta: { title: 'My list' } });
    expect(api['3']!.inputs).toEqual(SAMPLER_VALUES);
  });

  it('refuses links that go round in a circle', () => {
    const reroute = (id: number, link: number) => node({ id, type: 'Reroute', inputs: [{ name: '', type: '*', link }], outputs: ['*'] });
    const ui = { version: 0.4, nodes: [reroute(30, 2), reroute(31, 1), sampler(3, null, null, null)], links: [linkArray(1, 30, 0, 31, 0), linkArray(2, 31, 0, 30, 0), linkArray(3, 31, 0, 3, 0)] };
    ui.nodes[2]!.inputs[0]!.link = 3;
    expect(() => convert(ui)).toThrowError(expect.objectContaining({ code: 'BAD_INPUT', message: expect.stringMatching(/circle/) }));
  });

  it('refuses a subgraph that contains itself', () => {
    const self = { id: '11111111-0000-4000-8000-000000000009', name: 'self', inputs: [], outputs: [], nodes: [node({ id: 1, type: '11111111-0000-4000-8000-000000000009' })], links: [] };
    const ui = { version: 1, nodes: [node({ id: 1, type: self.id })], links: [], definitions: { subgraphs: [self] } };
    expect(() => convert(ui)).toThrowError(expect.objectContaining({ code: 'BAD_INPUT', message: expect.stringMatching(/subgraphs nest deeper/) }));
  });
});
