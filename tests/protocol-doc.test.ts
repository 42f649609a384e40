/** docs/protocol.md, the protocol for clients in other languages, names every error code the worker can send. */
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { ERROR_CODES } from '../shared/errors.js';

it('has a row in its failure table for every error code', () => {
  const text = readFileSync(new URL('../docs/protocol.md', import.meta.url), 'utf8');
  const rows = new Set([...text.matchAll(/^\| `([A-Z_]+)` \|/gm)].map((m) => m[1]));
  expect(ERROR_CODES.filter((code) => !rows.has(code))).toEqual([]);
});
