import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { readDockerfile } from './helpers/dockerfile.js';
import { parseYaml } from './helpers/yaml.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const WORKFLOW = path.join(ROOT, '.github', 'workflows', 'release.yml');
const VALIDATOR = path.join(ROOT, 'node_modules', '@action-validator', 'cli', 'cli.mjs');

/** action-validator: the workflow against GitHub's published schema (offline, WebAssembly). */
function validateWorkflow(file: string): { status: number | null; output: string } {
  const r = spawnSync(process.execPath, [VALIDATOR, file], { encoding: 'utf8' });
  return { status: r.status, output: r.stdout + r.stderr };
}

type Step = { uses?: string; run?: string; with?: Record<string, unknown> };
type Job = { 'runs-on': string; needs?: string; steps: Step[]; strategy?: { matrix: { include: Array<Record<string, string>> } } };

describe('release workflow (.github/workflows/release.yml)', () => {
  const text = readFileSync(WORKFLOW, 'utf8');
  const workflow = parseYaml(text) as { on: { push: { tags: string[] } }; jobs: Record<string, Job> };
  const docker = readDockerfile(path.join(ROOT, 'docker', 'Dockerfile'));
  const stages = docker.stages.map((s) => s.name);

  it("is valid against GitHub's workflow schema (and the validator does refuse a broken one)", () => {
    expect(validateWorkflow(WORKFLOW)).toEqual({ status: 0, output: '' });
    const dir = mkdtempSync(path.join(os.tmpdir(), 'cs-release-'));
    try {
      const broken = path.join(dir, 'release.yml');
      writeFileSync(broken, text.replace('    needs: test\n', '    need: test\n'));
      const r = validateWorkflow(broken);
      expect(r.status).toBe(1);
      expect(r.output).toContain("Additional property 'need' is not allowed");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('runs on a version tag, after the tests, with pinned actions', () => {
    expect(workflow.on.push.tags).toEqual(['v*']);
    expect(workflow.jobs.image!.needs).toBe('test');
    expect(workflow.jobs.test!.steps.map((s) => s.run).join('\n')).toContain('bash .ci/run');
    expect(existsSync(path.join(ROOT, '.ci', 'run'))).toBe(true);
    const uses = Object.values(workflow.jobs).flatMap((job) => job.steps.map((s) => s.uses).filter(Boolean));
    expect(uses.length).toBeGreaterThan(5);
    for (const action of uses) expect(action).toMatch(/^[\w-]+\/[\w-]+@v\d+$/);
  });

  it('builds only what the Dockerfile has: its file, target, build args and bases', () => {
    const job = workflow.jobs.image!;
    const build = job.steps.filter((s) => s.uses?.startsWith('docker/build-push-action@'));
    expect(build).toHaveLength(1);
    const inputs = build[0]!.with as Record<string, string>;
    expect(inputs.context).toBe('.');
    expect(existsSync(path.join(ROOT, inputs.file!))).toBe(true);
    expect(inputs.file).toBe('docker/Dockerfile');
    expect(stages).toContain(inputs.target);
    expect(inputs.target).toBe(stages.at(-1)); // the runtime stage, last
    const buildArgs = inputs['build-args']!.trim().split('\n').map((line) => line.trim().split('=')[0]!);
    expect(buildArgs.length).toBeGreaterThan(0);
    for (const name of buildArgs) expect([...docker.args]).toContain(name);
    expect(inputs['build-args']).toContain('BASE_IMAGE=${{ matrix.base }}');

    // Every variant: the full build's own base stage, or a worker-comfyui image pinned to a release, named for it.
    const variants = job.strategy!.matrix.include;
    expect(new Set(variants.map((v) => v.variant)).size).toBe(variants.length);
    const full = variants.filter((v) => v.variant === 'full');
    expect(full).toEqual([{ variant: 'full', base: docker.globalArgs.get('BASE_IMAGE') }]);
    expect(stages.slice(0, -1)).toContain(full[0]!.base);
    for (const v of variants.filter((x) => x.variant !== 'full')) expect(v.base).toBe(`runpod/worker-comfyui:5.8.5-${v.variant}`);
    expect(variants.map((v) => v.variant)).toEqual(expect.arrayContaining(['full', 'base', 'sdxl', 'flux1-dev']));
  });
});

describe('RunPod Hub files (.runpod/)', () => {
  it('the Hub finds the one Dockerfile there (a link to docker/Dockerfile), and no handler.py stands in for the worker', () => {
    const link = path.join(ROOT, '.runpod', 'Dockerfile');
    expect(realpathSync(link)).toBe(realpathSync(path.join(ROOT, 'docker', 'Dockerfile')));
    // The worker is `comfy-seal worker`, started by start.sh (the image's CMD): a handler.py would be a stub.
    expect(existsSync(path.join(ROOT, '.runpod', 'handler.py'))).toBe(false);
    expect(existsSync(path.join(ROOT, 'handler.py'))).toBe(false);
  });
});
