#!/usr/bin/env node
// Writes .runpod/tests.json: the RunPod Hub's test job, run in the image as built with no model (LoadImage →
// ImageInvert → SaveImage), sealed with a PUBLIC test key that only the Hub's test endpoint uses. Reproducible: the key,
// IV and timestamp are fixed, so running this again gives the same bytes (`--check` exits 1 when the file differs).
// The token is dated in the past and the test env sets COMFY_SEAL_TOKEN_TTL_S=0, so it never expires.
// Needs the build (npm run build).
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Fernet, serializeBundle } from '../dist/index.js';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const file = path.join(root, '.runpod', 'tests.json');

const derived = (label, bytes) => createHash('sha256').update(`comfy-seal hub test: ${label}`).digest().subarray(0, bytes);
/** Public on purpose: it seals only this test job. Never use it for an endpoint that takes real work. */
export const HUB_TEST_KEY = derived('key', 32).toString('base64url') + '=';
const IV = derived('iv', 16);
const ISSUED = 1_767_225_600; // 2026-01-01T00:00:00Z

// An 8×8 gradient PNG.
const IMAGE = 'iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAYAAADED76LAAAALElEQVR4AX3BAQ2AABADsZK8kJOKc3Cw9uH9QgghhHAynUwn08l0Mp1MJ9MP3/oDXdZ7DJMAAAAASUVORK5CYII=';

const bundle = {
  workflow: {
    '1': { class_type: 'LoadImage', inputs: { image: 'hub-test.png' } },
    '2': { class_type: 'ImageInvert', inputs: { image: ['1', 0] } },
    '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: 'hub-test' } },
  },
  images: [{ name: 'hub-test.png', data: Buffer.from(IMAGE, 'base64') }],
  options: {},
};

const token = new Fernet(HUB_TEST_KEY).encrypt(serializeBundle(bundle), { iv: IV, nowSeconds: ISSUED });
const tests = {
  tests: [{ name: 'sealed_invert_no_model', input: { encrypted_input: token }, timeout: 300_000 }],
  config: {
    gpuTypeId: 'NVIDIA GeForce RTX 4090',
    gpuCount: 1,
    env: [
      { key: 'ENCRYPTION_KEY', value: HUB_TEST_KEY },
      { key: 'COMFY_SEAL_TOKEN_TTL_S', value: '0' },
    ],
    allowedCudaVersions: ['12.8', '12.9', '13.0'],
  },
};
const text = `${JSON.stringify(tests, null, 2)}\n`;

if (process.argv.includes('--check')) {
  const current = await readFile(file, 'utf8').catch(() => '');
  if (current !== text) {
    process.stderr.write('.runpod/tests.json is not what scripts/hub-tests.mjs makes; run: node scripts/hub-tests.mjs\n');
    process.exit(1);
  }
} else {
  await writeFile(file, text);
  process.stdout.write(`wrote ${path.relative(root, file)}\n`);
}
