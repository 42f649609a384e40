/** JSON text → value, defensively: invalid UTF-8, invalid JSON and deep nesting are each a BAD_INPUT of their own. */
import { isUtf8 } from 'node:buffer';
import { SealError } from './errors.js';

/** Bytes → text, refusing invalid UTF-8 (a native check, then a native decode: no per-character JS). */
export function decodeUtf8(bytes: Uint8Array, what: string): string {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (!isUtf8(buf)) throw new SealError('BAD_INPUT', `${what} is not valid UTF-8`);
  return buf.toString('utf8');
}

/** JSON text → value, with the depth limit checked on the parsed tree (JSON.parse itself overflows on ~10k levels). */
export function parseJsonLimited(text: string, maxDepth: number, what: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    if (error instanceof RangeError) throw new SealError('BAD_INPUT', `${what} is nested too deeply`);
    throw new SealError('BAD_INPUT', `${what} is not valid JSON`);
  }
  if (depthExceeds(value, maxDepth)) throw new SealError('BAD_INPUT', `${what} is nested deeper than ${maxDepth} levels`);
  return value;
}

function depthExceeds(root: unknown, maxDepth: number): boolean {
  // Iterative, so the check itself cannot overflow the stack.
  const stack: Array<[unknown, number]> = [[root, 1]];
  while (stack.length > 0) {
    const [value, depth] = stack.pop()!;
    if (value === null || typeof value !== 'object') continue;
    if (depth > maxDepth) return true;
    for (const child of Array.isArray(value) ? value : Object.values(value)) {
      if (child !== null && typeof child === 'object') stack.push([child, depth + 1]);
    }
  }
  return false;
}
