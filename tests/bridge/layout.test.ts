/** Where the bridge sits (AGENTS.md): nothing imports it but cli/, and it never imports the worker. */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function tsFiles(dir: string): string[] {
  return readdirSync(path.join(ROOT, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => path.relative(ROOT, path.join(e.parentPath, e.name)));
}

const importsOf = (file: string) => [...readFileSync(path.join(ROOT, file), 'utf8').matchAll(/(?:from|import\()\s*'([^']+)'/g)].map((m) => path.join(path.dirname(file), m[1]!));

describe('the bridge in the architecture', () => {
  it('is imported only by cli/, and imports neither handler/ nor anything outside the package', () => {
    const outside = ['shared', 'client', 'handler', 'simulator'].flatMap(tsFiles).filter((f) => importsOf(f).some((i) => i.startsWith('bridge/')));
    expect(outside).toEqual([]);
    const bridge = tsFiles('bridge');
    expect(bridge.length).toBeGreaterThan(5);
    expect(bridge.filter((f) => importsOf(f).some((i) => i.startsWith('handler/')))).toEqual([]);
    expect(tsFiles('cli').filter((f) => importsOf(f).some((i) => i.startsWith('bridge/')))).toEqual(['cli/doctor.ts', 'cli/main.ts']);
  });
});
