/**
 * `run --embed-workflow`: the workflow written into PNG results after opening, on the user's machine (the worker's
 * ComfyUI saves without metadata, so nothing of the prompt sits in the pictures while they travel or if shared as they
 * come). The chunks are ComfyUI's own: `prompt` (API format) and `workflow` (UI format, when the user has one), so a
 * result dropped into ComfyUI loads its graph again.
 */
import type { ResultFile } from '../shared/envelope.js';
import { asciiJson, withPngText } from './png-text.js';

export interface EmbeddedWorkflow {
  /** The API-format prompt that was sent. */
  prompt: unknown;
  /** The UI-format workflow the user started from, if any. */
  workflow?: unknown;
}

/** The files with the workflow in each PNG; `skipped` counts PNGs that were not well formed (written as they came). */
export function embedWorkflow(files: readonly ResultFile[], embedded: EmbeddedWorkflow): { files: ResultFile[]; skipped: number } {
  const entries: Array<[string, string]> = [['prompt', asciiJson(embedded.prompt)]];
  if (embedded.workflow !== undefined) entries.push(['workflow', asciiJson(embedded.workflow)]);
  let skipped = 0;
  const out = files.map((file) => {
    if (file.mime !== 'image/png') return file;
    const data = withPngText(file.data, entries);
    if (!data) {
      skipped += 1;
      return file;
    }
    return { ...file, data };
  });
  return { files: out, skipped };
}
