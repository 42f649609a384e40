/**
 * The README's TypeScript examples compile as a user's app would compile them: against the built package (dist/,
 * through package.json's exports), `strict`, and `skipLibCheck: false`, so every type the package ships is checked too.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TSC = createRequire(import.meta.url).resolve('typescript/bin/tsc');

it('compiles every ```ts block of the README against dist/ with tsc --strict and skipLibCheck false', async () => {
  const blocks = [...readFileSync(path.join(ROOT, 'README.md'), 'utf8').matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
  expect(blocks.length).toBeGreaterThanOrEqual(2);
  const app = mkdtempSync(path.join(os.tmpdir(), 'cs-readme-'));
  try {
    mkdirSync(path.join(app, 'node_modules', '@types'), { recursive: true });
    symlinkSync(ROOT, path.join(app, 'node_modules', 'comfy-seal'));
    symlinkSync(path.join(ROOT, 'node_modules', '@types', 'node'), path.join(app, 'node_modules', '@types', 'node'));
    writeFileSync(path.join(app, 'package.json'), JSON.stringify({ type: 'module' }));
    const tsconfig = { compilerOptions: { strict: true, skipLibCheck: false, module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', types: ['node'], noEmit: true }, include: ['*.ts'] };
    writeFileSync(path.join(app, 'tsconfig.json'), JSON.stringify(tsconfig));
    blocks.forEach((code, i) => writeFileSync(path.join(app, `example-${i + 1}.ts`), `${code}\nexport {};\n`));
    const result = await promisify(execFile)(process.execPath, [TSC, '-p', app]).then(
      () => '',
      (error: { stdout?: string }) => error.stdout ?? String(error),
    );
    expect(result).toBe('');
  } finally {
    rmSync(app, { recursive: true, force: true });
  }
}, 120_000);

it('types both entries under moduleResolution node10 too (no exports there: typesVersions maps comfy-seal/simulator)', async () => {
  const app = mkdtempSync(path.join(os.tmpdir(), 'cs-node10-'));
  try {
    mkdirSync(path.join(app, 'node_modules', '@types'), { recursive: true });
    // The package as packed (`files`: dist), so no source folder named simulator/ can stand in for the types.
    const pkg = path.join(app, 'node_modules', 'comfy-seal');
    mkdirSync(pkg);
    writeFileSync(path.join(pkg, 'package.json'), readFileSync(path.join(ROOT, 'package.json')));
    symlinkSync(path.join(ROOT, 'dist'), path.join(pkg, 'dist'));
    symlinkSync(path.join(ROOT, 'node_modules', '@types', 'node'), path.join(app, 'node_modules', '@types', 'node'));
    const tsconfig = { compilerOptions: { strict: true, skipLibCheck: true, module: 'CommonJS', moduleResolution: 'node10', target: 'ES2022', types: ['node'], noEmit: true, ignoreDeprecations: '5.0' }, include: ['*.ts'] };
    writeFileSync(path.join(app, 'tsconfig.json'), JSON.stringify(tsconfig));
    writeFileSync(
      path.join(app, 'app.ts'),
      "import { ComfySealClient } from 'comfy-seal';\nimport { startSimulator } from 'comfy-seal/simulator';\n" +
        "export const go = async () => { const sim = await startSimulator({ port: 0 }); const url: string = sim.url; await sim.close(); return [url, ComfySealClient.name]; };\n",
    );
    const result = await promisify(execFile)(process.execPath, [TSC, '-p', app]).then(
      () => '',
      (error: { stdout?: string }) => error.stdout ?? String(error),
    );
    expect(result).toBe('');
  } finally {
    rmSync(app, { recursive: true, force: true });
  }
}, 120_000);
