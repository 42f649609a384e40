/** Images, seeds, --set and the workflow format check of prepareWorkflow. */
import { describe, expect, it } from 'vitest';
import { prepareWorkflow } from '../../client/prepare/index.js';
import { imageLoaders } from '../../client/prepare/images.js';
import { parseSet } from '../../client/prepare/set.js';
import type { Workflow } from '../../shared/schema.js';
import { changedInputs, checkpoint, clipText, deepFreeze, emptyLatent, errorOf, kSampler, link, loadImage, png } from './prepare-helpers.js';

describe('images', () => {
  const loaders = (): Workflow => ({
    '10': loadImage('a.png'),
    '9': loadImage('b.png'),
    '12:3': { class_type: 'LoadImageMask', inputs: { image: 'm.png', channel: 'alpha', upload: 'image' } },
    '10:2': { class_type: 'LoadImageOutput', inputs: { image: 'ComfyUI_00001_.png [output]' } },
    zeta: loadImage('z.png'),
    alpha: loadImage('y.png'),
    '2': { class_type: 'SaveImage', inputs: { images: link('9'), filename_prefix: 'out' } },
  });

  it('fills loaders numeric ids first (parts numerically), then named ids in the workflow\'s own order', () => {
    expect(imageLoaders(loaders())).toEqual(['9', '10', '10:2', '12:3', 'zeta', 'alpha']);
    const images = ['i1', 'i2', 'i3', 'i4', 'i5', 'i6'].map((n) => png(`${n}.png`));
    const { workflow, report } = prepareWorkflow(deepFreeze(loaders()), { images });
    expect(report.images.map((a) => `${a.node_id}=${a.name}`)).toEqual(['9=i1.png', '10=i2.png', '10:2=i3.png', '12:3=i4.png', 'zeta=i5.png', 'alpha=i6.png']);
    expect(report.images[2]).toEqual({ node_id: '10:2', class_type: 'LoadImageOutput', name: 'i3.png' });
    expect(workflow['12:3']!.inputs).toEqual({ image: 'i4.png', channel: 'alpha', upload: 'image' });
  });

  it('refuses a count mismatch, naming how many loaders (and which) and how many images', () => {
    const images = ['i1', 'i2', 'i3'].map((n) => png(`${n}.png`));
    const e = errorOf(() => prepareWorkflow(loaders(), { images }));
    expect(e.code).toBe('BAD_INPUT');
    expect(e.message).toBe(
      'the workflow has 6 image loaders (9, 10, 10:2, 12:3, zeta, alpha) but 3 images were given; give one image per loader, in node-id order (numbers ascending, then named ids as the workflow lists them; the same file twice is fine)',
    );
    const one = { '1': loadImage(), '2': loadImage() };
    expect(errorOf(() => prepareWorkflow({ '2': loadImage() }, { images: images.slice(0, 2) })).message).toMatch(/^the workflow has 1 image loader \(2\) but 2 images were given/);
    expect(errorOf(() => prepareWorkflow(one, { images: images.slice(0, 1) })).message).toMatch(/has 2 image loaders \(1, 2\) but 1 image was given/);
    expect(errorOf(() => prepareWorkflow({ '1': checkpoint() }, { images: images.slice(0, 1) })).message).toMatch(/has 0 image loaders \(none\) but 1 image was given/);
  });

  it('leaves loaders alone when no image is given', () => {
    const wf = loaders();
    expect(changedInputs(wf, prepareWorkflow(wf).workflow)).toEqual([]);
    expect(prepareWorkflow(wf).images).toEqual([]);
  });

  it('skips a loader whose file arrives by link', () => {
    const wf = { '1': loadImage(), '2': { class_type: 'LoadImage', inputs: { image: link('3') } }, '3': { class_type: 'PrimitiveString', inputs: { value: 'x.png' } } };
    expect(imageLoaders(wf)).toEqual(['1']);
  });

  it('sends the same file twice once; gives different files with one name -2, -3 without taking a given name', () => {
    const wf = { '1': loadImage(), '2': loadImage(), '3': loadImage(), '4': loadImage(), '5': loadImage() };
    const a = png('photo.png', 'A');
    const { images, report, workflow } = prepareWorkflow(wf, { images: [a, png('photo.png', 'B'), png('photo-2.png', 'C'), a, png('photo.png', 'D')] });
    expect(report.images.map((i) => `${i.node_id}=${i.name}${i.given_name ? `<${i.given_name}` : ''}`)).toEqual([
      '1=photo.png',
      '2=photo-3.png<photo.png',
      '3=photo-2.png',
      '4=photo.png',
      '5=photo-4.png<photo.png',
    ]);
    expect(images.map((i) => [i.name, new TextDecoder().decode(i.data)])).toEqual([
      ['photo.png', 'A'],
      ['photo-3.png', 'B'],
      ['photo-2.png', 'C'],
      ['photo-4.png', 'D'],
    ]);
    expect(Object.values(workflow).map((n) => n.inputs.image)).toEqual(['photo.png', 'photo-3.png', 'photo-2.png', 'photo.png', 'photo-4.png']);
    // A name without an extension.
    expect(prepareWorkflow({ '1': loadImage(), '2': loadImage() }, { images: [png('scan', '1'), png('scan', '2')] }).images.map((i) => i.name)).toEqual(['scan', 'scan-2']);
  });

  it.each([['../etc/passwd'], ['.hidden.png'], ['a/b.png'], ['a\\b.png'], [''], ['nul\u0000.png']])('refuses the unsafe name %j without repeating it', (name) => {
    const e = errorOf(() => prepareWorkflow({ '1': loadImage(), '2': loadImage() }, { images: [png('ok.png'), png(name)] }));
    expect(e.code).toBe('BAD_INPUT');
    expect(e.message).toMatch(/^image 2: a file name must/);
    expect(e.details).toEqual({ name });
  });

  it('refuses a renamed name that grows past the limit', () => {
    const long = `${'x'.repeat(251)}.png`;
    const e = errorOf(() => prepareWorkflow({ '1': loadImage(), '2': loadImage() }, { images: [png(long, '1'), png(long, '2')] }));
    expect(e.message).toBe('image 2, renamed to keep names unique: a file name must be at most 255 bytes');
  });
});

describe('files for named loader nodes (--file)', () => {
  const media = (): Workflow => ({
    '1': { class_type: 'LoadAudio', inputs: { audio: 'example.wav', upload: 'audio' } },
    '2': { class_type: 'VHS_LoadVideo', inputs: { video: 'clip.mp4', force_rate: 0, frame_load_cap: 4 } },
    '3': loadImage('a.png'),
    '4': loadImage('b.png'),
    '5': { class_type: 'SaveAudio', inputs: { audio: link('1'), filename_prefix: 'audio/out' } },
  });

  it('fills any file loader by node id, and leaves those nodes out of the --img order', () => {
    const { workflow, images, report } = prepareWorkflow(deepFreeze(media()), {
      files: [
        { nodeId: '2', file: png('take.mp4') },
        { nodeId: '1', file: png('voice.wav') },
        { nodeId: '4', file: png('mask.png') },
      ],
      images: [png('only.png')],
    });
    expect(workflow['1']!.inputs.audio).toBe('voice.wav');
    expect(workflow['2']!.inputs).toEqual({ video: 'take.mp4', force_rate: 0, frame_load_cap: 4 });
    expect(workflow['3']!.inputs.image).toBe('only.png'); // the one image loader --img still fills
    expect(workflow['4']!.inputs.image).toBe('mask.png');
    expect(report.images).toEqual([{ node_id: '3', class_type: 'LoadImage', name: 'only.png' }]);
    expect(report.files.map((f) => `${f.node_id}=${f.name}`)).toEqual(['2=take.mp4', '1=voice.wav', '4=mask.png']);
    expect(images.map((i) => i.name)).toEqual(['only.png', 'take.mp4', 'voice.wav', 'mask.png']);
  });

  it('shares names and bytes with --img: the same file travels once, a different one is renamed', () => {
    const same = png('x.png', 'same');
    const { images, report } = prepareWorkflow(media(), { images: [same], files: [{ nodeId: '4', file: same }, { nodeId: '1', file: png('x.png', 'other') }] });
    expect(images.map((i) => i.name)).toEqual(['x.png', 'x-2.png']);
    expect(report.files).toEqual([
      { node_id: '4', class_type: 'LoadImage', name: 'x.png' },
      { node_id: '1', class_type: 'LoadAudio', name: 'x-2.png', given_name: 'x.png' },
    ]);
  });

  it('refuses a node that is missing, not a loader, fed by a link, or given two files', () => {
    const wf = { ...media(), '6': { class_type: 'LoadAudio', inputs: { audio: link('7') } }, '7': { class_type: 'PrimitiveString', inputs: { value: 'a.wav' } } };
    const one = (nodeId: string) => errorOf(() => prepareWorkflow(wf, { files: [{ nodeId, file: png('a.wav') }] }));
    expect(one('99').message).toBe('a file was given for node 99, which the workflow does not have');
    expect(one('5').message).toMatch(/^node 5 \(SaveAudio\) does not load a file; file loaders: LoadImage, .*LoadAudio/);
    expect(one('6').message).toBe('node 6 takes its audio from a link, not a file name');
    const twice = errorOf(() => prepareWorkflow(wf, { files: [{ nodeId: '1', file: png('a.wav') }, { nodeId: '1', file: png('b.wav') }] }));
    expect(twice.message).toBe('two files were given for node 1');
    expect(errorOf(() => prepareWorkflow(wf, { files: [{ nodeId: '1', file: png('../a.wav') }] })).message).toMatch(/^the file for node 1: /);
    for (const e of [one('99'), one('5'), one('6'), twice]) expect(e.code).toBe('BAD_INPUT');
  });
});

describe('seeds', () => {
  const wf = (): Workflow => ({
    '1': checkpoint(),
    '2': emptyLatent(),
    '3': clipText(''),
    '4': kSampler(link('3'), link('3'), { seed: 11 }),
    '5': { class_type: 'RandomNoise', inputs: { noise_seed: 22 } },
    '6': { class_type: 'KSamplerAdvanced', inputs: { noise_seed: 33, add_noise: 'enable' } },
    '7': { class_type: 'BasicScheduler', inputs: { steps: 20, scheduler: 'normal', denoise: 1 } },
  });

  it('are untouched by default and when only other options are given', () => {
    expect(changedInputs(wf(), prepareWorkflow(wf(), { prompt: 'x' }).workflow)).toEqual(['3.text']);
    expect(prepareWorkflow(wf()).report.seeds).toEqual([]);
  });

  it('seed: N sets every seed and noise_seed', () => {
    const { workflow, report } = prepareWorkflow(deepFreeze(wf()), { seed: 0 });
    expect(changedInputs(wf(), workflow)).toEqual(['4.seed', '5.noise_seed', '6.noise_seed']);
    expect(report.seeds).toEqual([
      { node_id: '4', field: 'seed', value: 0 },
      { node_id: '5', field: 'noise_seed', value: 0 },
      { node_id: '6', field: 'noise_seed', value: 0 },
    ]);
    expect(prepareWorkflow(wf(), { seed: 2 ** 53 - 1 }).workflow['5']!.inputs.noise_seed).toBe(2 ** 53 - 1);
  });

  it('randomSeed gives each its own value in 0..2^53-1 from the injected source', () => {
    const draws = [0, 0.5, 1 - 2 ** -53];
    const { report } = prepareWorkflow(wf(), { randomSeed: true, random: () => draws.shift()! });
    expect(report.seeds.map((s) => s.value)).toEqual([0, 2 ** 52, 2 ** 53 - 1]);
    expect(draws).toEqual([]);
  });

  it('refuses a bad seed, both options at once, and a broken random source', () => {
    for (const seed of [-1, 1.5, 2 ** 53, Number.NaN]) expect(errorOf(() => prepareWorkflow(wf(), { seed })).message).toBe('a seed must be a whole number from 0 to 2^53-1');
    expect(errorOf(() => prepareWorkflow(wf(), { seed: 1, randomSeed: true })).message).toMatch(/not both/);
    expect(errorOf(() => prepareWorkflow(wf(), { randomSeed: true, random: () => 1 })).code).toBe('INTERNAL');
  });

  it('sets a linked seed at its PrimitiveInt source once, shared by every sampler it feeds', () => {
    const linked = { ...wf(), '4': kSampler(link('3'), link('3'), { seed: link('8') }), '5': { class_type: 'RandomNoise', inputs: { noise_seed: link('8') } }, '8': { class_type: 'PrimitiveInt', inputs: { value: 1 } } };
    let n = 0;
    const { workflow, report } = prepareWorkflow(linked, { randomSeed: true, random: () => [0.25, 0.75][n++]! });
    expect(changedInputs(linked, workflow)).toEqual(['6.noise_seed', '8.value']);
    expect(report.seeds).toEqual([
      { node_id: '4', field: 'seed', value: 2 ** 51, source: { node_id: '8', input: 'value' } },
      { node_id: '5', field: 'noise_seed', value: 2 ** 51, source: { node_id: '8', input: 'value' } },
      { node_id: '6', field: 'noise_seed', value: 3 * 2 ** 51 },
    ]);
  });

  it('leaves a linked seed to a custom seed node with its own seed input, and names one it cannot set', () => {
    const custom = { ...wf(), '4': kSampler(link('3'), link('3'), { seed: link('8') }), '8': { class_type: 'Seed (rgthree)', inputs: { seed: 7 } } };
    expect(changedInputs(custom, prepareWorkflow(custom, { seed: 3 }).workflow)).toEqual(['5.noise_seed', '6.noise_seed', '8.seed']);
    const opaque = { ...wf(), '4': kSampler(link('3'), link('3'), { seed: link('8') }), '8': { class_type: 'MathExpression', inputs: { expression: 'a+1' } } };
    expect(errorOf(() => prepareWorkflow(opaque, { seed: 3 })).message).toBe(
      'the seed of node 4 comes by link from node 8 (MathExpression), which this tool cannot set; use --set 8.inputs.FIELD=N',
    );
  });
});

describe('--set', () => {
  it.each([
    ['3.inputs.steps=30', { nodeId: '3', field: 'steps', value: 30 }],
    ['3.inputs.denoise=0.5', { nodeId: '3', field: 'denoise', value: 0.5 }],
    ['3.inputs.tapered=true', { nodeId: '3', field: 'tapered', value: true }],
    ['3.inputs.model=["4", 0]', { nodeId: '3', field: 'model', value: ['4', 0] }],
    ['3.inputs.sampler_name=euler_a', { nodeId: '3', field: 'sampler_name', value: 'euler_a' }],
    ['3.inputs.text="30"', { nodeId: '3', field: 'text', value: '30' }],
    ['3.inputs.text=a = b, c', { nodeId: '3', field: 'text', value: 'a = b, c' }],
    ['3.inputs.text=', { nodeId: '3', field: 'text', value: '' }],
    ['92:3.inputs.text=line\nbreak', { nodeId: '92:3', field: 'text', value: 'line\nbreak' }],
    ['positive_prompt.inputs.text=hi', { nodeId: 'positive_prompt', field: 'text', value: 'hi' }],
  ])('parses %j', (spec, parsed) => {
    expect(parseSet(spec)).toEqual(parsed);
  });
});

describe('workflow format', () => {
  it('converts UI-format JSON, and names the nodes it has no definitions for', () => {
    const ui = { last_node_id: 9, nodes: [{ id: 1, type: 'MyCustomNode', widgets_values: [3] }], links: [], version: 0.4 };
    const e = errorOf(() => prepareWorkflow(ui));
    expect(e.code).toBe('BAD_INPUT');
    expect(e.message).toMatch(/no node definitions for MyCustomNode.*comfy-seal nodes.*--object-info FILE/);
    const objectInfo = { MyCustomNode: { input: { required: { steps: ['INT', {}] as [string, Record<string, unknown>] } } } };
    const prepared = prepareWorkflow(ui, { objectInfo });
    expect([prepared.source, prepared.workflow['1']!.inputs]).toEqual(['ui', { steps: 3 }]);
  });

  it('refuses what is not an API-format workflow', () => {
    for (const bad of [null, [], 'text', {}, { '1': { inputs: {} } }, { '1': { class_type: 'X', inputs: [] } }]) {
      expect(errorOf(() => prepareWorkflow(bad)).code).toBe('BAD_INPUT');
    }
    expect(errorOf(() => prepareWorkflow({})).message).toBe('workflow has no nodes');
  });
});
