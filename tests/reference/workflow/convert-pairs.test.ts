/**
 * UI → API conversion on the nine real pairs of ../shared/fixtures/ui-workflows: each converted graph must equal
 * the pair's own Export (API), node for node and input for input, once the edits listed below are applied to the export.
 * Each edit is something the README records (an API file edited after export, a frontend quirk, a custom widget's own
 * serializer) or a title that comes from a display name ComfyUI has renamed since the export.
 *
 * Node definitions: the real v0.27.1 dump for core nodes. Custom nodes (and the few built-ins missing from the dump) get
 * tests/fixtures/ui-defs/<pair>.json: a small definitions file built from the pair itself (each input named in the
 * export, in the export's order, typed from its value or the UI link; display names from the export's titles). It gives
 * names and order only; which values are frontend-only, how links, reroutes, bypasses and primitives resolve is the
 * converter's work.
 */
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { convertUiWorkflow } from '../../../client/workflow/convert.js';
import type { ObjectInfo } from '../../../client/workflow/definitions.js';
import type { Workflow } from '../../../shared/schema.js';
import { realObjectInfo } from '../../helpers/recorded.js';
import { UI_WORKFLOWS } from '../../helpers/reference.js';

const PAIRS = UI_WORKFLOWS;
const DUMP = realObjectInfo();

function load(pair: string): { ui: unknown; api: Workflow; defs: ObjectInfo } {
  const extra = new URL(`../../fixtures/ui-defs/${pair}.json`, import.meta.url);
  return {
    ui: JSON.parse(readFileSync(`${PAIRS}/${pair}/ui.json`, 'utf8')),
    api: JSON.parse(readFileSync(`${PAIRS}/${pair}/api.json`, 'utf8')) as Workflow,
    defs: { ...DUMP, ...(existsSync(extra) ? (JSON.parse(readFileSync(extra, 'utf8')) as ObjectInfo) : {}) },
  };
}

type Edit = (api: Workflow) => void;
const title = (id: string, now: string): Edit => (api) => void (api[id]!._meta = { title: now });
const input = (id: string, name: string, value: unknown): Edit => (api) => void (api[id]!.inputs[name] = value);
const drop = (id: string, name: string): Edit => (api) => void delete api[id]!.inputs[name];

const EDITS: Record<string, Edit[]> = {
  // README: ckpt_name edited after export (.ckpt → .safetensors).
  '01-sd15-default-txt2img': [input('4', 'ckpt_name', 'v1-5-pruned-emaonly.ckpt')],
  '02-flux-fp8-txt2img': [],
  '05-sdxl-samplercustom-muted-save': [],
  '07-wan-vace-outpaint-bypass-markdown': [
    // README: LoadVideo's DOM preview widget is serialized as "" by that frontend; ComfyUI does not know the input.
    drop('71', 'video-preview'),
    // Untitled nodes take today's display names.
    title('58', 'Trim Video Latent'),
    title('129', 'Repeat Image Batch'),
    title('165', 'Load LoRA (Model and CLIP)'),
  ],
  // README: an older frontend wrote LoadImage's upload widget under its label.
  '08-consistent-video-reroute-bypass': [drop('10', 'choose file to upload')],
  '10-mochi-video-vhs': [title('28', 'Save Animated WEBP')],
  '12-was-bloom-reroute': [],
  '14-bria-rmbg-efficient-loader': [],
  '17-iclight-relight-105n': [
    // README: images blanked and `sd1/` stripped after export; the older frontend wrote `upload: "image"`.
    ...(
      [
        ['1', 'RunComfy_examples_1105_1.jpg'],
        ['8', 'RunComfy_examples_1105_2.jpg'],
        ['9', 'RunComfy_examples_1105_4.jpg'],
      ] as const
    ).flatMap(([id, name]) => [input(id, 'image', name), drop(id, 'upload')]),
    input('17', 'ckpt_name', 'sd1/epicrealism_naturalSinRC1VAE.safetensors'),
    input('88', 'ckpt_name', 'sd1/epicrealism_naturalSinRC1VAE.safetensors'),
    input('39', 'control_net_name', 'sd1/control_v11f1p_sd15_depth.pth'),
    input('87', 'model_path', 'sd1/iclight_sd15_fc.safetensors'),
    title('21', 'Crop Image (DEPRECATED)'),
    title('38', 'Apply ControlNet (DEPRECATED)'),
    title('138', 'Batch Images (DEPRECATED)'),
    title('141', 'Batch Images (DEPRECATED)'),
    // rgthree's comparer serializes its list as {images: [...]} with its own code; the generic rule wraps the list.
    ...['142', '143', '160', '161'].map((id): Edit => (api) => {
      const value = api[id]!.inputs.rgthree_comparer as { images: unknown[] };
      api[id]!.inputs.rgthree_comparer = { __value__: value.images };
    }),
  ],
};

describe('UI → API conversion: the nine real pairs', () => {
  for (const [pair, edits] of Object.entries(EDITS)) {
    it(pair, () => {
      const { ui, api, defs } = load(pair);
      const expected = structuredClone(api);
      for (const edit of edits) edit(expected);
      const converted = convertUiWorkflow(ui, { objectInfo: defs });

      expect(Object.keys(converted).sort()).toEqual(Object.keys(expected).sort());
      for (const [id, node] of Object.entries(expected)) {
        const got = converted[id]!;
        expect({ id, class_type: got.class_type, inputs: got.inputs }).toEqual({ id, class_type: node.class_type, inputs: node.inputs });
        // Pair 08 comes from a frontend that wrote no _meta.
        if (node._meta) expect({ id, title: got._meta?.title }).toEqual({ id, title: node._meta.title });
      }
    });
  }

  it('writes widget values in widget order, links after them (as the frontend does)', () => {
    const { ui, defs } = load('01-sd15-default-txt2img');
    const ks = convertUiWorkflow(ui, { objectInfo: defs })['3']!;
    expect(Object.keys(ks.inputs)).toEqual(['seed', 'steps', 'cfg', 'sampler_name', 'scheduler', 'denoise', 'model', 'positive', 'negative', 'latent_image']);
  });

  it('converts a newer file that names its widgets without any definitions', () => {
    const { ui, api } = load('07-wan-vace-outpaint-bypass-markdown');
    const converted = convertUiWorkflow(ui, {});
    expect(converted['3']!.inputs).toEqual(api['3']!.inputs); // KSampler: the control value after the seed is skipped
    expect(converted['190']!.inputs).toEqual(api['190']!.inputs); // VHS_VideoCombine: dict widgets_values
    expect(converted['71']!.inputs).toEqual({ file: 'chunk_002 (1).mp4' }); // the upload button is never sent
  });

  it('names the class types it cannot convert and says how to get their definitions', () => {
    const { ui } = load('12-was-bloom-reroute');
    expect(() => convertUiWorkflow(ui, { objectInfo: DUMP })).toThrowError(
      expect.objectContaining({ code: 'BAD_INPUT', message: expect.stringMatching(/Image Bloom Filter.*comfy-seal nodes.*--object-info FILE/), details: { class_types: ['Image Bloom Filter'] } }),
    );
  });
});
