/**
 * RunPod's REST API v2 (secrets, templates, serverless endpoints) on a real HTTP server on loopback, as strict as the
 * real one (its OpenAPI document, read 2026-12-05): an unknown or mistyped field is 422 with an RFC 9457 body, a
 * missing or wrong Bearer key is 401, and 429 with Retry-After comes on demand. Every request is recorded.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export const REST_API_KEY = 'rpa_test-rest-key-0123';

export interface RestRecord {
  method: string;
  path: string;
  query: string;
  authorization: string | undefined;
  body: string;
}

type Shape = 'string' | 'integer' | 'number' | 'boolean' | 'strings' | 'env' | 'string?' | readonly string[] | { [field: string]: Shape };

const CONTAINER: Record<string, Shape> = { image: 'string', args: 'string', disk: 'integer', env: 'env', ports: 'strings', registry: 'string?' };
const TEMPLATE: Record<string, Shape> = {
  ...CONTAINER,
  name: 'string',
  allowedCudaVersions: 'strings',
  category: ['CPU', 'NVIDIA', 'AMD'],
  public: 'boolean',
  serverless: 'boolean',
  startSsh: 'boolean',
  startJupyter: 'boolean',
};
const GPU: Shape = { pools: 'strings', count: 'integer', excludedTypes: 'strings', allowedCudaVersions: 'strings', minCudaVersion: 'string' };
const ENDPOINT: Record<string, Shape> = {
  ...CONTAINER,
  name: 'string',
  gpu: GPU,
  workers: { min: 'integer', max: 'integer', idleTimeout: 'integer' },
  scaling: { type: ['QUEUE_DELAY', 'REQUEST_COUNT'], queueDelay: 'number', requestCount: 'integer' },
  dataCenterIds: 'strings',
  networkVolumes: 'strings',
  flashboot: ['OFF', 'FLASHBOOT', 'PRIORITY_FLASHBOOT'],
  templateId: 'string',
  timeout: 'integer',
};
const SCHEMAS = {
  createSecret: { name: 'string', value: 'string', description: 'string' },
  updateSecret: { value: 'string', description: 'string' },
  createTemplate: TEMPLATE,
  updateTemplate: TEMPLATE,
  createEndpoint: { ...ENDPOINT, type: ['QUEUE', 'LOAD_BALANCER'] },
  updateEndpoint: ENDPOINT,
} satisfies Record<string, Record<string, Shape>>;

/** The validator's complaints, worded as RunPod's ("$.gpu: additional properties 'bogus' not allowed"). */
function validate(value: unknown, shape: Shape, at: string): string[] {
  if (typeof shape === 'string') {
    const ok =
      shape === 'string' ? typeof value === 'string' :
      shape === 'string?' ? value === null || typeof value === 'string' :
      shape === 'integer' ? Number.isInteger(value) :
      shape === 'number' ? typeof value === 'number' :
      shape === 'boolean' ? typeof value === 'boolean' :
      shape === 'strings' ? Array.isArray(value) && value.every((v) => typeof v === 'string') :
      value !== null && typeof value === 'object' && !Array.isArray(value) && Object.values(value).every((v) => typeof v === 'string');
    return ok ? [] : [`${at}: expected ${shape === 'env' ? 'object of strings' : shape === 'strings' ? 'array of strings' : shape}`];
  }
  if (Array.isArray(shape)) return shape.includes(value as string) ? [] : [`${at}: value must be one of ${shape.map((s) => `'${s}'`).join(', ')}`];
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return [`${at}: expected object`];
  const fields = shape as Record<string, Shape>;
  return Object.entries(value).flatMap(([k, v]) => (k in fields ? validate(v, fields[k]!, `${at}.${k}`) : [`${at}: additional properties '${k}' not allowed`]));
}

const required = (body: Record<string, unknown>, fields: string[]) => fields.filter((f) => !(f in body)).map((f) => `$: missing property '${f}'`);

export interface RestEmulator {
  url: string;
  requests: RestRecord[];
  secrets: Array<{ id: string; name: string; description: string | null; createdAt: string; valueLastUpdatedAt: string }>;
  /** Every value a create or a rotation stored, by secret id. */
  secretValues: Map<string, string>;
  templates: Array<Record<string, unknown> & { id: string; name: string }>;
  endpoints: Array<Record<string, unknown> & { id: string; name: string }>;
  /** The next `count` requests are answered 429 with this Retry-After (seconds). */
  rateLimit(count: number, retryAfterS: number): void;
  close(): Promise<void>;
}

export async function startRestEmulator(): Promise<RestEmulator> {
  const requests: RestRecord[] = [];
  const secrets: RestEmulator['secrets'] = [];
  const secretValues = new Map<string, string>();
  const templates: RestEmulator['templates'] = [];
  const endpoints: RestEmulator['endpoints'] = [];
  let limited = { count: 0, retryAfterS: 1 };
  const newId = () => randomBytes(5).toString('hex');
  const now = () => new Date().toISOString();

  const send = (res: ServerResponse, status: number, body?: unknown) => {
    if (body === undefined) return void res.writeHead(status).end();
    res.writeHead(status, { 'content-type': status >= 400 ? 'application/problem+json' : 'application/json', ratelimit: 'limit=100, remaining=99, reset=10' });
    res.end(JSON.stringify(body));
  };
  const problem = (res: ServerResponse, status: number, title: string, detail: string, errors?: string[]) =>
    send(res, status, { title, status, detail, ...(errors ? { errors } : {}) });

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const url = new URL(req.url ?? '/', 'http://x');
    const text = Buffer.concat(chunks).toString('utf8');
    const method = req.method ?? '';
    requests.push({ method, path: url.pathname, query: url.search, authorization: req.headers.authorization, body: text });

    if (limited.count > 0) {
      limited.count--;
      res.setHeader('retry-after', String(limited.retryAfterS));
      return problem(res, 429, 'Too Many Requests', 'rate limit exceeded for the minute window');
    }
    if (!req.headers.authorization?.startsWith('Bearer ')) return problem(res, 401, 'Unauthorized', 'missing bearer token');
    if (req.headers.authorization !== `Bearer ${REST_API_KEY}`) return problem(res, 401, 'Unauthorized', 'invalid bearer token');

    let body: Record<string, unknown> = {};
    if (text !== '') {
      try {
        body = JSON.parse(text) as Record<string, unknown>;
      } catch {
        return problem(res, 400, 'Bad Request', 'request body is not valid JSON');
      }
    }
    const invalid = (schema: Record<string, Shape>, must: string[] = []) => {
      const errors = [...required(body, must), ...validate(body, schema, '$')];
      if (errors.length > 0) problem(res, 422, 'Unprocessable Entity', 'Request validation failed.', errors);
      return errors.length > 0;
    };
    const [, v2, collection, id, extra] = url.pathname.split('/');
    const route = v2 === 'v2' ? (collection === 'account' ? `secrets${extra !== undefined ? '/id' : ''}` : `${collection}${id !== undefined ? '/id' : ''}`) : '';
    const itemId = collection === 'account' ? extra : id;
    if (collection === 'account' && id !== 'secrets') return problem(res, 404, 'Not Found', 'no such route');

    switch (`${method} ${route}`) {
      case 'GET secrets': {
        const name = url.searchParams.get('name');
        return send(res, 200, { secrets: secrets.filter((s) => name === null || s.name.toLowerCase() === name.toLowerCase()) });
      }
      case 'POST secrets': {
        if (invalid(SCHEMAS.createSecret, ['name', 'value'])) return;
        const name = body.name as string;
        if (!/^[a-zA-Z_][a-zA-Z0-9_.\-/]*$/.test(name) || name.length > 191 || /^runpod/i.test(name)) {
          return problem(res, 422, 'Unprocessable Entity', 'Request validation failed.', ["$.name: does not match pattern '^[a-zA-Z_][a-zA-Z0-9_.\\-/]*$'"]);
        }
        if (secrets.some((s) => s.name.toLowerCase() === name.toLowerCase())) return problem(res, 409, 'Conflict', 'a secret with this name already exists');
        const secret = { id: newId(), name, description: (body.description as string | undefined) ?? null, createdAt: now(), valueLastUpdatedAt: now() };
        secrets.push(secret);
        secretValues.set(secret.id, body.value as string);
        return send(res, 201, secret);
      }
      case 'PATCH secrets/id':
      case 'DELETE secrets/id': {
        const secret = secrets.find((s) => s.id === itemId);
        if (!secret) return problem(res, 404, 'Not Found', 'secret not found');
        if (method === 'DELETE') {
          secrets.splice(secrets.indexOf(secret), 1);
          return send(res, 204);
        }
        if (invalid(SCHEMAS.updateSecret)) return;
        if (typeof body.value === 'string') Object.assign(secret, { valueLastUpdatedAt: now() }), secretValues.set(secret.id, body.value);
        if (typeof body.description === 'string') secret.description = body.description;
        return send(res, 200, secret);
      }
      case 'GET templates':
        return send(res, 200, { templates });
      case 'POST templates': {
        if (invalid(SCHEMAS.createTemplate, ['name', 'image'])) return;
        const template = { args: '', disk: 10, env: {}, ports: [], registry: null, serverless: false, public: false, category: 'NVIDIA', startSsh: true, startJupyter: true, allowedCudaVersions: [], mounts: {}, ...body, id: newId() } as unknown as RestEmulator['templates'][number];
        templates.push(template);
        return send(res, 201, template);
      }
      case 'PATCH templates/id':
      case 'DELETE templates/id': {
        const template = templates.find((t) => t.id === itemId);
        if (!template) return problem(res, 404, 'Not Found', 'template not found');
        if (method === 'DELETE') {
          templates.splice(templates.indexOf(template), 1);
          return send(res, 204);
        }
        if (invalid(SCHEMAS.updateTemplate)) return;
        Object.assign(template, body);
        return send(res, 200, template);
      }
      case 'GET serverless':
        return send(res, 200, { endpoints });
      case 'POST serverless': {
        if (invalid(SCHEMAS.createEndpoint, ['name', 'type', 'scaling', ...(body.templateId === undefined ? ['image'] : [])])) return;
        if ((body.gpu === undefined) === (body.cpu === undefined)) return problem(res, 400, 'Bad Request', 'exactly one of gpu or cpu is required');
        const template = body.templateId === undefined ? undefined : templates.find((t) => t.id === body.templateId);
        if (body.templateId !== undefined && !template) return problem(res, 404, 'Not Found', 'template not found');
        if (template && template.serverless !== true) return problem(res, 422, 'Unprocessable Entity', 'Request validation failed.', ['$.templateId: must be a serverless template']);
        const { templateId: _templateId, ...fields } = body;
        const epId = newId();
        const container = template ? { image: template.image, args: template.args, disk: template.disk, ports: template.ports, registry: template.registry, env: template.env } : {};
        const endpoint = {
          ...container,
          ...fields,
          env: { ...((container.env as object | undefined) ?? {}), ...((fields.env as object | undefined) ?? {}) },
          id: epId,
          gpu: { count: 1, allowedCudaVersions: [], minCudaVersion: null, ...(fields.gpu as object) },
          workers: { min: 0, max: 3, idleTimeout: 10, ...(fields.workers as object | undefined) },
          dataCenterIds: fields.dataCenterIds ?? [],
          networkVolumes: fields.networkVolumes ?? [],
          timeout: fields.timeout ?? 300000,
          flashboot: fields.flashboot ?? 'OFF',
          createdAt: now(),
          requestUrls: { run: `https://api.runpod.ai/v2/${epId}/run`, runSync: `https://api.runpod.ai/v2/${epId}/runsync`, health: `https://api.runpod.ai/v2/${epId}/health` },
        } as unknown as RestEmulator['endpoints'][number];
        endpoints.push(endpoint);
        return send(res, 201, endpoint);
      }
      case 'PATCH serverless/id':
      case 'DELETE serverless/id': {
        const endpoint = endpoints.find((e) => e.id === itemId);
        if (!endpoint) return problem(res, 404, 'Not Found', 'endpoint not found');
        if (method === 'DELETE') {
          endpoints.splice(endpoints.indexOf(endpoint), 1);
          return send(res, 204);
        }
        if (invalid(SCHEMAS.updateEndpoint)) return;
        const { gpu, workers, ...rest } = body;
        Object.assign(endpoint, rest);
        if (gpu) endpoint.gpu = { ...(endpoint.gpu as object), ...(gpu as object) };
        if (workers) endpoint.workers = { ...(endpoint.workers as object), ...(workers as object) };
        return send(res, 200, endpoint);
      }
      default:
        return problem(res, 404, 'Not Found', 'no such route');
    }
  }

  const server = createServer((req, res) => void handle(req, res).catch(() => problem(res, 500, 'Internal Server Error', 'emulator error')));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v2`,
    requests,
    secrets,
    secretValues,
    templates,
    endpoints,
    rateLimit(count, retryAfterS) {
      limited = { count, retryAfterS };
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
