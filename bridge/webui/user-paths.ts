/**
 * Names the web UI sends for files under the bridge's `user/` dir (settings, workflows, subgraphs...), checked before
 * they become paths: relative, no `..`, no NUL, no backslash (a Windows separator that would let a name leave its
 * folder elsewhere), no empty segment. Pure; `isContained` adds the one check that needs the disk (symlinks).
 */
import { lstat, realpath } from 'node:fs/promises';
import path from 'node:path';

/** ComfyUI without --multi-user keeps everything of its one user here. */
export const DEFAULT_USER = 'default';

export type NameCheck = { ok: true; relative: string } | { ok: false; reason: string };

/** A URL path segment decoded as the router decodes `{name}` placeholders; undefined if malformed. */
export function decodeSegment(raw: string): string | undefined {
  try {
    return decodeURIComponent(raw);
  } catch {
    return undefined;
  }
}

/**
 * ComfyUI decodes a user file name once more when it still holds a `%` (some callers encode twice), so the check must
 * see that decoded form; a `%` that starts no escape stays as it is.
 */
export function unquoteAgain(name: string): string {
  if (!name.includes('%')) return name;
  try {
    return decodeURIComponent(name);
  } catch {
    return name;
  }
}

/** A user-given name → a relative path with '/' separators that cannot leave its root. */
export function checkUserName(name: string): NameCheck {
  if (name.length === 0) return { ok: false, reason: 'the name is empty' };
  if (name.includes('\0')) return { ok: false, reason: 'the name holds a NUL character' };
  if (name.includes('\\')) return { ok: false, reason: "the name holds a backslash (use '/' between folders)" };
  if (name.startsWith('/') || /^[A-Za-z]:/.test(name)) return { ok: false, reason: 'the name is an absolute path' };
  const segments = name.split('/');
  if (segments.some((s) => s === '..')) return { ok: false, reason: "the name holds '..'" };
  const kept = segments.filter((s) => s !== '' && s !== '.');
  if (kept.length === 0) return { ok: false, reason: 'the name names no file' };
  return { ok: true, relative: kept.join('/') };
}

/** The absolute path of a checked relative name under root. */
export function resolveUnder(root: string, relative: string): string {
  return path.join(root, ...relative.split('/'));
}

/**
 * Whether `target` (which may not exist yet) stays inside `root` once symlinks are followed: the nearest existing
 * ancestor (or the target itself) must resolve inside root's real path. A symlink pointing out, or pointing nowhere,
 * is an escape.
 */
export async function isContained(root: string, target: string): Promise<boolean> {
  const realRoot = await realpath(root);
  let probe = target;
  for (let looks = 0; looks < 64; looks++) {
    try {
      const real = await realpath(probe);
      return real === realRoot || real.startsWith(realRoot + path.sep);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      // A file where a folder would be, a name too long: the write fails on it with its own answer (400).
      if (code !== 'ENOENT' && code !== 'ENOTDIR' && code !== 'ENAMETOOLONG') return false;
      const there = await lstat(probe).catch(() => undefined);
      // A dangling symlink: where it points could appear later, outside.
      if (there?.isSymbolicLink()) return false;
      if (there) continue; // made meanwhile (another request): look again
      const parent = path.dirname(probe);
      if (parent === probe) return false;
      probe = parent;
    }
  }
  return false;
}
