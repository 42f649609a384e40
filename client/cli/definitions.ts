/**
 * Where the commands get node definitions: `--object-info FILE` (a saved GET /object_info, or a `comfy-seal nodes
 * --json` output), else the cache of the endpoint they talk to (`comfy-seal nodes` fills it). Never the network.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { UsageError } from '../../shared/cli.js';
import { SealError } from '../../shared/errors.js';
import { parseWith, workflowSchema } from '../../shared/schema.js';
import { DEFAULT_API_URL, type ComfySealClient } from '../client.js';
import { ComfySealError } from '../errors.js';
import type { ObjectInfo } from '../workflow/definitions.js';
import { loadWorkflow } from '../workflow/load.js';
import { cacheFile, readCachedDefinitions, writeCachedDefinitions, type EndpointRef } from '../workflow/definitions-cache.js';

export interface DefinitionsFlags {
  'object-info'?: string | undefined;
  endpoint?: string | undefined;
  'api-url'?: string | undefined;
}

export interface FoundDefinitions {
  objectInfo: ObjectInfo;
  /** The file they came from (for messages). */
  from: string;
  /** When the endpoint gave them, for definitions from the cache (they may be older than the endpoint). */
  fetchedAt?: string;
  /** Its ComfyUI's version then, when known (the check's fixes tell the simulator from an image). */
  comfyVersion?: string;
}

/** The endpoint the flags and environment name, as the client would resolve it; null without an endpoint id. */
export function endpointRef(flags: DefinitionsFlags, env: NodeJS.ProcessEnv): EndpointRef | null {
  const endpointId = flags.endpoint ?? env.RUNPOD_ENDPOINT_ID;
  if (!endpointId) return null;
  return { apiUrl: (flags['api-url'] ?? env.RUNPOD_API_URL ?? DEFAULT_API_URL).replace(/\/+$/, ''), endpointId };
}

export async function readObjectInfoFile(file: string): Promise<ObjectInfo> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read --object-info ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new UsageError(`--object-info ${file} is not valid JSON`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new UsageError(`--object-info ${file} is not a GET /object_info answer (a JSON object)`);
  // Also accepts a saved query answer or cache entry, which hold the definitions under `object_info`.
  const inner = (value as { object_info?: unknown }).object_info;
  return (inner !== null && typeof inner === 'object' ? inner : value) as ObjectInfo;
}

/** Definitions from --object-info or the endpoint's cache; null when there are none. */
export async function findDefinitions(flags: DefinitionsFlags, env: NodeJS.ProcessEnv): Promise<FoundDefinitions | null> {
  const file = flags['object-info'];
  if (file) return { objectInfo: await readObjectInfoFile(file), from: file };
  const ref = endpointRef(flags, env);
  const cached = ref && (await readCachedDefinitions(ref, env));
  if (!cached) return null;
  return { objectInfo: cached.object_info, from: cacheFile(ref, env), fetchedAt: cached.fetched_at, ...(cached.comfy_version ? { comfyVersion: cached.comfy_version } : {}) };
}

/**
 * The endpoint's definitions now (a sealed object_info query) and its ComfyUI's version (a ping: the simulator says
 * it is one), cached for the endpoint the client talks to.
 */
export async function fetchDefinitions(client: ComfySealClient, env: NodeJS.ProcessEnv, signal?: AbortSignal): Promise<FoundDefinitions> {
  const wait = signal ? { signal } : {};
  const objectInfo = await client.nodes(wait);
  const comfyVersion = await client.ping(wait).then(
    (ping) => ping.comfy.version,
    (error: unknown) => {
      // A failed ping (an older worker, a ComfyUI that does not answer) leaves the version unknown; an abort stops.
      if (error instanceof ComfySealError && error.code !== 'ABORTED') return undefined;
      throw error;
    },
  );
  const fetchedAt = new Date();
  const from = await writeCachedDefinitions({ apiUrl: client.apiUrl, endpointId: client.endpointId }, objectInfo, env, { now: fetchedAt, comfyVersion });
  return { objectInfo, from, fetchedAt: fetchedAt.toISOString(), ...(comfyVersion ? { comfyVersion } : {}) };
}

/**
 * `--workflow FILE` (API or UI JSON, or a PNG / WebP carrying one), loaded with the definitions found for it.
 * `required`: the BAD_INPUT message when no definitions are found (refused before the file is converted).
 */
export async function loadWorkflowFlag(flags: DefinitionsFlags & { workflow?: string | undefined }, env: NodeJS.ProcessEnv, { required }: { required?: string } = {}) {
  if (!flags.workflow) throw new UsageError('--workflow FILE is required');
  let bytes: Buffer;
  try {
    bytes = await readFile(flags.workflow);
  } catch (error) {
    throw new UsageError(`cannot read workflow ${flags.workflow} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const found = await findDefinitions(flags, env);
  if (!found && required) throw new SealError('BAD_INPUT', required);
  const loaded = loadWorkflow(bytes, found ? { objectInfo: found.objectInfo } : {});
  return { workflow: parseWith(workflowSchema, loaded.workflow, 'workflow'), loaded, found, name: path.basename(flags.workflow) };
}

/** The flags of the commands that load a workflow with the endpoint's node definitions (check, convert). */
export const WORKFLOW_OPTIONS = {
  workflow: { type: 'string' },
  'object-info': { type: 'string' },
  endpoint: { type: 'string' },
  'api-url': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const WORKFLOW_HELP = `  --workflow FILE       the workflow (API or UI JSON, PNG or WebP)
  --object-info FILE    node definitions (a saved /object_info) instead of the endpoint's cache
  --endpoint ID         whose cached definitions to use (default: $RUNPOD_ENDPOINT_ID; 'comfy-seal nodes' fills it)
  --api-url URL         likewise (default: $RUNPOD_API_URL or https://api.runpod.ai/v2)`;
