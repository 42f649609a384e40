/**
 * Stage step: the bundle's files go into ComfyUI's input dir under names of ours, and the workflow is rewritten to
 * match — loader inputs point at the staged files, and every `filename_prefix` gets a per-job folder so that ComfyUI's
 * cache can never answer with an earlier (already wiped) job's files (contract §6).
 */
import path from 'node:path';
import type { Bundle } from '../shared/bundle.js';
import { SealError } from '../shared/errors.js';
import { FILE_LOADERS } from '../shared/loaders.js';
import type { Workflow } from '../shared/schema.js';
import { disableSavedMetadata } from './metadata.js';
import { nodeFileSystem, storageError, syncDir, writeDurable, type FileSystem } from './storage.js';

/** ComfyUI's annotated names: `name [input]`, `name [output]`, `name [temp]`. */
const ANNOTATION = / \[(input|output|temp)\]$/;

export interface StagePlan {
  workflow: Workflow;
  /** Staged file name (in the input dir) → the bundle image's data. */
  files: Map<string, Uint8Array>;
}

export interface StageOptions {
  /** Per-job tag used in staged names and as the output subfolder; lowercase hex. */
  jobTag: string;
  /** Whether ComfyUI has the core StringConcatenate node, which puts the per-job folder in front of a linked prefix. */
  stringConcatenate?: boolean;
}

/** Sources whose literal can be written into the saver itself, so no node needs to be added. */
const STRING_PRIMITIVES = new Set(['PrimitiveString', 'PrimitiveStringMultiline']);

const isLink = (value: unknown): value is [string, number] => Array.isArray(value) && typeof value[0] === 'string' && typeof value[1] === 'number';

/** Whether some `filename_prefix` comes from another node (then planStage may need StringConcatenate). */
export function hasLinkedPrefix(workflow: Workflow): boolean {
  return Object.values(workflow).some((node) => isLink(node.inputs.filename_prefix));
}

export function jobFolder(jobTag: string): string {
  return `cs-${jobTag}`;
}

function extensionOf(name: string): string {
  const ext = path.extname(name).toLowerCase();
  return /^\.[a-z0-9]{1,10}$/.test(ext) ? ext : '';
}

/** Pure: the rewritten workflow and the files to write. Throws WORKFLOW_INVALID / BAD_INPUT (details sealed). */
export function planStage(bundle: Bundle, { jobTag, stringConcatenate = false }: StageOptions): StagePlan {
  const workflow = structuredClone(bundle.workflow);
  const byName = new Map(bundle.images.map((image, index) => [image.name, { image, staged: `${jobFolder(jobTag)}-${index}${extensionOf(image.name)}` }]));
  const files = new Map<string, Uint8Array>();
  const folder = jobFolder(jobTag);
  const extra: Workflow = {};
  let added = 0;

  for (const [nodeId, node] of Object.entries(workflow)) {
    disableSavedMetadata(node);
    const inputs = node.inputs;
    const loaderInput = FILE_LOADERS[node.class_type];
    if (loaderInput !== undefined && typeof inputs[loaderInput] === 'string') {
      const wanted = (inputs[loaderInput] as string).replace(ANNOTATION, '');
      const match = byName.get(wanted) ?? byName.get(path.posix.basename(wanted.replaceAll('\\', '/')));
      if (!match) {
        throw new SealError('WORKFLOW_INVALID', 'the workflow loads a file the bundle does not carry', {
          node_id: nodeId,
          class_type: node.class_type,
          file: inputs[loaderInput],
        });
      }
      // LoadImageOutput looks in the output dir unless told otherwise.
      inputs[loaderInput] = node.class_type === 'LoadImageOutput' ? `${match.staged} [input]` : match.staged;
      files.set(match.staged, match.image.data);
    }
    const prefix = inputs.filename_prefix;
    if (typeof prefix === 'string') inputs.filename_prefix = inFolder(folder, prefix, nodeId);
    else if (isLink(prefix)) {
      // A prefix fed by a link must differ per job too, or ComfyUI's cache answers with a wiped job's files (contract §6).
      const source = workflow[prefix[0]];
      const literal = source && STRING_PRIMITIVES.has(source.class_type) ? source.inputs.value : undefined;
      if (typeof literal === 'string') inputs.filename_prefix = inFolder(folder, literal, nodeId);
      else if (stringConcatenate) {
        const id = `${folder}-prefix-${added++}`;
        extra[id] = { class_type: 'StringConcatenate', inputs: { string_a: `${folder}/`, string_b: prefix, delimiter: '' } };
        inputs.filename_prefix = [id, 0];
      }
      // Otherwise a cached answer names files that are not there, and the collect step fails the job at once.
    }
  }
  Object.assign(workflow, extra);
  // A bundle image no loader names is not written: under our name nothing could find it.
  return { workflow, files };
}

/** The user's prefix inside the per-job folder; BAD_INPUT if it would leave the output folder. */
function inFolder(folder: string, prefix: string, nodeId: string): string {
  const parts = prefix.replaceAll('\\', '/').split('/');
  if (prefix.startsWith('/') || parts.includes('..')) {
    throw new SealError('BAD_INPUT', 'a filename_prefix leaves the output folder', { node_id: nodeId, filename_prefix: prefix });
  }
  return `${folder}/${prefix}`;
}

/** Writes the plan's files into the input dir, each flushed, then the directory entry flushed. */
export async function writeStage(plan: StagePlan, inputDir: string, fs: FileSystem = nodeFileSystem): Promise<number> {
  let bytes = 0;
  try {
    for (const [name, data] of plan.files) {
      await writeDurable(path.join(inputDir, name), data, fs);
      bytes += data.length;
    }
    if (plan.files.size > 0) await syncDir(inputDir, fs);
  } catch (error) {
    throw storageError(error);
  }
  return bytes;
}
