/**
 * checkWorkflow against the real ComfyUI v0.27.1 definitions, one case per ComfyUI error type. The dump's model lists
 * are empty (no models were installed); a copy with a checkpoint and LoRA list stands in for an endpoint that has some.
 */
import { describe, expect, it } from 'vitest';
import { checkWorkflow, formatProblem, nearestNames } from '../../client/workflow/check.js';
import type { ObjectInfo } from '../../client/workflow/definitions.js';
import type { Workflow } from '../../shared/schema.js';
import { realObjectInfo } from '../helpers/recorded.js';

const DUMP = realObjectInfo();
const INSTALLED = structuredClone(DUMP);
INSTALLED.CheckpointLoaderSimple!.input!.required!.ckpt_name![0] = ['v1-5-pruned-emaonly.safetensors', 'sd_xl_base_1.0.safetensors', 'dreamshaper_8.safetensors'];
INSTALLED.LoraLoader!.input!.required!.lora_name![0] = ['detail_tweaker.safetensors', 'add_detail.safetensors'];

/** The default SD1.5 graph, valid against INSTALLED. */
function valid(): Workflow {
  return {
    '4': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'v1-5-pruned-emaonly.safetensors' } },
    '5': { class_type: 'EmptyLatentImage', inputs: { width: 512, height: 512, batch_size: 1 } },
    '6': { class_type: 'CLIPTextEncode', inputs: { text: 'a cat', clip: ['4', 1] } },
    '7': { class_type: 'CLIPTextEncode', inputs: { text: '', clip: ['4', 1] } },
    '3': { class_type: 'KSampler', inputs: { seed: 1, steps: 20, cfg: 8, sampler_name: 'euler', scheduler: 'normal', denoise: 1, model: ['4', 0], positive: ['6', 0], negative: ['7', 0], latent_image: ['5', 0] } },
    '8': { class_type: 'VAEDecode', inputs: { samples: ['3', 0], vae: ['4', 2] } },
    '9': { class_type: 'SaveImage', inputs: { filename_prefix: 'ComfyUI', images: ['8', 0] } },
    '10': { class_type: 'LoadImage', inputs: { image: 'my-own-photo.png' } },
  };
}

function problemsAfter(edit: (wf: Workflow) => void, info = INSTALLED) {
  const wf = valid();
  edit(wf);
  return checkWorkflow(wf, info);
}

describe('check against the v0.27.1 definitions', () => {
  it('passes a valid workflow (a loader file is never checked: the job brings it)', () => {
    expect(checkWorkflow(valid(), INSTALLED)).toEqual([]);
  });

  it('finds every kind of problem, each with node, class type, input, what and fix', () => {
    const problems = problemsAfter((wf) => {
      wf['11'] = { class_type: 'MyCustomSampler', inputs: {} };
      delete wf['5']!.inputs.width; // required_input_missing
      wf['6']!.inputs.clip = ['99', 0]; // bad_linked_input: no node 99
      wf['7']!.inputs.clip = ['4', 7]; // bad_linked_input: no output 7
      wf['3']!.inputs.model = ['4', 1]; // return_type_mismatch: CLIP into MODEL
      wf['3']!.inputs.steps = 0; // value_smaller_than_min (1)
      wf['3']!.inputs.cfg = 101; // value_bigger_than_max (100)
      wf['3']!.inputs.seed = 'abc'; // invalid_input_type
      wf['3']!.inputs.sampler_name = 'eulr'; // value_not_in_list
      wf['4']!.inputs.ckpt_name = 'v1-5-pruned-emaonly.ckpt'; // value_not_in_list: a model not installed
    });
    const by = (node: string, input?: string) => problems.find((p) => p.node_id === node && p.input === input);
    expect(problems.map((p) => `${p.node_id}.${p.input ?? ''}:${p.type}`).sort()).toEqual(
      [
        '11.:missing_node_type',
        '5.width:required_input_missing',
        '6.clip:bad_linked_input',
        '7.clip:bad_linked_input',
        '3.model:return_type_mismatch',
        '3.steps:value_smaller_than_min',
        '3.cfg:value_bigger_than_max',
        '3.seed:invalid_input_type',
        '3.sampler_name:value_not_in_list',
        '4.ckpt_name:value_not_in_list',
      ].sort(),
    );
    expect(by('3', 'model')!.what).toBe('gets CLIP from node 4 (CheckpointLoaderSimple) but takes MODEL');
    expect(by('3', 'sampler_name')!.nearest![0]).toBe('euler');
    const model = by('4', 'ckpt_name')!;
    expect(model.nearest![0]).toBe('v1-5-pruned-emaonly.safetensors');
    expect(formatProblem(model)).toBe(
      'node 4 (CheckpointLoaderSimple) ckpt_name: "v1-5-pruned-emaonly.ckpt" is not installed on the endpoint [value_not_in_list]; fix: use an installed one: v1-5-pruned-emaonly.safetensors, dreamshaper_8.safetensors, sd_xl_base_1.0.safetensors, or add it to the endpoint (MODELS)',
    );
    expect(formatProblem(by('11')!)).toMatch(/^node 11 \(MyCustomSampler\): this node type is not installed on the endpoint \[missing_node_type\]; fix: install/);
  });

  it('lists a LoRA that is not installed, and says so when the endpoint has none of that kind', () => {
    const lora = problemsAfter((wf) => {
      wf['12'] = { class_type: 'LoraLoader', inputs: { lora_name: 'detail-tweaker.safetensors', strength_model: 1, strength_clip: 1, model: ['4', 0], clip: ['4', 1] } };
    });
    expect(lora).toEqual([expect.objectContaining({ node_id: '12', input: 'lora_name', nearest: ['detail_tweaker.safetensors', 'add_detail.safetensors'] })]);
    const none = checkWorkflow(valid(), DUMP).find((p) => p.input === 'ckpt_name')!;
    expect(none.what).toMatch(/not installed on the endpoint \(none in this list is\)/);
  });

  it('refuses a workflow with no output node', () => {
    expect(problemsAfter((wf) => delete wf['9'])).toEqual([expect.objectContaining({ type: 'prompt_no_outputs' })]);
  });

  it('accepts links typed * and comma lists as ComfyUI does, and optional inputs left out', () => {
    const info: ObjectInfo = {
      ...INSTALLED,
      Any: { input: { required: {} }, output: ['*'] },
      Multi: { input: { required: { x: ['INT,FLOAT'] }, optional: { y: ['IMAGE'] } }, output: ['INT'], output_node: true },
    };
    const wf: Workflow = { '1': { class_type: 'Any', inputs: {} }, '2': { class_type: 'Multi', inputs: { x: ['1', 0] } }, '3': { class_type: 'Multi', inputs: { x: ['2', 0] } } };
    expect(checkWorkflow(wf, info)).toEqual([]);
  });

  it('nearestNames ranks by edit distance, case-insensitive', () => {
    expect(nearestNames('SDXL_base.safetensors', ['sd_xl_base_1.0.safetensors', 'foo.pt', 'sdxl_base.safetensors'], 2)).toEqual(['sdxl_base.safetensors', 'sd_xl_base_1.0.safetensors']);
  });
});
