/**
 * Writing a result's files: under their names in the output dir, subfolders kept, never overwriting an existing file
 * (a numbered name is chosen instead), each written to a temporary name and renamed so no partial file is left.
 * Files are 0600 and folders made here 0700 (results are private), and nothing is written through a symbolic link
 * that leads out of the output dir: the subfolders come from the worker's answer, so a link placed in the output dir
 * (`out/linked -> ~/.ssh`) must not let a result land elsewhere.
 */
import { constants } from 'node:fs';
import { access, link, lstat, mkdir, open, realpath, stat, unlink } from 'node:fs/promises';
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

const FILE_MODE = 0o600;
const DIR_MODE = 0o700;

const inside = (root: string, real: string) => real === root || real.startsWith(root.endsWith(path.sep) ? root : root + path.sep);

/**
 * The real folder `parts` lead to under `root` (a real path), checked part by part with lstat: a symbolic link must
 * resolve inside `root`, anything but a folder is refused. With `create`, missing folders are made (0700); without,
 * the walk stops at the first missing one (everything below it would be made by us). Messages name places in the
 * caller's terms (`outDir`, not its real path).
 */
async function resultDir(root: string, outDir: string, parts: readonly string[], create: boolean): Promise<string> {
  let at = root;
  for (let i = 0; i < parts.length; i++) {
    const next = path.join(at, parts[i]!);
    const shown = path.join(outDir, ...parts.slice(0, i + 1));
    const info = await lstat(next).catch((error: unknown) => {
      if (errnoOf(error) === 'ENOENT') return null;
      throw error;
    });
    if (info === null) {
      if (!create) return next;
      // mkdir never follows a link at `next`: one that appeared since the lstat makes it fail EEXIST.
      await mkdir(next, { mode: DIR_MODE });
      at = next;
    } else if (info.isSymbolicLink()) {
      const real = await realpath(next);
      if (!inside(root, real)) {
        throw new ComfySealError(
          'OUTPUT_FAILED',
          `${shown} is a symbolic link to ${real}, outside the output folder ${outDir}; nothing was written (results never go through a link out of it). Remove the link or choose another output folder`,
        );
      }
      if (!(await stat(real)).isDirectory()) throw new OutputWriteError(shown, 'EEXIST');
      at = real;
    } else if (info.isDirectory()) at = next;
    else throw new OutputWriteError(shown, 'EEXIST'); // a file where a result subfolder goes
  }
  return at;
}

/** Writes every file; a file system failure is an OutputWriteError naming the path. Every name and subfolder is
 * checked before the first file is written, so a refused result leaves nothing behind. */
export async function writeResultFiles(files: readonly ResultFile[], outDir: string): Promise<WrittenFile[]> {
  const written: WrittenFile[] = [];
  try {
    const planned = files.map((file) => {
      if (fileNameProblem(file.filename) !== null) throw new ComfySealError('UNSAFE_NAME', 'a result file name is not a plain file name');
      return { file, parts: safeSubfolder(file.subfolder) };
    });
    await mkdir(outDir, { recursive: true, mode: DIR_MODE });
    const root = await realpath(outDir);
    for (const { parts } of planned) await resultDir(root, outDir, parts, false);
    for (const { file, parts } of planned) written.push(await writeOne(file, root, outDir, parts, written.length));
  } catch (error) {
    if (error instanceof ComfySealError) throw error;
    const where = (error as { path?: unknown })?.path;
    throw new OutputWriteError(typeof where === 'string' ? where : outDir, errnoOf(error) ?? 'error', { cause: error });
  }
  return written;
}

async function writeOne(file: ResultFile, root: string, outDir: string, parts: readonly string[], index: number): Promise<WrittenFile> {
  const dir = await resultDir(root, outDir, parts, true);
  const temp = path.join(dir, `.comfy-seal-${process.pid}-${Date.now()}-${index}.part`);
  // O_EXCL and O_NOFOLLOW: never an existing file, never through a link.
  const handle = await open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, FILE_MODE);
  try {
    // Node has no openat(): a folder swapped for a link out between the walk and the open is caught here, before any
    // byte is written.
    const real = await realpath(temp).catch(() => null);
    if (real === null || !inside(root, real)) {
      throw new ComfySealError('OUTPUT_FAILED', `a folder under ${outDir} changed into a link while a result was written; nothing was written there. Check who else writes in it, then fetch the result again`);
    }
    await handle.writeFile(file.data);
    await handle.sync();
  } catch (error) {
    await unlink(temp).catch(() => undefined); // never a partial file
    throw error;
  } finally {
    await handle.close();
  }
  try {
    // link() never follows or replaces what is at the final name.
    const final = await claim(temp, dir, file.filename);
    return { path: path.join(outDir, ...parts, path.basename(final)), bytes: file.data.length, kind: file.kind, mime: file.mime, nodeId: file.nodeId };
  } finally {
    await unlink(temp).catch(() => undefined);
  }
}
