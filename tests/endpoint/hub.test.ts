import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { PNG } from 'pngjs';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { Fernet, openBundle, openResult } from '../../shared/index.js';
import { startRig, type Rig } from '../helpers/pipeline.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const readJson = (file: string): unknown => JSON.parse(readFileSync(`${root}${file}`, 'utf8'));

// What the Hub's publishing guide requires of hub.json and tests.json (runpod/docs hub/publishing-guide.mdx).
const envInput = z.discriminatedUnion('type', [
  z.strictObject({ name: z.string().min(1), type: z.literal('string'), description: z.string().min(1), default: z.string().optional(), advanced: z.boolean().optional(), options: z.array(z.object({ label: z.string(), value: z.string() })).optional() }),
  z.strictObject({ name: z.string().min(1), type: z.literal('number'), description: z.string().min(1), default: z.number().optional(), min: z.number().optional(), max: z.number().optional(), advanced: z.boolean().optional() }),
  z.strictObject({ name: z.string().min(1), type: z.literal('boolean'), description: z.string().min(1), default: z.boolean().optional(), trueValue: z.string().optional(), falseValue: z.string().optional(), advanced: z.boolean().optional() }),
  z.strictObject({ name: z.string().min(1), type: z.literal('huggingface'), description: z.string().min(1), default: z.string().optional(), advanced: z.boolean().optional() }),
]);
const envKey = z.string().regex(/^[A-Z_][A-Z0-9_]*$/);
const cudaVersions = z.array(z.string().regex(/^\d+\.\d+$/)).min(1);
const hubSchema = z.strictObject({
  title: z.string().min(1),
  description: z.string().min(1),
  type: z.literal('serverless'),
  category: z.enum(['audio', 'embedding', 'language', 'video', 'image']),
  iconUrl: z.url().optional(),
  config: z
    .strictObject({
      runsOn: z.enum(['GPU', 'CPU']),
      containerDiskInGb: z.number().int().positive(),
      gpuCount: z.number().int().positive().optional(),
      gpuIds: z.string().min(1).optional(),
      cpuFlavor: z.string().optional(),
      allowedCudaVersions: cudaVersions.optional(),
      presets: z.array(z.object({ name: z.string(), defaults: z.record(z.string(), z.unknown()) })).optional(),
      env: z.array(z.union([z.strictObject({ key: envKey, value: z.string() }), z.strictObject({ key: envKey, input: envInput })])),
    })
    .refine((c) => c.runsOn !== 'GPU' || (c.gpuCount !== undefined && c.gpuIds !== undefined), 'a GPU listing needs gpuCount and gpuIds'),
});
const testsSchema = z.strictObject({
  tests: z.array(z.strictObject({ name: z.string().min(1), input: z.record(z.string(), z.unknown()), timeout: z.number().int().positive().optional() })).min(1),
  config: z.strictObject({
    gpuTypeId: z.string().min(1),
    gpuCount: z.number().int().positive(),
    env: z.array(z.strictObject({ key: envKey, value: z.string() })).optional(),
    allowedCudaVersions: cudaVersions.optional(),
  }),
});

/** The variables README's deploy table names (`_OUTPUT_DIR` after `COMFY_SEAL_INPUT_DIR` is COMFY_SEAL_OUTPUT_DIR). */
function readmeVariables(): string[] {
  const readme = readFileSync(`${root}README.md`, 'utf8');
  const table = readme.slice(readme.indexOf('| variable | default | meaning |'));
  const rows = table.split('\n').slice(2);
  const names: string[] = [];
  for (const row of rows) {
    if (!row.startsWith('|')) break;
    const cell = row.split('|')[1]!;
    for (const [, name] of cell.matchAll(/`([A-Z_][A-Z0-9_]*)`/g)) {
      const full = name!.startsWith('_') ? names.at(-1)!.replace(/_[A-Z]+_DIR$/, '') + name : name!;
      names.push(full);
    }
  }
  return names;
}

let rig: Rig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

describe('RunPod Hub listing (.runpod/)', () => {
  const hub = hubSchema.parse(readJson('.runpod/hub.json'));
  const tests = testsSchema.parse(readJson('.runpod/tests.json'));
  const testEnv = Object.fromEntries((tests.config.env ?? []).map((e) => [e.key, e.value]));

  it('hub.json and tests.json have the shape the Hub requires, and agree with each other', () => {
    const keys = hub.config.env.map((e) => e.key);
    expect(new Set(keys).size).toBe(keys.length);
    for (const e of hub.config.env) {
      if ('input' in e && e.input.default !== undefined && e.input.type !== 'huggingface') expect(typeof e.input.default).toBe(e.input.type === 'number' ? 'number' : e.input.type === 'boolean' ? 'boolean' : 'string');
    }
    // The image reads switches as 1/0 (start.sh: [ "$COMFY_FAST" = "1" ]), so each boolean says what it sends.
    for (const e of hub.config.env) if ('input' in e && e.input.type === 'boolean') expect([e.key, e.input.trueValue, e.input.falseValue]).toEqual([e.key, '1', '0']);
    // Every variable the test sets is one the listing knows.
    for (const key of Object.keys(testEnv)) expect(keys).toContain(key);
    for (const v of tests.config.allowedCudaVersions ?? []) expect(hub.config.allowedCudaVersions).toContain(v);
  });

  it("lists every variable of README's table in hub.json", () => {
    const names = readmeVariables();
    expect(names).toEqual(expect.arrayContaining(['ENCRYPTION_KEY', 'COMFY_SEAL_OUTPUT_DIR', 'COMFY_SEAL_WARMUP_WORKFLOW']));
    const keys = hub.config.env.map((e) => e.key);
    expect(names.filter((n) => !keys.includes(n))).toEqual([]);
  });

  it('the test job opens with the test key to a model-free bundle, never expires, and runs', async () => {
    expect(testEnv.COMFY_SEAL_TOKEN_TTL_S).toBe('0');
    const key = testEnv.ENCRYPTION_KEY!;
    const [test] = tests.tests;
    const token = (test!.input as { encrypted_input: string }).encrypted_input;
    // Years from now (TTL 0 = no limit) it still opens; a TTL would have refused it.
    const bundle = openBundle(token, new Fernet(key), { ttlSeconds: 0 });
    expect(() => openBundle(token, new Fernet(key), { ttlSeconds: 86_400 })).toThrow(expect.objectContaining({ code: 'TOKEN_EXPIRED' }));
    expect(Object.values(bundle.workflow).map((n) => n.class_type)).toEqual(['LoadImage', 'ImageInvert', 'SaveImage']);
    expect(PNG.sync.read(Buffer.from(bundle.images[0]!.data)).width).toBe(8);

    rig = await startRig({ key, job: { tokenTtlS: Number(testEnv.COMFY_SEAL_TOKEN_TTL_S) } });
    const outcome = await rig.pipeline.run({ id: 'hub-test-u1', input: test!.input });
    expect(outcome.kind).toBe('success');
    if (outcome.kind !== 'success') return;
    const [file] = openResult(outcome.output, rig.fernet).files;
    expect(file!.filename).toBe('hub-test_00001_.png');
    expect(rig.leftovers()).toEqual([]);
  });

  it('tests.json is exactly what scripts/hub-tests.mjs makes', () => {
    // The script seals with the built package, as users' scripts do.
    expect(() => execFileSync(process.execPath, [`${root}scripts/hub-tests.mjs`, '--check'], { stdio: 'pipe' })).not.toThrow();
  });
});
