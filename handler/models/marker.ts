/**
 * The marker beside a synced file (`.<name>.comfy-seal.json`): what the file was verified against, so a restart can
 * skip it without the network. Written durably (temp file, fsync, rename, directory fsync): a torn marker must never
 * make a bad file look verified.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { syncDir } from '../storage.js';
import type { SyncFs } from './sync.js';

export interface Marker {
  size: number;
  sha256?: string;
  /** The file's mtime when verified: unchanged since means no need to hash it again. */
  mtimeMs?: number;
}

export const markerOf = (target: string) => path.join(path.dirname(target), `.${path.basename(target)}.comfy-seal.json`);

export async function readMarker(target: string, fs: SyncFs): Promise<Marker | null> {
  try {
    const value = JSON.parse(await fs.readFile(markerOf(target), 'utf8')) as Partial<Marker>;
    if (typeof value.size !== 'number') return null;
    return {
      size: value.size,
      ...(typeof value.sha256 === 'string' ? { sha256: value.sha256 } : {}),
      ...(typeof value.mtimeMs === 'number' ? { mtimeMs: value.mtimeMs } : {}),
    };
  } catch {
    return null;
  }
}

/** Records that `target` is verified as `marker` says, with its current mtime. */
export async function writeMarker(target: string, marker: Omit<Marker, 'mtimeMs'>, fs: SyncFs): Promise<void> {
  const { mtimeMs } = await fs.stat(target);
  const file = markerOf(target);
  const temp = `${file}.${process.pid}.tmp`;
  const handle = await fs.open(temp, 'w', 0o644);
  try {
    await handle.writeFile(JSON.stringify({ ...marker, mtimeMs }));
    await handle.sync();
  } finally {
    await handle.close();
  }
  await fs.rename(temp, file);
  await syncDir(path.dirname(file), fs);
}

export async function hashFile(file: string, fs: SyncFs): Promise<string> {
  const hash = createHash('sha256');
  const handle = await fs.open(file, 'r');
  try {
    const chunk = Buffer.alloc(1 << 20);
    for (;;) {
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, null);
      if (bytesRead === 0) break;
      hash.update(chunk.subarray(0, bytesRead));
    }
  } finally {
    await handle.close();
  }
  return hash.digest('hex');
}

/**
 * A present file against its marker: the same size, and either untouched since it was verified (same mtime) or, when
 * the marker knows its sha256, hashing to it again (the marker is then renewed). Without a sha256, size is the check.
 */
export async function matchesMarker(target: string, marker: Marker, fs: SyncFs): Promise<boolean> {
  const { size, mtimeMs } = await fs.stat(target);
  if (size !== marker.size) return false;
  if (marker.mtimeMs === mtimeMs || !marker.sha256) return true;
  if ((await hashFile(target, fs)) !== marker.sha256) return false;
  await writeMarker(target, { size, sha256: marker.sha256 }, fs);
  return true;
}
