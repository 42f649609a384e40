/**
 * prepareWorkflow on the 16 real-world workflows of ../shared/fixtures/workflows. The truth of each row was read off
 * the fixture's wiring by hand (sampler/guider → conditioning nodes → encoder), not from its titles.
 */
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { prepareWorkflow } from '../../../client/prepare/index.js';
import { changedInputs, deepFreeze, errorOf, png } from '../../client/prepare-helpers.js';
import { publicWorkflow, WORKFLOWS } from '../../helpers/reference.js';

interface Truth {
  /** Inputs that get the prompt, or the error it must raise. */
  prompt: string[] | RegExp;
  negative: string[] | RegExp;
  /** Image loaders, in fill order. */
  loaders: string[];
  /** Seed inputs. */
  seeds: string[];
}

const TRUTH: Record<string, Truth> = {
  '01-sd15-img2img.json': { prompt: ['6.text'], negative: ['7.text'], loaders: ['10'], seeds: ['3.seed'] },
  // Three samplers, three checkpoints, one prompt ("a beautiful girl" in each): every positive gets it.
  '02-sd15-three-parallel-samplers.json': {
    prompt: ['22.text', '30.text', '37.text'],
    negative: ['23.text', '31.text', '38.text'],
    loaders: [],
    seeds: ['24.seed', '27.seed', '34.seed'],
  },
  // Base and refiner hold the same prompt; the base's negative is ConditioningZeroOut(6), so only the refiner's 20.
  '03-sdxl-base-refiner-zeroout.json': { prompt: ['17.text', '6.text'], negative: ['20.text'], loaders: [], seeds: ['10.noise_seed', '14.noise_seed'] },
  '04-flux-ckpt-fluxguidance-two-saves.json': { prompt: ['6.text'], negative: ['33.text'], loaders: [], seeds: ['31.seed'] },
  '05-flux1-dev-basicguider.json': { prompt: ['6.text'], negative: /no negative prompt to set: its guider takes no negative \(BasicGuider\)/, loaders: [], seeds: ['25.noise_seed'] },
  // The negative: Combine(SetTimestepRange(ZeroOut(71)), SetTimestepRange(71)). The SD3 encoder's t5xxl differs from its clip_l/clip_g.
  '06-sd3-cliptextencodesd3-preview-only.json': { prompt: ['273.clip_g', '273.clip_l', '273.t5xxl'], negative: ['71.text'], loaders: [], seeds: ['271.seed'] },
  '07-qwen-edit-plus-two-images.json': { prompt: ['111.prompt'], negative: ['110.prompt'], loaders: ['78', '123'], seeds: ['3.seed'] },
  // Through INPAINT_VAEEncodeInpaintConditioning outputs 0 and 1; LoadImage then LoadImageMask.
  '08-inpaint-loadimage-loadimagemask.json': { prompt: ['6.text'], negative: ['7.text'], loaders: ['11', '54'], seeds: ['3.seed'] },
  '09-sdxl-controlnet-union-samplercustom.json': { prompt: ['3.text'], negative: ['6.text'], loaders: [], seeds: ['5.noise_seed'] },
  // Through LTXVConditioning and LTXVImgToVideo (slot 0 ↔ positive, 1 ↔ negative).
  '10-ltxv-image-to-video.json': { prompt: ['6.text'], negative: ['7.text'], loaders: ['78'], seeds: ['72.noise_seed'] },
  // KSampler (Efficient) ← ControlNetApplyAdvanced ← 48 (positive) / 47 (negative): ids in the other order than usual.
  '11-animatediff-controlnet-efficient-vhs.json': { prompt: ['48.text'], negative: ['47.text'], loaders: [], seeds: ['49.seed'] },
  // Two CFGGuiders, one through LTXVCropGuides; both lead to 92:3 / 92:4.
  '12-ltx2-subgraph-ids-savevideo.json': { prompt: ['92:3.text'], negative: ['92:4.text'], loaders: [], seeds: ['92:11.noise_seed', '92:67.noise_seed'] },
  // The positive encoder 75:74 takes its text by link from PrimitiveStringMultiline 76.
  '13-flux2-klein-subgraph-primitive-text.json': { prompt: ['76.value'], negative: ['75:67.text'], loaders: [], seeds: ['75:73.noise_seed'] },
  // Two edit pipelines with different prompts: ambiguous; both negatives are blank, so both get the negative.
  '14-flux2-klein-edit-nested-ids.json': {
    prompt: /2 text encoders that hold different texts now: 75:74 \(CLIPTextEncode, "CLIP Text Encode \(Positive Prompt\)"\), 92:74 .*--prompt-node ID.*--set/,
    negative: ['75:67.text', '92:87.text'],
    loaders: [],
    seeds: ['75:73.noise_seed', '92:73.noise_seed'],
  },
  // DualCFGGuider: cond1 ← ip2p slot 0 ← 6; cond2 ← ip2p slot 1 ← 7 is not a prompt; negative ← 7.
  '15-hidream-e1-dualcfg-ip2p.json': { prompt: ['6.text'], negative: ['7.text'], loaders: [], seeds: ['37:1.noise_seed'] },
  // Named ids; through WanFirstLastFrameToVideo. Named ids fill in the workflow's own order: start_image first.
  '16-wan-flf2v-named-ids.json': { prompt: ['positive_prompt.text'], negative: ['negative_prompt.text'], loaders: ['start_image', 'end_image'], seeds: ['sampler.seed'] },
};

const PROMPT = 'a red fox in fresh snow';
const NEGATIVE = 'lowres, watermark';

describe('prepareWorkflow on the 16 real-world workflows', () => {
  it('has a truth row for every fixture', () => {
    expect(Object.keys(TRUTH)).toEqual(readdirSync(WORKFLOWS).filter((f) => f.endsWith('.json')).sort());
  });

  describe.each(Object.entries(TRUTH))('%s', (file, truth) => {
    const wf = deepFreeze(publicWorkflow(file));

    it('puts the prompt into exactly the positive text fields, and nothing else', () => {
      if (truth.prompt instanceof RegExp) {
        const e = errorOf(() => prepareWorkflow(wf, { prompt: PROMPT }));
        expect([e.code, e.message]).toEqual(['BAD_INPUT', expect.stringMatching(truth.prompt)]);
        expect(e.message).not.toContain(PROMPT);
        return;
      }
      const { workflow, report } = prepareWorkflow(wf, { prompt: PROMPT });
      expect(changedInputs(wf, workflow)).toEqual(truth.prompt);
      for (const f of truth.prompt) expect(workflow[f.slice(0, f.lastIndexOf('.'))]!.inputs[f.slice(f.lastIndexOf('.') + 1)]).toBe(PROMPT);
      expect(report.negative).toEqual([]);
      expect(report.prompt.length).toBeGreaterThan(0);
    });

    it('puts the negative into exactly the negative text fields, and nothing else', () => {
      if (truth.negative instanceof RegExp) {
        const e = errorOf(() => prepareWorkflow(wf, { negative: NEGATIVE }));
        expect([e.code, e.message]).toEqual(['BAD_INPUT', expect.stringMatching(truth.negative)]);
        return;
      }
      const { workflow } = prepareWorkflow(wf, { negative: NEGATIVE });
      expect(changedInputs(wf, workflow)).toEqual(truth.negative);
      for (const f of truth.negative) expect(workflow[f.slice(0, f.lastIndexOf('.'))]!.inputs[f.slice(f.lastIndexOf('.') + 1)]).toBe(NEGATIVE);
    });

    it('sets both together without either touching the other', () => {
      if (truth.prompt instanceof RegExp || truth.negative instanceof RegExp) return;
      const { workflow } = prepareWorkflow(wf, { prompt: PROMPT, negative: NEGATIVE });
      expect(changedInputs(wf, workflow)).toEqual([...truth.prompt, ...truth.negative].sort());
    });

    it('fills its image loaders in node-id order, and refuses a wrong count', () => {
      const images = truth.loaders.map((_, i) => png(`in${i + 1}.png`));
      const { workflow, report, images: bundle } = prepareWorkflow(wf, { images });
      expect(report.images.map((a) => a.node_id)).toEqual(truth.loaders);
      expect(changedInputs(wf, workflow)).toEqual(truth.loaders.map((id) => `${id}.image`).sort());
      truth.loaders.forEach((id, i) => expect(workflow[id]!.inputs.image).toBe(`in${i + 1}.png`));
      expect(bundle.map((i) => i.name)).toEqual(images.map((i) => i.name));
      const e = errorOf(() => prepareWorkflow(wf, { images: [...images, png('extra.png')] }));
      expect(e.message).toContain(`has ${truth.loaders.length} image loader${truth.loaders.length === 1 ? '' : 's'} (${truth.loaders.join(', ') || 'none'}) but ${images.length + 1} image`);
    });

    it('leaves seeds alone unless asked, then sets every one', () => {
      expect(changedInputs(wf, prepareWorkflow(wf).workflow)).toEqual([]);
      const { workflow, report } = prepareWorkflow(wf, { seed: 12345 });
      expect(changedInputs(wf, workflow)).toEqual(truth.seeds);
      expect(report.seeds.map((s) => `${s.node_id}.${s.field}=${s.value}`).sort()).toEqual(truth.seeds.map((s) => `${s}=12345`));
    });
  });

  it('lets --prompt-node choose in the ambiguous one', () => {
    const wf = publicWorkflow('14-flux2-klein-edit-nested-ids.json');
    const { workflow, report } = prepareWorkflow(wf, { prompt: PROMPT, promptNode: '92:74' });
    expect(changedInputs(wf, workflow)).toEqual(['92:74.text']);
    expect(report.prompt).toEqual([{ node_id: '92:74', class_type: 'CLIPTextEncode', fields: ['text'] }]);
  });

  it('reports text set at its source for the linked prompt', () => {
    const { report } = prepareWorkflow(publicWorkflow('13-flux2-klein-subgraph-primitive-text.json'), { prompt: PROMPT, negative: NEGATIVE });
    expect(report.prompt).toEqual([{ node_id: '75:74', class_type: 'CLIPTextEncode', fields: ['text'], sources: [{ field: 'text', node_id: '76', input: 'value' }] }]);
    expect(report.negative).toEqual([{ node_id: '75:67', class_type: 'CLIPTextEncode', fields: ['text'] }]);
  });

  it('reports base and refiner in the SDXL graph', () => {
    const { report } = prepareWorkflow(publicWorkflow('03-sdxl-base-refiner-zeroout.json'), { prompt: PROMPT, negative: NEGATIVE });
    expect(report.prompt.map((c) => c.node_id).sort()).toEqual(['17', '6']);
    expect(report.negative).toEqual([{ node_id: '20', class_type: 'CLIPTextEncode', fields: ['text'] }]);
  });

  it('replaces a loader value with a subfolder and type suffix (fixture 08: "clipspace/... [input]")', () => {
    const wf = publicWorkflow('08-inpaint-loadimage-loadimagemask.json');
    const { workflow, report } = prepareWorkflow(wf, { images: [png('photo.png'), png('mask.webp')] });
    expect([workflow['11']!.inputs.image, workflow['54']!.inputs.image, workflow['54']!.inputs.channel]).toEqual(['photo.png', 'mask.webp', 'red']);
    expect(report.images).toEqual([
      { node_id: '11', class_type: 'LoadImage', name: 'photo.png' },
      { node_id: '54', class_type: 'LoadImageMask', name: 'mask.webp' },
    ]);
  });

  it('does everything at once on a frozen fixture without writing to it', () => {
    const wf = deepFreeze(publicWorkflow('16-wan-flf2v-named-ids.json'));
    const before = JSON.stringify(wf);
    const { workflow } = prepareWorkflow(wf, {
      prompt: PROMPT,
      negative: NEGATIVE,
      images: [png('last.png'), png('first.png')],
      randomSeed: true,
      random: () => 0.5,
      set: ['sampler.inputs.steps=8', 'flf2v.inputs.length=49'],
    });
    expect(JSON.stringify(wf)).toBe(before);
    expect(changedInputs(wf, workflow)).toEqual(
      ['end_image.image', 'flf2v.length', 'negative_prompt.text', 'positive_prompt.text', 'sampler.seed', 'sampler.steps', 'start_image.image'].sort(),
    );
    expect(workflow.sampler!.inputs.seed).toBe(2 ** 52);
  });
});
