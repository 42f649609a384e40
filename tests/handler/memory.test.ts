/**
 * Nothing of a job stays in ComfyUI's memory (contract §12), through the worker against the simulator: its node cache
 * is reset after every job (success, failure, timeout, cancel) unless keep-cache, a /free that fails makes the worker
 * unhealthy, and ComfyUI's in-memory log, as the image starts it, holds nothing of a job.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { jobConfigOf, resolveConfig } from '../../handler/config.js';
import { workerChecks } from '../../handler/doctor.js';
import type { JobOutcome } from '../../handler/job.js';
import { runChecks } from '../../shared/checks.js';
import { openError, sealBundle, type Bundle } from '../../shared/index.js';
import { getJson } from '../helpers/http.js';
import { startRig, type Rig } from '../helpers/pipeline.js';
import { Listener } from '../simulator/listener.js';

let rig: Rig | undefined;
let client: Listener | undefined;
afterEach(async () => {
  client?.ws.terminate();
  await rig?.close();
  rig = client = undefined;
});

const CANARY = 'canary-5d20c4';
const sealed = (r: Rig, b: Partial<Bundle> & Pick<Bundle, 'workflow'>) => ({ encrypted_input: sealBundle({ images: [], options: {}, ...b }, r.fernet) });
const run = (r: Rig, input: unknown, signal?: AbortSignal): Promise<JobOutcome> =>
  r.pipeline.run({ id: `job-${randomUUID()}`, input }, signal ? { signal } : {});

/** txt2img with the prompt text; nodes 1–5 are what ComfyUI's cache would keep of it (conditioning, latent, image). */
const txt2img = (text: string, prefix = 'out', sampler = 'euler') => ({
  '1': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'x.safetensors' } },
  '2': { class_type: 'EmptyLatentImage', inputs: { width: 64, height: 64, batch_size: 1 } },
  '3': { class_type: 'CLIPTextEncode', inputs: { text, clip: ['1', 1] } },
  '4': { class_type: 'KSampler', inputs: { model: ['1', 0], seed: 1, steps: 3, cfg: 1, sampler_name: sampler, scheduler: 'normal', positive: ['3', 0], negative: ['3', 0], latent_image: ['2', 0], denoise: 1 } },
  '5': { class_type: 'VAEDecode', inputs: { samples: ['4', 0], vae: ['1', 2] } },
  '6': { class_type: 'SaveImage', inputs: { images: ['5', 0], filename_prefix: prefix } },
});

/** The same prompt sent straight to ComfyUI after the job: the nodes its cache answered (`execution_cached`). */
async function cachedAfter(r: Rig, text: string): Promise<string[]> {
  client ??= await Listener.open(r.sim, 'probe');
  const id = randomUUID();
  await new Promise((resolve) => setTimeout(resolve, 20)); // the idle queue loop takes /free's flag as it wakes
  const res = await fetch(`${r.sim.url}/prompt`, { method: 'POST', body: JSON.stringify({ prompt: txt2img(text, 'probe'), client_id: 'probe', prompt_id: id }) });
  expect(res.status).toBe(200);
  await client.done(id);
  return client.log.find((m) => m.json?.type === 'execution_cached' && m.json.data.prompt_id === id)!.json!.data.nodes;
}

describe("ComfyUI's node cache after a job", () => {
  it('after a successful job an identical prompt runs every node again; with keep-cache it is answered from the cache', async () => {
    rig = await startRig();
    expect((await run(rig, sealed(rig, { workflow: txt2img(CANARY) }))).kind).toBe('success');
    expect(await cachedAfter(rig, CANARY)).toEqual([]);
    expect(rig.sim.calls.filter((c) => c.path === '/free')).toHaveLength(1);
    await rig.close();

    rig = await startRig({ job: { clearCache: false } });
    client?.ws.terminate();
    client = undefined;
    expect((await run(rig, sealed(rig, { workflow: txt2img(CANARY) }))).kind).toBe('success');
    expect(await cachedAfter(rig, CANARY)).toEqual(['1', '2', '3', '4', '5']);
    expect(rig.sim.calls.filter((c) => c.path === '/free')).toEqual([]);
  });

  it('COMFY_SEAL_KEEP_CACHE=1 (or --keep-cache) turns the clearing off; it is on by default', () => {
    const env = { ENCRYPTION_KEY: 'k' };
    expect(jobConfigOf(resolveConfig({}, env)).clearCache).toBe(true);
    expect(jobConfigOf(resolveConfig({}, { ...env, COMFY_SEAL_KEEP_CACHE: '1' })).clearCache).toBe(false);
    expect(jobConfigOf(resolveConfig({ 'keep-cache': '0' }, { ...env, COMFY_SEAL_KEEP_CACHE: '1' })).clearCache).toBe(true);
  });

  it("is kept after the warm-up (the image's own workflow: its loaded models serve the first job)", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'cs-warm-'));
    try {
      const workflowPath = path.join(dir, 'warmup.json');
      writeFileSync(workflowPath, JSON.stringify(txt2img('warm')));
      rig = await startRig({ warmup: { workflowPath, required: false } });
      expect(rig.sim.calls.filter((c) => c.path === '/free')).toEqual([]);
      expect(await cachedAfter(rig, 'warm')).toEqual(['1', '2', '3', '4', '5']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.each([
    ['a failed job', { errorAt: '5' }, {}],
    ['a timed-out job', { hangAt: '5' }, { timeout_s: 0.3 }],
  ])('is reset after %s too', async (_what, faults, options) => {
    rig = await startRig({ sim: { faults } });
    const outcome = await run(rig, sealed(rig, { workflow: txt2img(CANARY), options }));
    expect(outcome.kind === 'failure' && outcome.unhealthy).toBe(false);
    rig.sim.settings.faults = {};
    expect(await cachedAfter(rig, CANARY)).toEqual([]);
  });

  it('is reset after a cancelled job', async () => {
    rig = await startRig({ sim: { faults: { hangAt: '5' } } });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 300);
    expect((await run(rig, sealed(rig, { workflow: txt2img(CANARY) }), controller.signal)).kind).toBe('cancelled');
    rig.sim.settings.faults = {};
    expect(await cachedAfter(rig, CANARY)).toEqual([]);
  });

  it('a /free ComfyUI refuses makes the worker unhealthy, as a failed wipe does', async () => {
    rig = await startRig({ sim: { faults: { freeFails: true } } });
    const outcome = await run(rig, sealed(rig, { workflow: txt2img(CANARY) }));
    if (outcome.kind !== 'failure') throw new Error(`expected a failure, got ${outcome.kind}`);
    expect(outcome.unhealthy).toBe(true);
    expect(outcome.code).toBe('COMFY_UNAVAILABLE');
    expect(openError(outcome.error, rig.fernet).message).toMatch(/did not clear its cache/);
    expect(rig.logs.some((l) => JSON.parse(l).message === 'comfy.cache_kept')).toBe(true);
    expect(rig.leftovers()).toEqual([]);
    // The local endpoint's re-check before each job clears the cache too, and passes only once ComfyUI takes it.
    expect(await rig.pipeline.recheck()).toEqual({ problem: 'CACHE_KEPT' });
    rig.sim.settings.faults = {};
    expect(await rig.pipeline.recheck()).toBeNull();
  });
});

describe("ComfyUI's in-memory log after a job", () => {
  // A sampler name ComfyUI does not know: validation logs it with its details (the value), the job fails.
  const refused = () => txt2img('a cat', 'out', CANARY);

  it('as the image starts ComfyUI (its log kept at 0 entries, as the rig does) holds nothing of a job', async () => {
    rig = await startRig();
    const outcome = await run(rig, sealed(rig, { workflow: refused() }));
    expect(outcome.kind === 'failure' && outcome.code).toBe('WORKFLOW_INVALID');
    expect(await getJson(`${rig.sim.url}/internal/logs`)).toBe('');
    expect((await getJson(`${rig.sim.url}/internal/logs/raw`)).entries).toEqual([]);
  });

  it('a stock ComfyUI (300 entries) would keep the job\'s text there: the reason for the launcher', async () => {
    rig = await startRig({ sim: { logCapacity: 300 } });
    await run(rig, sealed(rig, { workflow: refused() }));
    expect(await getJson(`${rig.sim.url}/internal/logs`)).toContain(CANARY);
  });

  it('the worker warns at start, and doctor --worker fails with the fix, when ComfyUI keeps its log', async () => {
    const logCheck = async (r: Rig) => {
      const config = resolveConfig({ 'comfy-url': r.sim.url, 'input-dir': r.sim.dirs.input, 'output-dir': r.sim.dirs.output, 'temp-dir': r.sim.dirs.temp }, {}, { requireKey: false });
      const results = await runChecks(workerChecks({ config, python: 'python3', modelsDir: r.root }));
      return results.find((c) => c.name === 'comfyui log');
    };
    const warned = (r: Rig) => r.logs.some((l) => JSON.parse(l).message === 'comfy.log_kept');
    rig = await startRig({ sim: { logCapacity: 300 } });
    expect(warned(rig)).toBe(true);
    expect(await logCheck(rig)).toMatchObject({ verdict: 'fail', fix: expect.stringContaining('docker/comfyui-launch.py') });
    await rig.close();
    rig = await startRig();
    expect(warned(rig)).toBe(false);
    expect(await logCheck(rig)).toMatchObject({ verdict: 'ok', detail: "ComfyUI's in-memory log keeps nothing" });
  });
});
