/**
 * /object_info as the bridge shows it: the endpoint's definitions, with each image upload list (LoadImage's `image` and
 * the like, marked `image_upload`) naming the images of the bridge's own input/, where clients upload, as ComfyUI
 * lists its own input dir (contract §14). The endpoint's input dir is the worker's, empty between jobs.
 */
import type { InputSpec, NodeDefinition, ObjectInfo } from '../client/workflow/definitions.js';
import type { Dirs } from '../simulator/context.js';
import { inputImages } from '../simulator/view-upload.js';

/** A combo of the input dir's images: an `image_upload` list not pointed at another folder (LoadImageOutput's). */
const listsInputImages = ([list, options]: InputSpec) =>
  Array.isArray(list) && options?.image_upload === true && (options.image_folder === undefined || options.image_folder === 'input');

/** `def` with its input-image lists replaced by `images`; the same object when it has none. */
export function withInputImages(def: NodeDefinition, images: string[]): NodeDefinition {
  const section = (specs: Record<string, InputSpec> | undefined) =>
    specs && Object.fromEntries(Object.entries(specs).map(([name, spec]) => [name, listsInputImages(spec) ? ([images, spec[1]] as InputSpec) : spec]));
  const { required, optional } = def.input ?? {};
  if (![required, optional].some((specs) => specs && Object.values(specs).some(listsInputImages))) return def;
  return { ...def, input: { ...def.input, ...(required ? { required: section(required) } : {}), ...(optional ? { optional: section(optional) } : {}) } };
}

/** The whole answer with the input dir read once, now (ComfyUI reads it afresh on every /object_info). */
export function withLocalInputs(info: ObjectInfo, dirs: Dirs): ObjectInfo {
  const images = inputImages(dirs);
  return Object.fromEntries(Object.entries(info).map(([name, def]) => [name, withInputImages(def, images)]));
}
