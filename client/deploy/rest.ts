/**
 * RunPod's REST API v2 (management: secrets, templates, endpoints), as `deploy` needs it: Bearer auth, JSON in and
 * out, RFC 9457 refusals turned into one-line errors, and 429 answered by waiting its Retry-After (bounded).
 */
import { RunpodApiError, RunpodConnectionError } from '../errors.js';

export const DEFAULT_REST_URL = 'https://api.runpod.io/v2';

export interface RestOptions {
  apiKey: string;
  /** @default DEFAULT_REST_URL */
  baseUrl?: string;
  fetch?: typeof fetch;
  /** How many times a 429 is waited out before giving up. @default 3 */
  maxRetries?: number;
  /** The longest Retry-After honoured; a longer one fails at once, saying when to come back. @default 60000 */
  maxWaitMs?: number;
  sleep?: (ms: number) => Promise<void>;
  /** Texts never to print (the key): an answer that echoed one is redacted before it becomes a message. */
  redact?: readonly string[];
}

export interface RestCall {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  path: string;
  body?: unknown;
}

/** An RFC 9457 problem body, as RunPod sends it. */
interface Problem {
  title?: unknown;
  detail?: unknown;
  errors?: unknown;
}

const API_KEY_HINT = 'RunPod console > Settings > API Keys; it needs read/write access';

export type Rest = (call: RestCall) => Promise<unknown>;

export function restClient(options: RestOptions): Rest {
  const base = (options.baseUrl ?? DEFAULT_REST_URL).replace(/\/+$/, '');
  const doFetch = options.fetch ?? fetch;
  const maxRetries = options.maxRetries ?? 3;
  const maxWaitMs = options.maxWaitMs ?? 60_000;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const clean = (text: string) => oneLine((options.redact ?? []).reduce((t, secret) => (secret ? t.split(secret).join('<redacted>') : t), text));

  return async ({ method, path, body }) => {
    for (let attempt = 0; ; attempt++) {
      let response: Response;
      try {
        response = await doFetch(`${base}${path}`, {
          method,
          headers: { authorization: `Bearer ${options.apiKey}`, accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
      } catch (error) {
        const code = (error as { cause?: { code?: unknown } })?.cause?.code;
        throw new RunpodConnectionError(`could not reach RunPod's REST API at ${base} (${typeof code === 'string' ? code : 'network error'})`, typeof code === 'string' ? code : undefined, { cause: error });
      }
      const text = await response.text();
      if (response.ok) return text === '' ? undefined : parseJson(text, method, path);

      const problem = parseProblem(text);
      const what = `${method} ${path}`;
      if (response.status === 429) {
        const waitMs = retryAfterMs(response.headers.get('retry-after'));
        if (attempt < maxRetries && waitMs <= maxWaitMs) {
          await sleep(waitMs);
          continue;
        }
        const when = waitMs > maxWaitMs ? `RunPod asks to wait ${Math.ceil(waitMs / 1000)} s` : `still refused after ${maxRetries} waits`;
        throw new RunpodApiError(429, clean(`RunPod's rate limit (429) on ${what}: ${when}; run the same command again later (it picks up what exists)`), problem);
      }
      if (response.status === 401) {
        throw new RunpodApiError(401, clean(`RunPod did not accept the API key (401 on ${what}): check --api-key or RUNPOD_API_KEY (${API_KEY_HINT})`), problem);
      }
      if (response.status === 403) {
        throw new RunpodApiError(403, clean(`RunPod refused ${what} (403): the API key lacks access to it (${API_KEY_HINT})`), problem);
      }
      // A 5xx may or may not have been carried out: not retried here, but a re-run finds what exists by name.
      const again = response.status >= 500 ? '; run the same command again (it picks up what exists)' : '';
      throw new RunpodApiError(response.status, clean(`RunPod refused ${what}: ${describeProblem(response.status, problem)}${again}`), problem);
    }
  };
}

function parseJson(text: string, method: string, path: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new RunpodApiError(502, `RunPod answered ${method} ${path} with something that is not JSON`);
  }
}

function parseProblem(text: string): Problem {
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === 'object' ? (value as Problem) : {};
  } catch {
    return {};
  }
}

/** "422 Unprocessable Entity: Request validation failed. ($.gpu: additional properties 'bogus' not allowed)". */
function describeProblem(status: number, problem: Problem): string {
  const title = typeof problem.title === 'string' ? ` ${problem.title}` : '';
  const detail = typeof problem.detail === 'string' ? `: ${problem.detail}` : '';
  const errors = Array.isArray(problem.errors) ? problem.errors.filter((e): e is string => typeof e === 'string') : [];
  return `${status}${title}${detail}${errors.length > 0 ? ` (${errors.join('; ')})` : ''}`;
}

/** Retry-After in seconds (RunPod's form) or an HTTP date; absent or unreadable: 1 s. */
export function retryAfterMs(header: string | null, now = Date.now()): number {
  if (header === null || header.trim() === '') return 1000;
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.ceil(seconds * 1000);
  const date = Date.parse(header);
  return Number.isNaN(date) ? 1000 : Math.max(0, date - now);
}

const oneLine = (text: string) => text.replace(/\s*[\r\n]+\s*/g, ' ').trim();
