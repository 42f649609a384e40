/**
 * The files a prompt's loaders name, taken from the bridge's folders (§14 "Names"): a value may carry ComfyUI's
 * annotation (`mask.png [input]`, `x.png [output]`) and a subfolder (`clipspace/mask.png`, `pasted/image.png`); each
 * becomes a plain file name in the bundle (§2) and the workflow sent is rewritten to match. The user's workflow itself
 * is left as it was (ComfyUI's history shows the prompt as queued).
 */
import { readFile } from 'node:fs/promises';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import type { BundleImage } from '../shared/bundle.js';
import { FILE_LOADERS } from '../shared/loaders.js';
import { isSafeFileName } from '../shared/names.js';
import type { Workflow } from '../shared/schema.js';
import type { Dirs } from '../simulator/context.js';
import { dirFor } from '../simulator/view-upload.js';

export interface LoaderFile {
  nodeId: string;
  input: string;
  /** The value as the workflow has it. */
  value: string;
  /** The file it names, or null when there is none inside the bridge's folders. */
  path: string | null;
}

/** Every loader input that names a file, with the file it resolves to. */
export function loaderFiles(workflow: Workflow, dirs: Dirs): LoaderFile[] {
  const found: LoaderFile[] = [];
  for (const [nodeId, node] of Object.entries(workflow)) {
    const input = FILE_LOADERS[node.class_type];
    const value = input === undefined ? undefined : node.inputs[input];
    if (input === undefined || typeof value !== 'string') continue;
    found.push({ nodeId, input, value, path: resolveLoaderValue(value, dirs) });
  }
  return found;
}

/** `sub/name.png [output]` → the file in that folder (input by default), never outside it; null if none is there. */
export function resolveLoaderValue(value: string, dirs: Dirs): string | null {
  const annotated = / \[(input|output|temp)\]$/.exec(value);
  const root = dirFor(dirs, annotated ? annotated[1]! : 'input')!;
  const name = annotated ? value.slice(0, annotated.index) : value;
  const file = path.resolve(root, name);
  const rel = path.relative(path.resolve(root), file);
  if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) return null;
  return existsSync(file) && statSync(file).isFile() ? file : null;
}

/** The workflow to send (loader values → bundle names) and the files, read now. Call after validation. */
export async function gatherInputs(workflow: Workflow, dirs: Dirs): Promise<{ workflow: Workflow; images: BundleImage[] }> {
  const sent = structuredClone(workflow);
  const names = new Map<string, string>(); // file → bundle name
  const images: BundleImage[] = [];
  for (const file of loaderFiles(workflow, dirs)) {
    if (!file.path) throw new Error('a loader file vanished after validation');
    let name = names.get(file.path);
    if (name === undefined) {
      name = bundleName(path.basename(file.path), new Set(names.values()));
      names.set(file.path, name);
      images.push({ name, data: await readFile(file.path) });
    }
    sent[file.nodeId]!.inputs[file.input] = name;
  }
  return { workflow: sent, images };
}

/** The file's own name when it is a plain one not taken yet, else a numbered or neutral one. */
function bundleName(base: string, taken: Set<string>): string {
  const ext = path.extname(base);
  const safe = isSafeFileName(base) ? base : `file${/^\.[A-Za-z0-9]{1,10}$/.test(ext) ? ext : ''}`;
  if (!taken.has(safe)) return safe;
  const safeExt = path.extname(safe);
  const stem = safe.slice(0, safe.length - safeExt.length);
  for (let n = 2; ; n++) if (!taken.has(`${stem}-${n}${safeExt}`)) return `${stem}-${n}${safeExt}`;
}
