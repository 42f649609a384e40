/** JSON text → value, defensively: invalid UTF-8, invalid JSON and deep nesting are each a BAD_INPUT of their own. */
import { isUtf8 } from 'node:buffer';
import { SealError } from './errors.js';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_ARRAY = 0x5b;
const OPEN_OBJECT = 0x7b;
const CLOSE_ARRAY = 0x5d;
const CLOSE_OBJECT = 0x7d;

/** Bytes → text, refusing invalid UTF-8 (a native check, then a native decode: no per-character JS). */
export function decodeUtf8(bytes: Uint8Array, what: string): string {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (!isUtf8(buf)) throw new SealError('BAD_INPUT', `${what} is not valid UTF-8`);
  return buf.toString('utf8');
}

/** JSON text → value, its nesting checked before it is parsed (see checkDepth). */
export function parseJsonLimited(text: string, maxDepth: number, what: string): unknown {
  checkDepth(text, maxDepth, what);
  return parseJson(text, what);
}

/** JSON text → value; for text whose depth was checked already (readJsonWithData checks the bytes it came from). */
export function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    // JSON.parse overflows the stack on ~10k levels: only a caller's limit above that gets here.
    if (error instanceof RangeError) throw new SealError('BAD_INPUT', `${what} is nested too deeply`);
    throw new SealError('BAD_INPUT', `${what} is not valid JSON`);
  }
}

/**
 * BAD_INPUT when JSON text (a string, or its UTF-8 bytes) nests arrays and objects deeper than `maxDepth`, counted
 * outside strings, before anything is parsed or decoded: one pass that allocates nothing, strings jumped over with
 * native indexOf, and it stops at the first bracket too deep (10 MB of `[` is refused after maxDepth + 1 bytes).
 * Brackets are counted, not paired: text that does not pair them is JSON.parse's to refuse.
 */
export function checkDepth(text: string | Buffer, maxDepth: number, what: string): void {
  const deepest = typeof text === 'string' ? deepestInString(text, maxDepth) : deepestInBytes(text, maxDepth);
  if (deepest > maxDepth) throw new SealError('BAD_INPUT', `${what} is nested deeper than ${maxDepth} levels`);
}

// Two loops of one shape, one per kind of text: a loop that reads either through a shared accessor is ~10× slower.

/** The depth reached, counted until it passes `maxDepth`. */
function deepestInBytes(text: Buffer, maxDepth: number): number {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === QUOTE) {
      i = closingQuote(text, i);
      if (i === -1) break; // unterminated: JSON.parse says so
    } else if (c === OPEN_ARRAY || c === OPEN_OBJECT) {
      if (++depth > maxDepth) break;
    } else if (c === CLOSE_ARRAY || c === CLOSE_OBJECT) {
      depth--;
    }
  }
  return depth;
}

function deepestInString(text: string, maxDepth: number): number {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      i = closingQuote(text, i);
      if (i === -1) break;
    } else if (c === OPEN_ARRAY || c === OPEN_OBJECT) {
      if (++depth > maxDepth) break;
    } else if (c === CLOSE_ARRAY || c === CLOSE_OBJECT) {
      depth--;
    }
  }
  return depth;
}

/** The quote that ends the string opened at `open` (one not escaped by an odd run of backslashes); -1 if none. */
export function closingQuote(text: string | Buffer, open: number): number {
  let at = text.indexOf('"', open + 1);
  while (at !== -1 && escaped(text, at)) at = text.indexOf('"', at + 1);
  return at;
}

function escaped(text: string | Buffer, at: number): boolean {
  let run = 0;
  while ((typeof text === 'string' ? text.charCodeAt(at - 1 - run) : text[at - 1 - run]) === BACKSLASH) run++;
  return run % 2 === 1;
}
