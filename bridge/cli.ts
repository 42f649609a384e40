/**
 * `comfy-seal bridge`: ComfyUI's API on this machine, every prompt sealed and run on the endpoint. Takes ComfyUI's own
 * flags (so scripts that start ComfyUI can start the bridge) and `run`'s endpoint flags. Prints where to point a
 * browser or client, which endpoint, and one line per change of a job's state; never anything of a prompt.
 */
import path from 'node:path';
import { S3BlobStore } from '../client/blob/s3.js';
import { ENDPOINT_HELP, ENDPOINT_OPTIONS, clientFor, type EndpointValues } from '../client/cli/endpoint.js';
import { intFlag, parseCommandArgs, UsageError, type Command } from '../shared/cli.js';
import { foldersUnder, startBridge } from './server.js';
import { findFrontEnd, frontEndLine } from './webui/index.js';

const HELP = `Usage: comfy-seal bridge [options]

Serves ComfyUI's API (HTTP + WebSocket) on this machine and runs every prompt it gets on your endpoint,
sealed: ComfyUI's web UI, its scripts and ComfyUI apps work unchanged, and nothing readable leaves the machine.

ComfyUI's flags:
  --port N               port (default: 8188); 0 picks a free one
  --listen H             address to listen on (default: 127.0.0.1); also --host. Anything but loopback lets
                         whoever reaches the port run jobs on your endpoint
  --base-directory D     holds input/, output/, temp/, user/ (default: ./comfy-seal-bridge)
  --input-directory D    uploads and the files loaders read (default: BASE/input)
  --output-directory D   results (default: BASE/output)
  --temp-directory D     previews go to D/temp (default: BASE/temp)
  --user-directory D     the web UI's settings and workflows (default: BASE/user)
  --front-end-root D     ComfyUI's built web UI to serve (default: comfyui_frontend_package's, if python3
                         has it; else the API only)
Endpoint:
  --max-jobs N           prompts running on the endpoint at once (default: 1, as ComfyUI; more lets RunPod
                         scale out)
  --object-info FILE     node definitions to check prompts against (default: the endpoint's cache, else the
                         sealed object_info query, then cached)
  --blob-url s3://BUCKET/PREFIX   your bucket for requests and results too large for RunPod
${ENDPOINT_HELP.split('\n').slice(1).join('\n')}
  -h, --help             this help
`;

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;

/** The bridge's flags (ComfyUI's and the endpoint's); `doctor --bridge` takes the same. */
export const BRIDGE_OPTIONS = {
  ...ENDPOINT_OPTIONS,
  port: { type: 'string' },
  listen: { type: 'string' },
  host: { type: 'string' },
  'base-directory': { type: 'string' },
  'input-directory': { type: 'string' },
  'output-directory': { type: 'string' },
  'temp-directory': { type: 'string' },
  'user-directory': { type: 'string' },
  'front-end-root': { type: 'string' },
  'max-jobs': { type: 'string' },
  'object-info': { type: 'string' },
  'blob-url': { type: 'string' },
  'disable-auto-launch': { type: 'boolean' },
  'dont-print-server': { type: 'boolean' },
} as const;

type BridgeValues = EndpointValues & { [K in keyof typeof BRIDGE_OPTIONS]?: K extends 'disable-auto-launch' | 'dont-print-server' ? boolean | undefined : string | undefined };

/** What the flags ask of the bridge: where it listens, its folders, how many jobs at once. */
export function bridgeSettings(values: BridgeValues) {
  const maxJobs = intFlag('max-jobs', values['max-jobs'], 1);
  if (maxJobs < 1) throw new UsageError('--max-jobs must be 1 or more');
  const port = intFlag('port', values.port, 8188);
  const host = values.listen ?? values.host ?? '127.0.0.1';
  const base = path.resolve(values['base-directory'] ?? 'comfy-seal-bridge');
  const under = foldersUnder(base);
  const folders = {
    input: values['input-directory'] ? path.resolve(values['input-directory']) : under.input,
    output: values['output-directory'] ? path.resolve(values['output-directory']) : under.output,
    temp: values['temp-directory'] ? path.join(path.resolve(values['temp-directory']), 'temp') : under.temp,
    user: values['user-directory'] ? path.resolve(values['user-directory']) : under.user,
  };
  return { maxJobs, port, host, base, folders };
}

export const command: Command = async (argv, io) => {
  const { values } = parseCommandArgs(argv, { ...BRIDGE_OPTIONS, help: { type: 'boolean', short: 'h' } });
  if (values.help) {
    io.stdout.write(HELP);
    return 0;
  }
  const { maxJobs, port, host, base, folders } = bridgeSettings(values);
  const blobUrl = values['blob-url'] ?? (io.env.COMFY_SEAL_BLOB_URL || undefined);
  // Polled often: a client shows steps and previews as they come.
  const client = clientFor(values, io, { pollMinMs: 200, pollMaxMs: 500, ...(blobUrl ? { blobStore: new S3BlobStore(blobUrl, io.env) } : {}) });
  const frontEnd = await findFrontEnd({ frontEndRoot: values['front-end-root'], env: io.env });
  const bridge = await startBridge({
    client,
    folders,
    host,
    port,
    maxJobs,
    frontEnd,
    env: io.env,
    ...(values['object-info'] ? { objectInfoFile: values['object-info'] } : {}),
    report: (promptId, state) => io.stdout.write(`prompt ${promptId.slice(0, 8)}: ${state}\n`),
  }).catch((error: unknown) => {
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') throw new UsageError(`port ${port} is in use (a ComfyUI running?); pass --port N`);
    throw error;
  });
  io.stdout.write(`comfy-seal bridge: ComfyUI's API on ${bridge.url} — point your browser or ComfyUI client there\n`);
  io.stdout.write(`  endpoint ${client.endpointId} (${client.apiUrl}), up to ${maxJobs} job${maxJobs === 1 ? '' : 's'} at once; files in ${base}\n`);
  io.stdout.write(`  ${frontEndLine(frontEnd)}\n`);
  if (!LOOPBACK.test(host)) io.stderr.write(`comfy-seal bridge: warning: listening on ${host}: anyone who can reach port ${bridge.port} can run jobs on your endpoint\n`);
  if (!io.signal.aborted) await new Promise((resolve) => io.signal.addEventListener('abort', resolve, { once: true }));
  await bridge.close();
  return 0;
};
