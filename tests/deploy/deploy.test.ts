/** deploy's core against the REST v2 emulator: what it creates, that a second run creates nothing, the key's path. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { deleteRequests, deploy, deployRequests, undeploy } from '../../client/deploy/deploy.js';
import { DEPLOY_DEFAULTS, keyId, printable, type DeploySpec } from '../../client/deploy/plan.js';
import { restClient } from '../../client/deploy/rest.js';
import { ComfySealError, RunpodApiError } from '../../client/errors.js';
import { Fernet } from '../../shared/index.js';
import { REST_API_KEY, startRestEmulator, type RestEmulator } from '../helpers/runpod-rest.js';

const key = Fernet.generateKey();
const spec: DeploySpec = {
  name: 'studio',
  image: 'ghcr.io/acme/comfy-seal:1.2.3',
  gpuPools: ['ADA_24', 'AMPERE_48'],
  workersMin: DEPLOY_DEFAULTS.workersMin,
  workersMax: DEPLOY_DEFAULTS.workersMax,
  idleTimeoutS: DEPLOY_DEFAULTS.idleTimeoutS,
  timeoutS: DEPLOY_DEFAULTS.timeoutS,
  diskGb: DEPLOY_DEFAULTS.diskGb,
  dataCenters: [],
  env: { MODELS: 'org/repo:model.safetensors:checkpoints' },
  flashboot: true,
};

let api: RestEmulator;
const waits: number[] = [];
const rest = (apiKey = REST_API_KEY) => restClient({ apiKey, baseUrl: api.url, sleep: async (ms) => void waits.push(ms), redact: [key] });
const writes = () => api.requests.filter((r) => r.method !== 'GET');

beforeEach(async () => {
  api = await startRestEmulator();
  waits.length = 0;
});
afterEach(() => api.close());

describe('deploy (REST v2)', () => {
  it('creates the secret, a serverless template reading it, and a QUEUE endpoint made from the template', async () => {
    const report = await deploy(spec, key, { rest: rest() });
    expect(writes().map((r) => `${r.method} ${r.path}`)).toEqual(['POST /v2/account/secrets', 'POST /v2/templates', 'POST /v2/serverless']);
    const [secret] = api.secrets;
    expect(secret!.name).toBe('comfy_seal_studio_key');
    expect(api.secretValues.get(secret!.id)).toBe(key);
    expect(secret!.description).toContain(keyId(key));

    const [template] = api.templates;
    expect(template).toMatchObject({ name: 'studio-template', image: spec.image, disk: 40, serverless: true, startSsh: false, startJupyter: false });
    expect(template!.env).toEqual({ MODELS: spec.env.MODELS, ENCRYPTION_KEY: '{{ RUNPOD_SECRET_comfy_seal_studio_key }}' });

    const [endpoint] = api.endpoints;
    expect(JSON.parse(writes()[2]!.body)).toMatchObject({ type: 'QUEUE', templateId: template!.id });
    expect(endpoint).toMatchObject({
      name: 'studio',
      gpu: { pools: ['ADA_24', 'AMPERE_48'], count: 1 },
      workers: { min: 0, max: 3, idleTimeout: 5 },
      scaling: { type: 'QUEUE_DELAY', queueDelay: 4 },
      timeout: 600_000,
      flashboot: 'FLASHBOOT',
      image: spec.image,
      env: template!.env,
    });
    expect(report.result).toEqual({ endpoint_id: endpoint!.id, template_id: template!.id, secret: 'comfy_seal_studio_key', run_url: `https://api.runpod.ai/v2/${endpoint!.id}/run` });

    // The key travels in the secret's own request and nowhere else.
    const others = api.requests.filter((r) => !(r.method === 'POST' && r.path === '/v2/account/secrets'));
    for (const r of others) expect(`${r.path}${r.query} ${r.authorization} ${r.body}`).not.toContain(key);
    expect(JSON.stringify(report)).not.toContain(key);
  });

  it('a second run with the same options sends no write; a changed option PATCHes only the fields that differ', async () => {
    const first = await deploy(spec, key, { rest: rest() });
    const before = writes().length;
    const again = await deploy(spec, key, { rest: rest() });
    expect(writes()).toHaveLength(before);
    expect(again.result).toEqual(first.result);
    expect(again.actions).toEqual({ secret: 'unchanged', template: 'unchanged', endpoint: 'unchanged' });
    expect([api.secrets.length, api.templates.length, api.endpoints.length]).toEqual([1, 1, 1]);

    const changed = await deploy({ ...spec, workersMax: 5, env: { ...spec.env, EXTRA: '1' } }, key, { rest: rest() });
    const patches = writes().slice(before);
    expect(patches.map((r) => `${r.method} ${r.path}`)).toEqual([`PATCH /v2/templates/${first.result.template_id}`, `PATCH /v2/serverless/${first.result.endpoint_id}`]);
    expect(Object.keys(JSON.parse(patches[0]!.body))).toEqual(['env']);
    expect(Object.keys(JSON.parse(patches[1]!.body)).sort()).toEqual(['env', 'workers']);
    expect(changed.changed).toEqual({ template: ['env'], endpoint: ['workers', 'env'] });
    expect(api.endpoints[0]!.workers).toMatchObject({ max: 5 });
    expect([api.secrets.length, api.templates.length, api.endpoints.length]).toEqual([1, 1, 1]);
  });

  it('refuses, before any write, to overwrite a secret that holds another key; --rotate-key replaces only the value', async () => {
    await deploy(spec, key, { rest: rest() });
    const before = writes().length;
    const other = Fernet.generateKey();
    const refused = await deploy({ ...spec, workersMax: 7 }, other, { rest: rest() }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ComfySealError);
    expect((refused as ComfySealError).message).toMatch(/holds another key.*--rotate-key/);
    expect(writes()).toHaveLength(before);

    const rotated = await deploy(spec, other, { rest: rest(), rotateKey: true });
    expect(rotated.actions).toEqual({ secret: 'rotate', template: 'unchanged', endpoint: 'unchanged' });
    expect(writes().slice(before).map((r) => `${r.method} ${r.path}`)).toEqual([`PATCH /v2/account/secrets/${api.secrets[0]!.id}`]);
    expect(api.secretValues.get(api.secrets[0]!.id)).toBe(other);
  });

  it('a secret made by hand (no key id) is not overwritten silently', async () => {
    api.secrets.push({ id: 'hand1', name: 'comfy_seal_studio_key', description: null, createdAt: '', valueLastUpdatedAt: '' });
    await expect(deploy(spec, key, { rest: rest() })).rejects.toThrow(/a key comfy-seal did not set/);
    expect(writes()).toHaveLength(0);
  });

  it('turns RFC 9457 refusals into one line naming the field; 401 says where to get a key', async () => {
    const refused = await rest()({ method: 'POST', path: '/templates', body: { name: 't', image: 'i', bogus: 1, env: { A: 2 } } }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(RunpodApiError);
    expect((refused as RunpodApiError).status).toBe(422);
    expect((refused as Error).message).toBe(
      "RunPod refused POST /templates: 422 Unprocessable Entity: Request validation failed. ($: additional properties 'bogus' not allowed; $.env: expected object of strings)",
    );

    const unauthorized = await deploy(spec, key, { rest: rest('rpa_wrong') }).catch((e: unknown) => e);
    expect(unauthorized).toMatchObject({ code: 'RUNPOD_AUTH', status: 401 });
    expect((unauthorized as Error).message).toMatch(/RUNPOD_API_KEY.*Settings > API Keys/);
  });

  it('waits out 429 by its Retry-After, a bounded number of times', async () => {
    api.rateLimit(2, 3);
    await deploy(spec, key, { rest: rest() });
    expect(waits).toEqual([3000, 3000]);
    expect(api.endpoints).toHaveLength(1);

    waits.length = 0;
    api.rateLimit(10, 1);
    const limited = await deploy(spec, key, { rest: rest() }).catch((e: unknown) => e);
    expect(limited).toMatchObject({ code: 'RUNPOD_RATE_LIMITED' });
    expect((limited as Error).message).toMatch(/still refused after 3 waits; run the same command again later/);
    expect(waits).toEqual([1000, 1000, 1000]);

    // A wait longer than the bound is not slept through.
    waits.length = 0;
    api.rateLimit(1, 3600);
    await expect(deploy(spec, key, { rest: rest() })).rejects.toThrow(/asks to wait 3600 s/);
    expect(waits).toEqual([]);
  });

  it('--delete: endpoint, then template, then secret; nothing left, and a second delete finds nothing', async () => {
    const { result } = await deploy(spec, key, { rest: rest() });
    const secretId = api.secrets[0]!.id;
    const before = writes().length;
    expect(await undeploy('studio', rest())).toEqual({ endpoint_id: result.endpoint_id, template_id: result.template_id, secret: 'comfy_seal_studio_key' });
    expect(writes().slice(before).map((r) => `${r.method} ${r.path}`)).toEqual([
      `DELETE /v2/serverless/${result.endpoint_id}`,
      `DELETE /v2/templates/${result.template_id}`,
      `DELETE /v2/account/secrets/${secretId}`,
    ]);
    expect([api.secrets.length, api.templates.length, api.endpoints.length]).toEqual([0, 0, 0]);
    expect(await undeploy('studio', rest())).toEqual({ endpoint_id: null, template_id: null, secret: null });
    expect(writes()).toHaveLength(before + 3);
  });

  it('--delete: a template RunPod removed along with its endpoint (404) is not an error', async () => {
    const { result } = await deploy(spec, key, { rest: rest() });
    const inner = rest();
    // RunPod's DELETE of an endpoint also removes "its bound template"; whether ours counts as bound, the docs leave open.
    const removesBound: typeof inner = async (call) => {
      const answer = await inner(call);
      if (call.method === 'DELETE' && call.path.startsWith('/serverless/')) api.templates.splice(0);
      return answer;
    };
    expect(await undeploy('studio', removesBound)).toMatchObject({ endpoint_id: result.endpoint_id, template_id: result.template_id });
    expect(api.requests.filter((r) => r.method === 'DELETE').map((r) => r.path.split('/')[2])).toEqual(['serverless', 'templates', 'account']);
    expect(api.secrets).toHaveLength(0);
  });

  it('dry-run requests: the creates a fresh account gets, the secret value redacted when printed', () => {
    const requests = deployRequests(spec, key).map(printable);
    expect(requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      'GET /account/secrets?name=comfy_seal_studio_key',
      'POST /account/secrets',
      'GET /templates',
      'POST /templates',
      'GET /serverless',
      'POST /serverless',
    ]);
    expect(requests[1]!.body).toMatchObject({ name: 'comfy_seal_studio_key', value: '<redacted>' });
    expect(JSON.stringify(requests)).not.toContain(key);
    expect(deleteRequests('studio').filter((r) => r.method === 'DELETE')).toHaveLength(3);
  });
});
