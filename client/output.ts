/**
 * Writing a result's files: under their names in the output dir, subfolders kept, never overwriting an existing file
 * (a numbered name is chosen instead), each written to a temporary name and renamed so no partial file is left.
 */
import { constants } from 'node:fs';
import { access, link, mkdir, open, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { ResultFile } from '../shared/envelope.js';
import { fileNameProblem } from '../shared/names.js';
import { ComfySealError, OutputWriteError } from './errors.js';

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

const errnoOf = (error: unknown) => (error as NodeJS.ErrnoException)?.code;

/**
 * Why result files could not be written into `dir` (null: they can), found before a job is sent: a folder that
 * exists must take a new file; one that does not must be creatable under its nearest existing parent.
 */
export async function outDirProblem(dir: string): Promise<string | null> {
  let at = path.resolve(dir);
  for (;;) {
    const info = await stat(at).catch((error: unknown) => errnoOf(error));
    if (typeof info === 'object') {
      if (!info.isDirectory()) return `${at} is a file, not a folder`;
      break;
    }
    if (info !== 'ENOENT') return info === 'ENOTDIR' ? `a part of ${at} is a file, not a folder` : `cannot look at ${at} (${info})`;
    const parent = path.dirname(at);
    if (parent === at) return `${at} does not exist`;
    at = parent;
  }
  if (at !== path.resolve(dir)) {
    const denied = await access(at, constants.W_OK | constants.X_OK).then(() => null, errnoOf);
    return denied ? `cannot create a folder in ${at} (${denied})` : null;
  }
  const probe = path.join(at, `.comfy-seal-probe-${process.pid}-${Date.now()}`);
  try {
    await (await open(probe, 'wx')).close();
  } catch (error) {
    return `cannot write in ${at} (${errnoOf(error) ?? 'error'})`;
  }
  await unlink(probe).catch(() => undefined);
  return null;
}

/** Writes every file; a file system failure is an OutputWriteError naming the path. */
export async function writeResultFiles(files: readonly ResultFile[], outDir: string): Promise<WrittenFile[]> {
  const written: WrittenFile[] = [];
  for (const file of files) {
    try {
      written.push(await writeOne(file, outDir, written.length));
    } catch (error) {
      if (error instanceof ComfySealError) throw error;
      const where = (error as { path?: unknown })?.path;
      throw new OutputWriteError(typeof where === 'string' ? where : outDir, errnoOf(error) ?? 'error', { cause: error });
    }
  }
  return written;
}

async function writeOne(file: ResultFile, outDir: string, index: number): Promise<WrittenFile> {
  if (fileNameProblem(file.filename) !== null) throw new ComfySealError('UNSAFE_NAME', 'a result file name is not a plain file name');
  const dir = path.join(outDir, ...safeSubfolder(file.subfolder));
  await mkdir(dir, { recursive: true });
  const temp = path.join(dir, `.comfy-seal-${process.pid}-${Date.now()}-${index}.part`);
  const handle = await open(temp, 'wx', 0o644);
  try {
    await handle.writeFile(file.data);
    await handle.sync();
  } catch (error) {
    await unlink(temp).catch(() => undefined); // never a partial file
    throw error;
  } finally {
    await handle.close();
  }
  try {
    const final = await claim(temp, dir, file.filename);
    return { path: final, bytes: file.data.length, kind: file.kind, mime: file.mime, nodeId: file.nodeId };
  } finally {
    await unlink(temp).catch(() => undefined);
  }
}

