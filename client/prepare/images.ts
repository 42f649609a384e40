/**
 * Images into loader nodes (LoadImage, LoadImageMask, LoadImageOutput), one per loader in ascending node-id order
 * (shared/node-ids.ts: colon-separated parts compared numerically when numeric, named ids after numeric ones, so
 * "9" < "10" < "10:2" < "12:3" < "end_image" < "start_image"). A loader whose file input is a link is not a loader to fill.
 */
import type { BundleImage } from '../../shared/bundle.js';
import { SealError } from '../../shared/errors.js';
import { fileNameProblem } from '../../shared/names.js';
import { compareNodeIds } from '../../shared/node-ids.js';
import type { Workflow } from '../../shared/schema.js';
import { IMAGE_LOADERS } from './encoders.js';

export interface ImageAssignment {
  node_id: string;
  class_type: string;
  /** The name in the bundle (and now in the loader's input). */
  name: string;
  /** The name as given, when it had to change because a different file already had it. */
  given_name?: string;
}

/** Loader node ids in the order images fill them. */
export function imageLoaders(workflow: Workflow): string[] {
  return Object.keys(workflow)
    .filter((id) => {
      const node = workflow[id]!;
      const input = IMAGE_LOADERS[node.class_type];
      return input !== undefined && typeof node.inputs[input] === 'string';
    })
    .sort(compareNodeIds);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** `photo.png` → `photo-2.png`, `photo-3.png`... avoiding every name in `taken`. */
function renamed(name: string, taken: ReadonlySet<string>): string {
  const dot = name.lastIndexOf('.');
  const [stem, ext] = dot > 0 ? [name.slice(0, dot), name.slice(dot)] : [name, ''];
  for (let n = 2; ; n++) {
    const candidate = `${stem}-${n}${ext}`;
    if (!taken.has(candidate)) return candidate;
  }
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/**
 * Sets each loader's file to its image's name and returns the bundle's image list. The same file given twice (same name,
 * same bytes) travels once; different files with one name get `-2`, `-3`... (a name given by the user is never taken).
 */
export function assignImages(workflow: Workflow, images: readonly BundleImage[]): { images: BundleImage[]; assignments: ImageAssignment[] } {
  if (images.length === 0) return { images: [], assignments: [] };
  const loaders = imageLoaders(workflow);
  if (loaders.length !== images.length) {
    throw new SealError(
      'BAD_INPUT',
      `the workflow has ${plural(loaders.length, 'image loader')} (${loaders.join(', ') || 'none'}) but ${images.length} image${images.length === 1 ? ' was' : 's were'} given; ` +
        'give one image per loader, in ascending node-id order (the same file twice is fine)',
      { loaders },
    );
  }
  images.forEach((image, index) => {
    const problem = fileNameProblem(image.name);
    if (problem !== null) throw new SealError('BAD_INPUT', `image ${index + 1}: ${problem}`, { name: image.name });
  });

  const taken = new Set(images.map((i) => i.name));
  const bundle: Array<BundleImage & { given: string }> = [];
  const assignments = loaders.map((id, index): ImageAssignment => {
    const image = images[index]!;
    let entry = bundle.find((b) => b.given === image.name && sameBytes(b.data, image.data));
    if (!entry) {
      const first = !bundle.some((b) => b.name === image.name);
      const name = first ? image.name : renamed(image.name, taken);
      const problem = fileNameProblem(name);
      if (problem !== null) throw new SealError('BAD_INPUT', `image ${index + 1}, renamed to keep names unique: ${problem}`, { name });
      taken.add(name);
      entry = { name, data: image.data, given: image.name };
      bundle.push(entry);
    }
    const node = workflow[id]!;
    node.inputs[IMAGE_LOADERS[node.class_type]!] = entry.name;
    return { node_id: id, class_type: node.class_type, name: entry.name, ...(entry.name !== image.name ? { given_name: image.name } : {}) };
  });
  return { images: bundle.map(({ name, data }) => ({ name, data })), assignments };
}
