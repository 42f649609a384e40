import * as nodeFs from 'node:fs/promises';
import { PNG } from 'pngjs';
import { afterEach, describe, expect, it } from 'vitest';
import os from 'node:os';
import { DEFAULT_JOB_CONFIG, type JobOutcome } from '../../handler/job.js';
import { silentLogger } from '../../handler/log.js';
import { Pipeline } from '../../handler/pipeline.js';
import type { FileSystem } from '../../handler/storage.js';
import { Fernet, openError, openProgress, openResult, sealBundle, type Bundle } from '../../shared/index.js';
import { pngOf, startRig, type Rig } from '../helpers/pipeline.js';

const CANARY = 'canary-9d4e-saffron-kestrel';
const red = pngOf(8, 6, () => [200, 10, 10]);
const blue = pngOf(5, 5, () => [0, 0, 255]);

/** Two loaders, an invert, a sampler chain with the canary prompt, two saves (one in a subfolder) and a preview. */
function workflow(extra: Record<string, unknown> = {}) {
  return {
    '1': { class_type: 'LoadImage', inputs: { image: `${CANARY}.png` } },
    '2': { class_type: 'LoadImage', inputs: { image: 'b.png' } },
    '3': { class_type: 'ImageInvert', inputs: { image: ['1', 0] } },
    '4': { class_type: 'SaveImage', inputs: { images: ['3', 0], filename_prefix: 'inv' } },
    '5': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: 'copy/b' } },
    '6': { class_type: 'PreviewImage', inputs: { images: ['2', 0] } },
    '10': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'sd15.safetensors' } },
    '11': { class_type: 'CLIPTextEncode', inputs: { text: `a photo of ${CANARY}`, clip: ['10', 1] } },
    '12': { class_type: 'CLIPTextEncode', inputs: { text: 'blurry', clip: ['10', 1] } },
    '13': { class_type: 'EmptyLatentImage', inputs: { width: 16, height: 16, batch_size: 1 } },
    '14': {
      class_type: 'KSampler',
      inputs: { model: ['10', 0], seed: 7, steps: 5, cfg: 7, sampler_name: 'euler', scheduler: 'normal', positive: ['11', 0], negative: ['12', 0], latent_image: ['13', 0], denoise: 1 },
    },
    '15': { class_type: 'VAEDecode', inputs: { samples: ['14', 0], vae: ['10', 2] } },
    '16': { class_type: 'SaveImage', inputs: { images: ['15', 0], filename_prefix: 'gen' } },
    ...extra,
  };
}

function bundle(overrides: Partial<Bundle> = {}): Bundle {
  return {
    workflow: workflow(),
    images: [
      { name: `${CANARY}.png`, data: red },
      { name: 'b.png', data: blue },
    ],
    options: {},
    ...overrides,
  };
}

let rig: Rig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

async function run(r: Rig, input: unknown, progress: unknown[] = [], signal?: AbortSignal): Promise<JobOutcome> {
  return r.pipeline.run({ id: `job-${Math.random().toString(16).slice(2)}-u1`, input }, { onProgress: (p) => progress.push(p), ...(signal ? { signal } : {}) });
}

function failureOf(outcome: JobOutcome, fernet: Fernet | null) {
  expect(outcome.kind).toBe('failure');
  if (outcome.kind !== 'failure') throw new Error('not a failure');
  return { ...outcome, opened: openError(outcome.error, fernet) };
}

describe('the job pipeline against the simulator', () => {
  it('runs a sealed job with several inputs and outputs, seals progress and result, and leaves no file', async () => {
    rig = await startRig();
    const progress: unknown[] = [];
    const outcome = await run(rig, { encrypted_input: sealBundle(bundle(), rig.fernet) }, progress);
    expect(outcome.kind).toBe('success');
    if (outcome.kind !== 'success') return;
    const result = openResult(outcome.output, rig.fernet);
    const names = result.files.map((f) => `${f.subfolder ? `${f.subfolder}/` : ''}${f.filename}:${f.kind}:${f.nodeId}`);
    expect(names).toEqual(['inv_00001_.png:image:4', 'copy/b_00001_.png:image:5', 'gen_00001_.png:image:16']);
    // The inverted red image really is inverted (SaveImage truncates float32 as ComfyUI does: 255 - 200 → 54).
    const inv = PNG.sync.read(result.files[0]!.data);
    expect([inv.width, inv.height, inv.data[0], inv.data[1], inv.data[2]]).toEqual([8, 6, 54, 245, 245]);
    expect(result.files[1]!.data.equals(PNG.sync.write(PNG.sync.read(blue)))).toBe(true);
    expect(Object.keys(result.timingsMs)).toEqual(expect.arrayContaining(['open', 'stage', 'run', 'collect', 'total']));
    // The older endpoint's images map only for a request in its shape (§3): here, the newer one.
    const plain = JSON.parse(rig.fernet.decrypt((outcome.output as { encrypted_output: string }).encrypted_output).toString());
    expect(plain.images).toBeUndefined();
    const older = await run(rig, { encrypted_input: sealBundle(bundle(), rig.fernet), is_encrypted: true });
    const olderPlain = JSON.parse(rig.fernet.decrypt((older as { output: { encrypted_output: string } }).output.encrypted_output).toString());
    expect(Object.keys(olderPlain.images)).toEqual(['inv_00001_.png', 'b_00001_.png', 'gen_00001_.png']);

    expect(progress.length).toBeGreaterThan(3);
    const opened = progress.map((p) => openProgress(p, rig!.fernet));
    expect(opened.every((p) => p !== null)).toBe(true);
    expect(opened.some((p) => p!.state === 'running' && p!.step?.max === 5)).toBe(true);
    expect(rig.leftovers()).toEqual([]);
  });

  it('never lets a canary prompt or image name out: logs, progress, errors, files', async () => {
    rig = await startRig();
    const progress: unknown[] = [];
    const ok = await run(rig, { encrypted_input: sealBundle(bundle(), rig.fernet) }, progress);
    // Output nodes always run again (per-job prefix), so the fault lands even though the rest is cached.
    rig.sim.settings.faults = { errorAt: '16' };
    const failed = await run(rig, { encrypted_input: sealBundle(bundle(), rig.fernet) }, progress);
    const visible = JSON.stringify([rig.logs, progress, failed.kind === 'failure' ? failed.error : null, ok.kind === 'success' ? ok.output : null]);
    expect(visible).not.toContain(CANARY);
    expect(visible).not.toContain('SaveImage');
    expect(rig.leftovers()).toEqual([]);
    expect(failureOf(failed, rig.fernet).opened.details.node_type).toBe('SaveImage');
  });

  it('refuses what ComfyUI refuses (node_errors) with WORKFLOW_INVALID, details sealed', async () => {
    rig = await startRig();
    const wf = workflow();
    delete (wf['14'].inputs as Record<string, unknown>).positive;
    const f = failureOf(await run(rig, { encrypted_input: sealBundle(bundle({ workflow: wf }), rig.fernet) }), rig.fernet);
    expect(f.code).toBe('WORKFLOW_INVALID');
    expect(JSON.parse(f.error)).toEqual({ code: 'WORKFLOW_INVALID', encrypted_error: expect.any(String) });
    const nodeErrors = f.opened.details.node_errors as Record<string, { errors: Array<{ type: string }> }>;
    expect(nodeErrors['14']!.errors[0]!.type).toBe('required_input_missing');
    expect(rig.leftovers()).toEqual([]);
  });

  it('never runs a partial workflow: 200 with node_errors is removed and refused', async () => {
    rig = await startRig();
    const wf = workflow({ '20': { class_type: 'SaveImage', inputs: { images: ['99', 0], filename_prefix: 'broken' } } });
    const f = failureOf(await run(rig, { encrypted_input: sealBundle(bundle({ workflow: wf }), rig.fernet) }), rig.fernet);
    expect(f.code).toBe('WORKFLOW_INVALID');
    expect(Object.keys(f.opened.details.node_errors as object)).toEqual(['20']);
    expect(rig.sim.calls.some((c) => c.method === 'POST' && c.path === '/queue')).toBe(true);
    expect(rig.leftovers()).toEqual([]);
  });

  it('reports execution_error as EXECUTION_FAILED and stays healthy', async () => {
    rig = await startRig({ sim: { faults: { errorAt: '15' } } });
    const f = failureOf(await run(rig, { encrypted_input: sealBundle(bundle(), rig.fernet) }), rig.fernet);
    expect(f.code).toBe('EXECUTION_FAILED');
    expect(f.opened.details).toMatchObject({ node_id: '15', node_type: 'VAEDecode', exception_type: 'RuntimeError' });
    expect(f.unhealthy).toBe(false);
    rig.sim.settings.faults = {};
    expect((await run(rig, { encrypted_input: sealBundle(bundle(), rig.fernet) })).kind).toBe('success');
    expect(rig.leftovers()).toEqual([]);
  });

  it('times out a hung prompt: interrupts it, fails with TIMEOUT, and takes the next job', async () => {
    rig = await startRig({ sim: { faults: { hangAt: 'KSampler' } } });
    const started = Date.now();
    const f = failureOf(await run(rig, { encrypted_input: sealBundle(bundle({ options: { timeout_s: 1 } }), rig.fernet) }), rig.fernet);
    expect(f.code).toBe('TIMEOUT');
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(rig.sim.calls.some((c) => c.path === '/interrupt')).toBe(true);
    rig.sim.settings.faults = {};
    expect((await run(rig, { encrypted_input: sealBundle(bundle(), rig.fernet) })).kind).toBe('success');
    expect(rig.leftovers()).toEqual([]);
  });

  it('fails with COMFY_UNAVAILABLE (and asks for a new worker) when ComfyUI dies mid-job', async () => {
    rig = await startRig({ sim: { faults: { crashAt: 'KSampler' } } });
    const f = failureOf(await run(rig, { encrypted_input: sealBundle(bundle(), rig.fernet) }), rig.fernet);
    expect(f.code).toBe('COMFY_UNAVAILABLE');
    expect(f.unhealthy).toBe(true);
    expect(await rig.pipeline.healthy()).toBe(false);
    expect(rig.leftovers()).toEqual([]);
  });

  it.each([
    ['history written late (the race)', { historyDelayMs: 300 }],
    // The file exists when ComfyUI reports it (it closes its files first); a custom node may still be appending.
    ['outputs still growing, in chunks', { faults: { lateOutputs: { delayMs: 0, chunks: 4, chunkDelayMs: 40 } } }],
    ['the socket dropped mid-run', { dropAfterMessages: 12 }],
    ["other clients' prompts in the queue", { foreignPrompts: 2 }],
  ])('completes with every output despite %s', async (_what, sim) => {
    rig = await startRig({ sim });
    const outcome = await run(rig, { encrypted_input: sealBundle(bundle(), rig.fernet) });
    expect(outcome.kind).toBe('success');
    if (outcome.kind !== 'success') return;
    const files = openResult(outcome.output, rig.fernet).files;
    expect(files.map((f) => f.filename)).toEqual(['inv_00001_.png', 'b_00001_.png', 'gen_00001_.png']);
    for (const f of files) expect(() => PNG.sync.read(f.data)).not.toThrow();
    expect(rig.leftovers()).toEqual([]);
  });

  it("runs the same job twice: ComfyUI's cache never answers with the first job's wiped files", async () => {
    rig = await startRig();
    const input = { encrypted_input: sealBundle(bundle(), rig.fernet) };
    const first = await run(rig, input);
    const second = await run(rig, input);
    expect([first.kind, second.kind]).toEqual(['success', 'success']);
    if (second.kind !== 'success' || first.kind !== 'success') return;
    const a = openResult(first.output, rig.fernet).files;
    const b = openResult(second.output, rig.fernet).files;
    expect(b.map((f) => f.filename)).toEqual(a.map((f) => f.filename));
    expect(b.map((f) => f.data.length)).toEqual(a.map((f) => f.data.length));
  });

  it('cancels: interrupts, wipes, and reports cancelled (nothing to post)', async () => {
    rig = await startRig({ sim: { stepMs: 50 } });
    const controller = new AbortController();
    const wf = workflow();
    (wf['14'].inputs as Record<string, unknown>).steps = 200;
    setTimeout(() => controller.abort(), 300);
    const outcome = await run(rig, { encrypted_input: sealBundle(bundle({ workflow: wf }), rig.fernet) }, [], controller.signal);
    expect(outcome.kind).toBe('cancelled');
    expect(rig.sim.calls.some((c) => c.path === '/interrupt')).toBe(true);
    expect(rig.leftovers()).toEqual([]);
  });

  it('fails with OUTPUT_TOO_LARGE past the result limit', async () => {
    rig = await startRig({ job: { maxResultBytes: 500 } });
    const f = failureOf(await run(rig, { encrypted_input: sealBundle(bundle(), rig.fernet) }), rig.fernet);
    expect(f.code).toBe('OUTPUT_TOO_LARGE');
    expect(rig.leftovers()).toEqual([]);
  });

  it('turns a full disk into a clear failure with no file left', async () => {
    const fs: FileSystem = {
      ...nodeFs,
      open: (async (file: string, flags: string, mode?: number) => {
        if (flags === 'wx') throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
        return nodeFs.open(file, flags, mode);
      }) as FileSystem['open'],
    };
    rig = await startRig({ fs });
    const f = failureOf(await run(rig, { encrypted_input: sealBundle(bundle(), rig.fernet) }), rig.fernet);
    expect(f.code).toBe('INTERNAL');
    expect(f.opened.message).toContain('ENOSPC');
    expect(rig.leftovers()).toEqual([]);
    rig.sim.settings.faults = {};
  });
});

describe('start-up', () => {
  it('waits for a slow ComfyUI (connections refused meanwhile), then runs jobs', async () => {
    const started = Date.now();
    rig = await startRig({ sim: { slowStartMs: 700 } });
    expect(Date.now() - started).toBeGreaterThanOrEqual(600);
    expect((await run(rig, { encrypted_input: sealBundle(bundle(), rig.fernet) })).kind).toBe('success');
    expect(rig.logs.some((l) => JSON.parse(l).message === 'comfy.ready')).toBe(true);
  });

  it('gives up with COMFY_UNAVAILABLE when ComfyUI never answers', async () => {
    const dir = os.tmpdir();
    const p = new Pipeline({ comfyUrl: 'http://127.0.0.1:9', key: Fernet.generateKey(), job: { ...DEFAULT_JOB_CONFIG, dirs: { input: `${dir}/cs-x-in`, output: `${dir}/cs-x-out`, temp: `${dir}/cs-x-tmp` } }, log: silentLogger });
    await expect(p.start(300)).rejects.toMatchObject({ code: 'COMFY_UNAVAILABLE', message: expect.stringContaining('did not answer at http://127.0.0.1:9') });
    await p.close();
  });
});

describe('bad input never crashes the pipeline', () => {
  const other = new Fernet(Fernet.generateKey());
  const cases: Array<[string, (r: Rig) => unknown, string, boolean]> = [
    ['a traversal image name', (r) => ({ encrypted_input: r.fernet.encrypt(JSON.stringify({ workflow: workflow(), images: [{ name: `../${CANARY}.png`, image: red.toString('base64') }] })) }), 'BAD_INPUT', true],
    ['a tampered token', (r) => ({ encrypted_input: `${sealBundle(bundle(), r.fernet).slice(0, -10)}AAAAAAAAA=` }), 'DECRYPT_FAILED', false],
    ['an expired token', (r) => ({ encrypted_input: r.fernet.encrypt(JSON.stringify({ workflow: workflow() }), { nowSeconds: Math.floor(Date.now() / 1000) - 200_000 }) }), 'TOKEN_EXPIRED', true],
    ['a wrong-key token', () => ({ encrypted_input: sealBundle(bundle(), other) }), 'DECRYPT_FAILED', false],
    ['plaintext', () => ({ workflow: workflow(), images: [] }), 'PLAINTEXT_REFUSED', false],
    ['an oversized bundle', (r) => ({ encrypted_input: r.fernet.encrypt(Buffer.alloc(70 * 1024 * 1024, 32)) }), 'BAD_INPUT', true],
    ['malformed JSON', (r) => ({ encrypted_input: r.fernet.encrypt('{"workflow": {') }), 'BAD_INPUT', true],
    ['an unknown option', (r) => ({ encrypted_input: sealBundle(bundle({ options: { timeout: 3 } as never }), r.fernet) }), 'BAD_INPUT', true],
    ['a loader naming a file the bundle lacks', (r) => ({ encrypted_input: sealBundle(bundle({ images: [{ name: 'b.png', data: blue }] }), r.fernet) }), 'WORKFLOW_INVALID', true],
    ['not an object', () => 'hello', 'BAD_INPUT', false],
  ];

  it.each(cases)('%s → %s, healthy after, nothing written', async (_what, input, code, sealed) => {
    rig ??= await startRig();
    const outcome = await run(rig, input(rig));
    const f = failureOf(outcome, rig.fernet);
    expect(f.code).toBe(code);
    expect(f.unhealthy).toBe(false);
    const wire = JSON.parse(f.error);
    expect(Object.keys(wire).sort()).toEqual(sealed ? ['code', 'encrypted_error'] : ['code', 'message']);
    expect(f.error).not.toContain(CANARY);
    expect(rig.leftovers()).toEqual([]);
    expect(rig.sim.calls.filter((c) => c.path === '/prompt' && c.method === 'POST')).toHaveLength(0);
    expect((await run(rig, { encrypted_input: sealBundle(bundle(), rig.fernet) })).kind).toBe('success');
  });
});
