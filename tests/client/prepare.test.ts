import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { prepareWorkflow, type PrepareOptions } from '../../client/prepare/index.js';
import { SealError } from '../../shared/index.js';

const FIXTURES = fileURLToPath(new URL('../../../shared/fixtures/workflows/', import.meta.url));
const fixture = (name: string) => JSON.parse(readFileSync(`${FIXTURES}${name}`, 'utf8')) as Record<string, { class_type: string; inputs: Record<string, unknown> }>;

function errorOf(fn: () => unknown): SealError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(SealError);
    return error as SealError;
  }
  throw new Error('expected an error');
}

/** Every text field that differs between the two workflows, as "node.field". */
function changedFields(before: Record<string, { inputs: Record<string, unknown> }>, after: Record<string, { inputs: Record<string, unknown> }>): string[] {
  const out: string[] = [];
  for (const [id, node] of Object.entries(after)) {
    for (const [field, value] of Object.entries(node.inputs)) {
      if (JSON.stringify(value) !== JSON.stringify(before[id]!.inputs[field])) out.push(`${id}.${field}`);
    }
  }
  return out.sort();
}

describe('prepareWorkflow on the 16 real-world workflows', () => {
  const cases: Array<[string, string[] | RegExp, string[] | RegExp]> = [
    ['01-sd15-img2img.json', ['6.text'], ['7.text']],
    ['02-sd15-three-parallel-samplers.json', ['22.text', '30.text', '37.text'], ['23.text', '31.text', '38.text']],
    ['03-sdxl-base-refiner-zeroout.json', ['17.text', '6.text'], ['20.text']],
    ['04-flux-ckpt-fluxguidance-two-saves.json', ['6.text'], ['33.text']],
    ['05-flux1-dev-basicguider.json', ['6.text'], /no negative prompt/],
    ['06-sd3-cliptextencodesd3-preview-only.json', ['273.clip_g', '273.clip_l', '273.t5xxl'], ['71.text']],
    ['07-qwen-edit-plus-two-images.json', ['111.prompt'], ['110.prompt']],
    ['08-inpaint-loadimage-loadimagemask.json', ['6.text'], ['7.text']],
    ['09-sdxl-controlnet-union-samplercustom.json', ['3.text'], ['6.text']],
    ['10-ltxv-image-to-video.json', ['6.text'], ['7.text']],
    ['11-animatediff-controlnet-efficient-vhs.json', ['48.text'], ['47.text']],
    ['12-ltx2-subgraph-ids-savevideo.json', ['92:3.text'], ['92:4.text']],
    ['13-flux2-klein-subgraph-primitive-text.json', ['76.value'], ['75:67.text']],
    ['14-flux2-klein-edit-nested-ids.json', /75:74 .*92:74 .*--prompt-node/, ['75:67.text', '92:87.text']],
    ['15-hidream-e1-dualcfg-ip2p.json', ['6.text'], ['7.text']],
    ['16-wan-flf2v-named-ids.json', ['positive_prompt.text'], ['negative_prompt.text']],
  ];

  it.each(cases)('%s', (file, positive, negative) => {
    const wf = fixture(file);
    const check = (options: PrepareOptions, expected: string[] | RegExp) => {
      if (expected instanceof RegExp) {
        const e = errorOf(() => prepareWorkflow(wf, options));
        expect(e.code).toBe('BAD_INPUT');
        expect(e.message).toMatch(expected);
        return;
      }
      const { workflow } = prepareWorkflow(wf, options);
      expect(changedFields(wf, workflow)).toEqual(expected);
      const value = options.prompt ?? options.negative;
      for (const f of expected) {
        const [id, field] = [f.slice(0, f.lastIndexOf('.')), f.slice(f.lastIndexOf('.') + 1)];
        expect(workflow[id]!.inputs[field]).toBe(value);
      }
    };
    check({ prompt: 'a red fox in snow' }, positive);
    check({ negative: 'lowres, watermark' }, negative);
    expect(JSON.stringify(fixture(file))).toBe(JSON.stringify(wf)); // the input is never modified
  });

  it('lets --prompt-node resolve the ambiguous one', () => {
    const wf = fixture('14-flux2-klein-edit-nested-ids.json');
    const { workflow, report } = prepareWorkflow(wf, { prompt: 'x', promptNode: '92:74' });
    expect(changedFields(wf, workflow)).toEqual(['92:74.text']);
    expect(report.prompt).toEqual([{ node_id: '92:74', class_type: 'CLIPTextEncode', fields: ['text'] }]);
  });

  it('fills loaders in node-id order, named ids included', () => {
    const wf = fixture('16-wan-flf2v-named-ids.json');
    const first = { name: 'first.png', data: Buffer.from('1') };
    const last = { name: 'last.png', data: Buffer.from('2') };
    const { workflow, images, report } = prepareWorkflow(wf, { images: [last, first] });
    // "end_image" sorts before "start_image".
    expect(report.images.map((a) => [a.node_id, a.name])).toEqual([['end_image', 'last.png'], ['start_image', 'first.png']]);
    expect(workflow.start_image!.inputs.image).toBe('first.png');
    expect(images.map((i) => i.name)).toEqual(['last.png', 'first.png']);
    const inpaint = prepareWorkflow(fixture('08-inpaint-loadimage-loadimagemask.json'), { images: [first, first] });
    expect(inpaint.report.images.map((a) => `${a.node_id}:${a.class_type}:${a.name}`)).toEqual(['11:LoadImage:first.png', '54:LoadImageMask:first.png']);
    expect(inpaint.images).toHaveLength(1);
  });
});

describe('prepareWorkflow on workflows built from node definitions', () => {
  const ckpt = { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'm.safetensors' } };
  const latent = { class_type: 'EmptyLatentImage', inputs: { width: 512, height: 512, batch_size: 1 } };
  const ks = (pos: [string, number], neg: [string, number], extra: Record<string, unknown> = {}) => ({
    class_type: 'KSampler',
    inputs: { model: ['1', 0], seed: 5, steps: 20, cfg: 7, sampler_name: 'euler', scheduler: 'normal', positive: pos, negative: neg, latent_image: ['2', 0], denoise: 1, ...extra },
  });

  it('SDXL: both text_g and text_l of CLIPTextEncodeSDXL', () => {
    const wf = {
      '1': ckpt,
      '2': latent,
      '3': { class_type: 'CLIPTextEncodeSDXL', inputs: { clip: ['1', 1], width: 1024, height: 1024, crop_w: 0, crop_h: 0, target_width: 1024, target_height: 1024, text_g: 'a', text_l: 'a' } },
      '4': { class_type: 'CLIPTextEncodeSDXL', inputs: { clip: ['1', 1], width: 1024, height: 1024, crop_w: 0, crop_h: 0, target_width: 1024, target_height: 1024, text_g: '', text_l: '' } },
      '5': ks(['3', 0], ['4', 0]),
    };
    const { workflow } = prepareWorkflow(wf, { prompt: 'P', negative: 'N' });
    expect([workflow['3']!.inputs.text_g, workflow['3']!.inputs.text_l, workflow['4']!.inputs.text_g, workflow['4']!.inputs.text_l]).toEqual(['P', 'P', 'N', 'N']);
  });

  it('Flux: CLIPTextEncodeFlux through FluxGuidance into BasicGuider; no negative', () => {
    const wf = {
      '1': { class_type: 'DualCLIPLoader', inputs: { clip_name1: 'a', clip_name2: 'b', type: 'flux' } },
      '2': { class_type: 'CLIPTextEncodeFlux', inputs: { clip: ['1', 0], clip_l: 'old', t5xxl: 'old', guidance: 3.5 } },
      '3': { class_type: 'FluxGuidance', inputs: { conditioning: ['2', 0], guidance: 3.5 } },
      '4': { class_type: 'BasicGuider', inputs: { model: ['9', 0], conditioning: ['3', 0] } },
      '9': { class_type: 'UNETLoader', inputs: { unet_name: 'flux.safetensors', weight_dtype: 'default' } },
    };
    const { workflow, report } = prepareWorkflow(wf, { prompt: 'P' });
    expect([workflow['2']!.inputs.clip_l, workflow['2']!.inputs.t5xxl]).toEqual(['P', 'P']);
    expect(report.prompt[0]!.fields).toEqual(['clip_l', 't5xxl']);
    expect(errorOf(() => prepareWorkflow(wf, { negative: 'N' })).message).toMatch(/no negative prompt/);
  });

  it('ControlNet: positive and negative followed through ControlNetApplyAdvanced slots, not titles', () => {
    const wf = {
      '1': ckpt,
      '2': latent,
      '3': { class_type: 'CLIPTextEncode', inputs: { text: 'p', clip: ['1', 1] }, _meta: { title: 'Negative' } },
      '4': { class_type: 'CLIPTextEncode', inputs: { text: 'n', clip: ['1', 1] }, _meta: { title: 'Positive' } },
      '5': { class_type: 'ControlNetApplyAdvanced', inputs: { positive: ['3', 0], negative: ['4', 0], control_net: ['6', 0], image: ['7', 0], strength: 1, start_percent: 0, end_percent: 1 } },
      '6': { class_type: 'ControlNetLoader', inputs: { control_net_name: 'c' } },
      '7': { class_type: 'LoadImage', inputs: { image: 'pose.png' } },
      '8': ks(['5', 0], ['5', 1]),
    };
    const { workflow } = prepareWorkflow(wf, { prompt: 'P', negative: 'N', images: [{ name: 'pose.png', data: Buffer.from('x') }] });
    expect([workflow['3']!.inputs.text, workflow['4']!.inputs.text]).toEqual(['P', 'N']);
  });

  it('SD3 and Qwen image edit encoders', () => {
    const sd3 = {
      '1': ckpt,
      '2': latent,
      '3': { class_type: 'CLIPTextEncodeSD3', inputs: { clip: ['1', 1], clip_l: '', clip_g: '', t5xxl: '', empty_padding: 'none' } },
      '4': { class_type: 'ConditioningZeroOut', inputs: { conditioning: ['3', 0] } },
      '5': ks(['3', 0], ['4', 0]),
    };
    const out = prepareWorkflow(sd3, { prompt: 'P' }).workflow['3']!.inputs;
    expect([out.clip_l, out.clip_g, out.t5xxl]).toEqual(['P', 'P', 'P']);
    expect(errorOf(() => prepareWorkflow(sd3, { negative: 'N' })).message).toMatch(/no negative/);
    const qwen = {
      '1': ckpt,
      '2': latent,
      '3': { class_type: 'TextEncodeQwenImageEditPlus', inputs: { clip: ['1', 1], prompt: 'old', vae: ['1', 2], image1: ['7', 0] } },
      '4': { class_type: 'TextEncodeQwenImageEditPlus', inputs: { clip: ['1', 1], prompt: '', vae: ['1', 2], image1: ['7', 0] } },
      '5': ks(['3', 0], ['4', 0]),
      '7': { class_type: 'LoadImage', inputs: { image: 'x.png' } },
    };
    const q = prepareWorkflow(qwen, { prompt: 'make it blue', negative: 'ugly' }).workflow;
    expect([q['3']!.inputs.prompt, q['4']!.inputs.prompt]).toEqual(['make it blue', 'ugly']);
  });

  it('sets linked text at its PrimitiveString source, and refuses a source shared by both sides', () => {
    const wf = {
      '1': ckpt,
      '2': latent,
      '10:1': { class_type: 'PrimitiveString', inputs: { value: 'shared' } },
      '10:2': { class_type: 'CLIPTextEncode', inputs: { text: ['10:1', 0], clip: ['1', 1] } },
      '10:3': { class_type: 'CLIPTextEncode', inputs: { text: '', clip: ['1', 1] } },
      '10:4': ks(['10:2', 0], ['10:3', 0]),
    };
    expect(prepareWorkflow(wf, { prompt: 'P' }).workflow['10:1']!.inputs.value).toBe('P');
    const shared = { ...wf, '10:3': { class_type: 'CLIPTextEncode', inputs: { text: ['10:1', 0], clip: ['1', 1] } } };
    const { workflow } = prepareWorkflow(shared, { prompt: 'P', promptNode: '10:1' });
    expect(workflow['10:1']!.inputs.value).toBe('P');
  });

  it('names an encoder that feeds both sides', () => {
    const wf = { '1': ckpt, '2': latent, '3': { class_type: 'CLIPTextEncode', inputs: { text: 't', clip: ['1', 1] } }, '4': ks(['3', 0], ['3', 0]) };
    expect(errorOf(() => prepareWorkflow(wf, { prompt: 'P' })).message).toMatch(/encoder 3 \(CLIPTextEncode\) feeds both/);
    expect(prepareWorkflow(wf, { prompt: 'P', promptNode: '3' }).workflow['3']!.inputs.text).toBe('P');
  });

  it('orders string ids numerically part by part', () => {
    const load = (image: string) => ({ class_type: 'LoadImage', inputs: { image } });
    const wf = { '10': load('a'), '9': load('b'), '12:3': load('c'), '10:2': load('d'), '2': { class_type: 'SaveImage', inputs: { images: ['9', 0], filename_prefix: 'x' } } };
    const images = ['i1', 'i2', 'i3', 'i4'].map((n) => ({ name: `${n}.png`, data: Buffer.from(n) }));
    expect(prepareWorkflow(wf, { images }).report.images.map((a) => `${a.node_id}=${a.name}`)).toEqual(['9=i1.png', '10=i2.png', '10:2=i3.png', '12:3=i4.png']);
    expect(errorOf(() => prepareWorkflow(wf, { images: images.slice(0, 3) })).message).toMatch(/4 image loaders .* but 3 images were given/);
  });

  it('makes names unique for different files with the same name', () => {
    const load = (image: string) => ({ class_type: 'LoadImage', inputs: { image } });
    const wf = { '1': load('a'), '2': load('b'), '3': load('c') };
    const same = { name: 'photo.png', data: Buffer.from('same') };
    const { images, report } = prepareWorkflow(wf, { images: [same, { name: 'photo.png', data: Buffer.from('other') }, same] });
    expect(images.map((i) => i.name)).toEqual(['photo.png', 'photo-2.png']);
    expect(report.images.map((a) => a.name)).toEqual(['photo.png', 'photo-2.png', 'photo.png']);
    expect(errorOf(() => prepareWorkflow(wf, { images: [same, same, { name: '../x.png', data: Buffer.from('') }] })).code).toBe('BAD_INPUT');
  });

  it('leaves seeds alone unless asked, then sets seed and noise_seed', () => {
    const wf = fixture('03-sdxl-base-refiner-zeroout.json');
    expect(prepareWorkflow(wf).workflow['10']!.inputs.noise_seed).toBe(42);
    const fixed = prepareWorkflow(wf, { seed: 7 });
    expect(fixed.report.seeds.map((s) => `${s.node_id}.${s.field}=${s.value}`)).toEqual(['10.noise_seed=7', '14.noise_seed=7']);
    let n = 0;
    const random = prepareWorkflow(wf, { randomSeed: true, random: () => [0.25, 0.5][n++]! });
    expect(random.report.seeds.map((s) => s.value)).toEqual([Math.floor(0.25 * Number.MAX_SAFE_INTEGER), Math.floor(0.5 * Number.MAX_SAFE_INTEGER)]);
  });

  it('applies --set with JSON values, and names what is wrong', () => {
    const wf = fixture('01-sd15-img2img.json');
    const { workflow, report } = prepareWorkflow(wf, { set: ['3.inputs.steps=30', '3.inputs.sampler_name=euler_a', '6.inputs.text="quoted"', '3.inputs.denoise=0.5'] });
    expect([workflow['3']!.inputs.steps, workflow['3']!.inputs.sampler_name, workflow['6']!.inputs.text, workflow['3']!.inputs.denoise]).toEqual([30, 'euler_a', 'quoted', 0.5]);
    expect(report.set).toHaveLength(4);
    expect(errorOf(() => prepareWorkflow(wf, { set: ['99.inputs.steps=1'] })).message).toMatch(/no node 99/);
    expect(errorOf(() => prepareWorkflow(wf, { set: ['3.inputs.stepz=1'] })).message).toMatch(/has no input stepz; it has seed, steps/);
    expect(errorOf(() => prepareWorkflow(wf, { set: ['3.steps=1'] })).message).toMatch(/NODE\.inputs\.FIELD=VALUE/);
  });

  it('explains how to export the API format for UI-format JSON', () => {
    const e = errorOf(() => prepareWorkflow({ nodes: [], links: [], version: 0.4 }));
    expect(e.message).toMatch(/Export \(API\)/);
  });
});
