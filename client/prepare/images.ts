/** Images into loader nodes, in ascending node-id order, with unique bundle names. */
import path from 'node:path';
import type { BundleImage } from '../../shared/bundle.js';
import { SealError } from '../../shared/errors.js';
import { fileNameProblem } from '../../shared/names.js';
import { compareNodeIds } from '../../shared/node-ids.js';
import type { Workflow } from '../../shared/schema.js';

export const IMAGE_LOADERS: Readonly<Record<string, string>> = { LoadImage: 'image', LoadImageMask: 'image', LoadImageOutput: 'image' };

export interface ImageAssignment {
  node_id: string;
  class_type: string;
  name: string;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length));
}

/** `photo.png`, then `photo-2.png`, `photo-3.png`... for different files that share a name. */
function uniqueName(name: string, taken: Set<string>): string {
  if (!taken.has(name)) return name;
  const ext = path.extname(name);
  const stem = name.slice(0, name.length - ext.length);
  for (let n = 2; ; n++) if (!taken.has(`${stem}-${n}${ext}`)) return `${stem}-${n}${ext}`;
}

export function assignImages(workflow: Workflow, images: BundleImage[] | undefined): { images: BundleImage[]; assignments: ImageAssignment[] } {
  if (!images || images.length === 0) return { images: [], assignments: [] };
  const loaders = Object.keys(workflow)
    .filter((id) => IMAGE_LOADERS[workflow[id]!.class_type] && typeof workflow[id]!.inputs[IMAGE_LOADERS[workflow[id]!.class_type]!] === 'string')
    .sort(compareNodeIds);
  if (loaders.length !== images.length) {
    throw new SealError(
      'BAD_INPUT',
      `the workflow has ${loaders.length} image loader${loaders.length === 1 ? '' : 's'} (${loaders.join(', ') || 'none'}) but ${images.length} image${images.length === 1 ? ' was' : 's were'} given; pass one --img per loader, in ascending node-id order (the same file twice is fine)`,
    );
  }
  const bundle: Array<BundleImage & { original: string }> = [];
  const taken = new Set<string>();
  const assignments: ImageAssignment[] = [];
  loaders.forEach((id, index) => {
    const image = images[index]!;
    const problem = fileNameProblem(image.name);
    if (problem) throw new SealError('BAD_INPUT', `image ${index + 1}: ${problem}`);
    // The same file given twice travels once.
    let entry = bundle.find((b) => b.original === image.name && sameBytes(b.data, image.data));
    if (!entry) {
      entry = { name: uniqueName(image.name, taken), data: image.data, original: image.name };
      taken.add(entry.name);
      bundle.push(entry);
    }
    const node = workflow[id]!;
    node.inputs[IMAGE_LOADERS[node.class_type]!] = entry.name;
    assignments.push({ node_id: id, class_type: node.class_type, name: entry.name });
  });
  return { images: bundle.map(({ name, data }) => ({ name, data })), assignments };
}
