/**
 * What a model file's bytes must not be: an HTML page (a login, error or "are you sure" page served with 200), a Git
 * LFS pointer, or a body too small to be any model. Checked on the headers, on the first bytes and on the size.
 */

/** Smaller than the smallest real model file (a one-vector textual-inversion embedding is a few KB). */
export const MIN_MODEL_BYTES = 1024;

/** How many opening bytes `sniff` looks at. */
export const SNIFF_BYTES = 64;
const NOT_MODELS: Array<[RegExp, string]> = [
  [/^\s*<(!doctype html|html|head|body)\b/i, 'an HTML page'],
  [/^version https:\/\/git-lfs\.github\.com\/spec\//, 'a Git LFS pointer'],
];

export class NotAModel extends Error {
  override readonly name = 'NotAModel';
}

/** A response whose headers already say it is not the file: an HTML content type, or a declared size too small. */
export function checkHeaders(contentType: string | null, declared: number | undefined, expectedSize: number | undefined): void {
  if (contentType && /^\s*text\/html\b/i.test(contentType)) throw new NotAModel('the server sent an HTML page (content-type text/html), not the file');
  if (expectedSize === undefined && declared !== undefined && declared < MIN_MODEL_BYTES) {
    throw new NotAModel(`the server sent ${declared} bytes, too small for a model file (a stub or an error page?)`);
  }
}

/** The first bytes of a body or file: an HTML page or an LFS pointer, by their opening. */
export function sniff(head: Uint8Array): string | null {
  const text = Buffer.from(head.subarray(0, SNIFF_BYTES)).toString('latin1');
  for (const [pattern, what] of NOT_MODELS) if (pattern.test(text)) return what;
  return null;
}

/** A whole body once received: not an HTML page or pointer, and (with no size to check against) not too small. */
export function checkBody(head: Uint8Array, bytes: number, expectedSize: number | undefined): void {
  const what = sniff(head);
  if (what) throw new NotAModel(`the server sent ${what}, not the file`);
  if (expectedSize === undefined && bytes < MIN_MODEL_BYTES) {
    throw new NotAModel(`stub: ${bytes} bytes, too small for a model file`);
  }
}
