/** The preflight checks and prepareWorkflow's input handling on real public workflows (../shared/fixtures/workflows). */
import { describe, expect, it } from 'vitest';
import { checkLoadersFilled, loaderLines, preflightWarnings, savingNodes } from '../../../client/cli/preflight.js';
import { prepareWorkflow } from '../../../client/prepare/index.js';
import { publicWorkflow as fixture } from '../../helpers/reference.js';
import { errorOf, loadImage, png } from '../../client/prepare-helpers.js';

describe('preflight', () => {
  const wan = fixture('16-wan-flf2v-named-ids.json');

  it('refuses loaders left unfilled, naming them all; filled ones pass', () => {
    const e = errorOf(() => checkLoadersFilled(prepareWorkflow(wan).workflow, []));
    expect(e.message).toMatch(/^the workflow loads files you did not give: start_image \(LoadImage\), end_image \(LoadImage\); give --img FILE/);
    const prepared = prepareWorkflow(wan, { images: [png('first.png'), png('last.png')] });
    expect(() => checkLoadersFilled(prepared.workflow, prepared.images)).not.toThrow();
  });

  it('prints one line per filled loader', () => {
    const { report } = prepareWorkflow(wan, { images: [png('first.png'), png('first.png', 'other bytes')] });
    expect(loaderLines(report)).toEqual(['  start_image (LoadImage) <- first.png', '  end_image (LoadImage) <- first.png (sent as first-2.png)']);
  });

  it('warns only when nothing saves a file (previews and VideoHelperSuite save_output false do not)', () => {
    expect(savingNodes(wan)).toEqual(['save']);
    expect(preflightWarnings(wan)).toEqual([]);
    const previewOnly = fixture('06-sd3-cliptextencodesd3-preview-only.json');
    expect(preflightWarnings(previewOnly)).toEqual([expect.stringContaining('no node that saves a file')]);
    const tempOnly = { ...wan, save: { ...wan.save!, inputs: { ...wan.save!.inputs, save_output: false } } };
    expect(savingNodes(tempOnly)).toEqual([]);
  });
});
describe('prepareWorkflow on public workflows', () => {
  it('puts the first image of a named-id workflow (16-wan-flf2v) in start_image, the second in end_image', () => {
    const { report } = prepareWorkflow(fixture('16-wan-flf2v-named-ids.json'), { images: [png('first.png'), png('last.png')] });
    expect(report.images.map((a) => `${a.node_id}=${a.name}`)).toEqual(['start_image=first.png', 'end_image=last.png']);
  });

  it('applies last, after the prompt and the seed, and reports each', () => {
    const wf = fixture('01-sd15-img2img.json');
    const { workflow, report } = prepareWorkflow(wf, { prompt: 'p', seed: 1, set: ['6.inputs.text=override', '3.inputs.seed=9', '3.inputs.steps=30'] });
    expect([workflow['6']!.inputs.text, workflow['3']!.inputs.seed, workflow['3']!.inputs.steps]).toEqual(['override', 9, 30]);
    expect(report.set).toEqual([
      { node_id: '6', field: 'text', value: 'override' },
      { node_id: '3', field: 'seed', value: 9 },
      { node_id: '3', field: 'steps', value: 30 },
    ]);
  });

  it('names an unknown node, an unknown input and a malformed spec, without echoing the value', () => {
    const wf = fixture('01-sd15-img2img.json');
    expect(errorOf(() => prepareWorkflow(wf, { set: ['99.inputs.steps=1'] })).message).toBe('--set: no node 99 in the workflow');
    expect(errorOf(() => prepareWorkflow(wf, { set: ['3.inputs.stepz=1'] })).message).toBe(
      '--set: node 3 (KSampler) has no input stepz; it has seed, steps, cfg, sampler_name, scheduler, denoise, model, positive, negative, latent_image',
    );
    const e = errorOf(() => prepareWorkflow(wf, { set: ['6.text=private words'] }));
    expect(e.message).toBe('--set takes NODE.inputs.FIELD=VALUE (e.g. 3.inputs.steps=30)');
    expect(e.details).toEqual({ spec: '6.text=private words' });
    expect(errorOf(() => prepareWorkflow(wf, { set: ['3.inputs.__proto__=1'] })).message).toMatch(/has no input __proto__/);
  });

  it('says where the workflow is in a request-shaped file', () => {
    const api = fixture('01-sd15-img2img.json');
    for (const wrapper of ['workflow', 'prompt', 'input']) {
      expect(errorOf(() => prepareWorkflow({ [wrapper]: api })).message).toMatch(new RegExp(`wraps its workflow under "${wrapper}"`));
    }
    // A node whose id is one of those words is just a node.
    expect(prepareWorkflow({ input: loadImage() }, { images: [png('a.png')] }).report.images[0]!.node_id).toBe('input');
  });

  it('returns a deep copy: the result shares nothing with the input', () => {
    const wf = fixture('07-qwen-edit-plus-two-images.json');
    const { workflow } = prepareWorkflow(wf);
    expect(workflow).toEqual(wf);
    (workflow['3']!.inputs.positive as unknown[])[0] = 'changed';
    expect(wf['3']!.inputs.positive).toEqual(['111', 0]);
  });
});
