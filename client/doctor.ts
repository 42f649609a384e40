/** `comfy-seal doctor` on a user's machine: key, endpoint, API key, and the endpoint's health. */
import type { Check, CheckResult } from '../shared/checks.js';
import { Fernet } from '../shared/fernet.js';
import { ComfySealClient, DEFAULT_API_URL } from './client.js';
import { RunpodApiError } from './errors.js';

export interface ClientDoctorOptions {
  env: NodeJS.ProcessEnv;
  endpointId?: string;
  apiUrl?: string;
  key?: string;
}

export function clientChecks(options: ClientDoctorOptions): Array<[string, Check]> {
  const key = options.key ?? options.env.ENCRYPTION_KEY;
  const endpointId = options.endpointId ?? options.env.RUNPOD_ENDPOINT_ID;
  const apiUrl = options.apiUrl ?? options.env.RUNPOD_API_URL ?? DEFAULT_API_URL;
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
  ];
}
