/** `comfy-seal run` in-process with a terminal on stderr: which loader got which file, and retries as they happen. */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { command } from '../../client/cli/run.js';
import { Fernet } from '../../shared/index.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function terminalIo(env: NodeJS.ProcessEnv) {
  const out: string[] = [];
  const err: string[] = [];
  const stream = (into: string[], isTTY: boolean) => Object.assign(new PassThrough().on('data', (c: Buffer) => into.push(c.toString())), { isTTY });
  return { io: { stdin: new PassThrough(), stdout: stream(out, false), stderr: stream(err, true), env, signal: new AbortController().signal }, out, err };
}

it('on a terminal, prints one line per filled loader and each retry of an endpoint that refuses connections', async () => {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  await new Promise((r) => server.close(r));
  const { io, err } = terminalIo({ ENCRYPTION_KEY: Fernet.generateKey(), RUNPOD_API_URL: url, RUNPOD_ENDPOINT_ID: 'e' });
  const code = await command(['--workflow', `${ROOT}examples/sd15-img2img.json`, '--img', `${ROOT}examples/photo.png`, '--out', ROOT], io);
  const text = err.join('');
  expect(code).toBe(1);
  expect(text).toMatch(/^ {2}2 \(LoadImage\) <- photo\.png\n/);
  expect(text).toMatch(/could not reach the local endpoint at http:\/\/127\.0\.0\.1:\d+ .*\(ECONNREFUSED\); retrying \(1 of \d+\)/);
  expect(text).toMatch(/NETWORK: could not reach/);
}, 20_000);
