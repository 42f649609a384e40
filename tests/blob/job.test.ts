/**
 * Blob transfers belong to the job (contract §11), through the real pipeline against the simulator and a storage
 * stand-in on loopback: cancel and the deadline stop them at once, a replayed request cannot replace a delivered
 * result (If-None-Match), and a result whose PUT fails for good still arrives inline when it fits.
 */
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deliverResult } from '../../handler/blob/reply.js';
import { DEFAULT_BLOB_OPTIONS, type BlobOptions } from '../../handler/blob/transfer.js';
import type { JobOutcome } from '../../handler/job.js';
import { sealBundle, type Bundle } from '../../shared/bundle.js';
import { openError, openOutput, openResultBlob } from '../../shared/envelope.js';
import { SealError } from '../../shared/errors.js';
import { Fernet } from '../../shared/fernet.js';
import { startBlobServer, type BlobServer } from '../helpers/blob-server.js';
import { startRig, type Rig } from '../helpers/pipeline.js';

const CANARY = 'canary-reply-slate-wren';
// Long limits of its own, so that only the job can be what stops a transfer quickly.
const blob: BlobOptions = { ...DEFAULT_BLOB_OPTIONS, allowPrivate: true, stallMs: 30_000, timeoutMs: 60_000, retries: 3, retryMinMs: 10 };
const workflow = {
  '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 0 } },
  '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'r' } },
};

let stand: BlobServer;
let rig: Rig;
beforeAll(async () => {
  stand = await startBlobServer();
  rig = await startRig({ job: { blob } });
});
afterAll(async () => {
  await rig.close();
  await stand.close();
});

const at = (path: string) => `${stand.url}${path}?X-Amz-Signature=${CANARY}`;
const sealed = (bundle: Partial<Bundle>, fernet: Fernet) => ({ encrypted_input: sealBundle({ workflow, images: [], options: {}, ...bundle }, fernet) });
const pointerTo = (path: string, fernet: Fernet) => ({
  encrypted_input: fernet.encrypt(JSON.stringify({ blob: { url: at(path), sha256: 'ab'.repeat(32), size: 1000 } })),
});

async function rejection(promise: Promise<unknown>): Promise<SealError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(SealError);
  return error as SealError;
}

/** Nothing of the URLs in what RunPod (or a log) would see. */
function expectNoUrl(outcome: JobOutcome, logs: string[]): void {
  const text = `${JSON.stringify(outcome)} ${logs.join('\n')}`;
  expect(text).not.toContain(CANARY);
  expect(text).not.toContain('127.0.0.1');
}

/** Runs a job and aborts it once storage holds its request at `path` (the transfer is under way). */
async function cancelledAt(path: string, input: unknown): Promise<{ outcome: JobOutcome; ms: number }> {
  const controller = new AbortController();
  let abortedAt = 0;
  stand.held = async (p) => {
    if (p !== path || controller.signal.aborted) return;
    await new Promise((r) => setTimeout(r, 100));
    abortedAt = performance.now();
    controller.abort();
  };
  try {
    const outcome = await rig.pipeline.run({ id: `cancel-${path}`, input }, { signal: controller.signal });
    return { outcome, ms: performance.now() - abortedAt };
  } finally {
    stand.held = undefined;
  }
}

describe('blob transfers stop with their job', () => {
  it('a cancelled job stops fetching its request blob at once, without retries, and the next job does not wait', async () => {
    const { outcome, ms } = await cancelledAt('/hang/in', pointerTo('/hang/in', rig.fernet));
    expect(outcome).toEqual({ kind: 'cancelled' });
    expect(ms).toBeLessThan(3_000); // storage would have been given 30 s (stallMs), four times
    expect(stand.hits.get('/hang/in')).toBe(1);
    const started = performance.now();
    const next = await rig.pipeline.run({ id: 'after-cancel', input: sealed({}, rig.fernet) });
    expect(next.kind).toBe('success');
    expect(performance.now() - started).toBeLessThan(10_000);
    expect(rig.leftovers()).toEqual([]);
  });

  it('a cancelled job stops storing its result blob at once, and posts nothing', async () => {
    const input = sealed({ reply: { put: at('/hang/out'), get: at('/ok/out'), always: true } }, rig.fernet);
    const { outcome, ms } = await cancelledAt('/hang/out', input);
    expect(outcome).toEqual({ kind: 'cancelled' });
    expect(ms).toBeLessThan(3_000);
    expect(rig.leftovers()).toEqual([]);
  });

  it("a result PUT that runs into the bundle's time limit fails TIMEOUT then, not after storage's own limits", async () => {
    const input = sealed({ options: { timeout_s: 4 }, reply: { put: at('/hang/late'), get: at('/ok/late'), always: true } }, rig.fernet);
    const started = performance.now();
    const outcome = await rig.pipeline.run({ id: 'late-put', input });
    expect(performance.now() - started).toBeLessThan(10_000);
    expect(outcome).toMatchObject({ kind: 'failure', code: 'TIMEOUT' });
    expect(stand.hits.get('/hang/late')).toBe(1);
    expectNoUrl(outcome, rig.logs);
  });

  it("a request blob GET that runs into the worker's time limit fails TIMEOUT then", async () => {
    const short = await startRig({ job: { blob, jobTimeoutS: 2 } });
    try {
      const started = performance.now();
      const outcome = await short.pipeline.run({ id: 'late-get', input: pointerTo('/hang/slow', short.fernet) });
      expect(performance.now() - started).toBeLessThan(6_000);
      expect(outcome).toMatchObject({ kind: 'failure', code: 'TIMEOUT' });
      expect(openError((outcome as { error: string }).error, short.fernet).message).toBe('the job ran past its time limit');
      expect(stand.hits.get('/hang/slow')).toBe(1);
    } finally {
      await short.close();
    }
  });
});

describe('the reply PUT', () => {
  it('a replayed request cannot replace the result its first run stored (If-None-Match: *); its own result comes inline', async () => {
    const input = sealed({ reply: { put: at('/ok/once'), get: at('/ok/once'), always: true } }, rig.fernet);
    const first = await rig.pipeline.run({ id: 'job-first', input });
    expect(first.kind).toBe('success');
    const { pointer } = openOutput((first as { output: unknown }).output, rig.fernet);
    const stored = Buffer.from(stand.objects.get('once')!);
    expect(pointer).toMatchObject({ sha256: createHash('sha256').update(stored).digest('hex'), size: stored.length });
    expect(openResultBlob(Buffer.from(stored), rig.fernet).jobId).toBe('job-first');

    const replay = await rig.pipeline.run({ id: 'job-replay', input });
    expect(replay.kind).toBe('success');
    expect(stand.objects.get('once')!.equals(stored)).toBe(true); // not replaced
    expect(stand.hits.get('/ok/once')).toBe(2); // the 412 is final: not retried
    const inline = openOutput((replay as { output: unknown }).output, rig.fernet);
    expect(inline.result?.jobId).toBe('job-replay');
    expect(inline.result?.files).toHaveLength(1);
    expectNoUrl(replay, rig.logs);
  });

  it('a PUT that fails for good leaves a result that fits inline inline, its files kept until it is sealed', async () => {
    const seen: number[] = [];
    stand.held = async (p) => {
      if (p === '/500/down') seen.push(rig.leftovers().filter((f) => f.includes('output')).length);
    };
    try {
      const input = sealed({ reply: { put: at('/500/down'), get: at('/ok/down'), always: true } }, rig.fernet);
      const outcome = await rig.pipeline.run({ id: 'job-storage-down', input });
      expect(outcome.kind).toBe('success');
      const { result } = openOutput((outcome as { output: unknown }).output, rig.fernet);
      expect(result?.jobId).toBe('job-storage-down');
      expect(result?.files[0]?.data.subarray(1, 4).toString()).toBe('PNG');
      expect(stand.hits.get('/500/down')).toBe(4); // every try made, then inline
      expect(seen).toHaveLength(4);
      expect(seen.every((n) => n === 1)).toBe(true); // the output file was still there while storage was tried
      expect(rig.leftovers()).toEqual([]); // and wiped once the result was delivered
      expectNoUrl(outcome, rig.logs);
    } finally {
      stand.held = undefined;
    }
  });

  it('only a result that fits nowhere fails STORAGE_FAILED: storage down, or an object there already', async () => {
    const fernet = new Fernet(Fernet.generateKey());
    const files = [{ nodeId: '9', filename: 'a.png', subfolder: '', kind: 'image', mime: 'image/png', data: randomBytes(200_000) }];
    const reply = (put: string, get: string) => ({ put: at(put), get: at(get), always: false });
    const quick = { ...blob, retryMinMs: 1 };
    // 1000 bytes inline at most: this result fits only the blob.
    const down = await rejection(deliverResult({ files, timingsMs: {} }, fernet, reply('/500/big', '/ok/big'), 1000, quick));
    expect(down).toMatchObject({ code: 'STORAGE_FAILED', message: 'the result blob could not be stored: storage answered 500, after 4 tries' });

    await deliverResult({ files, timingsMs: {} }, fernet, reply('/ok/big', '/ok/big'), 1000, quick);
    const stored = Buffer.from(stand.objects.get('big')!);
    const other = [{ ...files[0]!, data: randomBytes(200_000) }];
    const taken = await rejection(deliverResult({ files: other, timingsMs: {} }, fernet, reply('/ok/big', '/ok/big'), 1000, quick));
    expect(taken.code).toBe('STORAGE_FAILED');
    expect(taken.message).toMatch(/^a result blob is stored at its URL already \(412\): not replaced/);
    expect(JSON.stringify(taken)).not.toContain(CANARY);
    expect(stand.objects.get('big')!.equals(stored)).toBe(true);
  });
});
