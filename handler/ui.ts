/**
 * The `ui` option (contract §14): each output node's entry in ComfyUI's history outputs, as a client of ComfyUI would
 * read it, so texts and other non-file outputs reach the client too. File entries are named as in `outputs` (the
 * per-job folder removed), their worker paths (VideoHelperSuite's `fullpath`) dropped, and temp files that did not
 * come (a cached preview, see collect.ts) left out.
 */
import type { ResultFile } from '../shared/envelope.js';
import { userSubfolder } from './collect.js';
import type { NodeUiOutput } from './comfy/messages.js';

export function resultUi(outputs: Record<string, NodeUiOutput>, files: readonly ResultFile[], jobFolder: string): Record<string, NodeUiOutput> {
  const temps = new Set(files.filter((f) => f.type === 'temp').map((f) => `${f.nodeId}\0${f.subfolder}\0${f.filename}`));
  const ui: Record<string, NodeUiOutput> = {};
  for (const [nodeId, entry] of Object.entries(outputs)) {
    if (!entry || typeof entry !== 'object') continue;
    const out: NodeUiOutput = {};
    for (const [key, value] of Object.entries(entry)) {
      if (!Array.isArray(value)) {
        out[key] = value;
        continue;
      }
      const list: unknown[] = [];
      for (const item of value) {
        if (!isFileRef(item)) {
          list.push(item);
          continue;
        }
        const { fullpath: _worker, ...ref } = item;
        const subfolder = userSubfolder(typeof ref.subfolder === 'string' ? ref.subfolder : '', jobFolder);
        if (ref.type === 'temp' && !temps.has(`${nodeId}\0${subfolder}\0${ref.filename}`)) continue;
        list.push({ ...ref, subfolder });
      }
      out[key] = list;
    }
    ui[nodeId] = out;
  }
  return ui;
}

function isFileRef(item: unknown): item is { filename: string; subfolder?: unknown; type?: unknown; fullpath?: unknown } {
  return item !== null && typeof item === 'object' && !Array.isArray(item) && typeof (item as { filename?: unknown }).filename === 'string';
}
