/**
 * UI → API conversion of the older group nodes (`workflow>NAME`, definitions in `extra.groupNodes`), on hand-built
 * graphs (no public UI/API pair has one), by the frontend's groupNode.ts rules: inner ids `instance:index`, the
 * instance's widgets_values in inner-node order (converted widgets last), its inputs and outputs mapped to the inner
 * slots no inner link uses. Definitions: ComfyUI v0.27.1.
 */
import { describe, expect, it } from 'vitest';
import { convertUiWorkflow } from '../../client/workflow/convert.js';
import { realObjectInfo } from '../helpers/recorded.js';

const DUMP = realObjectInfo();

type Slot = [name: string, type: string, link?: number | null, widget?: boolean];

function node(id: number, type: string, inputs: Slot[] = [], outputs: string[] = [], wv?: unknown[], mode = 0) {
  return {
    id,
    type,
    mode,
    inputs: inputs.map(([name, t, link = null, widget]) => ({ name, type: t, link, ...(widget ? { widget: { name } } : {}) })),
    outputs: outputs.map((t) => ({ name: t, type: t, links: [] })),
    ...(wv ? { widgets_values: wv } : {}),
  };
}
const link = (id: number, from: number, fromSlot: number, to: number, toSlot: number, type = '*') => [id, from, fromSlot, to, toSlot, type];
const convert = (ui: unknown) => convertUiWorkflow(ui, { objectInfo: DUMP });
const ui = (nodes: unknown[], links: unknown[], groupNodes: Record<string, unknown>) => ({ version: 0.4, nodes, links, extra: { groupNodes } });

const ckpt = node(1, 'CheckpointLoaderSimple', [], ['MODEL', 'CLIP', 'VAE'], ['m.safetensors']);
const encodeTitle = { title: 'CLIP Text Encode (Prompt)' };

/** Two prompts: each CLIPTextEncode's clip comes from outside; its text is a widget of the group. */
const PROMPTS = {
  nodes: [node(10, 'CLIPTextEncode', [['clip', 'CLIP', 7]], ['CONDITIONING'], ['pos default']), node(11, 'CLIPTextEncode', [['clip', 'CLIP', 8]], ['CONDITIONING'], ['neg default'])],
  links: [[null, 1, 0, 0, 10, 'CLIP'], [null, 1, 1, 0, 10, 'CLIP']],
  external: [],
};
const prompts = (id: number, wv: unknown[], inLinks: [number, number], outLinks: [number, number], mode = 0) =>
  node(id, 'workflow>prompts', [['clip', 'CLIP', inLinks[0]], ['CLIPTextEncode clip', 'CLIP', inLinks[1]]], ['CONDITIONING', 'CLIPTextEncode CONDITIONING'], wv, mode);
const samplerInputs = (pos: number | null, neg: number | null, model: number | null = null, latent: number | null = null): Slot[] => [
  ['model', 'MODEL', model],
  ['positive', 'CONDITIONING', pos],
  ['negative', 'CONDITIONING', neg],
  ['latent_image', 'LATENT', latent],
];
const sampler = (id: number, inputs: Slot[]) => node(id, 'KSampler', inputs, ['LATENT'], [1, 'fixed', 20, 7, 'euler', 'normal', 1]);

describe('group nodes', () => {
  it('a group of two nodes: inner ids instance:index, the instance widget values override the inner ones', () => {
    const api = convert(
      ui(
        [ckpt, prompts(5, ['a cat', 'blurry'], [1, 2], [3, 4]), sampler(3, samplerInputs(3, 4))],
        [link(1, 1, 1, 5, 0, 'CLIP'), link(2, 1, 1, 5, 1, 'CLIP'), link(3, 5, 0, 3, 1, 'CONDITIONING'), link(4, 5, 1, 3, 2, 'CONDITIONING')],
        { prompts: PROMPTS },
      ),
    );
    expect(api).toEqual({
      '1': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'm.safetensors' }, _meta: { title: 'Load Checkpoint' } },
      '5:0': { class_type: 'CLIPTextEncode', inputs: { text: 'a cat', clip: ['1', 1] }, _meta: encodeTitle },
      '5:1': { class_type: 'CLIPTextEncode', inputs: { text: 'blurry', clip: ['1', 1] }, _meta: encodeTitle },
      '3': {
        class_type: 'KSampler',
        inputs: { seed: 1, steps: 20, cfg: 7, sampler_name: 'euler', scheduler: 'normal', denoise: 1, positive: ['5:0', 0], negative: ['5:1', 0] },
        _meta: { title: 'KSampler' },
      },
    });
  });

  it('two instances of one definition keep their own values (the older workflow/ prefix too)', () => {
    const second = { ...prompts(6, ['a dog', 'dark'], [5, 6], [7, 8]), type: 'workflow/prompts' };
    const api = convert(
      ui(
        [ckpt, prompts(5, ['a cat', 'blurry'], [1, 2], [3, 4]), second, sampler(3, samplerInputs(3, 4)), sampler(4, samplerInputs(7, 8))],
        [
          link(1, 1, 1, 5, 0, 'CLIP'),
          link(2, 1, 1, 5, 1, 'CLIP'),
          link(3, 5, 0, 3, 1, 'CONDITIONING'),
          link(4, 5, 1, 3, 2, 'CONDITIONING'),
          link(5, 1, 1, 6, 0, 'CLIP'),
          link(6, 1, 1, 6, 1, 'CLIP'),
          link(7, 6, 0, 4, 1, 'CONDITIONING'),
          link(8, 6, 1, 4, 2, 'CONDITIONING'),
        ],
        { prompts: PROMPTS },
      ),
    );
    expect(Object.keys(api).sort()).toEqual(['1', '3', '4', '5:0', '5:1', '6:0', '6:1']);
    expect([api['5:0']!.inputs.text, api['5:1']!.inputs.text, api['6:0']!.inputs.text, api['6:1']!.inputs.text]).toEqual(['a cat', 'blurry', 'a dog', 'dark']);
    expect(api['4']!.inputs).toMatchObject({ positive: ['6:0', 0], negative: ['6:1', 0] });
  });

  it('a group fed by a link through a Reroute and feeding a SaveImage through a Reroute; inner links kept', () => {
    const group = {
      nodes: [node(20, 'VAEDecode', [['samples', 'LATENT', 1], ['vae', 'VAE', 2]], ['IMAGE']), node(21, 'ImageInvert', [['image', 'IMAGE', 3]], ['IMAGE'])],
      links: [[null, 0, 0, 0, 9, 'LATENT'], [null, 2, 0, 1, 1, 'VAE'], [0, 0, 1, 0, 20, 'IMAGE']],
      external: [],
    };
    const api = convert(
      ui(
        [
          ckpt,
          node(2, 'EmptyLatentImage', [], ['LATENT'], [512, 512, 1]),
          node(30, 'Reroute', [['', '*', 2]], ['VAE']),
          node(7, 'workflow>decode', [['samples', 'LATENT', 1], ['vae', 'VAE', 3]], ['IMAGE']),
          node(31, 'Reroute', [['', '*', 4]], ['IMAGE']),
          node(9, 'SaveImage', [['images', 'IMAGE', 5]], [], ['out']),
        ],
        [link(1, 2, 0, 7, 0, 'LATENT'), link(2, 1, 2, 30, 0, 'VAE'), link(3, 30, 0, 7, 1, 'VAE'), link(4, 7, 0, 31, 0, 'IMAGE'), link(5, 31, 0, 9, 0, 'IMAGE')],
        { decode: group },
      ),
    );
    expect(api).toEqual({
      '1': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'm.safetensors' }, _meta: { title: 'Load Checkpoint' } },
      '2': { class_type: 'EmptyLatentImage', inputs: { width: 512, height: 512, batch_size: 1 }, _meta: { title: 'Empty Latent Image' } },
      '7:0': { class_type: 'VAEDecode', inputs: { samples: ['2', 0], vae: ['1', 2] }, _meta: { title: 'VAE Decode' } },
      '7:1': { class_type: 'ImageInvert', inputs: { image: ['7:0', 0] }, _meta: { title: 'Invert Image Colors' } },
      '9': { class_type: 'SaveImage', inputs: { filename_prefix: 'out', images: ['7:1', 0] }, _meta: { title: 'Save Image' } },
    });
  });

  it('a group with a KSampler: seed and its control value, a converted widget last, fed by an outer PrimitiveNode', () => {
    const group = {
      nodes: [
        node(40, 'EmptyLatentImage', [], ['LATENT'], [512, 512, 1]),
        node(41, 'KSampler', [...samplerInputs(null, null, null, 1), ['denoise', 'FLOAT', 2, true]], ['LATENT'], [0, 'fixed', 20, 7, 'euler', 'normal', 1]),
      ],
      links: [[0, 0, 1, 3, 40, 'LATENT'], [null, 0, 1, 4, 99, 'FLOAT']],
      external: [],
    };
    // Instance widgets: width, height, batch_size, seed, control, steps, cfg, sampler_name, scheduler; then denoise.
    const wv = [768, 640, 2, 42, 'randomize', 30, 6.5, 'dpmpp_2m', 'karras', 0.8];
    const instance = (denoiseLink: number | null) =>
      node(8, 'workflow>sample', [['model', 'MODEL', 1], ['positive', 'CONDITIONING', 2], ['negative', 'CONDITIONING', 2], ['denoise', 'FLOAT', denoiseLink, true]], ['LATENT'], wv);
    const encoder = node(12, 'CLIPTextEncode', [['clip', 'CLIP', 3]], ['CONDITIONING'], ['x']);
    const build = (denoiseLink: number | null) =>
      ui(
        [ckpt, encoder, node(50, 'PrimitiveNode', [], ['FLOAT'], [0.55, 'fixed']), instance(denoiseLink)],
        [link(1, 1, 0, 8, 0, 'MODEL'), link(2, 12, 0, 8, 1, 'CONDITIONING'), link(3, 1, 1, 12, 0, 'CLIP'), link(4, 50, 0, 8, 3, 'FLOAT')],
        { sample: group },
      );
    const api = convert(build(null));
    expect(api['8:0']).toEqual({ class_type: 'EmptyLatentImage', inputs: { width: 768, height: 640, batch_size: 2 }, _meta: { title: 'Empty Latent Image' } });
    expect(api['8:1']).toEqual({
      class_type: 'KSampler',
      inputs: { seed: 42, steps: 30, cfg: 6.5, sampler_name: 'dpmpp_2m', scheduler: 'karras', denoise: 0.8, model: ['1', 0], positive: ['12', 0], negative: ['12', 0], latent_image: ['8:0', 0] },
      _meta: { title: 'KSampler' },
    });
    expect(convert(build(4))['8:1']!.inputs.denoise).toBe(0.55);
  });

  it('a bypassed instance hands on its input of the same type and sends nothing inside; a muted one drops the link', () => {
    const group = {
      nodes: [node(60, 'LoraLoaderModelOnly', [['model', 'MODEL', 1]], ['MODEL'], ['a.safetensors', 1]), node(61, 'LoraLoaderModelOnly', [['model', 'MODEL', 2]], ['MODEL'], ['b.safetensors', 0.5])],
      links: [[null, 0, 0, 0, 1, 'MODEL'], [0, 0, 1, 0, 60, 'MODEL']],
      external: [],
    };
    const build = (mode: number) =>
      ui([ckpt, node(5, 'workflow>loras', [['model', 'MODEL', 1]], ['MODEL'], ['c.safetensors', 0.7, 'd.safetensors', 0.9], mode), sampler(3, samplerInputs(null, null, 2))], [link(1, 1, 0, 5, 0, 'MODEL'), link(2, 5, 0, 3, 0, 'MODEL')], { loras: group });
    const active = convert(build(0));
    expect(active['5:0']!.inputs).toEqual({ lora_name: 'c.safetensors', strength_model: 0.7, model: ['1', 0] });
    expect(active['5:1']!.inputs).toEqual({ lora_name: 'd.safetensors', strength_model: 0.9, model: ['5:0', 0] });
    expect(active['3']!.inputs.model).toEqual(['5:1', 0]);
    const bypassed = convert(build(4));
    expect(Object.keys(bypassed).sort()).toEqual(['1', '3']);
    expect(bypassed['3']!.inputs.model).toEqual(['1', 0]);
    // Only an input of the exact type is handed on (a `*` one is not, unlike a bypassed plain node).
    const anyType = build(4);
    (anyType.nodes[1] as ReturnType<typeof node>).inputs[0]!.type = '*';
    expect(convert(anyType)['3']!.inputs).not.toHaveProperty('model');
    const muted = convert(build(2));
    expect(Object.keys(muted).sort()).toEqual(['1', '3']);
    expect(muted['3']!.inputs).not.toHaveProperty('model');
  });

  it('an inner Reroute fed from outside is a group input; the Manage dialog can show an output linked inside', () => {
    const group = {
      nodes: [node(30, 'Reroute', [['', '*', 5]], ['VAE']), node(31, 'VAEDecode', [['samples', 'LATENT', 6], ['vae', 'VAE', 7]], ['IMAGE'])],
      links: [[null, 2, 0, 0, 1, 'VAE'], [null, 0, 1, 0, 2, 'LATENT'], [0, 0, 1, 1, 30, 'VAE']],
      external: [],
      config: { 0: { output: { 0: { visible: true } } } },
    };
    const api = convert(
      ui(
        [
          ckpt,
          node(2, 'EmptyLatentImage', [], ['LATENT'], [512, 512, 1]),
          node(7, 'workflow>decode', [['VAE', 'VAE', 1], ['samples', 'LATENT', 2]], ['VAE', 'IMAGE']),
          node(9, 'SaveImage', [['images', 'IMAGE', 3]], [], ['out']),
          node(10, 'VAEDecode', [['samples', 'LATENT', 4], ['vae', 'VAE', 5]], ['IMAGE']),
        ],
        [link(1, 1, 2, 7, 0, 'VAE'), link(2, 2, 0, 7, 1, 'LATENT'), link(3, 7, 1, 9, 0, 'IMAGE'), link(4, 2, 0, 10, 0, 'LATENT'), link(5, 7, 0, 10, 1, 'VAE')],
        { decode: group },
      ),
    );
    expect(Object.keys(api).sort()).toEqual(['1', '10', '2', '7:1', '9']);
    expect(api['7:1']!.inputs).toEqual({ samples: ['2', 0], vae: ['1', 2] });
    expect(api['9']!.inputs).toEqual({ filename_prefix: 'out', images: ['7:1', 0] });
    expect(api['10']!.inputs).toEqual({ samples: ['2', 0], vae: ['1', 2] });
  });

  it('drops a group output that comes from a bypassed inner node (the frontend hands on no bypass there)', () => {
    const group = {
      nodes: [node(60, 'LoraLoaderModelOnly', [['model', 'MODEL', 1]], ['MODEL'], ['a.safetensors', 1]), node(61, 'LoraLoaderModelOnly', [['model', 'MODEL', 2]], ['MODEL'], ['b.safetensors', 0.5], 4)],
      links: [[null, 0, 0, 0, 1, 'MODEL'], [0, 0, 1, 0, 60, 'MODEL']],
      external: [],
    };
    const api = convert(ui([ckpt, node(5, 'workflow>loras', [['model', 'MODEL', 1]], ['MODEL'], ['c.safetensors', 0.7, 'd.safetensors', 0.9]), sampler(3, samplerInputs(null, null, 2))], [link(1, 1, 0, 5, 0, 'MODEL'), link(2, 5, 0, 3, 0, 'MODEL')], { loras: group }));
    expect(Object.keys(api).sort()).toEqual(['1', '3', '5:0']);
    expect(api['3']!.inputs).not.toHaveProperty('model');
  });

  it('without node definitions names the inner class types it needs', () => {
    const graph = ui([ckpt, prompts(5, ['a', 'b'], [1, 2], [3, 4])], [link(1, 1, 1, 5, 0, 'CLIP'), link(2, 1, 1, 5, 1, 'CLIP')], { prompts: PROMPTS });
    expect(() => convertUiWorkflow(graph, { objectInfo: {} })).toThrowError(
      expect.objectContaining({ code: 'BAD_INPUT', details: { class_types: ['CLIPTextEncode', 'CheckpointLoaderSimple'] } }),
    );
  });

  it('refuses what it does not convert, with the way out: a PrimitiveNode inside, a group node inside a subgraph', () => {
    const withPrimitive = { nodes: [node(1, 'PrimitiveNode', [], ['INT'], [1, 'fixed']), node(2, 'EmptyLatentImage', [], ['LATENT'], [512, 512, 1])], links: [[0, 0, 1, 0, 1, 'INT']], external: [] };
    expect(() => convert(ui([node(5, 'workflow>p', [], ['LATENT'], [1, 'fixed', 512, 1])], [], { p: withPrimitive }))).toThrowError(
      expect.objectContaining({ code: 'BAD_INPUT', message: expect.stringMatching(/PrimitiveNode, which is not converted: .*Convert to Subgraph/) }),
    );
    const withUpload = { nodes: [node(1, 'LoadImage', [], ['IMAGE', 'MASK'], ['a.png', 'image']), node(2, 'ImageInvert', [['image', 'IMAGE', 1]], ['IMAGE'])], links: [[0, 0, 1, 0, 1, 'IMAGE']], external: [] };
    expect(() => convert(ui([node(5, 'workflow>u', [], ['IMAGE'], ['a.png', 'image'])], [], { u: withUpload }))).toThrowError(
      expect.objectContaining({ code: 'BAD_INPUT', message: expect.stringMatching(/upload button, which is not converted/) }),
    );
    const sub = { id: '11111111-0000-4000-8000-00000000000a', name: 's', inputs: [], outputs: [], nodes: [node(1, 'workflow>prompts', [], [], ['a', 'b'])], links: [] };
    const nested = { version: 1, nodes: [node(2, sub.id)], links: [], definitions: { subgraphs: [sub] }, extra: { groupNodes: { prompts: PROMPTS } } };
    expect(() => convert(nested)).toThrowError(expect.objectContaining({ code: 'BAD_INPUT', message: expect.stringMatching(/group node inside a subgraph.*Convert to Subgraph/) }));
  });
});
