/** Prompt and negative placement on workflows built from ComfyUI's node definitions. */
import { describe, expect, it } from 'vitest';
import { prepareWorkflow } from '../../client/prepare/index.js';
import { ENCODERS } from '../../client/prepare/encoders.js';
import { findSides, walkUpstream } from '../../client/prepare/graph.js';
import type { Workflow } from '../../shared/schema.js';
import { changedInputs, checkpoint, clipText, deepFreeze, emptyLatent, errorOf, kSampler, link, loadImage } from './prepare-helpers.js';

const P = 'a lighthouse at dusk';
const N = 'blurry';

/** Runs prepare and returns "node.input" → value for every changed input. */
function changes(wf: Workflow, options: Parameters<typeof prepareWorkflow>[1]): Record<string, unknown> {
  const { workflow } = prepareWorkflow(deepFreeze(wf), options);
  return Object.fromEntries(changedInputs(wf, workflow).map((f) => [f, workflow[f.slice(0, f.lastIndexOf('.'))]!.inputs[f.slice(f.lastIndexOf('.') + 1)]]));
}

describe('encoders', () => {
  it('SD1.5: CLIPTextEncode text, by the sampler wiring', () => {
    const wf = { '1': checkpoint(), '2': emptyLatent(), '6': clipText('old'), '7': clipText(''), '3': kSampler(link('6'), link('7')) };
    expect(changes(wf, { prompt: P, negative: N })).toEqual({ '6.text': P, '7.text': N });
  });

  it('SDXL base + refiner: text_g and text_l of CLIPTextEncodeSDXL, and the CLIPTextEncodeSDXLRefiner text', () => {
    const sdxl = (text: string) => ({
      class_type: 'CLIPTextEncodeSDXL',
      inputs: { clip: link('1', 1), width: 1024, height: 1024, crop_w: 0, crop_h: 0, target_width: 1024, target_height: 1024, text_g: text, text_l: text },
    });
    const refiner = (text: string) => ({ class_type: 'CLIPTextEncodeSDXLRefiner', inputs: { clip: link('8', 1), ascore: 6, width: 1024, height: 1024, text } });
    const adv = (pos: string, neg: string, start: number) => ({
      class_type: 'KSamplerAdvanced',
      inputs: { model: link('1'), add_noise: 'enable', noise_seed: 1, steps: 25, cfg: 8, sampler_name: 'euler', scheduler: 'normal', positive: link(pos), negative: link(neg), latent_image: link('2'), start_at_step: start, end_at_step: 10000, return_with_leftover_noise: 'disable' },
    });
    const wf = {
      '1': checkpoint(),
      '2': emptyLatent(),
      '8': checkpoint(),
      '3': sdxl('a cat'),
      '4': sdxl(''),
      '5': refiner('a cat'),
      '6': refiner(''),
      '10': adv('3', '4', 0),
      '11': adv('5', '6', 20),
    };
    expect(changes(wf, { prompt: P, negative: N })).toEqual({ '3.text_g': P, '3.text_l': P, '5.text': P, '4.text_g': N, '4.text_l': N, '6.text': N });
    // The refiner's prompt differs from the base's: two jobs or one? The user says which.
    const differ = { ...wf, '5': refiner('a dog') };
    const e = errorOf(() => prepareWorkflow(differ, { prompt: P }));
    expect(e.message).toMatch(/the prompt could go to 2 text encoders that hold different texts now: 3 \(CLIPTextEncodeSDXL\), 5 \(CLIPTextEncodeSDXLRefiner\); choose one with --prompt-node ID/);
    expect(e.details).toEqual({ candidates: ['3', '5'] });
  });

  it('Flux: CLIPTextEncodeFlux through FluxGuidance into BasicGuider (no negative)', () => {
    const wf = {
      '1': { class_type: 'DualCLIPLoader', inputs: { clip_name1: 't5xxl.safetensors', clip_name2: 'clip_l.safetensors', type: 'flux' } },
      '2': { class_type: 'CLIPTextEncodeFlux', inputs: { clip: link('1'), clip_l: 'old', t5xxl: 'old', guidance: 3.5 } },
      '3': { class_type: 'FluxGuidance', inputs: { conditioning: link('2'), guidance: 3.5 } },
      '4': { class_type: 'BasicGuider', inputs: { model: link('9'), conditioning: link('3') } },
      '5': { class_type: 'SamplerCustomAdvanced', inputs: { noise: link('6'), guider: link('4'), sampler: link('7'), sigmas: link('8'), latent_image: link('10') } },
      '6': { class_type: 'RandomNoise', inputs: { noise_seed: 1 } },
      '9': { class_type: 'UNETLoader', inputs: { unet_name: 'flux1-dev.safetensors', weight_dtype: 'default' } },
    };
    const { report } = prepareWorkflow(wf, { prompt: P });
    expect(report.prompt).toEqual([{ node_id: '2', class_type: 'CLIPTextEncodeFlux', fields: ['clip_l', 't5xxl'] }]);
    expect(changes(wf, { prompt: P })).toEqual({ '2.clip_l': P, '2.t5xxl': P });
    expect(errorOf(() => prepareWorkflow(wf, { negative: N })).message).toMatch(/no negative prompt to set: its guider takes no negative \(BasicGuider\); drop --negative/);
  });

  it('Flux in a KSampler: FluxGuidance on the positive, a blank encoder on the negative', () => {
    const wf = { '1': checkpoint(), '2': emptyLatent(), '6': clipText('x'), '35': { class_type: 'FluxGuidance', inputs: { guidance: 3.5, conditioning: link('6') } }, '33': clipText(''), '31': kSampler(link('35'), link('33')) };
    expect(changes(wf, { prompt: P, negative: N })).toEqual({ '6.text': P, '33.text': N });
  });

  it('SD3: all three fields of CLIPTextEncodeSD3; a zeroed negative has no text', () => {
    const wf = {
      '1': checkpoint(),
      '2': emptyLatent(),
      '3': { class_type: 'CLIPTextEncodeSD3', inputs: { clip: link('1', 1), clip_l: 'a', clip_g: 'a', t5xxl: 'b', empty_padding: 'none' } },
      '4': { class_type: 'ConditioningZeroOut', inputs: { conditioning: link('3') } },
      '5': kSampler(link('3'), link('4')),
    };
    expect(changes(wf, { prompt: P })).toEqual({ '3.clip_l': P, '3.clip_g': P, '3.t5xxl': P });
    const e = errorOf(() => prepareWorkflow(wf, { negative: N }));
    expect(e.message).toBe(
      'this workflow has no negative prompt to set: its negative is zeroed conditioning (ConditioningZeroOut); drop --negative, or name a text node with --negative-node ID',
    );
    expect(e.details).toEqual({ samplers: [{ node_id: '5', reason: 'zeroed' }] });
  });

  it('Qwen image edit: positive and negative TextEncodeQwenImageEditPlus, told apart by the KSampler only', () => {
    const qwen = (prompt: string, title: string) => ({
      class_type: 'TextEncodeQwenImageEditPlus',
      inputs: { clip: link('1', 1), vae: link('1', 2), image1: link('7'), image2: link('8'), prompt },
      _meta: { title },
    });
    // Titles lie on purpose: they must not matter.
    const wf = { '1': checkpoint(), '2': emptyLatent(), '3': qwen('old', 'Negative'), '4': qwen('', 'Positive'), '5': kSampler(link('3'), link('4')), '7': loadImage('a.png'), '8': loadImage('b.png') };
    expect(changes(wf, { prompt: 'make it blue', negative: 'ugly' })).toEqual({ '3.prompt': 'make it blue', '4.prompt': 'ugly' });
  });

  it('ControlNet: ControlNetApplyAdvanced output 0 is the positive, output 1 the negative, whatever the ids or titles', () => {
    const wf = {
      '1': checkpoint(),
      '2': emptyLatent(),
      '3': clipText('n', link('1', 1), 'Positive'),
      '4': clipText('p', link('1', 1), 'Negative'),
      '5': { class_type: 'ControlNetApplyAdvanced', inputs: { positive: link('4'), negative: link('3'), control_net: link('6'), image: link('7'), strength: 1, start_percent: 0, end_percent: 1, vae: link('1', 2) } },
      '6': { class_type: 'ControlNetLoader', inputs: { control_net_name: 'canny.safetensors' } },
      '7': loadImage('pose.png'),
      '8': kSampler(link('5', 0), link('5', 1)),
    };
    expect(changes(wf, { prompt: P, negative: N })).toEqual({ '4.text': P, '3.text': N });
  });

  it('follows SamplerCustomAdvanced → CFGGuider through ConditioningCombine, SetArea, SetTimestepRange and ReferenceLatent', () => {
    const wf = {
      '1': checkpoint(),
      '2': emptyLatent(),
      '10': clipText('a'),
      '11': clipText('a'),
      '12': clipText(''),
      '20': { class_type: 'ConditioningSetArea', inputs: { conditioning: link('10'), width: 64, height: 64, x: 0, y: 0, strength: 1 } },
      '21': { class_type: 'ConditioningCombine', inputs: { conditioning_1: link('20'), conditioning_2: link('11') } },
      '22': { class_type: 'ReferenceLatent', inputs: { conditioning: link('21'), latent: link('30') } },
      '23': { class_type: 'ConditioningSetTimestepRange', inputs: { conditioning: link('12'), start: 0, end: 1 } },
      '24': { class_type: 'CFGGuider', inputs: { model: link('1'), positive: link('22'), negative: link('23'), cfg: 5 } },
      // A first pass whose latent feeds the ReferenceLatent: its own encoders must not be reached through `latent`.
      '30': kSampler(link('31'), link('32')),
      '31': clipText('first pass'),
      '32': clipText('first negative'),
    };
    // The guider's positive reaches 10 and 11 only: not 31 through the ReferenceLatent's latent and the first pass.
    expect(walkUpstream(wf, link('22')).encoders.sort()).toEqual(['10', '11']);
    expect(walkUpstream(wf, link('23'))).toEqual({ encoders: ['12'], zeroed: false });
    // As a whole the graph has two jobs (the first pass has a prompt of its own): the user chooses.
    expect(errorOf(() => prepareWorkflow(wf, { prompt: P })).message).toMatch(/3 text encoders .*: 10 .*, 11 .*, 31 /);
    expect(changes(wf, { prompt: P, promptNode: '10', negative: N, negativeNode: '12' })).toEqual({ '10.text': P, '12.text': N });
    const blankFirstPass = { ...wf, '31': clipText('') };
    expect(Object.keys(changes(blankFirstPass, { prompt: P }))).toEqual(['10.text', '11.text', '31.text']);
  });

  it('HiDream: CLIPTextEncodeHiDream gets all four fields; DualCFGGuider cond2 is no prompt', () => {
    const hd = (text: string) => ({ class_type: 'CLIPTextEncodeHiDream', inputs: { clip: link('1', 1), clip_l: text, clip_g: text, t5xxl: text, llama: text } });
    const wf = {
      '1': checkpoint(),
      '3': hd('x'),
      '4': hd(''),
      '5': clipText('image only'),
      '6': { class_type: 'DualCFGGuider', inputs: { model: link('1'), cond1: link('3'), cond2: link('5'), negative: link('4'), cfg_conds: 5, cfg_cond2_negative: 2 } },
    };
    expect(changes(wf, { prompt: P, negative: N })).toEqual({ '3.clip_l': P, '3.clip_g': P, '3.t5xxl': P, '3.llama': P, '4.clip_l': N, '4.clip_g': N, '4.t5xxl': N, '4.llama': N });
  });

  it.each([
    ['CLIPTextEncodeHunyuanDiT', { bert: '', mt5xl: '' }, ['bert', 'mt5xl']],
    ['CLIPTextEncodeLumina2', { system_prompt: 'superior', user_prompt: '' }, ['user_prompt']],
    ['TextEncodeAceStepAudio', { tags: '', lyrics: '[verse] la la', lyrics_strength: 1 }, ['tags']],
    ['CLIPTextEncodePixArtAlpha', { width: 1024, height: 1024, text: '' }, ['text']],
    ['TextEncodeQwenImageEdit', { prompt: '', vae: link('1', 2), image: link('9') }, ['prompt']],
    ['TextEncodeHunyuanVideo_ImageToVideo', { clip_vision_output: link('9'), prompt: '', image_interleave: 2 }, ['prompt']],
    ['CLIPTextEncodeKandinsky5', { clip_l: '', qwen25_7b: '' }, ['clip_l', 'qwen25_7b']],
  ] as const)('%s: its prompt fields only', (class_type, inputs, fields) => {
    expect(ENCODERS[class_type]).toEqual(fields);
    const wf = { '1': checkpoint(), '2': emptyLatent(), '3': { class_type, inputs: { clip: link('1', 1), ...inputs } }, '4': clipText(''), '5': kSampler(link('3'), link('4')) };
    expect(changes(wf, { prompt: P })).toEqual(Object.fromEntries(fields.map((f) => [`3.${f}`, P])));
  });

  it('KSampler (Efficient) passes its conditioning on at outputs 1 and 2 to a second sampler', () => {
    const eff = (pos: [string, number], neg: [string, number]) => ({
      class_type: 'KSampler (Efficient)',
      inputs: { model: link('1'), seed: 1, steps: 20, cfg: 7, sampler_name: 'euler', scheduler: 'normal', positive: pos, negative: neg, latent_image: link('2'), denoise: 1, preview_method: 'none', vae_decode: 'true' },
    });
    const wf = { '1': checkpoint(), '2': emptyLatent(), '3': clipText(''), '4': clipText(''), '5': eff(link('3'), link('4')), '6': eff(link('5', 1), link('5', 2)) };
    expect(changes(wf, { prompt: P, negative: N })).toEqual({ '3.text': P, '4.text': N });
  });
});

describe('samplers this tool does not list', () => {
  it('takes any node with positive and negative links whose outputs feed no conditioning as a sampler', () => {
    const wf = {
      '1': checkpoint(),
      '2': emptyLatent(),
      '3': clipText(''),
      '4': clipText(''),
      '5': { class_type: 'ControlNetApplyAdvanced', inputs: { positive: link('3'), negative: link('4'), control_net: link('6'), image: link('7'), strength: 1, start_percent: 0, end_percent: 1 } },
      '8': { ...kSampler(link('5', 0), link('5', 1)), class_type: 'KSampler //Inspire' },
      '9': { class_type: 'VAEDecode', inputs: { samples: link('8'), vae: link('1', 2) } },
    };
    expect(findSides(wf)).toEqual({ positive: ['3'], negative: ['4'], withoutNegative: [], roots: ['8'] });
    expect(changes(wf, { prompt: P, negative: N })).toEqual({ '3.text': P, '4.text': N });
  });
});

describe('text by link', () => {
  const base = (): Workflow => ({
    '1': checkpoint(),
    '2': emptyLatent(),
    '10:1': { class_type: 'PrimitiveStringMultiline', inputs: { value: 'old' } },
    '10:2': clipText(link('10:1')),
    '10:3': clipText(''),
    '10:4': kSampler(link('10:2'), link('10:3')),
  });

  it('is set at its PrimitiveString source, across subgraph ids', () => {
    const { workflow, report } = prepareWorkflow(base(), { prompt: P });
    expect(changedInputs(base(), workflow)).toEqual(['10:1.value']);
    expect(report.prompt).toEqual([{ node_id: '10:2', class_type: 'CLIPTextEncode', fields: ['text'], sources: [{ field: 'text', node_id: '10:1', input: 'value' }] }]);
  });

  it('takes --prompt-node naming the source itself', () => {
    const { report } = prepareWorkflow(base(), { prompt: P, promptNode: '10:1' });
    expect(report.prompt).toEqual([{ node_id: '10:1', class_type: 'PrimitiveStringMultiline', fields: ['value'] }]);
  });

  it('never lets the negative overwrite a source shared with the positive', () => {
    const shared = { ...base(), '10:3': clipText(link('10:1')) };
    expect(changes(shared, { prompt: P })).toEqual({ '10:1.value': P });
    const e = errorOf(() => prepareWorkflow(shared, { prompt: P, negative: N }));
    expect(e.message).toMatch(/no negative prompt to set: its negative input is wired to the positive text \(10:3 \(CLIPTextEncode\)\)/);
    expect(errorOf(() => prepareWorkflow(shared, { prompt: P, negative: N, negativeNode: '10:3' })).message).toMatch(/holds the positive text too/);
  });

  it('names a link source it cannot set, and how to set it', () => {
    const wf = { ...base(), '10:1': { class_type: 'StringConcatenate', inputs: { string_a: 'a', string_b: 'b', delimiter: ' ' } } };
    const e = errorOf(() => prepareWorkflow(wf, { prompt: P }));
    expect(e.message).toBe(
      'cannot set the prompt: the text of node 10:2 comes by link from node 10:1 (StringConcatenate), which is not a text source; set the text there with --set 10:1.inputs.FIELD=...',
    );
    // The negative alone does not care.
    expect(changes(wf, { negative: N })).toEqual({ '10:3.text': N });
  });
});

describe('ambiguity and choice', () => {
  const three = (texts: [string, string, string]): Workflow => ({
    '1': checkpoint(),
    '2': emptyLatent(),
    '11': clipText(texts[0], link('1', 1), 'Portrait'),
    '12': clipText(texts[1], link('1', 1), 'Landscape'),
    '13': clipText(texts[2]),
    '14': clipText(''),
    '21': kSampler(link('11'), link('14')),
    '22': kSampler(link('12'), link('14')),
    '23': kSampler(link('13'), link('14')),
  });

  it('fills every positive when they agree; blank encoders agree with anything', () => {
    expect(Object.keys(changes(three(['same', 'same', '']), { prompt: P }))).toEqual(['11.text', '12.text', '13.text']);
  });

  it('refuses parallel samplers with different prompts, naming ids, titles and both ways to choose, never the texts', () => {
    const e = errorOf(() => prepareWorkflow(three(['secret one', 'secret two', '']), { prompt: P }));
    expect(e.code).toBe('BAD_INPUT');
    expect(e.message).toBe(
      'the prompt could go to 3 text encoders that hold different texts now: 11 (CLIPTextEncode, "Portrait"), 12 (CLIPTextEncode, "Landscape"), 13 (CLIPTextEncode); ' +
        'choose one with --prompt-node ID, or set each with --set ID.inputs.FIELD=... (e.g. --set 11.inputs.text=...)',
    );
    expect(e.message).not.toMatch(/secret|lighthouse/);
    expect(changes(three(['secret one', 'secret two', '']), { prompt: P, promptNode: '12' })).toEqual({ '12.text': P });
  });

  it('refuses two negatives with different texts the same way', () => {
    const wf = { '1': checkpoint(), '2': emptyLatent(), '3': clipText('p'), '4': clipText('n1'), '5': clipText('n2'), '6': kSampler(link('3'), link('4')), '7': kSampler(link('3'), link('5')) };
    expect(errorOf(() => prepareWorkflow(wf, { negative: N })).message).toMatch(/^the negative could go to 2 text encoders .*: 4 \(CLIPTextEncode\), 5 \(CLIPTextEncode\); choose one with --negative-node ID/);
    expect(changes(wf, { negative: N, negativeNode: '5' })).toEqual({ '5.text': N });
  });

  it('gives the prompt to an encoder wired to both sides (cfg 1), and refuses a negative there', () => {
    const wf = { '1': checkpoint(), '2': emptyLatent(), '3': clipText('t'), '4': kSampler(link('3'), link('3'), { cfg: 1 }) };
    expect(changes(wf, { prompt: P })).toEqual({ '3.text': P });
    expect(errorOf(() => prepareWorkflow(wf, { negative: N })).message).toMatch(/its negative input is wired to the positive text \(3 \(CLIPTextEncode\)\)/);
  });

  it('refuses --prompt-node / --negative-node that name no node or no text node', () => {
    const wf = { '1': checkpoint(), '2': emptyLatent(), '3': clipText('t'), '4': clipText(''), '5': kSampler(link('3'), link('4')) };
    expect(errorOf(() => prepareWorkflow(wf, { prompt: P, promptNode: '99' })).message).toBe('--prompt-node 99: no such node in the workflow');
    expect(errorOf(() => prepareWorkflow(wf, { negative: N, negativeNode: '5' })).message).toBe(
      'cannot set the negative: node 5 (KSampler) is not a text encoder or a text source (PrimitiveString)',
    );
  });

  it('says so when no encoder can be found, and --prompt-node still works', () => {
    const wf = {
      '1': checkpoint(),
      '2': emptyLatent(),
      '3': { class_type: 'CustomPromptNode', inputs: { clip: link('1', 1), wildcard_text: 'x' } },
      '4': { class_type: 'CustomPromptNode', inputs: { clip: link('1', 1), wildcard_text: '' } },
      '5': kSampler(link('3'), link('4')),
    };
    expect(errorOf(() => prepareWorkflow(wf, { prompt: P })).message).toMatch(/found no text encoder feeding a sampler's or guider's positive input \(1 sampler\/guider node found\); name it with --prompt-node ID, or use --set/);
    expect(errorOf(() => prepareWorkflow(wf, { negative: N })).message).toMatch(/no text encoder could be found on its negative side/);
    expect(changes(wf, { set: ['3.inputs.wildcard_text=hi'] })).toEqual({ '3.wildcard_text': 'hi' });
  });

  it('survives a cycle in a malformed graph', () => {
    const wf = {
      '1': checkpoint(),
      '2': emptyLatent(),
      '3': { class_type: 'ConditioningCombine', inputs: { conditioning_1: link('4'), conditioning_2: link('6') } },
      '4': { class_type: 'ConditioningCombine', inputs: { conditioning_1: link('3'), conditioning_2: link('6') } },
      '6': clipText(''),
      '7': clipText(''),
      '5': kSampler(link('3'), link('7')),
    };
    expect(changes(wf, { prompt: P, negative: N })).toEqual({ '6.text': P, '7.text': N });
  });
});
