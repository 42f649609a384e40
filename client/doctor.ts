/**
 * `comfy-seal doctor` on a user's machine: key, endpoint, API key, the endpoint's health, a sealed ping that proves
 * the endpoint holds the same key and says whether its ComfyUI answers, and the blob store when one is set.
 */
import { createHash } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { Check, CheckResult } from '../shared/checks.js';
import { SealError } from '../shared/errors.js';
import { bufferBody } from '../shared/blob.js';
import { Fernet } from '../shared/fernet.js';
import { isPrivateAddress } from '../shared/private-address.js';
import { fetchBlob, putBlob } from './blob/transfer.js';
import { S3BlobStore } from './blob/s3.js';
import { newBlobKeys, type BlobStore } from './blob/store.js';
import { ComfySealClient, DEFAULT_API_URL, isLocalApi } from './client.js';
import { ComfySealError, ConfigError, JobFailedError, RunpodApiError, WaitTimeoutError, WrongJobError } from './errors.js';

export interface ClientDoctorOptions {
  env: NodeJS.ProcessEnv;
  endpointId?: string;
  apiUrl?: string;
  apiKey?: string;
  key?: string;
  /** s3://BUCKET/PREFIX (default: $COMFY_SEAL_BLOB_URL); the store check runs only with one. */
  blobUrl?: string;
  /** The store to check instead of S3 on `blobUrl` (tests, apps with their own). */
  blobStore?: BlobStore;
  /** How long the sealed ping may wait for a worker (a cold one starts first). @default 90000 */
  pingTimeoutMs?: number;
  /** Status polling of the ping. @default 500 */
  pingPollMs?: number;
  /** How fixes name our own commands: the way the user runs the CLI (`invokedAs`). @default 'comfy-seal' */
  command?: string;
}

/** What the worker's sealed ping result says (`{"query":"ping"}` → `ping` in the sealed result). */
export interface PingAnswer {
  comfy: { ok: boolean; version?: string };
}

export type PingOutcome =
  | { kind: 'answered'; ping: PingAnswer }
  /** The job failed with this code (DECRYPT_FAILED: the endpoint's key differs). */
  | { kind: 'failed'; code: string }
  /** The endpoint's result could not be opened with this key. */
  | { kind: 'unreadable' }
  | { kind: 'no-worker'; waitedMs: number };

export interface SealedPingOptions {
  /** A client holding the key (not a plaintext one): the ping is sealed like any job. */
  client: ComfySealClient;
  timeoutMs: number;
}

/**
 * `client.ping()`: `{"query":"ping"}` sealed, submitted, waited for and opened; its failures as outcomes. The worker
 * answers it without touching ComfyUI's queue. A ping no worker takes in time is cancelled: left queued, it would only
 * wake a worker later.
 */
export async function sealedPing({ client, timeoutMs }: SealedPingOptions): Promise<PingOutcome> {
  try {
    return { kind: 'answered', ping: await client.ping({ timeoutMs }) };
  } catch (error) {
    if (error instanceof JobFailedError) return { kind: 'failed', code: error.jobCode };
    // An answer for another job is a replay (§11); one that names none, or lacks the ping, comes from an older image.
    if (error instanceof WrongJobError && error.namedJobId !== undefined) return { kind: 'failed', code: 'WRONG_JOB' };
    if (error instanceof ComfySealError && error.code === 'BAD_ANSWER') return { kind: 'failed', code: 'NO_PING' };
    if (error instanceof WaitTimeoutError) {
      await client.cancel(error.jobId).catch(() => undefined);
      return { kind: 'no-worker', waitedMs: timeoutMs };
    }
    if (error instanceof SealError) return { kind: 'unreadable' }; // the answer does not open with this key
    throw error;
  }
}

/** The ping's outcome as doctor lines: the key (proven or not) and the endpoint's ComfyUI. */
export function pingResults(outcome: PingOutcome): CheckResult[] {
  switch (outcome.kind) {
    case 'answered': {
      const { comfy } = outcome.ping;
      return [
        { name: 'sealed ping', verdict: 'ok', detail: 'the endpoint opened a sealed job and answered with your key: both hold the same ENCRYPTION_KEY' },
        comfy.ok
          ? { name: 'comfyui', verdict: 'ok', detail: `the endpoint's ComfyUI answers${comfy.version ? ` (${comfy.version})` : ''}` }
          : { name: 'comfyui', verdict: 'fail', detail: "the endpoint's worker runs, but its ComfyUI does not answer", fix: "see the worker's log in the RunPod console; inside the image, 'comfy-seal doctor --worker'" },
      ];
    }
    case 'failed':
      if (outcome.code === 'DECRYPT_FAILED') {
        return [{ name: 'sealed ping', verdict: 'fail', detail: "the endpoint could not open a sealed job: its ENCRYPTION_KEY differs from yours", fix: 'set the same ENCRYPTION_KEY on the endpoint (its template variables) and here' }];
      }
      if (outcome.code === 'WRONG_JOB') {
        return [{ name: 'sealed ping', verdict: 'fail', detail: "the endpoint answered the ping with another job's sealed answer: someone with your RunPod API key, or on RunPod's side, is replaying answers", fix: 'rotate the RunPod API key (RunPod console: Settings > API Keys) and check who can reach the endpoint' }];
      }
      if (outcome.code === 'BAD_INPUT' || outcome.code === 'NO_PING') {
        return [{ name: 'sealed ping', verdict: 'warn', detail: "the endpoint opened the sealed job (same key) but does not answer pings: an older image", fix: 'update the endpoint to a newer comfy-seal image' }];
      }
      return [{ name: 'sealed ping', verdict: 'fail', detail: `the ping failed on the endpoint: ${outcome.code}`, fix: "see the worker's log in the RunPod console" }];
    case 'unreadable':
      return [{ name: 'sealed ping', verdict: 'fail', detail: 'the endpoint answered with a result your key cannot open: its first ENCRYPTION_KEY is not one of yours', fix: 'set the same ENCRYPTION_KEY on the endpoint and here' }];
    case 'no-worker':
      return [{ name: 'sealed ping', verdict: 'warn', detail: `no worker took the ping within ${Math.round(outcome.waitedMs / 1000)} s (key not proven)`, fix: 'workers may be starting: try again in a minute; check max workers and GPU availability in the RunPod console' }];
  }
}

export function clientChecks(options: ClientDoctorOptions): Array<[string, Check]> {
  const cli = options.command ?? 'comfy-seal';
  const key = options.key ?? options.env.ENCRYPTION_KEY;
  const endpointId = options.endpointId ?? options.env.RUNPOD_ENDPOINT_ID;
  const apiUrl = (options.apiUrl ?? options.env.RUNPOD_API_URL ?? DEFAULT_API_URL).replace(/\/+$/, '');
  const apiKey = options.apiKey ?? options.env.RUNPOD_API_KEY ?? '';
  let fernet: Fernet | null = null;
  let reachable: ComfySealClient | null = null;
  const blobUrl = options.blobUrl ?? (options.env.COMFY_SEAL_BLOB_URL || undefined);
  const store = (): BlobStore | undefined => options.blobStore ?? (blobUrl ? new S3BlobStore(blobUrl, options.env) : undefined);
  return [
    [
      'key',
      async (): Promise<CheckResult> => {
        if (!key) return { name: 'key', verdict: 'fail', detail: 'no ENCRYPTION_KEY', fix: `${cli} keygen, then set the same ENCRYPTION_KEY (or --key-file FILE) here and on the endpoint` };
        try {
          fernet = new Fernet(key);
        } catch (error) {
          return { name: 'key', verdict: 'fail', detail: (error as Error).message, fix: `a key is url-safe base64 of 32 bytes: make one with '${cli} keygen'` };
        }
        fernet.decrypt(fernet.encrypt('doctor'));
        return { name: 'key', verdict: 'ok', detail: `${fernet.keyCount} valid key${fernet.keyCount > 1 ? 's' : ''} (whether the endpoint holds it: the sealed ping below)` };
      },
    ],
    [
      'endpoint',
      async (): Promise<CheckResult[]> => {
        if (!endpointId) return [{ name: 'endpoint', verdict: 'fail', detail: 'no endpoint id', fix: 'set RUNPOD_ENDPOINT_ID or pass --endpoint' }];
        if (apiUrl === DEFAULT_API_URL && !apiKey) {
          return [{ name: 'api key', verdict: 'fail', detail: 'no RUNPOD_API_KEY', fix: 'create one in the RunPod console (Settings > API Keys); set RUNPOD_API_KEY or pass --api-key' }];
        }
        let client: ComfySealClient;
        try {
          client = new ComfySealClient({ endpointId, apiUrl, apiKey, env: options.env, plaintext: true, maxRetries: 1, retryMinMs: 200 });
        } catch (error) {
          if (error instanceof ConfigError) return [{ name: 'endpoint', verdict: 'fail', detail: error.message, fix: error.cliMessage }];
          throw error;
        }
        try {
          const health = await client.health();
          const workers = health.workers ?? {};
          const jobs = health.jobs ?? {};
          const active = Object.values(workers).reduce((a, b) => a + (typeof b === 'number' ? b : 0), 0);
          const detail = `${endpointId} at ${apiUrl}: workers ${JSON.stringify(workers)}, jobs in queue ${jobs.inQueue ?? 0}, running ${jobs.inProgress ?? 0}`;
          const stuck = active === 0 && (jobs.inQueue ?? 0) > 0;
          reachable = client;
          return [
            { name: 'api key', verdict: 'ok', detail: apiKey ? 'accepted' : 'none needed by this endpoint' },
            stuck
              ? { name: 'endpoint', verdict: 'warn', detail, fix: 'jobs wait with no worker: check max workers and GPU availability in the RunPod console' }
              : { name: 'endpoint', verdict: 'ok', detail },
          ];
        } catch (error) {
          if (error instanceof RunpodApiError && error.code === 'RUNPOD_AUTH') {
            return [{ name: 'api key', verdict: 'fail', detail: 'RunPod refused the API key', fix: 'check RUNPOD_API_KEY (it needs access to this endpoint)' }];
          }
          if (error instanceof RunpodApiError && error.status === 404) {
            return [{ name: 'endpoint', verdict: 'fail', detail: `no endpoint ${endpointId} at ${apiUrl}`, fix: 'check RUNPOD_ENDPOINT_ID' }];
          }
          const fix = isLocalApi(apiUrl)
            ? `start the local endpoint ('${cli} worker --local'), or correct --api-url / RUNPOD_API_URL (now ${apiUrl})`
            : `check the network, or --api-url / RUNPOD_API_URL (now ${apiUrl})`;
          return [{ name: 'endpoint', verdict: 'fail', detail: (error as Error).message, fix }];
        }
      },
    ],
    [
      'sealed ping',
      async (): Promise<CheckResult[]> => {
        if (!fernet || !reachable) {
          return [{ name: 'sealed ping', verdict: 'warn', detail: 'skipped: needs a valid key and a reachable endpoint', fix: 'fix the checks above, then run doctor again' }];
        }
        const poll = options.pingPollMs ?? 500;
        const sealed = new ComfySealClient({ endpointId, apiUrl, apiKey, key, env: options.env, maxRetries: 1, retryMinMs: 200, pollMinMs: poll, pollMaxMs: poll });
        const outcome = await sealedPing({ client: sealed, timeoutMs: options.pingTimeoutMs ?? 90_000 });
        return pingResults(outcome);
      },
    ],
    ...(blobUrl || options.blobStore
      ? ([
          ['blob store', () => blobStoreCheck(store()!, key)],
          ['blob store address', () => blobAddressCheck(store()!)],
        ] as Array<[string, Check]>)
      : []),
  ];
}

/**
 * The store as a job uses it: put a small sealed object, PUT another over it through a presigned URL (as the client
 * stores a request blob and the worker a result blob), GET that back through a presigned URL (as the worker and a
 * resumed client do), delete it. Each step that fails names its fix.
 */
export async function blobStoreCheck(store: BlobStore, key: string | undefined): Promise<CheckResult> {
  const name = 'blob store';
  const fernet = new Fernet(key ?? Fernet.generateKey());
  const object = Buffer.from(fernet.encrypt('comfy-seal doctor'), 'latin1');
  const objectKey = newBlobKeys(store.prefix).request;
  const reason = (error: unknown) => {
    const e = error as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
    return `${e.name ?? 'error'}${e.$metadata?.httpStatusCode ? ` ${e.$metadata.httpStatusCode}` : ''}: ${String(e.message ?? error).slice(0, 160)}`;
  };
  try {
    await store.put(objectKey, object);
  } catch (error) {
    return { name, verdict: 'fail', detail: `put failed (${reason(error)})`, fix: 'check the bucket in --blob-url / COMFY_SEAL_BLOB_URL, AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (s3:PutObject), AWS_REGION, and AWS_ENDPOINT_URL_S3 for R2, B2, MinIO' };
  }
  const replaced = Buffer.from(fernet.encrypt('comfy-seal doctor, through a presigned PUT'), 'latin1');
  try {
    await putBlob(await store.presign(objectKey, 'PUT', 60), bufferBody(replaced), { retries: 1, retryMinMs: 200 });
  } catch (error) {
    await store.delete(objectKey).catch(() => undefined);
    return { name, verdict: 'fail', detail: `put through a presigned URL failed (${reason(error)})`, fix: 'presigned PUT URLs must work from here and from the worker: check AWS_ENDPOINT_URL_S3 is a public https address, the key has s3:PutObject, and this clock is right' };
  }
  try {
    const url = await store.presign(objectKey, 'GET', 60);
    const sha256 = createHash('sha256').update(replaced).digest('hex'); // the presigned PUT's object, not the first
    const got = await fetchBlob({ url, sha256, size: replaced.length }, { retries: 1, retryMinMs: 200 });
    fernet.decrypt(got);
  } catch (error) {
    await store.delete(objectKey).catch(() => undefined);
    return { name, verdict: 'fail', detail: `get through a presigned URL failed (${reason(error)})`, fix: 'presigned URLs must reach the store from anywhere (the worker fetches them): check AWS_ENDPOINT_URL_S3 is a public https address, the key has s3:GetObject, and this clock is right' };
  }
  try {
    await store.delete(objectKey);
  } catch (error) {
    return { name, verdict: 'fail', detail: `delete failed (${reason(error)})`, fix: `grant s3:DeleteObject, or blobs stay (add a lifecycle rule expiring the prefix after a day); remove ${objectKey} by hand` };
  }
  return { name, verdict: 'ok', detail: 'put, presigned put, presigned get and delete of a sealed object work' };
}

/**
 * The worker refuses blob URLs that lead to loopback, private, link-local or unique-local addresses (its own rule,
 * shared/private-address.ts) unless it runs with COMFY_SEAL_BLOB_ALLOW_PRIVATE=1: a store that works from here (a local
 * MinIO or s3rver) would fail every job there. The presigned URL's host is resolved here as the worker would.
 */
export async function blobAddressCheck(store: BlobStore): Promise<CheckResult> {
  const name = 'blob store address';
  const host = new URL(await store.presign(newBlobKeys(store.prefix).request, 'GET', 60)).hostname.replace(/^\[|\]$/g, '');
  const addresses = isIP(host) ? [host] : (await lookup(host, { all: true }).catch(() => [])).map((a) => a.address);
  const refused = addresses.find((a) => isPrivateAddress(a));
  if (refused === undefined) return { name, verdict: 'ok', detail: `${host} is a public address: the worker may reach it` };
  return {
    name,
    verdict: 'warn',
    detail: `${host}${refused === host ? '' : ` (${refused})`} is a loopback or private address: the worker refuses blob URLs there, so every job through the store would fail STORAGE_FAILED`,
    fix: 'a local store (development) needs COMFY_SEAL_BLOB_ALLOW_PRIVATE=1 in the worker\'s environment; a deployed worker needs a public address (AWS_ENDPOINT_URL_S3)',
  };
}
