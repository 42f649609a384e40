import { defineConfig } from 'tsup';

// Two builds: the library entries (ESM + CJS + .d.ts) and the bin (ESM with code splitting, so each
// command's module is loaded only when that command runs: `comfy-seal run` never loads the worker).
export default defineConfig([
  {
    entry: { index: 'client/index.ts', simulator: 'simulator/index.ts' },
    format: ['esm', 'cjs'],
    dts: true,
    sourcemap: true,
    target: 'node20',
    platform: 'node',
    splitting: true,
    shims: true,
    // Public classes keep their names (constructor.name, stack traces); esbuild would rename clashing ones.
    keepNames: true,
  },
  {
    // handler.js is for the benches (bench/job.mjs), not an export of the package.
    entry: { cli: 'cli/main.ts', handler: 'handler/index.ts' },
    format: ['esm'],
    sourcemap: true,
    target: 'node20',
    platform: 'node',
    splitting: true,
  },
]);
