/** `doctor --worker` against a real simulator: it proves ComfyUI reads the worker's input dir, and every fail has a fix. */
import { mkdtempSync, rmSync, statfsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../handler/config.js';
import { workerChecks } from '../handler/doctor.js';
import { runChecks } from '../shared/checks.js';
import { startSimulator, type Simulator } from '../simulator/index.js';
import { runCli } from './helpers/cli.js';
import { listFiles } from './helpers/pipeline.js';

let sim: Simulator;
let work: string;
const dirsUnder = (root: string) => ({ 'input-dir': path.join(root, 'input'), 'output-dir': path.join(root, 'output'), 'temp-dir': path.join(root, 'temp') });

beforeAll(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'cs-doctor-'));
  const d = dirsUnder(path.join(work, 'comfy'));
  sim = await startSimulator({ port: 0, inputDir: d['input-dir'], outputDir: d['output-dir'], tempDir: d['temp-dir'] });
});
afterAll(async () => {
  await sim.close();
  rmSync(work, { recursive: true, force: true });
});

const check = async (dirs: Record<string, string>) => {
  const config = resolveConfig({ 'comfy-url': sim.url, ...dirs }, {}, { requireKey: false });
  return runChecks(workerChecks({ config, python: 'python3', modelsDir: path.join(work, 'no-models') }));
};

describe('doctor --worker', () => {
  it("passes the input dir check when ComfyUI reads the worker's dir, and leaves no probe behind", async () => {
    const results = await check(dirsUnder(path.join(work, 'comfy')));
    expect(results.find((r) => r.name === 'input dir seen')).toMatchObject({ verdict: 'ok' });
    expect(listFiles(sim.dirs.input)).toEqual([]);
  });

  it('fails a dir mismatch with the fix, gives every fail a fix, and never says "ram disk" for a disk', async () => {
    const results = await check(dirsUnder(path.join(work, 'elsewhere')));
    expect(results.find((r) => r.name === 'input dir seen')).toMatchObject({ verdict: 'fail', fix: expect.stringContaining('--input-directory') });
    for (const r of results.filter((x) => x.verdict !== 'ok')) expect([r.name, r.fix]).toEqual([r.name, expect.any(String)]);
    const onRamDisk = statfsSync(work).type === 0x01021994;
    expect(results.some((r) => r.name === 'ram disk')).toBe(onRamDisk);
    if (!onRamDisk) expect(results.find((r) => r.name === "dirs' disk")!.detail).toContain('not a RAM disk');
  });

  it('the bin takes --comfy-url and the dirs; a ComfyUI that does not answer is a fail with a fix', async () => {
    const r = await runCli(['doctor', '--worker', '--json', '--comfy-url', 'http://127.0.0.1:1', ...Object.entries(dirsUnder(path.join(work, 'bin'))).flatMap(([k, v]) => [`--${k}`, v])]);
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout.toString());
    expect(report.checks.find((c: { name: string }) => c.name === 'comfyui')).toMatchObject({ verdict: 'fail', detail: 'no answer at http://127.0.0.1:1', fix: expect.stringContaining('--comfy-url') });
    for (const c of report.checks.filter((x: { verdict: string }) => x.verdict === 'fail')) expect(c.fix).toEqual(expect.any(String));
  });
});
