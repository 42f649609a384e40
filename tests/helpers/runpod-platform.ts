/**
 * A RunPod platform emulator: the worker-side API (job-take, job-done, ping, job-stop) on a real HTTP server,
 * recording every request so tests can assert URLs, headers and bodies.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: IncomingMessage['headers'];
  body: string;
  at: number;
}

export interface PlatformEmulator {
  url: string;
  requests: RecordedRequest[];
  env: Record<string, string>;
  /** Jobs handed out by the next takes, in order (an array entry is a batch). */
  queueJob(job: { id: string; input: unknown } | Array<{ id: string; input: unknown }>): void;
  /** Status answers for the next takes, before jobs (e.g. 429, 204, 400). */
  takeStatuses: number[];
  /** Status answers for the next done posts (default 200). */
  doneStatuses: number[];
  /** Job ids the next job-stop poll reports. */
  stopJobs(ids: string[]): void;
  /** How long an empty take is held before "no job" (a real long poll holds it for many seconds). @default 50 */
  holdEmptyTakes(ms: number): void;
  done(): RecordedRequest[];
  waitFor(predicate: (r: RecordedRequest) => boolean, timeoutMs?: number): Promise<RecordedRequest>;
  close(): Promise<void>;
}

export const API_KEY = 'rp-worker-key-123';
export const POD_ID = 'pod-abc';

export async function startPlatform(): Promise<PlatformEmulator> {
  const requests: RecordedRequest[] = [];
  const jobs: Array<{ id: string; input: unknown } | Array<{ id: string; input: unknown }>> = [];
  const takeStatuses: number[] = [];
  const doneStatuses: number[] = [];
  let stops: string[] = [];
  let emptyTakeHoldMs = 50;
  const waiters: Array<() => void> = [];

  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const url = new URL(req.url ?? '/', 'http://x');
    const rec: RecordedRequest = {
      method: req.method ?? '',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers: req.headers,
      body: Buffer.concat(chunks).toString('utf8'),
      at: Date.now(),
    };
    requests.push(rec);
    for (const w of waiters.splice(0)) w();

    if (url.pathname.includes('/job-take/')) {
      const status = takeStatuses.shift();
      if (status !== undefined) return void res.writeHead(status).end();
      const job = jobs.shift();
      if (!job) {
        // Like the real long poll, hold an empty take before answering "no job" (unless the worker gave up first).
        await new Promise((r) => setTimeout(r, emptyTakeHoldMs));
        if (!res.destroyed) res.writeHead(204).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      return void res.end(JSON.stringify(job));
    }
    if (url.pathname.includes('/job-stop/')) {
      await new Promise((r) => setTimeout(r, 30));
      const ids = stops;
      stops = [];
      res.writeHead(200, { 'content-type': 'application/json' });
      return void res.end(JSON.stringify({ jobsToStop: ids }));
    }
    if (url.pathname.includes('/job-done/')) {
      const status = doneStatuses.shift() ?? 200;
      return void res.writeHead(status).end();
    }
    if (url.pathname.includes('/ping/')) return void res.writeHead(200).end();
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v2/ep1`;

  return {
    url: base,
    requests,
    env: {
      RUNPOD_WEBHOOK_GET_JOB: `${base}/job-take/$ID?gpu=NVIDIA+L4`,
      RUNPOD_WEBHOOK_POST_OUTPUT: `${base}/job-done/$RUNPOD_POD_ID/$ID?gpu=NVIDIA+L4`,
      RUNPOD_WEBHOOK_PING: `${base}/ping/$RUNPOD_POD_ID`,
      RUNPOD_AI_API_KEY: API_KEY,
      RUNPOD_POD_ID: POD_ID,
    },
    queueJob: (job) => jobs.push(job),
    takeStatuses,
    doneStatuses,
    stopJobs: (ids) => {
      stops = ids;
    },
    holdEmptyTakes: (ms) => {
      emptyTakeHoldMs = ms;
    },
    done: () => requests.filter((r) => r.path.includes('/job-done/')),
    waitFor(predicate, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const deadline = setTimeout(() => reject(new Error('platform: request not seen in time')), timeoutMs);
        const check = () => {
          const found = requests.find(predicate);
          if (found) {
            clearTimeout(deadline);
            resolve(found);
          } else waiters.push(check);
        };
        check();
      });
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
