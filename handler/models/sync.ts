/**
 * Model sync: every MODELS entry present and verified before ComfyUI starts, never a silent hang.
 * Per entry: already there and verified → skip; in the host's Hugging Face cache → symlink; else download to a temp
 * name beside the target, stream-verified (size, and sha256 when the hub gives one), retried, then mirrors, then an
 * atomic rename. Free disk is checked before each download. Every network step has a timeout.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import path from 'node:path';
import { fileDownloadInfo } from '@huggingface/hub';
import type { ModelEntry } from './spec.js';

export interface SyncOptions {
  /** ComfyUI's models dir; entries' target dirs are under it. */
  modelsDir: string;
  /** Host Hugging Face cache (network volume): models--org--name/snapshots/<rev>/<file>. */
  hostCache?: string;
  hubUrl?: string;
  accessToken?: string;
  fetch?: typeof fetch;
  /** Downloads at once. @default 2 */
  concurrency?: number;
  /** Tries per source before the next mirror. @default 3 */
  attempts?: number;
  /** A download with no byte for this long is aborted (and retried). @default 60000 */
  stallTimeoutMs?: number;
  /** Free bytes to keep beyond the file. @default 256 MiB */
  diskMarginBytes?: number;
  /** Free bytes at a path (injectable to test a full disk). */
  freeBytes?: (dir: string) => Promise<number>;
  /** One progress line per file. */
  progress?: (line: string) => void;
}

export type SyncStatus = 'present' | 'linked' | 'downloaded' | 'failed';

export interface SyncResult {
  entry: ModelEntry;
  target: string;
  status: SyncStatus;
  bytes?: number;
  error?: string;
}

interface Expected {
  size?: number;
  sha256?: string;
}

const DEFAULTS = {
  hostCache: '/runpod-volume/huggingface-cache/hub',
  hubUrl: 'https://huggingface.co',
  concurrency: 2,
  attempts: 3,
  stallTimeoutMs: 60_000,
  diskMarginBytes: 256 * 1024 * 1024,
};

async function defaultFreeBytes(dir: string): Promise<number> {
  const s = await fs.statfs(dir);
  return s.bavail * s.bsize;
}

/** Remembered next to a downloaded file: what it was verified against, so a restart can skip it offline. */
const markerOf = (target: string) => path.join(path.dirname(target), `.${path.basename(target)}.comfy-seal.json`);

async function sizeOf(file: string): Promise<number | null> {
  try {
    return (await fs.stat(file)).size;
  } catch {
    return null;
  }
}

export function targetOf(entry: ModelEntry, modelsDir: string): string {
  return path.join(modelsDir, entry.targetDir, entry.name);
}

/** The hub's size and (for LFS files) sha256 of a repo file. */
async function hubInfo(entry: Extract<ModelEntry, { kind: 'hf' }>, o: SyncOptions): Promise<{ url: string; expected: Expected }> {
  const info = await fileDownloadInfo({
    repo: entry.repo,
    path: entry.file,
    hubUrl: o.hubUrl ?? DEFAULTS.hubUrl,
    ...(o.accessToken ? { accessToken: o.accessToken as `hf_${string}` } : {}),
    // The metadata request gets the same no-hang bound as the download itself.
    fetch: (input, init) => (o.fetch ?? fetch)(input, { ...init, signal: AbortSignal.timeout(o.stallTimeoutMs ?? DEFAULTS.stallTimeoutMs) }),
  });
  if (!info) throw new Error(`not found on the hub: ${entry.repo}/${entry.file}`);
  const etag = info.etag.replace(/^W\//, '').replaceAll('"', '');
  return { url: info.url, expected: { size: info.size, ...(/^[0-9a-f]{64}$/.test(etag) ? { sha256: etag } : {}) } };
}

async function hostCacheFile(entry: Extract<ModelEntry, { kind: 'hf' }>, root: string): Promise<string | null> {
  const snapshots = path.join(root, `models--${entry.repo.replace('/', '--')}`, 'snapshots');
  let revisions: string[];
  try {
    revisions = await fs.readdir(snapshots);
  } catch {
    return null;
  }
  for (const rev of revisions) {
    const candidate = path.join(snapshots, rev, entry.file);
    if ((await sizeOf(candidate)) !== null) return candidate;
  }
  return null;
}

/** Streams `url` into `temp`, aborting when no byte arrives for the stall timeout; returns size and sha256. */
async function download(url: string, temp: string, o: SyncOptions, withAuth: boolean): Promise<{ bytes: number; sha256: string }> {
  const controller = new AbortController();
  const stallMs = o.stallTimeoutMs ?? DEFAULTS.stallTimeoutMs;
  let timer = setTimeout(() => controller.abort(new Error('download stalled')), stallMs);
  const touch = () => {
    clearTimeout(timer);
    timer = setTimeout(() => controller.abort(new Error('download stalled')), stallMs);
  };
  try {
    const res = await (o.fetch ?? fetch)(url, {
      signal: controller.signal,
      headers: withAuth && o.accessToken ? { Authorization: `Bearer ${o.accessToken}` } : {},
    });
    if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
    const hash = createHash('sha256');
    const out = createWriteStream(temp, { flags: 'w', mode: 0o644 });
    let bytes = 0;
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        touch();
        hash.update(chunk);
        bytes += chunk.length;
        if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
      }
    } finally {
      await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
    }
    const declared = Number(res.headers.get('content-length') ?? NaN);
    if (Number.isFinite(declared) && declared !== bytes) throw new Error(`short download: ${bytes} of ${declared} bytes`);
    return { bytes, sha256: hash.digest('hex') };
  } finally {
    clearTimeout(timer);
  }
}

async function fsyncFile(file: string): Promise<void> {
  const h = await fs.open(file, 'r');
  try {
    await h.sync();
  } finally {
    await h.close();
  }
}

async function syncOne(entry: ModelEntry, o: SyncOptions): Promise<SyncResult> {
  const target = targetOf(entry, o.modelsDir);
  await fs.mkdir(path.dirname(target), { recursive: true });
  const marker = await fs.readFile(markerOf(target), 'utf8').then((t) => JSON.parse(t) as Expected, () => null);
  const present = await sizeOf(target);
  if (present !== null && marker?.size === present) return { entry, target, status: 'present', bytes: present };

  let expected: Expected = {};
  let sources: Array<{ url: string; auth: boolean }>;
  if (entry.kind === 'hf') {
    const cached = await hostCacheFile(entry, o.hostCache ?? DEFAULTS.hostCache);
    let info;
    try {
      info = await hubInfo(entry, o);
    } catch (error) {
      // Hub unreachable (or no token) but the network volume has it: use it rather than fail start-up.
      if (!cached) throw error;
      await fs.rm(target, { force: true });
      await fs.symlink(cached, target);
      return { entry, target, status: 'linked', bytes: (await sizeOf(cached)) ?? 0 };
    }
    expected = info.expected;
    if (present !== null && present === expected.size) {
      await fs.writeFile(markerOf(target), JSON.stringify(expected));
      return { entry, target, status: 'present', bytes: present };
    }
    if (cached && (await sizeOf(cached)) === expected.size) {
      await fs.rm(target, { force: true });
      await fs.symlink(cached, target);
      return { entry, target, status: 'linked', bytes: expected.size };
    }
    const hubOrigin = new URL(o.hubUrl ?? DEFAULTS.hubUrl).origin;
    sources = [{ url: info.url, auth: new URL(info.url).origin === hubOrigin }];
  } else {
    if (present !== null && present > 0 && marker === null) {
      // A file placed by hand (or baked into the image) with no record: trust it rather than re-download blind.
      return { entry, target, status: 'present', bytes: present };
    }
    sources = entry.urls.map((url) => ({ url, auth: false }));
  }

  if (expected.size !== undefined) {
    const free = await (o.freeBytes ?? defaultFreeBytes)(path.dirname(target));
    const need = expected.size + (o.diskMarginBytes ?? DEFAULTS.diskMarginBytes);
    if (free < need) {
      throw new Error(`not enough disk for ${entry.name}: needs ${need} bytes with margin, ${free} free in ${path.dirname(target)}`);
    }
  }

  const temp = path.join(path.dirname(target), `.${entry.name}.${process.pid}.part`);
  const failures: string[] = [];
  for (const source of sources) {
    for (let attempt = 1; attempt <= (o.attempts ?? DEFAULTS.attempts); attempt++) {
      try {
        const got = await download(source.url, temp, o, source.auth);
        if (expected.size !== undefined && got.bytes !== expected.size) throw new Error(`stub: ${got.bytes} bytes, the hub says ${expected.size}`);
        if (expected.sha256 && got.sha256 !== expected.sha256) throw new Error('sha256 does not match the hub');
        await fsyncFile(temp);
        await fs.rename(temp, target);
        await fsyncFile(path.dirname(target));
        await fs.writeFile(markerOf(target), JSON.stringify({ size: got.bytes, sha256: got.sha256 }));
        return { entry, target, status: 'downloaded', bytes: got.bytes };
      } catch (error) {
        failures.push(`${new URL(source.url).host} try ${attempt}: ${(error as Error).message}`);
        await fs.rm(temp, { force: true });
      }
    }
  }
  throw new Error(`could not download ${entry.name}: ${failures.join('; ')}`);
}

/** Syncs every entry with bounded concurrency; never throws: each result says what happened. */
export async function syncModels(entries: readonly ModelEntry[], options: SyncOptions): Promise<SyncResult[]> {
  const results: SyncResult[] = new Array(entries.length);
  let next = 0;
  const worker = async () => {
    while (next < entries.length) {
      const index = next++;
      const entry = entries[index]!;
      const started = Date.now();
      try {
        results[index] = await syncOne(entry, options);
      } catch (error) {
        results[index] = { entry, target: targetOf(entry, options.modelsDir), status: 'failed', error: (error as Error).message };
      }
      const r = results[index]!;
      options.progress?.(`models: ${r.status.padEnd(10)} ${path.join(entry.targetDir, entry.name)}${r.bytes !== undefined ? ` (${r.bytes} bytes)` : ''} in ${((Date.now() - started) / 1000).toFixed(1)} s${r.error ? ` — ${r.error}` : ''}`);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(options.concurrency ?? DEFAULTS.concurrency, entries.length)) }, worker));
  return results;
}

/** Present and verified, without downloading (for doctor): a marker that matches, or a hand-placed file for URL entries. */
export async function verifyModels(entries: readonly ModelEntry[], modelsDir: string): Promise<Array<{ entry: ModelEntry; target: string; ok: boolean; reason: string }>> {
  return Promise.all(
    entries.map(async (entry) => {
      const target = targetOf(entry, modelsDir);
      const size = await sizeOf(target);
      if (size === null) return { entry, target, ok: false, reason: 'missing' };
      const marker = await fs.readFile(markerOf(target), 'utf8').then((t) => JSON.parse(t) as Expected, () => null);
      if (marker && marker.size !== size) return { entry, target, ok: false, reason: `size ${size} differs from the verified ${marker.size}` };
      if (!marker && entry.kind === 'hf') return { entry, target, ok: true, reason: 'present (not verified against the hub yet)' };
      return { entry, target, ok: true, reason: `present, ${size} bytes` };
    }),
  );
}
