/**
 * `--key-file FILE` wherever `--key` is taken (contract §11): `--key` shows in `ps`, so a file (or ENCRYPTION_KEY) is
 * offered and every help says it is safer. Through the built bin, as a user runs it.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Fernet } from '../shared/index.js';
import { runCli } from './helpers/cli.js';

const work = mkdtempSync(path.join(os.tmpdir(), 'cs-key-file-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const key = Fernet.generateKey();
const file = (name: string, text: string) => {
  const p = path.join(work, name);
  writeFileSync(p, text, { mode: 0o600 });
  return p;
};

describe('--key-file', () => {
  it('seal and open read the key from a file (one trailing newline, as keygen > FILE leaves it), over ENCRYPTION_KEY', async () => {
    const keyFile = file('key', `${key}\n`);
    const other = Fernet.generateKey();
    const sealed = await runCli(['seal', '--key-file', keyFile], { stdin: 'hello', env: { ENCRYPTION_KEY: other } });
    expect(sealed.code).toBe(0);
    expect(new Fernet(key).decrypt(sealed.stdout.toString().trim()).toString()).toBe('hello');
    const opened = await runCli(['open', '--key-file', file('key-crlf', `${key}\r\n`)], { stdin: sealed.stdout });
    expect([opened.code, opened.stdout.toString()]).toEqual([0, 'hello']);
  });

  it('refuses --key with --key-file, an unreadable file and an empty one: exit 2, saying what to do', async () => {
    const keyFile = file('key2', key);
    const both = await runCli(['seal', '--key', key, '--key-file', keyFile], { stdin: 'x' });
    expect([both.code, both.stderr]).toEqual([2, expect.stringContaining('--key and --key-file were both given; give one')]);
    const missing = await runCli(['open', '--key-file', path.join(work, 'nope')], { stdin: 'x' });
    expect([missing.code, missing.stderr]).toEqual([2, expect.stringMatching(/--key-file .*nope: cannot read it \(ENOENT\); give a file that holds your key/)]);
    const empty = await runCli(['seal', '--key-file', file('empty', '\n')], { stdin: 'x' });
    expect([empty.code, empty.stderr]).toEqual([2, expect.stringMatching(/--key-file .*empty is empty; put your key in it \(make one with 'comfy-seal keygen > FILE'\)/)]);
    const dir = await runCli(['seal', '--key-file', work], { stdin: 'x' });
    expect([dir.code, dir.stderr]).toEqual([2, expect.stringContaining('cannot read it (EISDIR)')]);
  });

  it('run, nodes, doctor and the worker take it too, and a bad one stops them before anything else', async () => {
    const empty = file('empty2', '');
    const wf = file('wf.json', JSON.stringify({ '1': { class_type: 'EmptyImage', inputs: {} } }));
    const endpoint = { RUNPOD_API_URL: 'http://127.0.0.1:9', RUNPOD_ENDPOINT_ID: 'e' };
    const run = await runCli(['run', '--workflow', wf, '--key-file', empty, '--json'], { env: endpoint });
    expect(run.code).toBe(2);
    expect(JSON.parse(run.stdout.toString())).toMatchObject({ code: 'CONFIG', message: expect.stringContaining('is empty') });
    const nodes = await runCli(['nodes', '--key-file', empty], { env: endpoint });
    expect([nodes.code, nodes.stderr]).toEqual([2, expect.stringContaining('is empty')]);
    const deploy = await runCli(['deploy', '--image', 'x/y:1', '--dry-run', '--key-file', empty]);
    expect([deploy.code, deploy.stderr]).toEqual([2, expect.stringContaining('is empty')]);
    const deployed = await runCli(['deploy', '--image', 'x/y:1', '--dry-run', '--key-file', file('key5', `${key}\n`)], { env: { ENCRYPTION_KEY: '' } });
    expect(deployed.code).toBe(0);
    expect(deployed.stdout.toString()).toContain('POST /account/secrets');
    const worker = await runCli(['worker', '--local', '--key-file', empty]);
    expect([worker.code, worker.stderr]).toEqual([2, expect.stringContaining('is empty')]);
    const doctor = await runCli(['doctor', '--client', '--json', '--key-file', file('key3', `${key}\n`)]);
    expect(JSON.parse(doctor.stdout.toString()).checks).toContainEqual(expect.objectContaining({ name: 'key', verdict: 'ok' }));
    // The worker's key from the file: it gets as far as the local endpoint's own flags.
    const origin = await runCli(['worker', '--local', '--key-file', file('key4', key), '--allow-origin', 'localhost:5173']);
    expect([origin.code, origin.stderr]).toEqual([2, expect.stringContaining('--allow-origin localhost:5173 is not an origin')]);
  });

  it('every command that takes --key lists --key-file and says the environment or a file is safer', async () => {
    for (const command of ['seal', 'open', 'run', 'nodes', 'doctor', 'worker', 'deploy']) {
      const help = (await runCli([command, '--help'])).stdout.toString();
      expect(help, command).toContain('--key-file FILE');
      expect(help, command).toMatch(/prefer the variable or --key-file|\$ENCRYPTION_KEY or a\s+file is safer than --key/);
    }
  });
});
