/**
 * The contract's file-name rule (§2): a bundle image name, or an output name reported back, is a plain file name.
 * It never becomes a path as given (the worker stages under names of its own), but it is checked the same everywhere.
 */
import { SealError } from './errors.js';

const MAX_NAME_BYTES = 255;

/** Why `name` is not a plain file name, or null when it is one. The reason never repeats the name. */
export function fileNameProblem(name: unknown): string | null {
  if (typeof name !== 'string' || name.length === 0) return 'a file name must be a non-empty string';
  if (name.includes('/') || name.includes('\\')) return 'a file name must not contain a path separator';
  if (name.includes('..')) return "a file name must not contain '..'";
  if (name.startsWith('.')) return 'a file name must not start with a dot';
  // NUL and the other control characters: never part of a real file name, and NUL truncates paths in C.
  if (/[\u0000-\u001f\u007f]/.test(name)) return 'a file name must not contain control characters';
  if (Buffer.byteLength(name, 'utf8') > MAX_NAME_BYTES) return `a file name must be at most ${MAX_NAME_BYTES} bytes`;
  return null;
}

export function isSafeFileName(name: unknown): name is string {
  return fileNameProblem(name) === null;
}

/** Throws BAD_INPUT (the name itself only in the sealed details) unless `name` is a plain file name. */
export function assertSafeFileName(name: unknown, what = 'file name'): asserts name is string {
  const problem = fileNameProblem(name);
  if (problem !== null) throw new SealError('BAD_INPUT', `unsafe ${what}: ${problem}`, { name });
}
