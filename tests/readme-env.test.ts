/**
 * Every environment variable the programs read is in one of the README's variable tables: start.sh, the worker
 * (handler/), the CLI (cli/), the SDK (client/), and the code both sides share. The reads are found by scanning the
 * sources, so a variable added without a README row fails here.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** A variable's name, never a prefix of a longer one. */
const NAME = '[A-Z][A-Z0-9_]*(?![A-Z0-9_])';

const unique = (names: string[]): string[] => [...new Set(names)].sort();

/** `env.X`, `env['X']` (process.env, io.env, options.env, #env...) that is not a write; and config.ts's `env: 'X'`. */
function tsReads(source: string): string[] {
  const reads = [...source.matchAll(new RegExp(`\\benv(?:\\.(${NAME})|\\[['"](${NAME})['"]\\])(?!\\s*(?:\\?\\?=|=(?!=)))`, 'g'))].map((m) => m[1] ?? m[2]!);
  const settings = [...source.matchAll(new RegExp(`\\benv:\\s*['"](${NAME})['"]`, 'g'))].map((m) => m[1]!);
  return unique([...reads, ...settings]);
}

/** A shell script's reads: a variable given a default (`${X:-...}`), or one used that the script never assigns. */
function shellReads(source: string): string[] {
  const code = source.split('\n').filter((line) => !/^\s*#/.test(line)).join('\n');
  const defaulted = [...code.matchAll(new RegExp(`\\$\\{(${NAME}):?[-+=?]`, 'g'))].map((m) => m[1]!);
  const used = [...code.matchAll(new RegExp(`\\$\\{?(${NAME})`, 'g'))].map((m) => m[1]!);
  const assigned = new Set([...code.matchAll(new RegExp(`^\\s*(?:local\\s+|export\\s+|readonly\\s+)?(${NAME})=`, 'gm'))].map((m) => m[1]!));
  return unique([...defaulted, ...used.filter((name) => !assigned.has(name))]);
}

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return tsFiles(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

/** Every variable read, with the files that read it. */
function variablesRead(): Map<string, string[]> {
  const found = new Map<string, string[]>();
  const add = (names: string[], file: string) => {
    for (const name of names) found.set(name, [...new Set([...(found.get(name) ?? []), path.relative(ROOT, file)])]);
  };
  add(shellReads(readFileSync(path.join(ROOT, 'start.sh'), 'utf8')), path.join(ROOT, 'start.sh'));
  for (const dir of ['handler', 'cli', 'client', 'shared', 'simulator', 'bridge']) {
    for (const file of tsFiles(path.join(ROOT, dir))) add(tsReads(readFileSync(file, 'utf8')), file);
  }
  return found;
}

/** The variables the README's tables name: a `NAME` in a table row. */
function documented(): Set<string> {
  const rows = readFileSync(path.join(ROOT, 'README.md'), 'utf8').split('\n').filter((line) => line.startsWith('|'));
  return new Set(rows.flatMap((row) => [...row.matchAll(new RegExp(`\`(${NAME})\``, 'g'))].map((m) => m[1]!)));
}

describe('the README documents every environment variable', () => {
  it('finds the reads it should (the scanner is not blind)', () => {
    expect(tsReads("io.env.A_B ?? env['C'] ; process.env.D_E ??= 'x'; env.E = '1'; env.F === '1'; { env: 'G_H' }")).toEqual(['A_B', 'C', 'F', 'G_H']);
    expect(shellReads('A="${B:-1}"\n# ${C:-x}\necho "$A $D ${E}"\n[ "${F:-0}" = 1 ]')).toEqual(['B', 'D', 'E', 'F']);
    const read = variablesRead();
    for (const name of ['ENCRYPTION_KEY', 'COMFY_SEAL_JOB_TIMEOUT_S', 'COMFY_SEAL_LOCAL_HOST', 'RUNPOD_API_KEY', 'AWS_ENDPOINT_URL_S3', 'RUNPOD_WEBHOOK_GET_JOB']) {
      expect(read.has(name), name).toBe(true);
    }
  });

  it('has a table row for every variable start.sh, the worker, the CLI and the SDK read', () => {
    const rows = documented();
    const missing = [...variablesRead()].filter(([name]) => !rows.has(name)).map(([name, files]) => `${name} (read in ${files.join(', ')})`);
    expect(missing).toEqual([]);
  });
});
