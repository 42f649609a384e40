/**
 * Model sync: every MODELS entry present and verified before ComfyUI starts, never a silent hang.
 * Per entry: already there and matching its marker → skip; in the host's Hugging Face cache → symlink; else download to
 * a temp name beside the target, stream-verified (size, and sha256 when the hub gives one; never an HTML page, an LFS
 * pointer or a stub), retried, then mirrors, then fsync, an atomic rename and a directory fsync. Free disk is checked
 * before each download (from the hub's size, or a URL's content-length). Every network step has a timeout.
 */
import { createHash } from 'node:crypto';
import * as nodeFs from 'node:fs/promises';
import path from 'node:path';
import { fileDownloadInfo } from '@huggingface/hub';
import { syncDir, type FileSystem } from '../storage.js';
import { checkBody, checkHeaders, MIN_MODEL_BYTES, SNIFF_BYTES, sniff } from './body.js';
import { hashFile, matchesMarker, readMarker, writeMarker } from './marker.js';
import type { ModelEntry } from './spec.js';

/** The file operations the sync uses (node:fs/promises by default), injectable so tests can observe each fsync. */
export type SyncFs = FileSystem & Pick<typeof nodeFs, 'rename' | 'rm' | 'symlink' | 'statfs'>;

export interface SyncOptions {
  /** ComfyUI's models dir; entries' target dirs are under it. */
  modelsDir: string;
  /** Host Hugging Face cache (network volume): models--org--name/snapshots/<rev>/<file>. */
  hostCache?: string;
  hubUrl?: string;
  accessToken?: string;
  fetch?: typeof fetch;
  fs?: SyncFs;
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
  /** Stops the sync: downloads are aborted and their temp files removed. */
  signal?: AbortSignal;
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

/** A failure that no retry or mirror can fix (the disk is too small, the sync was stopped). */
class Final extends Error {}

async function sizeOf(file: string, fs: SyncFs): Promise<number | null> {
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
    fetch: (input, init) => {
      const bound = AbortSignal.timeout(o.stallTimeoutMs ?? DEFAULTS.stallTimeoutMs);
      return (o.fetch ?? fetch)(input, { ...init, signal: o.signal ? AbortSignal.any([bound, o.signal]) : bound });
    },
  });
  if (!info) throw new Error(`not found on the hub: ${entry.repo}/${entry.file}`);
  const etag = info.etag.replace(/^W\//, '').replaceAll('"', '');
  return { url: info.url, expected: { size: info.size, ...(/^[0-9a-f]{64}$/.test(etag) ? { sha256: etag } : {}) } };
}

async function hostCacheFile(entry: Extract<ModelEntry, { kind: 'hf' }>, root: string, fs: SyncFs): Promise<string | null> {
  const snapshots = path.join(root, `models--${entry.repo.replace('/', '--')}`, 'snapshots');
  let revisions: string[];
  try {
    revisions = await fs.readdir(snapshots);
  } catch {
    return null;
  }
  for (const rev of revisions) {
    const candidate = path.join(snapshots, rev, entry.file);
    if ((await sizeOf(candidate, fs)) !== null) return candidate;
  }
  return null;
}

/** Refuses to start a download of `size` bytes that would not leave the margin free. */
async function checkDisk(name: string, dir: string, size: number, o: SyncOptions): Promise<void> {
  const free = await (o.freeBytes ?? defaultFreeBytes(o.fs ?? nodeFs))(dir);
  const need = size + (o.diskMarginBytes ?? DEFAULTS.diskMarginBytes);
  if (free < need) throw new Final(`not enough disk for ${name}: needs ${need} bytes with margin, ${free} free in ${dir}`);
}

const defaultFreeBytes = (fs: SyncFs) => async (dir: string) => {
  const s = await fs.statfs(dir);
  return s.bavail * s.bsize;
};

interface Source {
  url: string;
  auth: boolean;
}

/**
 * Streams a source into `temp` (fsync'd), aborting when no byte arrives for the stall timeout. The headers are checked
 * first (no HTML; with no expected size, the disk against content-length and a plausible size), the body once received.
 */
async function download(source: Source, temp: string, entry: ModelEntry, expected: Expected, o: SyncOptions): Promise<{ bytes: number; sha256: string }> {
  const fs = o.fs ?? nodeFs;
  const controller = new AbortController();
  const stallMs = o.stallTimeoutMs ?? DEFAULTS.stallTimeoutMs;
  let timer = setTimeout(() => controller.abort(new Error('download stalled')), stallMs);
  const touch = () => {
    clearTimeout(timer);
    timer = setTimeout(() => controller.abort(new Error('download stalled')), stallMs);
  };
  try {
    const res = await (o.fetch ?? fetch)(source.url, {
      signal: o.signal ? AbortSignal.any([controller.signal, o.signal]) : controller.signal,
      headers: source.auth && o.accessToken ? { Authorization: `Bearer ${o.accessToken}` } : {},
    });
    if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
    const length = res.headers.get('content-length');
    const declared = length !== null && /^\d+$/.test(length) ? Number(length) : undefined;
    checkHeaders(res.headers.get('content-type'), declared, expected.size);
    if (expected.size === undefined && declared !== undefined) await checkDisk(entry.name, path.dirname(temp), declared, o);

    const hash = createHash('sha256');
    let head = Buffer.alloc(0);
    let bytes = 0;
    const out = await fs.open(temp, 'w', 0o644);
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        touch();
        hash.update(chunk);
        bytes += chunk.length;
        if (head.length < SNIFF_BYTES) head = Buffer.concat([head, chunk]).subarray(0, SNIFF_BYTES);
        await out.write(chunk);
      }
      await out.sync();
    } finally {
      await out.close();
    }
    if (declared !== undefined && declared !== bytes) throw new Error(`short download: ${bytes} of ${declared} bytes`);
    if (expected.size !== undefined && bytes !== expected.size) throw new Error(`stub: ${bytes} bytes, the hub says ${expected.size}`);
    checkBody(head, bytes, expected.size);
    return { bytes, sha256: hash.digest('hex') };
  } catch (error) {
    if (o.signal?.aborted) throw new Final('stopped');
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/** A file already at the target that no marker vouches for: plausible as a model, or to be replaced. */
async function plausibleFile(target: string, fs: SyncFs): Promise<boolean> {
  const handle = await fs.open(target, 'r');
  try {
    const head = Buffer.alloc(SNIFF_BYTES);
    const { bytesRead } = await handle.read(head, 0, SNIFF_BYTES, 0);
    const { size } = await handle.stat();
    return sniff(head.subarray(0, bytesRead)) === null && size >= MIN_MODEL_BYTES;
  } finally {
    await handle.close();
  }
}

async function link(cached: string, target: string, fs: SyncFs): Promise<void> {
  await fs.rm(target, { force: true });
  await fs.symlink(cached, target);
}

async function syncOne(entry: ModelEntry, o: SyncOptions): Promise<SyncResult> {
  const fs = o.fs ?? nodeFs;
  const target = targetOf(entry, o.modelsDir);
  await fs.mkdir(path.dirname(target), { recursive: true });
  const marker = await readMarker(target, fs);
  const present = await sizeOf(target, fs);
  if (present !== null && marker && (await matchesMarker(target, marker, fs))) return { entry, target, status: 'present', bytes: present };

  let expected: Expected = {};
  let sources: Source[];
  if (entry.kind === 'hf') {
    const cached = await hostCacheFile(entry, o.hostCache ?? DEFAULTS.hostCache, fs);
    let info;
    try {
      info = await hubInfo(entry, o);
    } catch (error) {
      // Hub unreachable (or no token) but the network volume has it: use it rather than fail start-up.
      if (!cached) throw error;
      await link(cached, target, fs);
      return { entry, target, status: 'linked', bytes: (await sizeOf(cached, fs)) ?? 0 };
    }
    expected = info.expected;
    // The host cache first: linking (again) costs nothing, hashing a linked file of GBs would.
    if (cached && (await sizeOf(cached, fs)) === expected.size) {
      await link(cached, target, fs);
      return { entry, target, status: 'linked', bytes: expected.size };
    }
    // Present without a marker (placed by hand): the hub's size, and its sha256 when it has one, decide.
    if (present !== null && !marker && present === expected.size && (!expected.sha256 || (await hashFile(target, fs)) === expected.sha256)) {
      await writeMarker(target, { ...expected, size: present }, fs);
      return { entry, target, status: 'present', bytes: present };
    }
    const hubOrigin = new URL(o.hubUrl ?? DEFAULTS.hubUrl).origin;
    sources = [{ url: info.url, auth: new URL(info.url).origin === hubOrigin }];
  } else {
    if (present !== null && !marker && (await plausibleFile(target, fs))) {
      // A file placed by hand (or baked into the image) with no record: trust it rather than re-download blind.
      return { entry, target, status: 'present', bytes: present };
    }
    sources = entry.urls.map((url) => ({ url, auth: false }));
  }

  if (expected.size !== undefined) await checkDisk(entry.name, path.dirname(target), expected.size, o);

  const temp = path.join(path.dirname(target), `.${entry.name}.${process.pid}.part`);
  const failures: string[] = [];
  for (const source of sources) {
    for (let attempt = 1; attempt <= (o.attempts ?? DEFAULTS.attempts); attempt++) {
      try {
        const got = await download(source, temp, entry, expected, o);
        if (expected.sha256 && got.sha256 !== expected.sha256) throw new Error('sha256 does not match the hub');
        await fs.rename(temp, target);
        await syncDir(path.dirname(target), fs);
        await writeMarker(target, { size: got.bytes, sha256: got.sha256 }, fs);
        return { entry, target, status: 'downloaded', bytes: got.bytes };
      } catch (error) {
        await fs.rm(temp, { force: true });
        if (error instanceof Final) throw error;
        failures.push(`${new URL(source.url).host} try ${attempt}: ${(error as Error).message}`);
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
        if (options.signal?.aborted) throw new Final('stopped');
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

/** Present and verified, without downloading or hashing (for doctor): a marker whose size matches, or a hand-placed file for URL entries. */
export async function verifyModels(entries: readonly ModelEntry[], modelsDir: string, fs: SyncFs = nodeFs): Promise<Array<{ entry: ModelEntry; target: string; ok: boolean; reason: string }>> {
  return Promise.all(
    entries.map(async (entry) => {
      const target = targetOf(entry, modelsDir);
      const size = await sizeOf(target, fs);
      if (size === null) return { entry, target, ok: false, reason: 'missing' };
      const marker = await readMarker(target, fs);
      if (marker && marker.size !== size) return { entry, target, ok: false, reason: `size ${size} differs from the verified ${marker.size}` };
      if (!marker && entry.kind === 'hf') return { entry, target, ok: true, reason: 'present (not verified against the hub yet)' };
      return { entry, target, ok: true, reason: `present, ${size} bytes` };
    }),
  );
}
