/**
 * What `comfy-seal deploy` asks of RunPod's REST API v2, decided from the options and what the account already holds
 * (pure: no I/O). Objects are found by name; one that exists is PATCHed with only the fields that differ, so a second
 * run with the same options sends no write at all.
 */
import { createHmac } from 'node:crypto';
import { ComfySealError } from '../errors.js';

export interface DeploySpec {
  name: string;
  image: string;
  gpuPools: string[];
  workersMin: number;
  workersMax: number;
  idleTimeoutS: number;
  timeoutS: number;
  diskGb: number;
  networkVolume?: string | undefined;
  dataCenters: string[];
  /** The user's own variables (--env); ENCRYPTION_KEY is never among them. */
  env: Record<string, string>;
  registryAuth?: string | undefined;
  flashboot: boolean;
}

/** Contract §15's defaults. */
export const DEPLOY_DEFAULTS = {
  name: 'comfy-seal',
  gpuPools: ['ADA_24'],
  workersMin: 0,
  workersMax: 3,
  idleTimeoutS: 5,
  timeoutS: 600,
  diskGb: 40,
  flashboot: true,
} as const;

/** Seconds a job may wait in the queue before another worker is started. The API requires a value (≥ 0.5) and its
 * docs give no default; 4 s is what the console and the API's own example use. */
export const QUEUE_DELAY_S = 4;

/** Endpoint names: what a RunPod secret name can carry inside `comfy_seal_<name>_key`, kept short. */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

export const secretName = (name: string) => `comfy_seal_${name}_key`;
export const templateName = (name: string) => `${name}-template`;
/** The env value RunPod replaces with the secret when a worker boots. */
export const secretReference = (name: string) => `{{ RUNPOD_SECRET_${secretName(name)} }}`;

/**
 * A short id of the key (HMAC of a fixed label under the key), kept in the secret's description: the API never returns
 * a secret's value, so this is how a later run tells "the endpoint holds this key" from "it holds another one". It
 * reveals nothing of the key.
 */
export function keyId(key: string): string {
  return createHmac('sha256', key).update('comfy-seal deploy key id').digest('hex').slice(0, 16);
}

const keyIdIn = (description: unknown) => (typeof description === 'string' ? /key id ([0-9a-f]{16})\b/.exec(description)?.[1] : undefined);

export interface RestRequest {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  path: string;
  body?: Record<string, unknown>;
}

/** What the API lists, loosely: only the fields compared are read. */
export interface Listed {
  id: string;
  name: string;
  [field: string]: unknown;
}

export type Action = 'create' | 'update' | 'unchanged' | 'rotate';

export interface Step {
  action: Action;
  /** Absent when nothing needs sending. */
  request?: RestRequest;
  /** For an update: the fields that differ. */
  changed?: string[];
}

/** The one object of a name in a list; two of the same name are refused rather than guessed between. */
export function findByName(list: readonly Listed[], name: string, kind: string): Listed | undefined {
  const found = list.filter((o) => o.name === name);
  if (found.length > 1) {
    throw new ComfySealError('CONFIG', `your account holds ${found.length} ${kind}s named ${name} (${found.map((o) => o.id).join(', ')}); delete the extra ones in the RunPod console, or deploy under another --name`);
  }
  return found[0];
}

/**
 * The secret: created when absent; left alone when it holds this key; replaced only with `rotate` when it holds
 * another key (or one set outside comfy-seal), because jobs sealed with the old key would stop opening.
 */
export function planSecret(spec: DeploySpec, key: string, existing: Listed | undefined, rotate: boolean): Step {
  const id = keyId(key);
  const description = `comfy-seal ENCRYPTION_KEY of endpoint ${spec.name}; key id ${id}`;
  if (!existing) return { action: 'create', request: { method: 'POST', path: '/account/secrets', body: { name: secretName(spec.name), value: key, description } } };
  const held = keyIdIn(existing.description);
  if (held === id) return { action: 'unchanged' };
  if (!rotate) {
    throw new ComfySealError(
      'CONFIG',
      `the RunPod secret ${existing.name} holds ${held ? 'another key' : 'a key comfy-seal did not set'}: deploy with that key, or pass --rotate-key to replace it ` +
        '(jobs sealed with the old key stop opening unless your ENCRYPTION_KEY lists it after the new one)',
    );
  }
  return { action: 'rotate', request: { method: 'PATCH', path: `/account/secrets/${encodeURIComponent(existing.id)}`, body: { value: key, description } } };
}

function templateFields(spec: DeploySpec): Record<string, unknown> {
  return {
    image: spec.image,
    disk: spec.diskGb,
    env: { ...spec.env, ENCRYPTION_KEY: secretReference(spec.name) },
    ...(spec.registryAuth ? { registry: spec.registryAuth } : {}),
  };
}

/** A serverless template; startSsh/startJupyter off (they default to on and inject PUBLIC_KEY / JUPYTER_PASSWORD). */
export function planTemplate(spec: DeploySpec, existing: Listed | undefined): Step {
  const fixed = { serverless: true, startSsh: false, startJupyter: false };
  if (!existing) return { action: 'create', request: { method: 'POST', path: '/templates', body: { name: templateName(spec.name), ...templateFields(spec), ...fixed } } };
  return update(`/templates/${encodeURIComponent(existing.id)}`, { ...templateFields(spec), registry: spec.registryAuth ?? null, ...fixed }, existing);
}

function endpointFields(spec: DeploySpec): Record<string, unknown> {
  return {
    gpu: { pools: spec.gpuPools, count: 1 },
    workers: { min: spec.workersMin, max: spec.workersMax, idleTimeout: spec.idleTimeoutS },
    scaling: { type: 'QUEUE_DELAY', queueDelay: QUEUE_DELAY_S },
    timeout: spec.timeoutS * 1000,
    flashboot: spec.flashboot ? 'FLASHBOOT' : 'OFF',
    networkVolumes: spec.networkVolume ? [spec.networkVolume] : [],
    dataCenterIds: spec.dataCenters,
  };
}

/**
 * A QUEUE endpoint made from the template. RunPod applies a template once, at creation, and keeps no link to it, so an
 * existing endpoint gets the container settings (image, disk, env, registry) in its own PATCH.
 */
export function planEndpoint(spec: DeploySpec, templateId: string, existing: Listed | undefined): Step {
  if (!existing) {
    const fields = endpointFields(spec);
    if (!spec.networkVolume) delete fields.networkVolumes;
    if (spec.dataCenters.length === 0) delete fields.dataCenterIds;
    return { action: 'create', request: { method: 'POST', path: '/serverless', body: { name: spec.name, type: 'QUEUE', templateId, ...fields } } };
  }
  if (existing.type !== undefined && existing.type !== 'QUEUE') {
    throw new ComfySealError('CONFIG', `the endpoint ${spec.name} (${existing.id}) is a ${String(existing.type)} endpoint, which cannot become a QUEUE one; deploy under another --name`);
  }
  return update(`/serverless/${encodeURIComponent(existing.id)}`, { ...endpointFields(spec), ...templateFields(spec), registry: spec.registryAuth ?? null }, existing);
}

/** A PATCH of the fields whose value differs from what exists (gpu: the pools and count we set). */
function update(path: string, wanted: Record<string, unknown>, existing: Listed): Step {
  const body: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(wanted)) {
    const current = field === 'gpu' && isObject(existing.gpu) ? { pools: existing.gpu.pools, count: existing.gpu.count ?? 1 } : existing[field];
    if (!same(value, current)) body[field] = value;
  }
  const changed = Object.keys(body);
  return changed.length === 0 ? { action: 'unchanged' } : { action: 'update', request: { method: 'PATCH', path, body }, changed };
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Deep equality where object key order does not matter and null equals absent. */
function same(a: unknown, b: unknown): boolean {
  if ((a ?? null) === null || (b ?? null) === null) return (a ?? null) === (b ?? null);
  if (Array.isArray(a) || Array.isArray(b)) return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => same(x, b[i]));
  if (isObject(a) && isObject(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    return [...keys].every((k) => same(a[k], b[k]));
  }
  return a === b;
}

/** `--delete NAME`: the endpoint first (it runs workers), then the template, then the secret it reads. */
export function planDelete(found: { endpoint?: Listed | undefined; template?: Listed | undefined; secret?: Listed | undefined }): RestRequest[] {
  return [
    ...(found.endpoint ? [{ method: 'DELETE' as const, path: `/serverless/${encodeURIComponent(found.endpoint.id)}` }] : []),
    ...(found.template ? [{ method: 'DELETE' as const, path: `/templates/${encodeURIComponent(found.template.id)}` }] : []),
    ...(found.secret ? [{ method: 'DELETE' as const, path: `/account/secrets/${encodeURIComponent(found.secret.id)}` }] : []),
  ];
}

/** A request as printed (--dry-run): a secret's value never is. */
export function printable(request: RestRequest): RestRequest {
  if (!request.body || !('value' in request.body) || !request.path.startsWith('/account/secrets')) return request;
  return { ...request, body: { ...request.body, value: '<redacted>' } };
}
