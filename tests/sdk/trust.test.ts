/**
 * Contract §11 on the client's side, against RunPod's REST API faked by msw and a storage stand-in on loopback: the key
 * proves who sealed an answer, not which job it belongs to, so every opened payload must name the job asked about; a
 * result blob is fetched only from where this client put it, and bounded before anything is allocated.
 */
import { createHash } from 'node:crypto';
import { http, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { BlobStore } from '../../client/blob/store.js';
import { fetchBlob } from '../../client/blob/transfer.js';
import { ComfySealClient } from '../../client/client.js';
import { AbortError, ComfySealError, JobFailedError, WebhookRejectedError, WrongJobError } from '../../client/errors.js';
import { openWebhook } from '../../client/webhook.js';
import { openBundle } from '../../shared/bundle.js';
import { Fernet, sealBlobPointer, sealError, SealError, sealProgress, sealResult, sealResultBytes } from '../../shared/index.js';
import { startBlobServer, type BlobServer } from '../helpers/blob-server.js';

const API = 'https://api.runpod.ai/v2';
const EP = 'ep-trust';
const key = Fernet.generateKey();
const fernet = new Fernet(key);
const server = setupServer();
let storage: BlobServer;
beforeAll(async () => {
  server.listen({ onUnhandledRequest: 'bypass' });
  storage = await startBlobServer();
});
afterEach(() => server.resetHandlers());
afterAll(async () => {
  server.close();
  await storage.close();
});

const workflow = { '1': { class_type: 'EmptyImage', inputs: { width: 8 } } };
const files = [{ nodeId: '9', filename: 'out.png', subfolder: '', kind: 'image', mime: 'image/png', data: Buffer.from('the png of job A') }];
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const hex = 'cd'.repeat(16);

/** A store on the stand-in: keys are plain names, URLs `/MODE/KEY` (`ok`, or `stall` for a GET that hangs). */
function memoryStore(getMode = 'ok'): BlobStore & { deleted: string[] } {
  const deleted: string[] = [];
  return {
    deleted,
    prefix: '',
    put: async (k, bytes) => void storage.objects.set(k, Buffer.from(bytes)),
    presign: async (k, method) => `${storage.url}/${method === 'GET' ? getMode : 'ok'}/${k}`,
    delete: async (k) => {
      deleted.push(k);
      storage.objects.delete(k);
    },
    keyOf: (url) => new URL(url).pathname.split('/')[2] ?? null,
  };
}

const client = (extra: Partial<ConstructorParameters<typeof ComfySealClient>[0]> = {}) =>
  new ComfySealClient({ endpointId: EP, apiKey: 'rpa_test', key, pollMinMs: 5, pollMaxMs: 20, maxRetries: 1, retryMinMs: 10, env: {}, ...extra });

/** /status/ID answers `body` (plus the id and COMPLETED unless it says otherwise). */
const status = (id: string, body: Record<string, unknown>) => server.use(http.get(`${API}/${EP}/status/${id}`, () => HttpResponse.json({ id, status: 'COMPLETED', ...body })));

/** A /run that records the sealed bundle and queues the job as `id`. */
function run(id: string): { bundle: () => ReturnType<typeof openBundle> } {
  let input: { encrypted_input: string } | undefined;
  server.use(
    http.post(`${API}/${EP}/run`, async ({ request }) => {
      input = ((await request.json()) as { input: typeof input }).input;
      return HttpResponse.json({ id, status: 'IN_QUEUE' });
    }),
  );
  return { bundle: () => openBundle(input!.encrypted_input, fernet) };
}

/** A result blob of job `jobId` on the stand-in under `name`, and its sealed pointer naming `url` (default: where it is). */
function blobResult(name: string, jobId: string | undefined, url = `${storage.url}/ok/${name}`): { encrypted_output: string } {
  const token = Buffer.from(sealResultBytes({ files, timingsMs: {}, ...(jobId !== undefined ? { jobId } : {}) }, fernet).bytes);
  storage.objects.set(name, token);
  return sealBlobPointer({ url, sha256: sha(token), size: token.length }, fernet, jobId);
}

describe('every opened answer names the job asked about (§11 item 1)', () => {
  it("refuses job A's genuine sealed result when asked for job B, and a result naming no job (BAD_ANSWER)", async () => {
    status('job-B', { output: sealResult({ files, timingsMs: {}, jobId: 'job-A' }, fernet) });
    const swapped = await client().wait('job-B').catch((e: unknown) => e);
    expect(swapped).toBeInstanceOf(WrongJobError);
    expect(swapped).toMatchObject({ code: 'BAD_ANSWER', jobId: 'job-B', namedJobId: 'job-A', message: expect.stringContaining('belongs to another job; nothing was written') });
    status('job-C', { output: sealResult({ files, timingsMs: {} }, fernet) });
    expect(await client().resume('job-C').catch((e: unknown) => e)).toMatchObject({ code: 'BAD_ANSWER', namedJobId: undefined, message: expect.stringContaining('names no job') });
    status('job-A', { output: sealResult({ files, timingsMs: {}, jobId: 'job-A' }, fernet) });
    expect((await client().wait('job-A')).files).toEqual(files);
  });

  it("refuses another job's sealed failure; a plaintext failure (proving nothing) still only ends the wait", async () => {
    status('job-B', { status: 'FAILED', error: sealError(new SealError('EXECUTION_FAILED', 'a node failed'), fernet, 'job-A') });
    expect(await client().wait('job-B').catch((e: unknown) => e)).toMatchObject({ name: 'WrongJobError', code: 'BAD_ANSWER', namedJobId: 'job-A' });
    status('job-D', { status: 'FAILED', error: sealError(new SealError('EXECUTION_FAILED', 'a node failed'), fernet) });
    expect(await client().wait('job-D').catch((e: unknown) => e)).toMatchObject({ code: 'BAD_ANSWER', namedJobId: undefined });
    status('job-E', { status: 'FAILED', error: sealError(new SealError('DECRYPT_FAILED', 'the token does not open'), null) });
    expect(await client().wait('job-E').catch((e: unknown) => e)).toBeInstanceOf(JobFailedError);
  });

  it("does not show another job's progress", async () => {
    let polls = 0;
    server.use(
      http.get(`${API}/${EP}/status/job-P`, () => {
        polls++;
        if (polls === 1) return HttpResponse.json({ id: 'job-P', status: 'IN_PROGRESS', output: sealProgress({ state: 'running', percent: 90, elapsed_ms: 1, job_id: 'job-A' }, fernet) });
        if (polls === 2) return HttpResponse.json({ id: 'job-P', status: 'IN_PROGRESS', output: sealProgress({ state: 'running', percent: 40, elapsed_ms: 2, job_id: 'job-P' }, fernet) });
        return HttpResponse.json({ id: 'job-P', status: 'COMPLETED', output: sealResult({ files, timingsMs: {}, jobId: 'job-P' }, fernet) });
      }),
    );
    const seen: unknown[] = [];
    await client().wait('job-P', { onProgress: (e) => seen.push(e.progress) });
    expect(seen).toEqual([null, expect.objectContaining({ percent: 40, job_id: 'job-P' })]);
  });

  it("refuses a query answer (nodes, ping) naming another job or none, and takes its own", async () => {
    const answer = { status: 'success', outputs: [], ping: { comfy: { ok: true, version: '0.27.1' } }, object_info: { KSampler: {} } };
    run('q-1');
    for (const [named, verdict] of [['q-0', 'another job'], [undefined, 'names no job']] as const) {
      status('q-1', { output: { encrypted_output: fernet.encrypt(JSON.stringify({ ...answer, ...(named ? { job_id: named } : {}) })) } });
      for (const ask of [(c: ComfySealClient) => c.nodes(), (c: ComfySealClient) => c.ping()]) {
        const error = await ask(client()).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(WrongJobError);
        expect((error as Error).message).toContain(verdict);
      }
    }
    status('q-1', { output: { encrypted_output: fernet.encrypt(JSON.stringify({ ...answer, job_id: 'q-1' })) } });
    expect(await client().nodes()).toEqual({ KSampler: {} });
    expect(await client().ping()).toEqual(answer.ping);
  });
});

describe('a result blob comes only from where this client put it (§11 item 2)', () => {
  it('a client that sent the job fetches only the get URL it issued: a pointer elsewhere is refused, nothing fetched or deleted', async () => {
    const store = memoryStore();
    const sent = run('job-R');
    // Genuine sealed result, right job id, right sha256 and size: only the URL is not the one the client issued.
    status('job-R', { output: blobResult('precious', 'job-R') });
    const error = await client({ blobStore: store }).run({ workflow }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'BAD_ANSWER', message: expect.stringContaining('a URL this client did not issue for the job; nothing was fetched or deleted') });
    expect(storage.hits.get('/ok/precious')).toBeUndefined();
    expect(storage.objects.has('precious')).toBe(true);
    expect(store.deleted).toEqual([]);
    // The pointer naming the URL it issued is fetched, and then its own key (and only it) is deleted.
    let issued = '';
    server.use(
      http.get(`${API}/${EP}/status/job-R`, () => {
        issued = new URL(sent.bundle().reply!.get).pathname.split('/')[2]!;
        return HttpResponse.json({ id: 'job-R', status: 'COMPLETED', output: blobResult(issued, 'job-R') });
      }),
    );
    const { result } = await client({ blobStore: store }).run({ workflow });
    expect(result.files).toEqual(files);
    expect(store.deleted).toEqual([issued]);
  });

  it('a resumed client takes only a key of its own shape in its own store, fetched through a URL it presigns itself', async () => {
    const store = memoryStore();
    for (const name of ['precious', `${hex}.in`, `x${hex}.out`]) {
      status('job-S', { output: blobResult(name, 'job-S') });
      const c = client({ blobStore: store });
      expect(await c.resume('job-S').catch((e: unknown) => e)).toMatchObject({ code: 'BAD_ANSWER', message: expect.stringContaining('an object this client did not create') });
      expect(await c.releaseBlobs('job-S')).toBe(0);
      expect(storage.hits.get(`/ok/${name}`)).toBeUndefined();
    }
    // Without a store it cannot tell its own objects: it fetches nothing and says what to add.
    status('job-S', { output: blobResult(`${hex}.out`, 'job-S') });
    expect(await client().resume('job-S').catch((e: unknown) => e)).toMatchObject({ code: 'CONFIG', message: expect.stringContaining('--blob-url') });
    // Its own shape, named on any host: read from its own store, never from the pointer's host.
    status('job-S', { output: blobResult(`${hex}.out`, 'job-S', `http://127.0.0.1:9/ok/${hex}.out`) });
    const c = client({ blobStore: store });
    expect((await c.resume('job-S')).files).toEqual(files);
    expect(await c.releaseBlobs('job-S')).toBe(2);
    expect(store.deleted.sort()).toEqual([`${hex}.in`, `${hex}.out`]);
  });

  it("a resumed client deletes nothing when the blob it fetched holds another job's result", async () => {
    const store = memoryStore();
    status('job-T', { output: blobResult(`${hex}.out`, 'job-T') });
    const token = Buffer.from(sealResultBytes({ files, timingsMs: {}, jobId: 'job-A' }, fernet).bytes);
    storage.objects.set(`${hex}.out`, token);
    status('job-T', { output: sealBlobPointer({ url: `${storage.url}/ok/${hex}.out`, sha256: sha(token), size: token.length }, fernet, 'job-T') });
    const c = client({ blobStore: store });
    expect(await c.resume('job-T').catch((e: unknown) => e)).toMatchObject({ code: 'BAD_ANSWER', namedJobId: 'job-A' });
    expect(await c.releaseBlobs('job-T')).toBe(0);
    expect(storage.objects.has(`${hex}.out`)).toBe(true);
  });
});

describe('a pointer is bounded, and its GET stops on abort (§11 item 3)', () => {
  it('a pointer stating 2^40 bytes is refused with a code before anything is allocated or fetched', async () => {
    const pointer = { url: `${storage.url}/ok/huge`, sha256: 'ab'.repeat(32), size: 2 ** 40 };
    status('job-H', { output: sealBlobPointer(pointer, fernet, 'job-H') });
    const error = await client({ blobStore: memoryStore() }).resume('job-H').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ComfySealError);
    expect(error).toMatchObject({ code: 'BAD_ANSWER', message: expect.stringMatching(/states 1099512 MB, over this client's limit of 2048 MB .*COMFY_SEAL_MAX_BLOB_MB/) });
    // The client's own limit is a setting; fetchBlob, public too, holds its own.
    status('job-H', { output: blobResult(`${hex}.out`, 'job-H') });
    expect(await client({ blobStore: memoryStore(), env: { COMFY_SEAL_MAX_BLOB_MB: '0.0001' } }).resume('job-H').catch((e: unknown) => e)).toMatchObject({ code: 'BAD_ANSWER', message: expect.stringContaining('limit of 0 MB') });
    await expect(fetchBlob(pointer)).rejects.toMatchObject({ name: 'SealError', code: 'BAD_INPUT', message: expect.stringContaining('nothing was fetched') });
    expect(storage.hits.get('/ok/huge')).toBeUndefined();
  });

  it('an abort during a result GET that hangs stops it at once: AbortError, the result ready to fetch again', async () => {
    const store = memoryStore('stall');
    const sent = run('job-G');
    storage.objects.set('a', Buffer.alloc(1000));
    server.use(
      http.get(`${API}/${EP}/status/job-G`, () => {
        const get = sent.bundle().reply!.get;
        return HttpResponse.json({ id: 'job-G', status: 'COMPLETED', output: sealBlobPointer({ url: get, sha256: 'ab'.repeat(32), size: 1000 }, fernet, 'job-G') });
      }),
    );
    const c = client({ blobStore: store });
    const controller = new AbortController();
    const stalls = storage.hits.get('/stall/') ?? 0;
    const waiting = c.run({ workflow }, { signal: controller.signal }).catch((e: unknown) => e);
    while ([...storage.hits].filter(([p]) => p.startsWith('/stall/')).length === stalls) await new Promise((r) => setTimeout(r, 10));
    const started = Date.now();
    controller.abort();
    const error = await waiting;
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(error).toBeInstanceOf(AbortError);
    expect(error).toMatchObject({ code: 'ABORTED', resultReady: true, message: expect.stringContaining('the job is done') });
    expect(store.deleted).toEqual([]); // kept for the resume
  });
});

describe('webhooks of blob results and swapped tokens (§11 item 6)', () => {
  it('a webhook whose result went to a blob opens with client.openWebhook; openWebhook says to use it', async () => {
    const body = { id: 'job-W', status: 'COMPLETED', output: blobResult(`${hex}.out`, 'job-W') };
    const event = await client({ blobStore: memoryStore() }).openWebhook(JSON.stringify(body));
    expect(event).toMatchObject({ jobId: 'job-W', status: 'COMPLETED', result: { files } });
    const error = (() => {
      try {
        return openWebhook(body, key);
      } catch (e) {
        return e;
      }
    })();
    expect(error).toMatchObject({ name: 'ComfySealError', code: 'BAD_INPUT', message: expect.stringContaining('ComfySealClient.openWebhook') });
  });

  it("refuses a blob pointer of another job or of none, and a result's token under FAILED (or an error's under COMPLETED)", async () => {
    const reject = (body: unknown) => {
      try {
        openWebhook(body, key);
      } catch (error) {
        return error instanceof WebhookRejectedError ? error.reason : error;
      }
      return 'opened';
    };
    expect(reject({ id: 'job-W', status: 'COMPLETED', output: blobResult(`${hex}.out`, 'job-A') })).toBe('MISMATCH');
    expect(reject({ id: 'job-W', status: 'COMPLETED', output: blobResult(`${hex}.out`, undefined) })).toBe('MISMATCH');
    const resultToken = sealResult({ files, timingsMs: {}, jobId: 'job-W' }, fernet).encrypted_output;
    expect(reject({ id: 'job-W', status: 'FAILED', error: JSON.stringify({ code: 'EXECUTION_FAILED', encrypted_error: resultToken }) })).toBe('MISMATCH');
    const errorToken = JSON.parse(sealError(new SealError('EXECUTION_FAILED', 'x'), fernet, 'job-W')).encrypted_error;
    expect(reject({ id: 'job-W', status: 'COMPLETED', output: { encrypted_output: errorToken } })).toBe('MISMATCH');
    await expect(client({ blobStore: memoryStore() }).openWebhook({ id: 'job-W', status: 'COMPLETED', output: blobResult(`${hex}.out`, 'job-A') })).rejects.toBeInstanceOf(WebhookRejectedError);
  });
});
