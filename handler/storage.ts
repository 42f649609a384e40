/**
 * The worker's files: the three ComfyUI dirs on the RAM disk, written with fsync and wiped with zeros.
 * All file I/O goes through `FileSystem` (node:fs/promises by default) so tests can observe it.
 */
import * as nodeFs from 'node:fs/promises';
import path from 'node:path';
import { SealError } from '../shared/errors.js';
import { allocReleasable, release } from '../shared/releasable.js';

export type FileSystem = Pick<
  typeof nodeFs,
  'open' | 'mkdir' | 'readdir' | 'lstat' | 'stat' | 'unlink' | 'rmdir' | 'readFile' | 'realpath'
>;

export const nodeFileSystem: FileSystem = nodeFs;

export interface Dirs {
  input: string;
  output: string;
  /** ComfyUI's temp dir itself (ComfyUI is started with --temp-directory = its parent). */
  temp: string;
}

/** An fs failure as a SealError: the errno code is safe to show, the path (which may carry a user name) is not. */
export function storageError(error: unknown): SealError {
  const code = (error as NodeJS.ErrnoException)?.code ?? 'EIO';
  return new SealError('INTERNAL', `the worker's storage failed (${code})`, { errno: code }, { cause: error });
}

/** Whether `target` is `root` or inside it, lexically. */
export function isInside(root: string, target: string): boolean {
  const rel = path.relative(root, target);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

export async function ensureDirs(dirs: Dirs, fs: FileSystem = nodeFileSystem): Promise<void> {
  try {
    for (const dir of [dirs.input, dirs.output, dirs.temp]) await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw storageError(error);
  }
}

/**
 * Writes a new file (never replaces one) and flushes it to the device; the caller flushes the directory (syncDir) once for all.
 * Readable by the group: in the image ComfyUI runs as its own user and reads the input dir through its group (start.sh).
 */
export async function writeDurable(file: string, data: Uint8Array, fs: FileSystem = nodeFileSystem): Promise<void> {
  const handle = await fs.open(file, 'wx', 0o640);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * A whole file, read into a releasable buffer (shared/releasable.ts) so that outputs of tens of MB can be given back
 * as soon as they are sealed. Reads at most the size the file had when opened.
 */
export async function readReleasable(file: string, fs: FileSystem = nodeFileSystem): Promise<Buffer> {
  const handle = await fs.open(file, 'r');
  try {
    const { size } = await handle.stat();
    const data = allocReleasable(size);
    let at = 0;
    while (at < size) {
      const { bytesRead } = await handle.read(data, at, size - at, at);
      if (bytesRead === 0) break;
      at += bytesRead;
    }
    if (at === size) return data;
    const short = Buffer.from(data.subarray(0, at));
    release(data);
    return short;
  } finally {
    await handle.close();
  }
}

export async function syncDir(dir: string, fs: FileSystem = nodeFileSystem): Promise<void> {
  const handle = await fs.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

const ZEROS = Buffer.alloc(1 << 20);

export interface WipeReport {
  files: number;
  bytes: number;
  /** errno codes of what could not be wiped (paths are private). */
  failures: string[];
}

/** Overwrites every byte of an open file with zeros and flushes it; returns its size. */
async function zeroFill(handle: nodeFs.FileHandle): Promise<number> {
  const { size } = await handle.stat();
  for (let pos = 0; pos < size; pos += ZEROS.length) await handle.write(ZEROS, 0, Math.min(ZEROS.length, size - pos), pos);
  await handle.sync();
  return size;
}

/** Overwrites a regular file with zeros, fsyncs and unlinks it. */
async function zeroAndUnlink(file: string, fs: FileSystem, report: WipeReport): Promise<void> {
  const handle = await fs.open(file, 'r+');
  try {
    report.bytes += await zeroFill(handle);
  } finally {
    await handle.close();
  }
  await fs.unlink(file);
  report.files += 1;
}

/**
 * Wipes everything under `root` (root itself stays): regular files zeroed + fsync'd + unlinked, symlinks unlinked without
 * being followed, directories removed. Goes on past failures and reports them; a file that vanished meanwhile is fine.
 */
export async function wipeTree(root: string, fs: FileSystem = nodeFileSystem, report: WipeReport = { files: 0, bytes: 0, failures: [] }): Promise<WipeReport> {
  let entries;
  try {
    entries = await fs.readdir(root, { withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') report.failures.push((error as NodeJS.ErrnoException).code ?? 'EIO');
    return report;
  }
  for (const entry of entries) {
    const full = path.join(root, entry.name);
    try {
      if (entry.isDirectory()) {
        await wipeTree(full, fs, report);
        await fs.rmdir(full);
      } else if (entry.isFile()) {
        await zeroAndUnlink(full, fs, report);
      } else {
        await fs.unlink(full);
        report.files += 1;
      }
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'EIO';
      if (code !== 'ENOENT') report.failures.push(code);
    }
  }
  return report;
}

/**
 * Zeroes and truncates a file another process keeps open for appending (ComfyUI's log): unlinking it would leave the
 * writer's inode alive and unwiped. Missing files are fine.
 */
export async function scrubFile(file: string, fs: FileSystem = nodeFileSystem, report: WipeReport = { files: 0, bytes: 0, failures: [] }): Promise<WipeReport> {
  let handle;
  try {
    handle = await fs.open(file, 'r+');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'EIO';
    if (code !== 'ENOENT') report.failures.push(code);
    return report;
  }
  try {
    report.bytes += await zeroFill(handle);
    await handle.truncate(0);
    await handle.sync();
  } catch (error) {
    report.failures.push((error as NodeJS.ErrnoException).code ?? 'EIO');
  } finally {
    await handle.close();
  }
  return report;
}

export async function wipeDirs(dirs: Dirs, fs: FileSystem = nodeFileSystem): Promise<WipeReport> {
  const report: WipeReport = { files: 0, bytes: 0, failures: [] };
  for (const dir of [dirs.input, dirs.output, dirs.temp]) await wipeTree(dir, fs, report);
  return report;
}
