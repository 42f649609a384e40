/**
 * `comfy-seal simulator` as users start it: with no dir flags it uses the worker's default dirs (contract §8: flag >
 * COMFY_SEAL_*_DIR > /dev/shm/comfy-seal/...), creating them; a busy port is a clear usage error, no stack; and the
 * library's own temp dirs are gone after close() or a failed start, while dirs it was given stay.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsageError } from '../../shared/cli.js';
import { command } from '../../simulator/cli.js';
import { PortInUseError, SCRATCH_PREFIX, startSimulator } from '../../simulator/index.js';
import { runCli } from '../helpers/cli.js';

// Temp dirs are counted in a TMPDIR of this file's own, so simulators of other test files running alongside do not count.
const scratchDirs = () => readdirSync(os.tmpdir()).filter((n) => n.startsWith(SCRATCH_PREFIX));
const savedTmp = process.env.TMPDIR;

let busy: Server;
let busyPort: number;
let root: string;
beforeAll(async () => {
  root = mkdtempSync(path.join(os.tmpdir(), 'sim-cli-'));
  process.env.TMPDIR = path.join(root, 'tmp');
  mkdirSync(process.env.TMPDIR);
  busy = createServer();
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', () => r()));
  busyPort = (busy.address() as { port: number }).port;
});
afterAll(async () => {
  if (savedTmp === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = savedTmp;
  await new Promise((r) => busy.close(r));
  rmSync(root, { recursive: true, force: true });
});

/** Runs the command in-process until it prints its address, then stops it as SIGINT would. */
async function runUntilUp(argv: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string }> {
  const controller = new AbortController();
  const stdout = new PassThrough();
  let text = '';
  stdout.on('data', (c: Buffer) => {
    text += c.toString();
    if (text.includes('ComfyUI simulator on')) controller.abort();
  });
  const code = await command(argv, { stdin: new PassThrough(), stdout, stderr: new PassThrough(), env, signal: controller.signal });
  return { code, stdout: text };
}

describe('comfy-seal simulator: dirs and ports', () => {
  it('with no dir flags it uses the worker defaults (or COMFY_SEAL_*_DIR), creating them', async () => {
    const env = { COMFY_SEAL_INPUT_DIR: path.join(root, 'in'), COMFY_SEAL_OUTPUT_DIR: path.join(root, 'out'), COMFY_SEAL_TEMP_DIR: path.join(root, 'tmp', 'temp') };
    const before = scratchDirs();
    const up = await runUntilUp(['--port', '0'], env);
    expect(up.code).toBe(0);
    expect(up.stdout).toContain(`input ${env.COMFY_SEAL_INPUT_DIR}, output ${env.COMFY_SEAL_OUTPUT_DIR}, temp ${env.COMFY_SEAL_TEMP_DIR}`);
    // It says which models dir its loaders list, and without one that they list none (#20).
    expect(up.stdout).toContain('; no models dir: its loaders list no models; --models-dir DIR to give one)');
    expect((await runUntilUp(['--port', '0', '--models-dir', root], env)).stdout).toContain(`; models ${root})`);
    for (const dir of Object.values(env)) expect(existsSync(dir)).toBe(true); // kept: the worker shares them
    expect(scratchDirs()).toEqual(before);
    // ComfyUI's own flags win; --temp-directory X means X/temp.
    const flags = await runUntilUp(['--port', '0', '--input-directory', path.join(root, 'i2'), '--temp-directory', path.join(root, 't2')], env);
    expect(flags.stdout).toContain(`input ${path.join(root, 'i2')}, output ${env.COMFY_SEAL_OUTPUT_DIR}, temp ${path.join(root, 't2', 'temp')}`);
    const help = new PassThrough();
    let text = '';
    help.on('data', (c: Buffer) => (text += c.toString()));
    await command(['--help'], { stdin: new PassThrough(), stdout: help, stderr: new PassThrough(), env: {}, signal: new AbortController().signal });
    expect(text).toContain('/dev/shm/comfy-seal/input');
    expect(text).toContain('--slow-save-ms');
  });

  it('a busy port is a usage error naming the port and the way out, and leaves no temp dir', async () => {
    const before = scratchDirs();
    await expect(startSimulator({ port: busyPort })).rejects.toThrow(PortInUseError);
    expect(scratchDirs()).toEqual(before);
    const dirs = ['--input-dir', path.join(root, 'a'), '--output-dir', path.join(root, 'b'), '--temp-dir', path.join(root, 'c')];
    const failed = command(['--port', String(busyPort), ...dirs], { stdin: new PassThrough(), stdout: new PassThrough(), stderr: new PassThrough(), env: {}, signal: new AbortController().signal });
    await expect(failed).rejects.toThrow(UsageError);
    await expect(failed).rejects.toThrow(`port ${busyPort} is in use; pass --port N`);
    for (const d of ['a', 'b', 'c']) expect(existsSync(path.join(root, d))).toBe(false); // the dirs it created are gone again
  });

  it('the bin says so in one line and exits 2', async () => {
    const { code, stderr } = await runCli(['simulator', '--port', String(busyPort), '--input-dir', path.join(root, 'x'), '--output-dir', path.join(root, 'y'), '--temp-dir', path.join(root, 'z')]);
    expect(code).toBe(2);
    expect(stderr).toBe(`comfy-seal simulator: port ${busyPort} is in use; pass --port N (see 'comfy-seal simulator --help')\n`);
  });

  it("startSimulator's own temp dirs go with close(); dirs it was given stay", async () => {
    const before = scratchDirs();
    const own = await startSimulator({ port: 0 });
    expect(scratchDirs().length).toBe(before.length + 3);
    await own.close();
    expect(scratchDirs()).toEqual(before);
    const given = path.join(root, 'given');
    const kept = await startSimulator({ port: 0, inputDir: given });
    await kept.close();
    expect(existsSync(given)).toBe(true);
    expect(scratchDirs()).toEqual(before);
  });
});
