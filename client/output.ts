/**
 * Writing a result's files: under their names in the output dir, subfolders kept, never overwriting an existing file
 * (a numbered name is chosen instead), each written to a temporary name and renamed so no partial file is left.
 */
import { link, mkdir, open, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { ResultFile } from '../shared/envelope.js';
import { fileNameProblem } from '../shared/names.js';
import { ComfySealError } from './errors.js';

export interface WrittenFile {
  path: string;
  bytes: number;
  kind: string;
  mime: string;
  nodeId: string;
}

function safeSubfolder(subfolder: string): string[] {
  const parts = subfolder.split(/[\\/]+/).filter((p) => p !== '' && p !== '.');
  for (const part of parts) {
    if (fileNameProblem(part) !== null) throw new ComfySealError('UNSAFE_NAME', 'a result subfolder is not a plain folder name');
  }
  return parts;
}

/** Claims `dir/name`, or `dir/stem-2.ext`, `-3`... by hard-linking the finished temp file (fails if the name exists). */
async function claim(temp: string, dir: string, name: string): Promise<string> {
  const ext = path.extname(name);
  const stem = name.slice(0, name.length - ext.length);
  for (let n = 1; n < 10_000; n++) {
    const candidate = path.join(dir, n === 1 ? name : `${stem}-${n}${ext}`);
    try {
      await link(temp, candidate);
      return candidate;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
  throw new ComfySealError('OUTPUT_EXISTS', 'too many files with the same name in the output folder');
}

export async function writeResultFiles(files: readonly ResultFile[], outDir: string): Promise<WrittenFile[]> {
  const written: WrittenFile[] = [];
  for (const file of files) {
    if (fileNameProblem(file.filename) !== null) throw new ComfySealError('UNSAFE_NAME', 'a result file name is not a plain file name');
    const dir = path.join(outDir, ...safeSubfolder(file.subfolder));
    await mkdir(dir, { recursive: true });
    const temp = path.join(dir, `.comfy-seal-${process.pid}-${Date.now()}-${written.length}.part`);
    const handle = await open(temp, 'wx', 0o644);
    try {
      await handle.writeFile(file.data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    try {
      const final = await claim(temp, dir, file.filename);
      written.push({ path: final, bytes: file.data.length, kind: file.kind, mime: file.mime, nodeId: file.nodeId });
    } finally {
      await unlink(temp).catch(() => undefined);
    }
  }
  return written;
}

