import { defineConfig } from 'vitest/config';
import base from './vitest.config.js';

// `npm run test:reference`: the code held to the reference material in ../shared (public workflows, UI files).
// Without ../shared it fails at once with one clear line (tests/reference/setup.ts); CI runs it after `npm test`.
export default defineConfig({
  test: {
    ...base.test,
    include: ['tests/reference/**/*.test.ts'],
    exclude: ['**/node_modules/**'],
    globalSetup: ['tests/reference/setup.ts'],
  },
});
