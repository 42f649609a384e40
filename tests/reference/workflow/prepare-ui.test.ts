/** prepareWorkflow on UI-format input: prompts, seeds and images land exactly as on the API export of the same graph. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { prepareWorkflow } from '../../../client/prepare/index.js';
import { realObjectInfo } from '../../helpers/recorded.js';
import { sharedPath } from '../../helpers/reference.js';

const DUMP = realObjectInfo();
const PAIR = sharedPath('fixtures', 'ui-workflows', '02-flux-fp8-txt2img');
const read = (f: string) => JSON.parse(readFileSync(`${PAIR}/${f}`, 'utf8'));

describe('prepareWorkflow on a UI workflow', () => {
  it('gives the same workflow and report as on its API export', () => {
    const options = { prompt: 'a red fox', negative: 'blurry', seed: 7, objectInfo: DUMP };
    const fromUi = prepareWorkflow(read('ui.json'), options);
    const fromApi = prepareWorkflow(read('api.json'), options);
    expect(fromUi.source).toBe('ui');
    expect(fromApi.source).toBe('api');
    expect(fromUi.workflow).toEqual(fromApi.workflow);
    expect(fromUi.report).toEqual(fromApi.report);
    expect(fromUi.report.prompt.length).toBeGreaterThan(0);
  });

  it('fills the LoadImage of a converted graph with --img files', () => {
    const ui = {
      version: 0.4,
      nodes: [
        { id: 10, type: 'LoadImage', mode: 0, inputs: [], outputs: [{ name: 'IMAGE', type: 'IMAGE', links: [1] }], widgets_values: ['example.png', 'image'] },
        { id: 11, type: 'SaveImage', mode: 0, inputs: [{ name: 'images', type: 'IMAGE', link: 1 }], outputs: [], widgets_values: ['out'] },
      ],
      links: [[1, 10, 0, 11, 0, 'IMAGE']],
    };
    const prepared = prepareWorkflow(ui, { objectInfo: DUMP, images: [{ name: 'me.png', data: new Uint8Array([1, 2, 3]) }] });
    expect(prepared.workflow).toEqual({
      '10': { class_type: 'LoadImage', inputs: { image: 'me.png' }, _meta: { title: 'Load Image' } },
      '11': { class_type: 'SaveImage', inputs: { filename_prefix: 'out', images: ['10', 0] }, _meta: { title: 'Save Image' } },
    });
    expect(prepared.report.images.map((a) => a.node_id)).toEqual(['10']);
  });
});
