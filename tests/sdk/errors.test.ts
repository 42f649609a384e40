/** The SDK's errors as an app meets them: every missing setting at once, a refused connection given up on quickly, typed aborts, and public names. */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ComfySealClient, type RetryEvent } from '../../client/client.js';
import { AbortError, ConfigError, RunpodConnectionError } from '../../client/errors.js';
import { Fernet } from '../../shared/index.js';

const key = Fernet.generateKey();
const DIST = new URL('../../dist/', import.meta.url);

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

describe('SDK errors', () => {
  it('ConfigError lists every missing setting, with its option and variable', () => {
    const error = (() => {
      try {
        new ComfySealClient({ env: {} });
      } catch (e) {
        return e;
      }
    })() as ConfigError;
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.code).toBe('CONFIG');
    expect(error.missing.map((m) => m.option)).toEqual(['endpointId', 'apiKey', 'key']);
    expect(error.message).toBe("missing settings: endpointId or RUNPOD_ENDPOINT_ID; apiKey or RUNPOD_API_KEY (RunPod console: Settings > API Keys); key or ENCRYPTION_KEY (make one with 'comfy-seal keygen')");
    expect(error.cliMessage).toContain('--api-key KEY or RUNPOD_API_KEY');
  });

  it('gives up on a refused connection within the connect budget, reporting each retry and the URL', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    const retries: RetryEvent[] = [];
    const client = new ComfySealClient({ endpointId: 'e', apiUrl: url, key, env: {}, retryMinMs: 100, connectRetryMs: 2_000, onRetry: (e) => retries.push(e) });
    const started = Date.now();
    const error = await client.status('j').catch((e) => e);
    expect(Date.now() - started).toBeLessThan(2_500);
    expect(error).toBeInstanceOf(RunpodConnectionError);
    expect(error.connectionCode).toBe('ECONNREFUSED');
    expect(error.message).toBe(`could not reach the local endpoint at ${url} (is 'comfy-seal worker --local' running on that port?) (ECONNREFUSED)`);
    expect(retries.length).toBeGreaterThanOrEqual(1);
    expect(retries[0]).toMatchObject({ attempt: 1, error: { code: 'NETWORK' } });
  });

  it('an aborted wait throws AbortError (code ABORTED) with the job id', async () => {
    const server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id: 'j', status: 'IN_QUEUE' })));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const client = new ComfySealClient({ endpointId: 'e', apiUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, key, env: {}, pollMinMs: 10 });
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 100);
      const error = await client.wait('j', { signal: controller.signal }).catch((e) => e);
      expect(error).toBeInstanceOf(AbortError);
      expect([error.name, error.code, error.jobId]).toEqual(['AbortError', 'ABORTED', 'j']);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });

  it('the built package keeps every public class name (constructor.name), ESM and CommonJS', async () => {
    const esm = (await import(new URL('index.js', DIST).href)) as Record<string, unknown>;
    const cjs = createRequire(import.meta.url)(new URL('index.cjs', DIST).pathname) as Record<string, unknown>;
    for (const mod of [esm, cjs]) {
      const classes = Object.entries(mod).filter(([name, value]) => typeof value === 'function' && /^[A-Z]/.test(name));
      expect(classes.length).toBeGreaterThan(10);
      for (const [name, value] of classes) expect((value as { name: string }).name).toBe(name);
    }
    const E = esm.JobFailedError as new (...a: unknown[]) => Error;
    expect(new E('j', 'TIMEOUT', 'm').constructor.name).toBe('JobFailedError');
  });

  it('the built types export every interface, type alias and class they declare', () => {
    const dts = readFileSync(new URL('index.d.ts', DIST), 'utf8');
    const declared = [...dts.matchAll(/^(?:declare )?(?:interface|type|class|abstract class) (\w+)/gm)].map((m) => m[1]!);
    const exported = new Set([...dts.matchAll(/^export \{([^}]*)\}/gm)].flatMap((m) => m[1]!.split(',').map((s) => s.trim().replace(/^type /, '').split(' as ').at(-1)!)));
    expect(declared.length).toBeGreaterThan(20);
    expect(declared.filter((name) => !exported.has(name))).toEqual([]);
  });
});
