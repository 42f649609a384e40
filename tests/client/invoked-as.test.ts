/**
 * Printed commands (run's resume/cancel, doctor's fixes) are the way the user started the CLI (#20): `npx comfy-seal`
 * in a clone, `node dist/cli.js`, or `comfy-seal` for a global install. One helper, `invokedAs`.
 */
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { invokedAs } from '../../shared/cli.js';
import { CLI, runCli } from '../helpers/cli.js';

const bin = mkdtempSync(path.join(os.tmpdir(), 'cs-bin-'));
symlinkSync(CLI, path.join(bin, 'comfy-seal'));
afterAll(() => rmSync(bin, { recursive: true, force: true }));

describe('invokedAs', () => {
  it('npx (npm exec) and npm scripts: npx comfy-seal', () => {
    expect(invokedAs({ env: { npm_command: 'exec', npm_lifecycle_event: 'npx' }, script: '/repo/node_modules/.bin/comfy-seal' }, '/repo')).toBe('npx comfy-seal');
    expect(invokedAs({ env: { npm_lifecycle_event: 'demo' }, script: '/repo/dist/cli.js' }, '/repo')).toBe('npx comfy-seal');
  });

  it('a path to dist/cli.js: node and that path, relative to the working dir when under it', () => {
    expect(invokedAs({ env: {}, script: '/repo/dist/cli.js' }, '/repo')).toBe('node dist/cli.js');
    expect(invokedAs({ env: {}, script: '/repo/dist/cli.js' }, '/elsewhere')).toBe('node /repo/dist/cli.js');
    expect(invokedAs({ env: {}, script: "/my repo/dist/cli.js" }, '/x')).toBe("node '/my repo/dist/cli.js'");
  });

  it("an installed bin (a global install, the image's): comfy-seal; a project's node_modules/.bin run by path: that path", () => {
    expect(invokedAs({ env: {}, script: '/usr/local/bin/comfy-seal' }, '/home/u')).toBe('comfy-seal');
    expect(invokedAs({ env: {}, script: '/home/u/.npm-global/bin/comfy-seal' }, '/home/u')).toBe('comfy-seal');
    expect(invokedAs({ env: {}, script: '/repo/node_modules/.bin/comfy-seal' }, '/repo')).toBe('node_modules/.bin/comfy-seal');
    expect(invokedAs({ env: {} }, '/repo')).toBe('comfy-seal');
  });
});

describe('the bin prints commands the way it was started', () => {
  const failing = ['doctor', '--client', '--json', '--api-url', 'http://127.0.0.1:9', '--endpoint', 'local', '--key', 'not-a-key'];
  const fixes = async (env: NodeJS.ProcessEnv, script = CLI) => {
    const r = await runCli(failing, { env, script });
    return (JSON.parse(r.stdout.toString()) as { checks: Array<{ name: string; fix?: string }> }).checks;
  };

  it("doctor's fixes: npx comfy-seal under npx, comfy-seal from an installed bin, node dist/cli.js by path", async () => {
    expect((await fixes({ npm_command: 'exec' })).find((c) => c.name === 'key')?.fix).toContain("make one with 'npx comfy-seal keygen'");
    expect((await fixes({}, path.join(bin, 'comfy-seal'))).find((c) => c.name === 'key')?.fix).toContain("make one with 'comfy-seal keygen'");
    expect((await fixes({})).find((c) => c.name === 'key')?.fix).toContain(`make one with 'node ${path.relative(process.cwd(), CLI)} keygen'`);
  });

  it("doctor's fix for a local endpoint that does not answer is one plain sentence, no nested parentheses", async () => {
    const endpoint = (await fixes({ npm_command: 'exec' })).find((c) => c.name === 'endpoint');
    expect(endpoint?.fix).toBe("start the local endpoint ('npx comfy-seal worker --local'), or correct --api-url / RUNPOD_API_URL (now http://127.0.0.1:9)");
  }, 20_000);
});

describe('--version and help COMMAND', () => {
  it('--version prints the package version; help run is run --help', async () => {
    const version = await runCli(['--version']);
    expect([version.code, version.stdout.toString()]).toEqual([0, `${(await import('../../package.json', { with: { type: 'json' } })).default.version}\n`]);
    const help = await runCli(['help', 'run']);
    expect([help.code, help.stdout.toString()]).toEqual([0, (await runCli(['run', '--help'])).stdout.toString()]);
    const unknown = await runCli(['help', 'nope']);
    expect([unknown.code, unknown.stderr]).toEqual([2, expect.stringContaining("unknown command 'nope'")]);
  });
});
