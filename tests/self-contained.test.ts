/**
 * `npm test` passes on a bare clone: no test outside tests/reference reads the development workspace's reference
 * material (../shared, the public workflows and UI files). Facts a bare clone needs are copied under tests/fixtures.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const TESTS = fileURLToPath(new URL('.', import.meta.url));
const SELF = fileURLToPath(import.meta.url);
const HELPER = path.join(TESTS, 'helpers', 'reference.ts');

/** A quoted path into ../shared's material (the repo's own shared/ code has no fixtures/ or docs/), or the helper for it. */
const READS_REFERENCE = /['"`](?:\/work\/shared|(?:\.\.\/)+shared\/(?:fixtures|docs))|helpers\/reference\.js/;

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'reference' && dir === TESTS ? [] : sources(full);
    return /\.(ts|mjs|js)$/.test(entry.name) ? [full] : [];
  });
}

describe('the self-contained suite', () => {
  it('reads nothing from ../shared (such tests belong in tests/reference)', () => {
    const readers = sources(TESTS)
      .filter((file) => file !== SELF && file !== HELPER)
      .filter((file) => READS_REFERENCE.test(readFileSync(file, 'utf8')))
      .map((file) => path.relative(TESTS, file));
    expect(readers).toEqual([]);
  });
});
