/**
 * What `comfy-seal run` can find wrong on this machine before any GPU second is spent (pure: the prepared workflow in,
 * a failure or warnings out). The worker would refuse the same things, but only after the job has waited in a queue.
 */
import type { BundleImage } from '../../shared/bundle.js';
import { SealError } from '../../shared/errors.js';
import { FILE_LOADERS } from '../../shared/loaders.js';
import { imageFormatOf } from '../../shared/media.js';
import type { Workflow } from '../../shared/schema.js';
import type { PrepareReport } from '../prepare/index.js';

/** An --img must be an image ComfyUI's LoadImage opens, whatever its name says. */
export function checkImageFile(file: string, data: Uint8Array): void {
  if (imageFormatOf(data) === null) {
    throw new SealError('BAD_INPUT', `--img ${file} is not an image (not PNG, JPEG, WebP, GIF, BMP or TIFF by its first bytes)`);
  }
}

/** Every loader must name a file the bundle carries: the worker stages nothing else. */
export function checkLoadersFilled(workflow: Workflow, images: readonly BundleImage[]): void {
  const given = new Set(images.map((i) => i.name));
  const unfilled = Object.entries(workflow)
    .filter(([, node]) => {
      const input = FILE_LOADERS[node.class_type];
      const value = input === undefined ? undefined : node.inputs[input];
      return typeof value === 'string' && !given.has(value);
    })
    .map(([id, node]) => `${id} (${node.class_type})`);
  if (unfilled.length > 0) {
    throw new SealError(
      'BAD_INPUT',
      `the workflow loads ${unfilled.length === 1 ? 'a file' : 'files'} you did not give: ${unfilled.join(', ')}; ` +
        'give --img FILE for each image loader (in node-id order) or --file NODE=FILE',
      { nodes: unfilled },
    );
  }
}

/** Nodes that save a result file: they have a filename_prefix and do not save to temp (VideoHelperSuite's save_output). */
export function savingNodes(workflow: Workflow): string[] {
  return Object.keys(workflow).filter((id) => {
    const inputs = workflow[id]!.inputs;
    return 'filename_prefix' in inputs && inputs.save_output !== false;
  });
}

/** Warnings worth a line on stderr (the job may still be what the user wants). */
export function preflightWarnings(workflow: Workflow): string[] {
  return savingNodes(workflow).length === 0
    ? ['the workflow has no node that saves a file (only previews, or nothing): the result will hold no files; add a SaveImage or another Save node']
    : [];
}

/** One line per filled loader: "start_image (LoadImage) <- first.png". */
export function loaderLines(report: PrepareReport): string[] {
  return [...report.images, ...report.files].map((a) => `  ${a.node_id} (${a.class_type}) <- ${a.given_name ?? a.name}${a.given_name ? ` (sent as ${a.name})` : ''}`);
}
