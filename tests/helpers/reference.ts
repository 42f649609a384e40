/**
 * The development workspace's reference material, `../shared` beside the clone (contract, public workflows, UI files).
 * A user's clone has none: only the reference suite (tests/reference, `npm run test:reference`) may read it.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Workflow } from '../../shared/schema.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** `../shared`, beside the clone. */
export const SHARED = path.resolve(ROOT, '../shared');

/** A path inside the reference material. */
export const sharedPath = (...parts: string[]): string => path.join(SHARED, ...parts);

/** The folder of the 16 public API-format workflows (read in place, never copied into the repo). */
export const WORKFLOWS = sharedPath('fixtures', 'workflows');

/** The folder of the UI-format workflows beside their API exports. */
export const UI_WORKFLOWS = sharedPath('fixtures', 'ui-workflows');

/** A public API-format workflow, by file name. */
export function publicWorkflow(name: string): Workflow {
  return JSON.parse(readFileSync(path.join(WORKFLOWS, name), 'utf8')) as Workflow;
}

/** Why the reference suite cannot run, or undefined when the material is there. */
export function missingReference(): string | undefined {
  for (const dir of [WORKFLOWS, UI_WORKFLOWS]) {
    if (!existsSync(dir)) {
      return `the reference suite needs the development workspace's reference material at ${SHARED} (no ${path.relative(SHARED, dir)} there): ` +
        'place it beside the clone as ../shared; `npm test` runs every test that needs nothing beside the clone';
    }
  }
  return undefined;
}
