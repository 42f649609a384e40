import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../handler/clock.js';
import { warmUp, warmupCheck, warmupStatusFile } from '../../handler/warmup.js';
import { Fernet, openResult, sealBundle } from '../../shared/index.js';
import { startSimulator } from '../../simulator/index.js';
import { runCli } from '../helpers/cli.js';
import { getJson } from '../helpers/http.js';
import { startService } from '../helpers/services.js';
import { startRig, type Rig } from '../helpers/pipeline.js';

const CANARY = 'canary-warmup-71b2-larch';
const workflow = {
  '1': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'warm.safetensors' } },
  '2': { class_type: 'EmptyLatentImage', inputs: { width: 16, height: 16, batch_size: 1 } },
  '3': { class_type: 'CLIPTextEncode', inputs: { text: `a ${CANARY}`, clip: ['1', 1] } },
  '4': { class_type: 'KSampler', inputs: { model: ['1', 0], seed: 1, steps: 3, cfg: 1, sampler_name: 'euler', scheduler: 'normal', positive: ['3', 0], negative: ['3', 0], latent_image: ['2', 0], denoise: 1 } },
  '5': { class_type: 'VAEDecode', inputs: { samples: ['4', 0], vae: ['1', 2] } },
  '6': { class_type: 'SaveImage', inputs: { images: ['5', 0], filename_prefix: `warm-${CANARY}` } },
};

let work: string;
let workflowPath: string;
beforeAll(() => {
  work = mkdtempSync(path.join(os.tmpdir(), 'cs-warmup-'));
  mkdirSync(path.join(work, 'image'));
  workflowPath = path.join(work, 'image', 'warmup-workflow.json');
  writeFileSync(workflowPath, JSON.stringify(workflow));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

let rig: Rig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

const statusOf = (r: Rig) => JSON.parse(readFileSync(warmupStatusFile(path.join(r.root, 'input')), 'utf8'));
const events = (r: Rig) => r.logs.map((l) => JSON.parse(l) as { message?: string; event?: string; code?: string });

describe('warm-up (COMFY_SEAL_WARMUP_WORKFLOW)', () => {
  it('runs the workflow once before start() returns, then wipes its files and deletes its history', async () => {
    rig = await startRig({ warmup: { workflowPath, required: false } });
    const prompts = rig.sim.calls.filter((c) => c.method === 'POST' && c.path === '/prompt');
    expect(prompts).toHaveLength(1);
    expect(rig.leftovers()).toEqual([]);
    expect(await getJson(`${rig.sim.url}/history`)).toEqual({});
    const status = statusOf(rig);
    expect(status).toEqual({ code: 'OK', ms: expect.any(Number), at: expect.any(String), required: false });
    expect(Date.parse(status.at)).toBeGreaterThan(Date.now() - 60_000);
    expect(JSON.stringify(status) + rig.logs.join('')).not.toContain(CANARY);
    expect(rig.logs.join('')).toContain('warmup.done');
    expect(await warmupCheck(workflowPath, false, path.join(rig.root, 'input'))()).toMatchObject({ verdict: 'ok', detail: expect.stringMatching(/^ran in \d+ ms/) });

    // The worker then takes jobs as usual; the warm-up's prompt never shows in them.
    const outcome = await rig.pipeline.run({ id: 'after-u1', input: { encrypted_input: sealBundle({ workflow, images: [], options: {} }, rig.fernet) } });
    expect(outcome.kind).toBe('success');
    if (outcome.kind === 'success') expect(openResult(outcome.output, rig.fernet).files.map((f) => f.filename)).toEqual([`warm-${CANARY}_00001_.png`]);
    expect(rig.leftovers()).toEqual([]);
  });

  it('logs a failure by code and starts anyway; doctor reports it', async () => {
    rig = await startRig({ sim: { faults: { errorAt: '5' } }, warmup: { workflowPath, required: false } });
    expect(statusOf(rig).code).toBe('EXECUTION_FAILED');
    const failed = events(rig).find((e) => JSON.stringify(e).includes('warmup.failed'));
    expect(JSON.stringify(failed)).toContain('EXECUTION_FAILED');
    expect(rig.logs.join('') + JSON.stringify(statusOf(rig))).not.toContain(CANARY);
    expect(rig.logs.join('')).not.toContain('VAEDecode');
    expect(rig.leftovers()).toEqual([]);
    expect(await getJson(`${rig.sim.url}/history`)).toEqual({});
    const input = path.join(rig.root, 'input');
    expect(await warmupCheck(workflowPath, false, input)()).toMatchObject({ verdict: 'warn', detail: expect.stringContaining('EXECUTION_FAILED') });
    expect(await warmupCheck(workflowPath, true, input)()).toMatchObject({ verdict: 'fail' });
    // doctor reads the worker's status file: its own shell need not have the worker's variables (#20)
    expect(await warmupCheck(undefined, false, input)()).toMatchObject({ verdict: 'warn', detail: expect.stringContaining('failed with EXECUTION_FAILED') });

    rig.sim.settings.faults = {};
    const outcome = await rig.pipeline.run({ id: 'next-u1', input: { encrypted_input: sealBundle({ workflow, images: [], options: {} }, rig.fernet) } });
    expect(outcome.kind).toBe('success');
  });

  it('a missing or non-JSON workflow file is BAD_INPUT, and not fatal unless required', async () => {
    rig = await startRig({ warmup: { workflowPath: path.join(work, 'nope.json'), required: false } });
    expect(statusOf(rig).code).toBe('BAD_INPUT');
    expect(rig.sim.calls.some((c) => c.path === '/prompt')).toBe(false);
    await rig.close();
    const notJson = path.join(work, 'bad.json');
    writeFileSync(notJson, '{ not json');
    rig = undefined;
    await expect(startRig({ warmup: { workflowPath: notJson, required: true } })).rejects.toMatchObject({ code: 'BAD_INPUT' });
  });

  it('a warm-up stopped by shutdown is neither a failure nor recorded, even when required', async () => {
    const statusFile = path.join(work, 'stopped-status.json');
    const logged: string[] = [];
    const status = await warmUp(
      { workflowPath, required: true },
      { runJob: async () => ({ kind: 'cancelled' }), log: { log: (_l, event) => logged.push(event) }, clock: systemClock, statusFile },
    );
    expect(status).toBeNull();
    expect(logged).toEqual([]);
    expect(existsSync(statusFile)).toBe(false);
  });

  it('comfy-seal worker --local exits 1 when the required warm-up fails, before serving anything', async () => {
    const dirs = { input: path.join(work, 'p-in'), output: path.join(work, 'p-out'), temp: path.join(work, 'p-tmp', 'temp') };
    const sim = await startSimulator({ port: 0, stepMs: 1, inputDir: dirs.input, outputDir: dirs.output, tempDir: dirs.temp, faults: { errorAt: '4' } });
    try {
      const args = ['worker', '--local', '--port', '0', '--comfy-url', sim.url, '--input-dir', dirs.input, '--output-dir', dirs.output, '--temp-dir', dirs.temp];
      const env = { ENCRYPTION_KEY: Fernet.generateKey(), COMFY_SEAL_WARMUP_WORKFLOW: workflowPath };
      const required = await runCli(args, { env: { ...env, COMFY_SEAL_WARMUP_REQUIRED: '1' } });
      expect(required.code).toBe(1);
      expect(required.stderr).toMatch(/EXECUTION_FAILED: the warm-up workflow failed/);
      const all = required.stdout.toString() + required.stderr;
      expect(all).not.toContain('local endpoint on');
      expect(all).not.toContain(CANARY);
      expect(JSON.parse(readFileSync(path.join(work, 'warmup.json'), 'utf8')).code).toBe('EXECUTION_FAILED');
      // Not required: the same failure is logged and the endpoint serves.
      const service = await startService(args, env);
      expect(await service.stop()).toBe(0);
      expect(service.output()).toMatch(/warmup\.failed.*EXECUTION_FAILED|EXECUTION_FAILED.*warmup\.failed/);
    } finally {
      await sim.close();
    }
  });

  it("doctor --worker reports the worker's warm-up from its status file, whatever doctor's own shell holds (#20)", async () => {
    const dirs = { input: path.join(work, 'd-in'), output: path.join(work, 'd-out'), temp: path.join(work, 'd-tmp', 'temp') };
    const sim = await startSimulator({ port: 0, stepMs: 1, inputDir: dirs.input, outputDir: dirs.output, tempDir: dirs.temp });
    const args = ['worker', '--local', '--port', '0', '--comfy-url', sim.url, '--input-dir', dirs.input, '--output-dir', dirs.output, '--temp-dir', dirs.temp];
    const doctorWarmup = async () => {
      // No COMFY_SEAL_WARMUP_* here: doctor runs in another shell than the worker.
      const r = await runCli(['doctor', '--worker', '--json', '--comfy-url', sim.url, '--input-dir', dirs.input, '--output-dir', dirs.output, '--temp-dir', dirs.temp], { env: {} });
      return (JSON.parse(r.stdout.toString()) as { checks: Array<{ name: string; verdict: string; detail: string }> }).checks.find((c) => c.name === 'warm-up');
    };
    try {
      const warmed = await startService(args, { ENCRYPTION_KEY: Fernet.generateKey(), COMFY_SEAL_WARMUP_WORKFLOW: workflowPath });
      expect(await doctorWarmup()).toMatchObject({ verdict: 'ok', detail: expect.stringMatching(/^ran in \d+ ms/) });
      expect(await warmed.stop()).toBe(0);
      // A worker started without a warm-up drops the earlier worker's status: doctor does not report that one as its.
      const plain = await startService(args, { ENCRYPTION_KEY: Fernet.generateKey() });
      expect(await doctorWarmup()).toMatchObject({ verdict: 'ok', detail: expect.stringContaining('none has run') });
      expect(await plain.stop()).toBe(0);
    } finally {
      await sim.close();
    }
  });
});
