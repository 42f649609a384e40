/**
 * Node definitions as ComfyUI's GET /object_info serves them, and what the frontend builds from one: the node's widgets,
 * in order, including the ones it never sends (the `control_after_generate` value after a seed, the upload button).
 */

/** One input spec: `[TYPE | [combo values], options?]`. */
export type InputSpec = [unknown, Record<string, unknown>?];

export interface NodeDefinition {
  input?: { required?: Record<string, InputSpec>; optional?: Record<string, InputSpec>; hidden?: Record<string, unknown> };
  input_order?: { required?: string[]; optional?: string[] };
  output?: unknown[];
  output_name?: string[];
  output_is_list?: boolean[];
  name?: string;
  display_name?: string | null;
  output_node?: boolean;
}

/** The whole /object_info answer: class type → definition. */
export type ObjectInfo = Record<string, NodeDefinition>;

export interface WidgetSlot {
  name: string;
  /** The input's type: INT, FLOAT, STRING, BOOLEAN, COMBO. */
  type: string;
  /** Shown and saved in widgets_values, never sent to ComfyUI (a seed's control value, an upload button). */
  frontendOnly: boolean;
}

/** Input types the frontend draws as a widget (anything else is a socket). */
const WIDGET_TYPES = new Set(['INT', 'FLOAT', 'STRING', 'BOOLEAN', 'COMBO']);
/** Options that make the frontend add an upload button right after the input. */
const UPLOAD_OPTIONS = ['image_upload', 'video_upload', 'audio_upload'];
/** Seeds get a control widget even when an older /object_info does not flag them. */
const SEED_NAMES = new Set(['seed', 'noise_seed']);

export interface InputEntry {
  name: string;
  type: string;
  /** Combo values, for a combo. */
  options: unknown[] | null;
  spec: Record<string, unknown>;
  required: boolean;
}

/** The definition's inputs in the frontend's order: required then optional, each by `input_order` when present. */
export function definitionInputs(def: NodeDefinition): InputEntry[] {
  const entries: InputEntry[] = [];
  for (const section of ['required', 'optional'] as const) {
    const inputs = def.input?.[section] ?? {};
    const order = def.input_order?.[section] ?? Object.keys(inputs);
    for (const name of order) {
      const spec = inputs[name];
      if (!Array.isArray(spec)) continue;
      const [head, options = {}] = spec;
      const combo = Array.isArray(head) ? head : head === 'COMBO' && Array.isArray(options.options) ? (options.options as unknown[]) : null;
      entries.push({ name, type: Array.isArray(head) ? 'COMBO' : String(head), options: combo, spec: options, required: section === 'required' });
    }
  }
  return entries;
}

/** Of a type the frontend can draw as a widget (a `forceInput` one included). */
export function hasWidgetType(entry: InputEntry): boolean {
  return WIDGET_TYPES.has(entry.type);
}

export function isWidgetInput(entry: InputEntry): boolean {
  return hasWidgetType(entry) && entry.spec.forceInput !== true;
}

/** The node's widgets in the order the frontend creates them (= the order of an array `widgets_values`). */
export function widgetSlots(def: NodeDefinition): WidgetSlot[] {
  const slots: WidgetSlot[] = [];
  const entries = definitionInputs(def);
  const lastRequired = entries.findLastIndex((e) => e.required);
  let upload = false;
  entries.forEach((entry, index) => {
    if (isWidgetInput(entry)) {
      slots.push({ name: entry.name, type: entry.type, frontendOnly: false });
      const control = entry.spec.control_after_generate;
      if ((control !== undefined && control !== false) || (entry.type === 'INT' && SEED_NAMES.has(entry.name))) {
        slots.push({ name: 'control_after_generate', type: 'COMBO', frontendOnly: true });
      }
      upload ||= UPLOAD_OPTIONS.some((o) => entry.spec[o] === true);
    }
    // The frontend adds the upload button as one more required input, so it follows the last required one.
    if (index === lastRequired && upload) slots.push({ name: 'upload', type: 'IMAGEUPLOAD', frontendOnly: true });
  });
  return slots;
}

/** The output types of a definition, by slot. */
export function outputTypes(def: NodeDefinition): string[] {
  return (def.output ?? []).map((t) => (Array.isArray(t) ? 'COMBO' : String(t)));
}

/** Loader inputs whose combo lists the installed files of one models folder. */
const MODEL_LISTS: Record<string, [string, string]> = {
  checkpoints: ['CheckpointLoaderSimple', 'ckpt_name'],
  loras: ['LoraLoader', 'lora_name'],
  vae: ['VAELoader', 'vae_name'],
  diffusion_models: ['UNETLoader', 'unet_name'],
  text_encoders: ['CLIPLoader', 'clip_name'],
  clip_vision: ['CLIPVisionLoader', 'clip_name'],
  controlnet: ['ControlNetLoader', 'control_net_name'],
  upscale_models: ['UpscaleModelLoader', 'model_name'],
};

/** The models folder a loader input lists (`checkpoints` for CheckpointLoaderSimple's ckpt_name), if it is a known one. */
export function modelFolderOf(classType: string, input: string): string | undefined {
  const lists = Object.entries(MODEL_LISTS);
  // Other loaders of a folder name their input alike (LoraLoaderModelOnly's lora_name, CheckpointLoader's ckpt_name).
  return (lists.find(([, [type, name]]) => type === classType && name === input) ?? lists.find(([, [, name]]) => name === input))?.[0];
}

/** How many files each models folder holds, as the definitions' loader lists say (folders whose loader is absent left out). */
export function modelListSizes(info: ObjectInfo): Record<string, number> {
  const sizes: Record<string, number> = {};
  for (const [folder, [type, input]] of Object.entries(MODEL_LISTS)) {
    const def = Object.hasOwn(info, type) ? info[type] : undefined;
    const entry = def && definitionInputs(def).find((e) => e.name === input);
    if (entry?.options) sizes[folder] = entry.options.length;
  }
  return sizes;
}
