/**
 * `comfy-seal doctor --bridge` through the built bin, against the built worker --local and the simulator: with the
 * bridge's own flags it checks the endpoint and key (the client doctor's sealed ping), the node definitions, the web
 * UI, the base directory and the port, each non-ok line with its fix in the CLI's own words.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Fernet } from '../../shared/fernet.js';
import { runCli } from '../helpers/cli.js';
import { startLocalStack, type LocalStack } from '../helpers/services.js';

const key = Fernet.generateKey();
let stack: LocalStack;
let home: string;
let held: Server;
let heldPort: number;

beforeAll(async () => {
  stack = await startLocalStack(key);
  home = mkdtempSync(path.join(os.tmpdir(), 'cs-bridge-doctor-'));
  held = createServer();
  await new Promise<void>((r) => held.listen(0, '127.0.0.1', r));
  heldPort = (held.address() as { port: number }).port;
}, 60_000);
afterAll(async () => {
  held?.close();
  await stack?.close();
  rmSync(home, { recursive: true, force: true });
});

type Line = { name: string; verdict: string; detail: string; fix?: string };
async function doctor(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; checks: Record<string, Line> }> {
  const run = await runCli(['doctor', '--bridge', '--json', '--endpoint', 'e2e', '--api-url', stack.worker.url, ...args], { env: { ENCRYPTION_KEY: key, HOME: home, ...env } });
  const out = JSON.parse(run.stdout.toString()) as { ok: boolean; side: string; checks: Line[] };
  expect(out.side).toBe('bridge');
  return { code: run.code, checks: Object.fromEntries(out.checks.map((c) => [c.name, c])) };
}

it('passes with a reachable endpoint holding the key, definitions fetched then cached, a web UI, a writable base and a free port', async () => {
  const ui = path.join(home, 'ui');
  mkdirSync(ui);
  writeFileSync(path.join(ui, 'index.html'), '<!doctype html>');
  const args = ['--front-end-root', ui, '--base-directory', path.join(home, 'base'), '--port', '0'];
  const first = await doctor(args);
  expect(Object.values(first.checks).filter((c) => c.verdict !== 'ok')).toEqual([]);
  expect(first.code).toBe(0);
  expect(Object.keys(first.checks)).toEqual(['key', 'api key', 'endpoint', 'sealed ping', 'comfyui', 'node definitions', 'web UI', 'base directory', 'port']);
  expect(first.checks['node definitions']!.detail).toMatch(/^\d+ node types, fetched from the endpoint \(sealed\) and cached$/);
  expect(first.checks['web UI']!.detail).toContain('(--front-end-root)');
  expect(first.checks['base directory']!.detail).toContain('(made at start, in ');
  expect((await doctor(args)).checks['node definitions']!.detail).toMatch(/cached for this endpoint$/);
});

it('fails a port in use, a --front-end-root without a web UI and a base that cannot be made, each with its fix', async () => {
  const file = path.join(home, 'a-file');
  writeFileSync(file, 'x');
  const { code, checks } = await doctor(['--port', String(heldPort), '--front-end-root', home, '--base-directory', path.join(file, 'base')]);
  expect(code).toBe(1);
  expect(checks.port).toMatchObject({ verdict: 'fail', detail: `127.0.0.1:${heldPort} is in use (a ComfyUI or a bridge running?)` });
  expect(checks.port!.fix).toMatch(new RegExp(`cli\\.js bridge --port ${heldPort + 1} `));
  expect(checks['web UI']).toMatchObject({ verdict: 'fail' });
  expect(checks['web UI']!.fix).toMatch(/cli\.js bridge --front-end-root DIR/);
  expect(checks['base directory']).toMatchObject({ verdict: 'fail' });
  expect(checks['base directory']!.fix).toMatch(/cli\.js bridge --base-directory DIR/);
  expect(checks['sealed ping']!.verdict).toBe('ok'); // the endpoint's side is fine
});

it('without a web UI (no python3 with the package) it warns: API only, and how to get the UI', async () => {
  const { code, checks } = await doctor(['--base-directory', path.join(home, 'base'), '--port', '0'], { PATH: path.join(home, 'no-bin') });
  expect(code).toBe(0);
  expect(checks['web UI']).toMatchObject({ verdict: 'warn', detail: expect.stringContaining('API only') });
  expect(checks['web UI']!.fix).toContain('pip install comfyui-frontend-package');
});

it('says when the key is not the endpoint\'s: the ping fails and so does fetching the definitions', async () => {
  const { code, checks } = await doctor(['--base-directory', path.join(home, 'base'), '--port', '0', '--key', Fernet.generateKey()], { HOME: path.join(home, 'other-home') });
  expect(code).toBe(1);
  expect(checks['sealed ping']!.verdict).toBe('fail');
  expect(checks['node definitions']).toMatchObject({ verdict: 'fail' });
  expect(checks['node definitions']!.fix).toMatch(/cli\.js nodes' once, or pass --object-info FILE/);
});
