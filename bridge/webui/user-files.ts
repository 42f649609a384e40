/**
 * Files under the user dir: written durably and atomically (a hidden temp file beside the target, fsync, rename,
 * directory fsync), so a crash leaves the old file or the new one, never a torn one; listed as ComfyUI's glob lists
 * them (hidden names skipped, so temp files never show), without following symlinks.
 */
import { randomBytes } from 'node:crypto';
import { link, lstat, open, readdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';

/** Files we create hold the user's own work: readable by the user only. */
const FILE_MODE = 0o600;

/**
 * Writes `file` whole or not at all. With `replace: false` an existing file is kept and false returned: the temp file
 * is hard-linked to the name, which fails if the name is taken (no window between a check and the write).
 */
export async function writeFileAtomic(file: string, data: Uint8Array | string, { replace = true } = {}): Promise<boolean> {
  const dir = path.dirname(file);
  const temp = path.join(dir, `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(temp, 'wx', FILE_MODE);
  try {
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    if (replace) await rename(temp, file);
    else if (!(await linkNew(temp, file))) return false;
  } finally {
    await rm(temp, { force: true }); // gone already after a rename
  }
  await syncDir(dir);
  return true;
}

/** Moves `from` to the name `to` unless that name is taken (then false, nothing moved). */
export async function moveNoReplace(from: string, to: string): Promise<boolean> {
  if (!(await linkNew(from, to))) return false;
  await rm(from);
  return true;
}

async function linkNew(existing: string, name: string): Promise<boolean> {
  try {
    await link(existing, name);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
}

/** A rename is durable once its directory is synced. */
export async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** ComfyUI's FileInfo: path relative to the listed folder, times in ms. */
export interface FileInfo {
  path: string;
  size: number;
  modified: number;
  created: number;
}

export async function fileInfo(file: string, relativeTo: string): Promise<FileInfo> {
  const s = await stat(file);
  return {
    path: path.relative(relativeTo, file).split(path.sep).join('/'),
    size: s.size,
    modified: Math.trunc(s.mtimeMs),
    created: Math.trunc(s.ctimeMs),
  };
}

/** Regular files under dir (relative, '/'-separated, sorted); recursive when asked; hidden names and symlinks skipped. */
export async function listFiles(dir: string, recurse: boolean): Promise<string[]> {
  const found: string[] = [];
  const walk = async (at: string, prefix: string): Promise<void> => {
    for (const entry of await readdir(at, { withFileTypes: true })) {
      if (entry.name.startsWith('.')) continue;
      if (entry.isFile()) found.push(prefix + entry.name);
      else if (recurse && entry.isDirectory()) await walk(path.join(at, entry.name), `${prefix}${entry.name}/`);
    }
  };
  await walk(dir, '');
  return found.sort();
}

export type Kind = 'file' | 'directory' | 'other' | 'missing';

/** What is at a path, without following a final symlink (a symlink is 'other': never read through). */
export async function kindOf(target: string): Promise<Kind> {
  try {
    const s = await lstat(target);
    return s.isFile() ? 'file' : s.isDirectory() ? 'directory' : 'other';
  } catch {
    return 'missing';
  }
}
