import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fernet } from '../../shared/fernet.js';
import { CLI, runCli } from '../helpers/cli.js';
import { startLocalStack, startService, type LocalStack } from '../helpers/services.js';
import { connectClient, postJson } from './helpers.js';

const key = Fernet.generateKey();
let stack: LocalStack;
let base: string;
beforeAll(async () => {
  stack = await startLocalStack(key);
  base = mkdtempSync(path.join(os.tmpdir(), 'cs-bridge-cli-'));
}, 60_000);
afterAll(async () => {
  await stack?.close();
  rmSync(base, { recursive: true, force: true });
});

describe('comfy-seal bridge (the bin)', () => {
  it('says where to point a client and which endpoint, then one line per job state, never the prompt', async () => {
    const bridge = await startService(['bridge', '--port', '0', '--base-directory', base, '--endpoint', 'e2e', '--api-url', stack.worker.url], { ENCRYPTION_KEY: key, HOME: base });
    try {
      const c = await connectClient(bridge.url, 'cli-client');
      const prompt = {
        '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 255 } },
        '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'secret-prefix-4411' } },
      };
      const posted = await postJson(bridge.url, '/prompt', { prompt, client_id: 'cli-client' });
      await c.done(posted.json.prompt_id, 60_000);
      c.close();
      const short = (posted.json.prompt_id as string).slice(0, 8);
      // The line and the socket's last message race through different pipes.
      for (let n = 0; n < 100 && !bridge.output().includes(`prompt ${short}: done`); n++) await new Promise((r) => setTimeout(r, 20));
      const lines = bridge.output().split('\n').filter((l) => l.startsWith(`prompt ${short}: `));
      expect(bridge.output()).toMatch(/^comfy-seal bridge: ComfyUI's API on http:\/\/127\.0\.0\.1:\d+ — point your browser or ComfyUI client there\n {2}endpoint e2e \(http:\/\/127\.0\.0\.1:\d+\)/);
      expect(lines[0]).toBe(`prompt ${short}: queued`);
      expect(lines.at(-1)).toBe(`prompt ${short}: done with 1 file`);
      expect(bridge.output()).not.toContain('secret-prefix-4411');
      expect(readdirSync(path.join(base, 'output'))).toEqual(['secret-prefix-4411_00001_.png']);
    } finally {
      expect(await bridge.stop()).toBe(0);
    }
  }, 60_000);

  it('--front-end-root serves the web UI (/, its files, /extensions) and says so at start; user files go to --user-directory', async () => {
    const ui = path.join(base, 'ui');
    mkdirSync(path.join(ui, 'extensions', 'core'), { recursive: true });
    writeFileSync(path.join(ui, 'index.html'), '<!doctype html><title>ComfyUI</title>');
    writeFileSync(path.join(ui, 'extensions', 'core', 'a.js'), '');
    const userDir = path.join(base, 'elsewhere');
    const bridge = await startService(['bridge', '--port', '0', '--base-directory', base, '--front-end-root', ui, '--user-directory', userDir, '--endpoint', 'e2e', '--api-url', stack.worker.url], { ENCRYPTION_KEY: key, HOME: base });
    try {
      // The start-up lines after the address may still be on their way.
      for (let n = 0; n < 100 && !bridge.output().includes('web UI:'); n++) await new Promise((r) => setTimeout(r, 20));
      expect(bridge.output()).toContain(`\n  web UI: ${realpathSync(ui)} (--front-end-root)\n`);
      expect(await (await fetch(`${bridge.url}/`)).text()).toBe('<!doctype html><title>ComfyUI</title>');
      expect(await (await fetch(`${bridge.url}/api/extensions`)).json()).toEqual(['/extensions/core/a.js']);
      expect((await fetch(`${bridge.url}/api/settings/Comfy.Locale`, { method: 'POST', body: '"fr"' })).status).toBe(200);
      expect(JSON.parse(readFileSync(path.join(userDir, 'default', 'comfy.settings.json'), 'utf8'))).toEqual({ 'Comfy.Locale': 'fr' });
    } finally {
      expect(await bridge.stop()).toBe(0);
    }
  }, 60_000);

  it('--listen on another address warns that anyone reaching the port can run jobs', async () => {
    const child = spawn(process.execPath, [CLI, 'bridge', '--port', '0', '--listen', '0.0.0.0', '--base-directory', base, '--endpoint', 'e2e', '--api-url', stack.worker.url], {
      env: { PATH: process.env.PATH, ENCRYPTION_KEY: key, HOME: base },
    });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    await new Promise<void>((resolve) => {
      child.stderr.on('data', (c: string) => {
        stderr += c;
        if (stderr.includes('\n')) resolve();
      });
    });
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(stderr).toMatch(/^comfy-seal bridge: warning: listening on 0\.0\.0\.0: anyone who can reach port \d+ can run jobs on your endpoint\n$/);
  }, 30_000);

  it('without a key it is a usage error naming the setting', async () => {
    const r = await runCli(['bridge', '--endpoint', 'e2e', '--api-url', stack.worker.url], { env: { HOME: base } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('ENCRYPTION_KEY');
  });
});
