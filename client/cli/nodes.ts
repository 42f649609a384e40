/**
 * `comfy-seal nodes`: the endpoint's node definitions (its ComfyUI's GET /object_info), fetched sealed through a query
 * job and cached per endpoint; `check`, `convert` and `run` read that cache.
 */
import { parseCommandArgs, UsageError, type Command } from '../../shared/cli.js';
import { SealError } from '../../shared/errors.js';
import { ComfySealError } from '../errors.js';
import { modelListSizes, type ObjectInfo } from '../workflow/definitions.js';
import { readCachedDefinitions } from '../workflow/definitions-cache.js';
import { endpointRef, fetchDefinitions, readObjectInfoFile } from './definitions.js';
import { clientFor, ENDPOINT_HELP, ENDPOINT_OPTIONS } from './endpoint.js';

const HELP = `Usage: comfy-seal nodes [--refresh] [--json] [options]

Fetches your endpoint's node definitions and installed model lists (ComfyUI's /object_info), sealed like any
job, and caches them for this endpoint (mode 0600 under $XDG_CACHE_HOME/comfy-seal or ~/.cache/comfy-seal).
'comfy-seal check', 'convert' and 'run' use the cache to convert UI workflows and catch missing nodes or models
('run' asks the endpoint again when the cache lacks what a workflow uses).

Options:
  --refresh             fetch again even when cached
  --json                print the definitions (JSON) instead of a summary
  --object-info FILE    summarize a saved /object_info instead (no endpoint)
  -h, --help            this help

${ENDPOINT_HELP}
`;

const OPTIONS = {
  refresh: { type: 'boolean' },
  json: { type: 'boolean' },
  'object-info': { type: 'string' },
  ...ENDPOINT_OPTIONS,
  help: { type: 'boolean', short: 'h' },
} as const;

function summary(info: ObjectInfo, where: string, comfyVersion: string | undefined): string {
  const sizes = Object.entries(modelListSizes(info));
  const models = sizes.length > 0 ? sizes.map(([folder, n]) => `  ${folder}: ${n}`).join('\n') : '  (no model loaders among them)';
  const from = comfyVersion ? ` of ComfyUI ${comfyVersion}` : '';
  return `${Object.keys(info).length} node types${from} (${where})\nmodels:\n${models}\n`;
}

export const command: Command = async (argv, io) => {
  const { values } = parseCommandArgs(argv, OPTIONS);
  if (values.help) {
    io.stdout.write(HELP);
    return 0;
  }
  const print = (info: ObjectInfo, where: string, comfyVersion?: string) => io.stdout.write(values.json ? `${JSON.stringify(info)}\n` : summary(info, where, comfyVersion));
  if (values['object-info']) {
    print(await readObjectInfoFile(values['object-info']), values['object-info']);
    return 0;
  }
  const ref = endpointRef(values, io.env);
  if (!ref) throw new UsageError('no endpoint: pass --endpoint ID or set RUNPOD_ENDPOINT_ID');
  const cached = values.refresh ? null : await readCachedDefinitions(ref, io.env);
  if (cached) {
    print(cached.object_info, `cached ${cached.fetched_at}; --refresh to fetch again`, cached.comfy_version);
    return 0;
  }
  const client = clientFor(values, io);
  try {
    const found = await fetchDefinitions(client, io.env, io.signal);
    print(found.objectInfo, `fetched now, cached in ${found.from}`, found.comfyVersion);
    return 0;
  } catch (error) {
    if (error instanceof ComfySealError || error instanceof SealError) {
      io.stderr.write(`comfy-seal nodes: ${error.code}: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
};
