/**
 * Collect step: every file output of the run, read from the output dir once it has settled.
 *
 * ComfyUI closes (but does not fsync) its files before it says `executed`; custom nodes may still be writing. A file
 * has settled when its format says it is whole (PNG IEND, JPEG EOI, RIFF length, GIF trailer) or, for formats without
 * such a mark, when its size and mtime have stayed the same for a quiet period — and it then reads to its full size.
 */
import path from 'node:path';
import type { ResultFile } from '../shared/envelope.js';
import { inlineAdvice } from '../shared/blob.js';
import { SealError } from '../shared/errors.js';
import { fileNameProblem } from '../shared/names.js';
import { isAnimatedWebp } from '../shared/media.js';
import { compareNodeIds } from '../shared/node-ids.js';
import type { Clock } from './clock.js';
import type { NodeUiOutput, OutputFileRef } from './comfy/messages.js';
import { release } from '../shared/releasable.js';
import { isInside, nodeFileSystem, readReleasable, storageError, type FileSystem } from './storage.js';

export interface CollectOptions {
  outputDir: string;
  /** ComfyUI's temp dir: given, temp savers' files are results too (`temp_outputs`, §14), each with its `type`. */
  tempDir?: string;
  /** The per-job output folder (stripped from reported subfolders). */
  jobFolder: string;
  /** Largest result token, in bytes: a file of n bytes costs about 4/3 × 4/3 × n once sealed, twice for an image in `images`. */
  maxResultBytes: number;
  /** The request came in the older shape: images travel twice (`outputs` and the older `images` map). */
  olderImages?: boolean;
  /** The result may go to a reply blob: its limit is the blob's, and the message says so. */
  toBlob?: boolean;
  settleTimeoutMs: number;
  /** For formats with no end mark: how long size and mtime must hold still. */
  quietMs: number;
  clock: Clock;
  fs?: FileSystem;
}

/** UI output keys that name files. `text` (PreviewAny) and others carry no files. */
const FILE_KEYS = ['images', 'gifs', 'video', 'videos', 'audio', 'animated', 'files'];

const MIME: Record<string, string> = {
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.webp': 'image/webp',
  '.gif': 'image/gif',
  '.bmp': 'image/bmp',
  '.tif': 'image/tiff',
  '.tiff': 'image/tiff',
  '.mp4': 'video/mp4',
  '.webm': 'video/webm',
  '.mov': 'video/quicktime',
  '.mkv': 'video/x-matroska',
  '.avi': 'video/x-msvideo',
  '.wav': 'audio/wav',
  '.flac': 'audio/flac',
  '.mp3': 'audio/mpeg',
  '.ogg': 'audio/ogg',
  '.opus': 'audio/opus',
  '.m4a': 'audio/mp4',
  '.glb': 'model/gltf-binary',
};

export function mimeOf(filename: string): string {
  return MIME[path.extname(filename).toLowerCase()] ?? 'application/octet-stream';
}

function kindOf(mime: string, animated: boolean): string {
  if (mime.startsWith('video/')) return 'video';
  if (mime.startsWith('audio/')) return 'audio';
  if (mime.startsWith('image/')) return animated || mime === 'image/gif' ? 'animated' : 'image';
  return 'file';
}

interface Wanted {
  nodeId: string;
  ref: OutputFileRef;
  animated: boolean;
  type: 'output' | 'temp';
}

/** The output files named by the UI outputs (inputs are never results; temp previews only when `temp` is asked). */
export function listOutputFiles(outputs: Record<string, NodeUiOutput>, temp = false): Wanted[] {
  const wanted: Wanted[] = [];
  for (const nodeId of Object.keys(outputs).sort(compareNodeIds)) {
    const ui = outputs[nodeId] ?? {};
    const animated = Array.isArray(ui.animated) && ui.animated.some(Boolean);
    for (const key of FILE_KEYS) {
      const list = ui[key];
      if (!Array.isArray(list)) continue;
      for (const ref of list) {
        if (!ref || typeof ref !== 'object' || typeof (ref as OutputFileRef).filename !== 'string') continue;
        const type = (ref as OutputFileRef).type ?? 'output';
        if (type !== 'output' && !(temp && type === 'temp')) continue;
        wanted.push({ nodeId, ref: ref as OutputFileRef, animated, type });
      }
    }
  }
  return wanted;
}

/**
 * Whether a file of `size` bytes is whole, judged from its first and last bytes (up to 12 each) for formats that mark
 * their end; null when the format has no such mark.
 */
export function endMarkOf(head: Buffer, tail: Buffer, size: number): boolean | null {
  if (head.length >= 8 && head.readUInt32BE(0) === 0x89504e47) return size >= 20 && tail.length >= 12 && tail.subarray(-12).equals(PNG_IEND);
  if (head.length >= 3 && head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) {
    return size >= 4 && tail[tail.length - 2] === 0xff && tail[tail.length - 1] === 0xd9;
  }
  if (head.length >= 12 && head.toString('latin1', 0, 4) === 'RIFF') return head.readUInt32LE(4) + 8 <= size;
  if (head.length >= 6 && head.toString('latin1', 0, 4) === 'GIF8') return tail[tail.length - 1] === 0x3b;
  return null;
}

/** Whether the bytes form a whole file of a format that marks its end; null when the format has no such mark. */
export function looksComplete(data: Buffer): boolean | null {
  return endMarkOf(data.subarray(0, MARK_BYTES), data.subarray(-MARK_BYTES), data.length);
}

const PNG_IEND = Buffer.from([0, 0, 0, 0, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82]);
const MARK_BYTES = 12;

/** The first and last bytes of a file (a few dozen bytes read, however large the file). */
async function headAndTail(file: string, size: number, fs: FileSystem): Promise<{ head: Buffer; tail: Buffer }> {
  const handle = await fs.open(file, 'r');
  try {
    const n = Math.min(MARK_BYTES, size);
    const head = Buffer.alloc(n);
    const tail = Buffer.alloc(n);
    const a = await handle.read(head, 0, n, 0);
    const b = await handle.read(tail, 0, n, size - n);
    return { head: head.subarray(0, a.bytesRead), tail: tail.subarray(0, b.bytesRead) };
  } finally {
    await handle.close();
  }
}

/**
 * Reads a file once it has settled. It is watched with stat (and its end mark, a few bytes) until it is whole or, for
 * formats without a mark, until size and mtime hold still for the quiet period; only then is it read, once.
 * A file that is not there was never going to come: ComfyUI closes its files before it reports them, so a missing one
 * is an answer from its cache naming a wiped job's file, and the job fails at once (contract §6).
 */
export async function readSettled(file: string, options: CollectOptions): Promise<Buffer> {
  const fs = options.fs ?? nodeFileSystem;
  const { clock } = options;
  const deadline = clock.now() + options.settleTimeoutMs;
  let last = { size: -1, mtimeMs: -1, since: clock.now() };
  const fail = <T>(error: unknown): Promise<T> => Promise.reject(storageError(error));
  for (let wait = 2; ; wait = Math.min(50, wait * 2)) {
    let stat;
    try {
      stat = await fs.stat(file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw storageError(error);
      throw new SealError('EXECUTION_FAILED', 'ComfyUI reported an output file that is not on disk (a cached answer?)', { file: path.basename(file) });
    }
    if (stat.size !== last.size || stat.mtimeMs !== last.mtimeMs) last = { size: stat.size, mtimeMs: stat.mtimeMs, since: clock.now() };
    if (stat.size > 0) {
      const { head, tail } = await headAndTail(file, stat.size, fs).catch(fail<{ head: Buffer; tail: Buffer }>);
      const marked = endMarkOf(head, tail, stat.size);
      if (marked === true || (marked === null && clock.now() - last.since >= options.quietMs)) {
        const data = await readReleasable(file, fs).catch(fail<Buffer>);
        if (data.length === stat.size) return data;
        release(data); // it changed under us: watch again
      }
    }
    if (clock.now() >= deadline) throw new SealError('EXECUTION_FAILED', 'an output file never finished writing', { file: path.basename(file) });
    await clock.sleep(wait);
  }
}

/** The subfolder a user sees: the per-job folder removed. */
export function userSubfolder(subfolder: string, jobFolder: string): string {
  const parts = subfolder.replaceAll('\\', '/').split('/').filter((p) => p !== '');
  if (parts[0] === jobFolder) parts.shift();
  return parts.join('/');
}

/** Base64 sizes: each file once in `outputs` (images twice for an older-shape request), then the token adds 4/3. */
function sealedCost(bytes: number, copies: number): number {
  const b64 = Math.ceil(bytes / 3) * 4;
  return Math.ceil((copies * b64 * 4) / 3);
}

function tooLargeMessage(options: CollectOptions): string {
  const mb = Math.floor(options.maxResultBytes / 1e6);
  if (options.toBlob) return `the result would be over the ${mb} MB blob limit (COMFY_SEAL_MAX_BLOB_MB) once sealed`;
  return `the result would be over ${mb} MB once sealed: ${inlineAdvice(options.maxResultBytes, options.olderImages ? 2 : 1)}`;
}

export async function collectOutputs(outputs: Record<string, NodeUiOutput>, options: CollectOptions): Promise<ResultFile[]> {
  const fs = options.fs ?? nodeFileSystem;
  const roots = { output: path.resolve(options.outputDir), temp: path.resolve(options.tempDir ?? options.outputDir) };
  const withTemp = options.tempDir !== undefined;
  const files: ResultFile[] = [];
  const seen = new Set<string>();
  let cost = 0;
  for (const { nodeId, ref, animated, type } of listOutputFiles(outputs, withTemp)) {
    const root = roots[type];
    const subfolder = ref.subfolder ?? '';
    const full = path.resolve(root, subfolder, ref.filename);
    if (fileNameProblem(ref.filename) !== null || !isInside(root, full) || full === root) {
      throw new SealError('EXECUTION_FAILED', 'ComfyUI reported an output outside the output folder', { filename: ref.filename, subfolder });
    }
    if (seen.has(full)) continue;
    seen.add(full);
    // A temp saver has no per-job prefix, so ComfyUI's cache (COMFY_SEAL_KEEP_CACHE) may name a wiped job's preview:
    // a preview is no result, so it is left out rather than failing the job.
    if (type === 'temp' && !(await exists(full, fs))) continue;
    const data = await readSettled(full, options);
    // A symlink inside the output dir could point anywhere: only files that really live inside it are results.
    const real = await fs.realpath(full).catch((error: unknown) => Promise.reject(storageError(error)));
    if (!isInside(await fs.realpath(root), real)) {
      throw new SealError('EXECUTION_FAILED', 'an output resolves outside the output folder', { filename: ref.filename });
    }
    const mime = mimeOf(ref.filename);
    // Some savers (VideoHelperSuite's webp) do not flag their animation: the WebP header says it either way.
    const kind = kindOf(mime, animated || (mime === 'image/webp' && isAnimatedWebp(data)));
    cost += sealedCost(data.length, kind === 'image' && options.olderImages ? 2 : 1);
    if (cost > options.maxResultBytes) {
      const error = new SealError('OUTPUT_TOO_LARGE', tooLargeMessage(options), {
        limit_bytes: options.maxResultBytes,
        files: [...files.map((f) => ({ filename: f.filename, bytes: f.data.length })), { filename: ref.filename, bytes: data.length }],
      });
      for (const f of [...files, { data }]) release(f.data);
      throw error;
    }
    files.push({ nodeId, filename: ref.filename, subfolder: userSubfolder(subfolder, options.jobFolder), kind, mime, data, ...(withTemp ? { type } : {}) });
  }
  return files;
}

async function exists(file: string, fs: FileSystem): Promise<boolean> {
  try {
    await fs.stat(file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw storageError(error);
  }
}
