/**
 * No prompt left inside the pictures: ComfyUI embeds the prompt and workflow in what it saves unless told not to.
 * start.sh runs it with --disable-metadata (PNG, WebP, ComfyUI's own video and audio savers); VideoHelperSuite ignores
 * that flag and has its own `save_metadata` input, which the staged workflow turns off. A user who later shares a
 * result shares no prompt; `run --embed-workflow` puts the workflow back, on the user's machine only.
 */
import type { WorkflowNode } from '../shared/schema.js';

/** VideoHelperSuite's saver: `save_metadata` is optional there and defaults to on, so it is set even when absent. */
const METADATA_DEFAULT_ON = new Set(['VHS_VideoCombine']);

/** Turns off a node's own metadata saving: VHS_VideoCombine always, any other node with a boolean `save_metadata`. */
export function disableSavedMetadata(node: WorkflowNode): void {
  if (METADATA_DEFAULT_ON.has(node.class_type) || typeof node.inputs.save_metadata === 'boolean') node.inputs.save_metadata = false;
}
