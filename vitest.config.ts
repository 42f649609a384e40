import { configDefaults, defineConfig } from 'vitest/config';

// `npm test`: every test that needs nothing beside the clone. The tests that read the development workspace's
// reference material (../shared) are tests/reference, run by `npm run test:reference` (vitest.reference.config.ts).
export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    exclude: [...configDefaults.exclude, 'tests/reference/**'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
