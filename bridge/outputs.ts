/**
 * A result's files written into the bridge's `output/` (and `temp/` for temp savers' files) as ComfyUI names them:
 * `prefix_00007_.png` after the highest `prefix_NNNNN_` already in that folder, never overwriting (the name is claimed
 * with O_EXCL, the next number taken if someone else got there first). Subfolders stay inside their folder.
 */
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { ResultFile } from '../shared/envelope.js';
import type { Dirs } from '../simulator/context.js';

/** A file as ComfyUI's history and `executed` name it. */
export interface FileRef {
  filename: string;
  subfolder: string;
  type: 'output' | 'temp';
}

const NUMBERED = /^(.*)_(\d{5,})_(\.[^.]*)?$/;

const refKey = (type: string, subfolder: string, filename: string) => `${type}\0${subfolder}\0${filename}`;

export class OutputWriteProblem extends Error {
  override readonly name = 'OutputWriteProblem';
}

/** Writes every file; the map says where each went, keyed by the endpoint's (type, subfolder, filename). */
export function writeOutputs(files: readonly ResultFile[], dirs: Dirs): Map<string, FileRef> {
  const placed = new Map<string, FileRef>();
  for (const file of files) {
    const type = file.type === 'temp' ? 'temp' : 'output';
    const root = path.resolve(type === 'temp' ? dirs.temp : dirs.output);
    const dir = path.resolve(root, file.subfolder);
    const rel = path.relative(root, dir);
    if (rel.startsWith('..') || path.isAbsolute(rel)) throw new OutputWriteProblem('a result file names a folder outside the output folder');
    mkdirSync(dir, { recursive: true });
    const filename = claim(dir, file.filename, file.data);
    placed.set(refKey(type, file.subfolder, file.filename), { filename, subfolder: rel.split(path.sep).join('/'), type });
  }
  return placed;
}

/** The ui entries of a result with their file entries renamed as written; files missing from the map are dropped. */
export function renameUi(ui: Record<string, Record<string, unknown>>, placed: Map<string, FileRef>): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const [nodeId, entry] of Object.entries(ui)) {
    out[nodeId] = Object.fromEntries(
      Object.entries(entry).map(([key, value]) => [
        key,
        Array.isArray(value)
          ? value.flatMap((item) => {
              if (!item || typeof item !== 'object' || typeof (item as { filename?: unknown }).filename !== 'string') return [item];
              const ref = item as { filename: string; subfolder?: unknown; type?: unknown };
              const to = placed.get(refKey(ref.type === 'temp' ? 'temp' : 'output', typeof ref.subfolder === 'string' ? ref.subfolder : '', ref.filename));
              return to ? [{ ...ref, ...to }] : [];
            })
          : value,
      ]),
    );
  }
  return out;
}

/** The ui ComfyUI would show for a result without one (an older worker): each node's files by kind. */
export function uiOfFiles(files: readonly ResultFile[]): Record<string, Record<string, unknown>> {
  const ui: Record<string, Record<string, unknown[]>> = {};
  for (const f of files) {
    const key = f.kind === 'audio' ? 'audio' : f.kind === 'video' || f.kind === 'animated' ? (f.mime === 'image/webp' || f.mime === 'image/gif' ? 'images' : 'gifs') : 'images';
    ((ui[f.nodeId] ??= {})[key] ??= []).push({ filename: f.filename, subfolder: f.subfolder, type: f.type === 'temp' ? 'temp' : 'output' });
  }
  return ui;
}

/** Writes `data` under the next free ComfyUI name for `wanted` in `dir`; the name it got. */
function claim(dir: string, wanted: string, data: Buffer): string {
  const numbered = NUMBERED.exec(wanted);
  const stem = numbered ? numbered[1]! : wanted.slice(0, wanted.length - path.extname(wanted).length);
  const ext = numbered ? (numbered[3] ?? '') : path.extname(wanted);
  const width = numbered ? numbered[2]!.length : 5;
  let counter = numbered ? nextCounter(dir, stem) : 0;
  for (;;) {
    const name = numbered || counter > 0 ? `${stem}_${String(counter).padStart(width, '0')}_${ext}` : wanted;
    try {
      writeFileSync(path.join(dir, name), data, { flag: 'wx', mode: 0o600 });
      return name;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      counter = counter === 0 ? nextCounter(dir, stem) : counter + 1;
    }
  }
}

/** ComfyUI's get_save_image_path: one more than the highest `stem_NNNNN_` in the folder (case-insensitive), from 1. */
function nextCounter(dir: string, stem: string): number {
  const lower = `${stem.toLowerCase()}_`;
  let max = 0;
  for (const name of readdirSync(dir)) {
    if (!name.toLowerCase().startsWith(lower)) continue;
    const m = /^(\d+)_/.exec(name.slice(lower.length));
    if (m) max = Math.max(max, Number(m[1]));
  }
  return max + 1;
}
