/** `comfy-seal doctor` on a user's machine: key, endpoint, API key, and the endpoint's health. */
import { createHash } from 'node:crypto';
import type { Check, CheckResult } from '../shared/checks.js';
import { Fernet } from '../shared/fernet.js';
import { fetchBlob } from './blob/fetch.js';
import { S3BlobStore } from './blob/s3.js';
import { newBlobKeys, type BlobStore } from './blob/store.js';
import { ComfySealClient, DEFAULT_API_URL } from './client.js';
import { RunpodApiError } from './errors.js';

export interface ClientDoctorOptions {
  env: NodeJS.ProcessEnv;
  endpointId?: string;
  apiUrl?: string;
  key?: string;
  /** s3://BUCKET/PREFIX (default: $COMFY_SEAL_BLOB_URL); the store check runs only with one. */
  blobUrl?: string;
  /** The store to check instead of S3 on `blobUrl` (tests, apps with their own). */
  blobStore?: BlobStore;
}

export function clientChecks(options: ClientDoctorOptions): Array<[string, Check]> {
  const key = options.key ?? options.env.ENCRYPTION_KEY;
  const endpointId = options.endpointId ?? options.env.RUNPOD_ENDPOINT_ID;
  const apiUrl = options.apiUrl ?? options.env.RUNPOD_API_URL ?? DEFAULT_API_URL;
  const blobUrl = options.blobUrl ?? (options.env.COMFY_SEAL_BLOB_URL || undefined);
  const store = (): BlobStore | undefined => options.blobStore ?? (blobUrl ? new S3BlobStore(blobUrl, options.env) : undefined);
  return [
    [
      'key',
      async (): Promise<CheckResult> => {
        if (!key) return { name: 'key', verdict: 'fail', detail: 'no ENCRYPTION_KEY', fix: "comfy-seal keygen, then set the same ENCRYPTION_KEY here and on the endpoint" };
        const f = new Fernet(key);
        f.decrypt(f.encrypt('doctor'));
        return { name: 'key', verdict: 'ok', detail: `${f.keyCount} valid key${f.keyCount > 1 ? 's' : ''}` };
      },
    ],
    [
      'endpoint',
      async (): Promise<CheckResult[]> => {
        if (!endpointId) return [{ name: 'endpoint', verdict: 'fail', detail: 'no endpoint id', fix: 'set RUNPOD_ENDPOINT_ID or pass --endpoint' }];
        if (apiUrl === DEFAULT_API_URL && !options.env.RUNPOD_API_KEY) {
          return [{ name: 'api key', verdict: 'fail', detail: 'no RUNPOD_API_KEY', fix: 'create one in the RunPod console (Settings > API Keys)' }];
        }
        const client = new ComfySealClient({ endpointId, apiUrl, env: options.env, plaintext: true, maxRetries: 1, retryMinMs: 200 });
        try {
          const health = await client.health();
          const workers = health.workers ?? {};
          const jobs = health.jobs ?? {};
          const active = Object.values(workers).reduce((a, b) => a + (typeof b === 'number' ? b : 0), 0);
          const detail = `${endpointId} at ${apiUrl}: workers ${JSON.stringify(workers)}, jobs in queue ${jobs.inQueue ?? 0}, running ${jobs.inProgress ?? 0}`;
          const stuck = active === 0 && (jobs.inQueue ?? 0) > 0;
          return [
            { name: 'api key', verdict: 'ok', detail: 'accepted' },
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
          return [{ name: 'endpoint', verdict: 'fail', detail: `${apiUrl} unreachable: ${(error as Error).message}`, fix: 'check the network, or --api-url' }];
        }
      },
    ],
    ...(blobUrl || options.blobStore ? ([['blob store', () => blobStoreCheck(store()!, key)]] as Array<[string, Check]>) : []),
  ];
}

/**
 * The store as a job uses it: put a small sealed object, GET it back through a presigned URL (as the worker and a
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
  try {
    const url = await store.presign(objectKey, 'GET', 60);
    const sha256 = createHash('sha256').update(object).digest('hex');
    const got = await fetchBlob({ url, sha256, size: object.length }, { retries: 1, retryMinMs: 200 });
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
  return { name, verdict: 'ok', detail: 'put, presigned get and delete of a sealed object work' };
}
