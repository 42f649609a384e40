/** `comfy-seal deploy` as a user runs it (the built bin), against the REST v2 emulator via RUNPOD_REST_URL. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Fernet } from '../../shared/index.js';
import { runCli, type CliRun } from '../helpers/cli.js';
import { REST_API_KEY, startRestEmulator, type RestEmulator } from '../helpers/runpod-rest.js';

// The key is the canary: it may appear in the secret's own request body and nowhere else.
const key = Fernet.generateKey();
const IMAGE = 'ghcr.io/acme/comfy-seal:1.2.3';

let api: RestEmulator;
const env = () => ({ RUNPOD_REST_URL: api.url, RUNPOD_API_KEY: REST_API_KEY, ENCRYPTION_KEY: key });
const deployCli = (args: string[], extra: NodeJS.ProcessEnv = {}) => runCli(['deploy', ...args], { env: { ...env(), ...extra } });
const writes = () => api.requests.filter((r) => r.method !== 'GET');

function expectNoKey(run: CliRun) {
  expect(run.stdout.toString()).not.toContain(key);
  expect(run.stderr).not.toContain(key);
  for (const r of api.requests) {
    if (r.method === 'POST' && r.path === '/v2/account/secrets') continue;
    expect(`${r.method} ${r.path}${r.query} ${r.authorization} ${r.body}`).not.toContain(key);
  }
}

beforeEach(async () => {
  api = await startRestEmulator();
});
afterEach(() => api.close());

describe('comfy-seal deploy (bin)', () => {
  it('deploys with --json (one object), and a second run creates nothing and prints the next commands', async () => {
    const first = await deployCli(['--image', IMAGE, '--json', '--env', 'MODELS=org/repo:m.safetensors:checkpoints']);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const result = JSON.parse(first.stdout.toString());
    expect(Object.keys(result)).toEqual(['endpoint_id', 'template_id', 'secret', 'run_url']);
    expect(result).toMatchObject({ endpoint_id: api.endpoints[0]!.id, template_id: api.templates[0]!.id, secret: 'comfy_seal_comfy-seal_key' });
    expect(api.secretValues.get(api.secrets[0]!.id)).toBe(key);
    expect(api.templates[0]!.env).toMatchObject({ ENCRYPTION_KEY: '{{ RUNPOD_SECRET_comfy_seal_comfy-seal_key }}' });
    expectNoKey(first);

    const before = writes().length;
    const second = await deployCli(['--image', IMAGE, '--env', 'MODELS=org/repo:m.safetensors:checkpoints']);
    expect(second.code).toBe(0);
    expect(writes()).toHaveLength(before);
    const out = second.stdout.toString();
    expect(out).toMatch(/secret {3}comfy_seal_comfy-seal_key: unchanged/);
    expect(out).toContain(`endpoint id: ${result.endpoint_id}`);
    expect(out).toContain(`comfy-seal doctor --client --endpoint ${result.endpoint_id}\n`);
    expect(out).toContain(`comfy-seal run --endpoint ${result.endpoint_id} --workflow`);
    expectNoKey(second);
  });

  it('--help shows usage; every option reaches RunPod in a field REST v2 knows (the emulator refuses any other)', async () => {
    const help = await runCli(['deploy', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout.toString()).toContain('Usage: comfy-seal deploy --image IMAGE');

    const args = ['--image', IMAGE, '--name', 'full', '--gpu', 'ADA_24,AMPERE_48', '--workers-min', '1', '--workers-max', '2', '--idle-timeout', '30'];
    args.push('--timeout-s', '900', '--disk-gb', '60', '--network-volume', 'vol123', '--data-center', 'EU-RO-1', '--env', 'A=1', '--env', 'B=two');
    args.push('--registry-auth', 'reg42', '--flashboot', 'off', '--json');
    const run = await deployCli(args);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(api.templates[0]).toMatchObject({ name: 'full-template', disk: 60, registry: 'reg42', env: { A: '1', B: 'two' } });
    expect(api.endpoints[0]).toMatchObject({
      gpu: { pools: ['ADA_24', 'AMPERE_48'] },
      workers: { min: 1, max: 2, idleTimeout: 30 },
      timeout: 900_000,
      networkVolumes: ['vol123'],
      dataCenterIds: ['EU-RO-1'],
      flashboot: 'OFF',
      registry: 'reg42',
    });
    const before = writes().length;
    expect((await deployCli(args)).code).toBe(0);
    expect(writes()).toHaveLength(before);
  });

  it('--dry-run prints every request with the secret redacted and sends nothing', async () => {
    const run = await deployCli(['--image', IMAGE, '--dry-run', '--name', 'studio']);
    expect(run.code).toBe(0);
    expect(api.requests).toHaveLength(0);
    const out = run.stdout.toString();
    expect(out).toMatch(/^POST \/account\/secrets \{"name":"comfy_seal_studio_key","value":"<redacted>"/m);
    expect(out).toMatch(/^POST \/templates \{"name":"studio-template"/m);
    expect(out).toMatch(/^POST \/serverless \{"name":"studio","type":"QUEUE","templateId":"<the new template id>"/m);
    expectNoKey(run);

    const json = await deployCli(['--delete', 'studio', '--dry-run', '--json'], { RUNPOD_API_KEY: '' });
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout.toString()).requests.map((r: { method: string }) => r.method)).toEqual(['GET', 'GET', 'GET', 'DELETE', 'DELETE', 'DELETE']);
    expect(api.requests).toHaveLength(0);
  });

  it('a wrong API key: exit 1, one line saying so and where to get one; nothing written', async () => {
    const run = await deployCli(['--image', IMAGE, '--json'], { RUNPOD_API_KEY: 'rpa_wrong' });
    expect(run.code).toBe(1);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(run.stderr).toMatch(/RUNPOD_AUTH: RunPod did not accept the API key \(401 .*RUNPOD_API_KEY.*Settings > API Keys/);
    expect(JSON.parse(run.stdout.toString())).toMatchObject({ status: 'FAILED', code: 'RUNPOD_AUTH' });
    expect(writes()).toHaveLength(0);
    expectNoKey(run);
  });

  it('honours Retry-After on 429, then goes on', async () => {
    api.rateLimit(1, 1);
    const started = Date.now();
    const run = await deployCli(['--image', IMAGE]);
    expect(run.code).toBe(0);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    expect(api.requests[0]!.method).toBe('GET');
    expect(api.requests[1]!.path).toBe(api.requests[0]!.path);
    expect(api.endpoints).toHaveLength(1);
  });

  it('no key: refused with CONFIG and the commands that make and keep one; --env ENCRYPTION_KEY refused', async () => {
    const none = await deployCli(['--image', IMAGE], { ENCRYPTION_KEY: '' });
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/no key: .*comfy-seal keygen > comfy-seal\.key.*export ENCRYPTION_KEY/);
    const plain = await deployCli(['--image', IMAGE, '--env', `ENCRYPTION_KEY=${key}`]);
    expect(plain.code).toBe(2);
    const hidden = await deployCli(['--image', IMAGE, '--env', `OTHER=x${key}`]);
    expect(hidden.code).toBe(2);
    expect(hidden.stderr).not.toContain(key);
    expect(api.requests).toHaveLength(0);
  });

  it('--delete NAME removes the endpoint, its template and its secret', async () => {
    const made = await deployCli(['--image', IMAGE, '--name', 'studio']);
    expect(made.code).toBe(0);
    expect(made.stdout.toString()).toMatch(/^secret {3}comfy_seal_studio_key: created\ntemplate studio-template \(\w+\): created\nendpoint studio \(\w+\): created\n/);
    const run = await deployCli(['--delete', 'studio']);
    expect(run.code).toBe(0);
    expect(run.stdout.toString()).toMatch(/endpoint studio: deleted[\s\S]*template studio-template: deleted[\s\S]*secret {3}comfy_seal_studio_key: deleted/);
    expect([api.secrets.length, api.templates.length, api.endpoints.length]).toEqual([0, 0, 0]);
    const mixed = await deployCli(['--delete', 'studio', '--image', IMAGE]);
    expect(mixed.code).toBe(2);
  });
});
