/**
 * Files into loader nodes. Images (--img) go into image loaders (LoadImage, LoadImageMask, LoadImageOutput), one per
 * loader in fill order (shared/node-ids.ts: numeric ids ascending, "9" < "10" < "10:2" < "12:3", then named ids in the
 * workflow's own order). Files for a named node
 * (--file NODE=PATH) go into any file loader (LoadAudio, LoadVideo, VHS_LoadVideo... shared/loaders.ts), and that node
 * is then not one --img fills. A loader whose file input is a link is not a loader to fill.
 */
import type { BundleImage } from '../../shared/bundle.js';
import { SealError } from '../../shared/errors.js';
import { fileNameProblem } from '../../shared/names.js';
import { fillOrder } from '../../shared/node-ids.js';
import type { Workflow } from '../../shared/schema.js';
import { FILE_LOADERS } from '../../shared/loaders.js';
import { IMAGE_LOADERS } from './encoders.js';

/** A file for one named loader node. */
export interface NodeFile {
  nodeId: string;
  file: BundleImage;
}

export interface ImageAssignment {
  node_id: string;
  class_type: string;
  /** The name in the bundle (and now in the loader's input). */
  name: string;
  /** The name as given, when it had to change because a different file already had it. */
  given_name?: string;
}

/** Image loader node ids in the order images fill them (those in `except` left out). */
export function imageLoaders(workflow: Workflow, except: ReadonlySet<string> = new Set()): string[] {
  return fillOrder(
    Object.keys(workflow).filter((id) => {
      const node = workflow[id]!;
      const input = IMAGE_LOADERS[node.class_type];
      return input !== undefined && typeof node.inputs[input] === 'string' && !except.has(id);
    }),
  );
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

/** A --file target: a node that exists, loads a file, and names it directly. */
function checkNodeFiles(workflow: Workflow, files: readonly NodeFile[]): void {
  const seen = new Set<string>();
  for (const { nodeId } of files) {
    const node = workflow[nodeId];
    if (!node) throw new SealError('BAD_INPUT', `a file was given for node ${nodeId}, which the workflow does not have`, { node_id: nodeId });
    const input = FILE_LOADERS[node.class_type];
    if (input === undefined) {
      throw new SealError('BAD_INPUT', `node ${nodeId} (${node.class_type}) does not load a file; file loaders: ${Object.keys(FILE_LOADERS).join(', ')}`, {
        node_id: nodeId,
      });
    }
    if (typeof node.inputs[input] !== 'string') {
      throw new SealError('BAD_INPUT', `node ${nodeId} takes its ${input} from a link, not a file name`, { node_id: nodeId });
    }
    if (seen.has(nodeId)) throw new SealError('BAD_INPUT', `two files were given for node ${nodeId}`, { node_id: nodeId });
    seen.add(nodeId);
  }
}

/**
 * Sets each loader's file to its file's name and returns the bundle's file list. The same file given twice (same name,
 * same bytes) travels once; different files with one name get `-2`, `-3`... (a name given by the user is never taken).
 */
export function assignFiles(
  workflow: Workflow,
  images: readonly BundleImage[],
  files: readonly NodeFile[] = [],
): { images: BundleImage[]; assignments: ImageAssignment[]; files: ImageAssignment[] } {
  checkNodeFiles(workflow, files);
  const targets: Array<{ nodeId: string; file: BundleImage; label: string }> = [];
  if (images.length > 0) {
    const loaders = imageLoaders(workflow, new Set(files.map((f) => f.nodeId)));
    if (loaders.length !== images.length) {
      throw new SealError(
        'BAD_INPUT',
        `the workflow has ${plural(loaders.length, 'image loader')} (${loaders.join(', ') || 'none'}) but ${images.length} image${images.length === 1 ? ' was' : 's were'} given; ` +
          'give one image per loader, in node-id order (numbers ascending, then named ids as the workflow lists them; the same file twice is fine)',
        { loaders },
      );
    }
    loaders.forEach((nodeId, index) => targets.push({ nodeId, file: images[index]!, label: `image ${index + 1}` }));
  }
  for (const { nodeId, file } of files) targets.push({ nodeId, file, label: `the file for node ${nodeId}` });
  for (const { file, label } of targets) {
    const problem = fileNameProblem(file.name);
    if (problem !== null) throw new SealError('BAD_INPUT', `${label}: ${problem}`, { name: file.name });
  }

  const taken = new Set(targets.map((t) => t.file.name));
  const bundle: Array<BundleImage & { given: string }> = [];
  const assigned = targets.map(({ nodeId, file, label }): ImageAssignment => {
    let entry = bundle.find((b) => b.given === file.name && sameBytes(b.data, file.data));
    if (!entry) {
      const first = !bundle.some((b) => b.name === file.name);
      const name = first ? file.name : renamed(file.name, taken);
      const problem = fileNameProblem(name);
      if (problem !== null) throw new SealError('BAD_INPUT', `${label}, renamed to keep names unique: ${problem}`, { name });
      taken.add(name);
      entry = { name, data: file.data, given: file.name };
      bundle.push(entry);
    }
    const node = workflow[nodeId]!;
    node.inputs[FILE_LOADERS[node.class_type]!] = entry.name;
    return { node_id: nodeId, class_type: node.class_type, name: entry.name, ...(entry.name !== file.name ? { given_name: file.name } : {}) };
  });
  const imageCount = targets.length - files.length;
  return { images: bundle.map(({ name, data }) => ({ name, data })), assignments: assigned.slice(0, imageCount), files: assigned.slice(imageCount) };
}
