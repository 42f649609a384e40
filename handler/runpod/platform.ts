/**
 * RunPod's worker-side API (../shared/docs/runpod-protocol.md): take a job, post progress and the result, heartbeat,
 * and the job-stop channel. URLs come from the RUNPOD_WEBHOOK_* templates; auth is the raw key, no "Bearer".
 */
import { Readable } from 'node:stream';
import { Agent, request } from 'undici';
import { SealedOutput } from '../../shared/envelope.js';
import { SealError } from '../../shared/errors.js';

export interface PlatformOptions {
  takeUrl: string;
  doneUrl: string;
  pingUrl: string;
  apiKey: string;
  podId: string;
  /** Heartbeat period; requests time out after twice that. */
  pingIntervalMs: number;
  /** The SDK wraps each take in 90 s. */
  takeTimeoutMs?: number;
  runpodVersion?: string;
}

export interface TakenJob {
  id: string;
  input: unknown;
}

export type TakeResult = { kind: 'jobs'; jobs: TakenJob[] } | { kind: 'none' } | { kind: 'backoff' };

/** Thrown when a post got an answer that says it will never succeed (4xx): retrying cannot help. */
export class PostRejected extends Error {
  override readonly name = 'PostRejected';
  constructor(readonly status: number) {
    super(`RunPod refused the post (${status})`);
  }
}

const isTimeout = (error: unknown) => {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT';
};

/** Substitutes `$RUNPOD_POD_ID` and `$ID` everywhere and appends query parameters with `?` or `&` as needed. */
export function fillTemplate(template: string, values: { podId: string; id: string }, params: Record<string, string | undefined> = {}): string {
  let url = template.replaceAll('$RUNPOD_POD_ID', values.podId).replaceAll('$ID', values.id);
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined) continue;
    url += `${url.includes('?') ? '&' : '?'}${encodeURIComponent(key)}=${encodeURIComponent(value)}`;
  }
  return url;
}

export class Platform {
  readonly #options: Required<PlatformOptions>;
  readonly #agent: Agent;

  constructor(options: PlatformOptions) {
    this.#options = { takeTimeoutMs: 90_000, runpodVersion: 'comfy-seal', ...options };
    this.#agent = new Agent({ keepAliveTimeout: 60_000, connect: { timeout: 10_000 } });
  }

  get podId(): string {
    return this.#options.podId;
  }

  /** False when RUNPOD_WEBHOOK_PING is unset: no heartbeat then. */
  get canPing(): boolean {
    return this.#options.pingUrl !== '';
  }

  #headers(json: boolean): Record<string, string> {
    // Content type as runpod-python sends it: its JSON bodies go out as form-urlencoded, and the platform expects that.
    return json
      ? { authorization: this.#options.apiKey, 'content-type': 'application/x-www-form-urlencoded', charset: 'utf-8' }
      : { authorization: this.#options.apiKey };
  }

  /** A GET that the platform may hold open (take, job-stop): bounded like the SDK's 90 s wrapper, abortable. */
  async #longPoll(url: string, signal?: AbortSignal): Promise<{ statusCode: number; text: string }> {
    const res = await request(url, {
      method: 'GET',
      headers: this.#headers(false),
      dispatcher: this.#agent,
      headersTimeout: this.#options.takeTimeoutMs,
      bodyTimeout: this.#options.takeTimeoutMs,
      ...(signal ? { signal } : {}),
    });
    return { statusCode: res.statusCode, text: await res.body.text() };
  }

  async take(jobInProgress: boolean, signal?: AbortSignal): Promise<TakeResult> {
    const url = fillTemplate(this.#options.takeUrl, { podId: this.#options.podId, id: this.#options.podId }, { job_in_progress: jobInProgress ? '1' : '0' });
    // Bounded like the SDK's wrapper, on a precise timer (undici's own timeouts fire up to a second late).
    const bound = AbortSignal.timeout(this.#options.takeTimeoutMs);
    let res;
    try {
      res = await this.#longPoll(url, signal ? AbortSignal.any([signal, bound]) : bound);
    } catch (error) {
      // The platform held an empty take past our bound: that is "no job", and the next take goes out at once.
      if ((bound.aborted && !signal?.aborted) || isTimeout(error)) return { kind: 'none' };
      throw error;
    }
    const text = res.text;
    if (res.statusCode === 204 || res.statusCode === 400) return { kind: 'none' };
    if (res.statusCode === 429) return { kind: 'backoff' };
    if (res.statusCode !== 200) throw new SealError('INTERNAL', `job take answered ${res.statusCode}`);
    if (text.trim() === '') return { kind: 'none' };
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new SealError('INTERNAL', 'job take answered something that is not JSON');
    }
    const list = Array.isArray(body) ? body : [body];
    const jobs = list.filter((j): j is TakenJob => !!j && typeof j === 'object' && typeof (j as TakenJob).id === 'string');
    return jobs.length > 0 ? { kind: 'jobs', jobs } : { kind: 'none' };
  }

  /** POST to the done URL (the body is bytes, see doneBody). 5xx and connection errors throw plain errors (retryable); 4xx throws PostRejected. */
  async postDone(jobId: string, body: Record<string, unknown>, isStream = false): Promise<void> {
    const url = fillTemplate(this.#options.doneUrl, { podId: this.#options.podId, id: jobId }, { isStream: String(isStream) });
    const parts = doneBody(body);
    const res = await request(url, {
      method: 'POST',
      headers: { ...this.#headers(true), 'content-length': String(parts.reduce((n, p) => n + p.length, 0)) },
      body: Readable.from(parts, { objectMode: false }),
      dispatcher: this.#agent,
      headersTimeout: 60_000,
      bodyTimeout: 60_000,
    });
    await res.body.dump();
    if (res.statusCode >= 200 && res.statusCode < 300) return;
    if (res.statusCode >= 400 && res.statusCode < 500 && res.statusCode !== 408 && res.statusCode !== 429) throw new PostRejected(res.statusCode);
    throw new Error(`done post answered ${res.statusCode}`);
  }

  async ping(jobIds: readonly string[]): Promise<void> {
    const url = fillTemplate(
      this.#options.pingUrl,
      { podId: this.#options.podId, id: this.#options.podId },
      { job_id: jobIds.length > 0 ? jobIds.join(',') : undefined, runpod_version: this.#options.runpodVersion },
    );
    const timeout = this.#options.pingIntervalMs * 2;
    const res = await request(url, { method: 'GET', headers: this.#headers(false), dispatcher: this.#agent, headersTimeout: timeout, bodyTimeout: timeout });
    await res.body.dump();
  }

  /** Long-polls the job-stop channel: ids of jobs the platform wants cancelled (empty on timeout or no news). */
  async jobsToStop(signal?: AbortSignal): Promise<string[]> {
    const url = fillTemplate(this.#options.takeUrl.replace('/job-take/', '/job-stop/'), { podId: this.#options.podId, id: this.#options.podId });
    const { statusCode, text } = await this.#longPoll(url, signal);
    if (statusCode !== 200) return [];
    try {
      const ids = (JSON.parse(text) as { jobsToStop?: unknown }).jobsToStop;
      return Array.isArray(ids) ? ids.map(String) : [];
    } catch {
      return [];
    }
  }

  close(): Promise<void> {
    return this.#agent.close();
  }
}

/**
 * The done body's bytes: JSON, except that a sealed output's token goes out as the bytes it already is, never as a
 * JS string (and a JSON string, and its UTF-8) of tens of MB.
 */
export function doneBody(body: Record<string, unknown>): Buffer[] {
  const { output, ...rest } = body;
  if (!(output instanceof SealedOutput)) return [Buffer.from(JSON.stringify(body), 'utf8')];
  const others = JSON.stringify(rest).slice(1, -1);
  return [Buffer.from('{"output":{"encrypted_output":"'), output.bytes, Buffer.from(`"}${others ? `,${others}` : ''}}`)];
}
