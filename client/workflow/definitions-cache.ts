/**
 * Node definitions cached per endpoint (key: API URL + endpoint id) in the user's cache dir:
 * `$XDG_CACHE_HOME/comfy-seal/` or `~/.cache/comfy-seal/`, dir 0700, files 0600 (model names are private too).
 * Written to a temp file and renamed, so a reader never sees half a file.
 */
import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { SealError } from '../../shared/errors.js';
import type { ObjectInfo } from './definitions.js';

export interface EndpointRef {
  apiUrl: string;
  endpointId: string;
}

export interface CachedDefinitions {
  api_url: string;
  endpoint_id: string;
  /** ISO time of the fetch. */
  fetched_at: string;
  object_info: ObjectInfo;
  /** The version the endpoint's ComfyUI gave when pinged then (the simulator's ends in `-simulator`); absent if unknown. */
  comfy_version?: string;
}

export function cacheDir(env: NodeJS.ProcessEnv): string {
  const base = env.XDG_CACHE_HOME && path.isAbsolute(env.XDG_CACHE_HOME) ? env.XDG_CACHE_HOME : path.join(env.HOME || os.homedir(), '.cache');
  return path.join(base, 'comfy-seal');
}

/** The cache file of one endpoint: a hash of the URL and id, so neither has to be a safe file name. */
export function cacheFile(ref: EndpointRef, env: NodeJS.ProcessEnv): string {
  const hash = createHash('sha256').update(`${ref.apiUrl.replace(/\/+$/, '')}\n${ref.endpointId}`).digest('hex').slice(0, 32);
  return path.join(cacheDir(env), `object-info-${hash}.json`);
}

/** The cached definitions of an endpoint, or null when there are none (or the file is not ours). */
export async function readCachedDefinitions(ref: EndpointRef, env: NodeJS.ProcessEnv): Promise<CachedDefinitions | null> {
  let text: string;
  try {
    text = await readFile(cacheFile(ref, env), 'utf8');
  } catch {
    return null;
  }
  try {
    const cached = JSON.parse(text) as CachedDefinitions;
    return cached && typeof cached.object_info === 'object' && cached.object_info !== null ? cached : null;
  } catch {
    return null; // a damaged cache is refetched, never trusted
  }
}

export async function writeCachedDefinitions(
  ref: EndpointRef,
  objectInfo: ObjectInfo,
  env: NodeJS.ProcessEnv,
  { now = new Date(), comfyVersion }: { now?: Date; comfyVersion?: string | undefined } = {},
): Promise<string> {
  const file = cacheFile(ref, env);
  const dir = path.dirname(file);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  const entry: CachedDefinitions = {
    api_url: ref.apiUrl,
    endpoint_id: ref.endpointId,
    fetched_at: now.toISOString(),
    object_info: objectInfo,
    ...(comfyVersion !== undefined ? { comfy_version: comfyVersion } : {}),
  };
  const temp = path.join(dir, `.${path.basename(file)}.${randomBytes(4).toString('hex')}`);
  try {
    await writeFile(temp, JSON.stringify(entry), { mode: 0o600, flag: 'wx' });
    await rename(temp, file);
  } catch (error) {
    await rm(temp, { force: true });
    throw new SealError('BAD_INPUT', `cannot write the node definitions cache in ${dir} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  return file;
}
