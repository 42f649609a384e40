import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Base64UrlWriter, canonicalLength, eachPiece } from '../shared/base64url.js';
import { SealError } from '../shared/errors.js';
import { allocReleasable, release } from '../shared/releasable.js';

/** The reference: Node's encoder plus the padding Fernet requires. */
function padded(bytes: Buffer): string {
  const text = bytes.toString('base64url');
  return text + '='.repeat((4 - (text.length % 4)) % 4);
}

describe('Base64UrlWriter', () => {
  it('writes the padded text of bytes pushed in any split, including empty and 1-byte pieces', () => {
    for (const size of [0, 1, 2, 3, 4, 5, 47, 48, 49, 100_003]) {
      const bytes = randomBytes(size);
      for (let trial = 0; trial < 5; trial++) {
        const writer = new Base64UrlWriter(size);
        let at = 0;
        while (at < size) {
          const step = trial === 0 ? 1 : Math.min(size - at, 1 + Math.floor(Math.random() * 7000));
          writer.push(bytes.subarray(at, at + step));
          if (trial === 1) writer.push(Buffer.alloc(0));
          at += step;
        }
        expect(writer.finish()).toBe(padded(bytes));
      }
    }
  });

  it('accepts a plain Uint8Array view at an offset', () => {
    const bytes = randomBytes(50);
    const writer = new Base64UrlWriter(20);
    writer.push(new Uint8Array(bytes.buffer, bytes.byteOffset + 10, 20));
    expect(writer.finish()).toBe(padded(bytes.subarray(10, 30)));
  });

  it('refuses more or fewer bytes than announced, with a typed error', () => {
    const over = new Base64UrlWriter(3);
    expect(() => over.push(randomBytes(6))).toThrow(SealError);
    const under = new Base64UrlWriter(10);
    under.push(randomBytes(4));
    expect(() => under.finish()).toThrow(/fewer bytes/);
    // Inside the last 3-byte group too.
    const short = new Base64UrlWriter(3);
    short.push(randomBytes(2));
    expect(() => short.finish()).toThrow(/fewer bytes/);
    expect(() => new Base64UrlWriter(1).push(randomBytes(3))).toThrow(/more bytes/);
  });
});

describe('canonical base64url decoding', () => {
  it('gives the decoded length only for the one canonical spelling', () => {
    const bytes = randomBytes(31);
    const text = padded(bytes);
    expect(canonicalLength(text)).toBe(31);
    expect(canonicalLength(text.slice(0, -1))).toBe(-1); // padding missing
    expect(canonicalLength(`${text.slice(0, -1)}A`)).toBe(-1); // '=' inside the text
    expect(canonicalLength(`${text.slice(0, 4)}+${text.slice(5)}`)).toBe(-1); // standard alphabet
    expect(canonicalLength('AB==')).toBe(-1); // non-zero trailing bits
    expect(canonicalLength('AA==')).toBe(1);
  });

  it('visits a long text piece by piece with offsets that cover every byte once', () => {
    const bytes = randomBytes(1_000_001);
    const text = padded(bytes);
    const seen = Buffer.alloc(bytes.length);
    let pieces = 0;
    const ok = eachPiece(text, bytes.length, (piece, offset) => {
      piece.copy(seen, offset);
      pieces++;
    });
    expect(ok).toBe(true);
    expect(pieces).toBeGreaterThan(1);
    expect(seen.equals(bytes)).toBe(true);
  });

  it('notices junk that Node would skip', () => {
    const text = padded(randomBytes(300_000));
    const junk = `${text.slice(0, 200_000)}*${text.slice(200_001)}`;
    expect(eachPiece(junk, canonicalLength(text), () => {})).toBe(false);
  });
});

describe('releasable buffers', () => {
  it('reads as empty, views included, once released', () => {
    const buffer = allocReleasable(1 << 20);
    buffer.fill(7);
    const view = buffer.subarray(10, 20);
    release(buffer);
    expect(buffer.length).toBe(0);
    expect(view.length).toBe(0);
  });

  it('leaves an ordinary buffer alone, and small sizes are ordinary buffers', () => {
    const buffer = Buffer.alloc(16, 1);
    release(buffer);
    expect(buffer.length).toBe(16);
    const small = allocReleasable(1000);
    expect(small.equals(Buffer.alloc(1000))).toBe(true);
    release(small);
    expect(small.length).toBe(1000);
  });
});
