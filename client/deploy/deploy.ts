/**
 * `deploy` against the API: list what the account holds, plan (client/deploy/plan.ts), then send. Every check that can
 * refuse (a secret holding another key, an endpoint of another type, two objects of one name) runs before the first
 * write, so a refused deploy changes nothing.
 */
import { ComfySealError, RunpodApiError } from '../errors.js';
import {
  findByName,
  planDelete,
  planEndpoint,
  planSecret,
  planTemplate,
  secretName,
  templateName,
  type Action,
  type DeploySpec,
  type Listed,
  type RestRequest,
  type Step,
} from './plan.js';
import type { Rest } from './rest.js';

export interface DeployResult {
  endpoint_id: string;
  template_id: string;
  /** The secret's name (its value never leaves the request that stores it). */
  secret: string;
  run_url: string;
}

export interface DeployReport {
  result: DeployResult;
  actions: { secret: Action; template: Action; endpoint: Action };
  /** Fields PATCHed, per object. */
  changed: { template: string[]; endpoint: string[] };
}

const secretsQuery = (name: string) => `/account/secrets?name=${encodeURIComponent(secretName(name))}`;
const LISTS = {
  secret: (name: string): RestRequest => ({ method: 'GET', path: secretsQuery(name) }),
  template: (): RestRequest => ({ method: 'GET', path: '/templates' }),
  endpoint: (): RestRequest => ({ method: 'GET', path: '/serverless' }),
};

/** `{"secrets": [...]}` → the items, each with a string id and name. */
function items(answer: unknown, field: 'secrets' | 'templates' | 'endpoints'): Listed[] {
  const list = (answer as Record<string, unknown> | null)?.[field];
  if (!Array.isArray(list) || !list.every((o) => typeof o?.id === 'string' && typeof o?.name === 'string')) {
    throw new ComfySealError('BAD_ANSWER', `RunPod's list of ${field} is not in the REST v2 shape ({"${field}": [{"id", "name", ...}]}); is RUNPOD_REST_URL right?`);
  }
  return list as Listed[];
}

function idOf(answer: unknown, what: string): string {
  const id = (answer as { id?: unknown } | null)?.id;
  if (typeof id !== 'string') throw new ComfySealError('BAD_ANSWER', `RunPod's answer to creating the ${what} holds no id`);
  return id;
}

export async function deploy(spec: DeploySpec, key: string, options: { rotateKey?: boolean; rest: Rest }): Promise<DeployReport> {
  const { rest } = options;
  const secretNow = findByName(items(await rest(LISTS.secret(spec.name)), 'secrets'), secretName(spec.name), 'secret');
  const templateNow = findByName(items(await rest(LISTS.template()), 'templates'), templateName(spec.name), 'template');
  const endpointNow = findByName(items(await rest(LISTS.endpoint()), 'endpoints'), spec.name, 'endpoint');

  const secret = planSecret(spec, key, secretNow, options.rotateKey ?? false);
  const template = planTemplate(spec, templateNow);
  const endpoint = planEndpoint(spec, templateNow?.id ?? '', endpointNow);

  await send(rest, secret);
  const templateAnswer = await send(rest, template);
  const templateId = templateNow?.id ?? idOf(templateAnswer, 'template');
  if (endpoint.request?.method === 'POST') endpoint.request.body = { ...endpoint.request.body, templateId };
  const endpointAnswer = (await send(rest, endpoint)) ?? endpointNow;
  const endpointId = endpointNow?.id ?? idOf(endpointAnswer, 'endpoint');
  const run = (endpointAnswer as { requestUrls?: { run?: unknown } } | undefined)?.requestUrls?.run;

  return {
    result: {
      endpoint_id: endpointId,
      template_id: templateId,
      secret: secretName(spec.name),
      run_url: typeof run === 'string' ? run : `https://api.runpod.ai/v2/${endpointId}/run`,
    },
    actions: { secret: secret.action, template: template.action, endpoint: endpoint.action },
    changed: { template: template.changed ?? [], endpoint: endpoint.changed ?? [] },
  };
}

const send = (rest: Rest, step: Step) => (step.request ? rest(step.request) : Promise.resolve(undefined));

/** What a deploy would send to an account that holds none of these names (--dry-run: nothing is sent). */
export function deployRequests(spec: DeploySpec, key: string): RestRequest[] {
  const writes = [planSecret(spec, key, undefined, false), planTemplate(spec, undefined), planEndpoint(spec, '<the new template id>', undefined)];
  return [LISTS.secret(spec.name), writes[0]!.request!, LISTS.template(), writes[1]!.request!, LISTS.endpoint(), writes[2]!.request!];
}

export interface DeleteReport {
  endpoint_id: string | null;
  template_id: string | null;
  secret: string | null;
}

/** `--delete NAME`: endpoint, template, secret, each only if it exists; one already gone (404) is not an error. */
export async function undeploy(name: string, rest: Rest): Promise<DeleteReport> {
  const found = {
    endpoint: findByName(items(await rest(LISTS.endpoint()), 'endpoints'), name, 'endpoint'),
    template: findByName(items(await rest(LISTS.template()), 'templates'), templateName(name), 'template'),
    secret: findByName(items(await rest(LISTS.secret(name)), 'secrets'), secretName(name), 'secret'),
  };
  for (const request of planDelete(found)) {
    try {
      await rest(request);
    } catch (error) {
      if (!(error instanceof RunpodApiError && error.status === 404)) throw error;
    }
  }
  return { endpoint_id: found.endpoint?.id ?? null, template_id: found.template?.id ?? null, secret: found.secret?.name ?? null };
}

/** What `--delete NAME --dry-run` would send, ids shown as what they stand for. */
export function deleteRequests(name: string): RestRequest[] {
  const placeholder = (what: string, n: string) => ({ id: `<id of ${what} ${n}>`, name: n });
  return [
    LISTS.endpoint(),
    LISTS.template(),
    LISTS.secret(name),
    ...planDelete({ endpoint: placeholder('endpoint', name), template: placeholder('template', templateName(name)), secret: placeholder('secret', secretName(name)) }),
  ];
}
