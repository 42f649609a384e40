/** What the commands that talk to an endpoint share (run, cancel): its flags, the client, and commands to print. */
import { UsageError, type CommandIo } from '../../shared/cli.js';
import { KEY_OPTIONS, keyFromFlags, keyHelp, type KeyFlags } from '../../shared/key-flags.js';
import { ComfySealClient, type ComfySealClientOptions } from '../client.js';
import { ComfySealError, ConfigError } from '../errors.js';

export const ENDPOINT_OPTIONS = {
  endpoint: { type: 'string' },
  'api-url': { type: 'string' },
  'api-key': { type: 'string' },
  ...KEY_OPTIONS,
} as const;

export const ENDPOINT_HELP = `Endpoint:
  --endpoint ID         endpoint id (default: $RUNPOD_ENDPOINT_ID)
  --api-url URL         API base (default: $RUNPOD_API_URL or https://api.runpod.ai/v2;
                        http://127.0.0.1:8000 for 'comfy-seal worker --local')
  --api-key KEY         RunPod API key (default: $RUNPOD_API_KEY; a local endpoint needs none)
${keyHelp(24)}`;

export interface EndpointValues extends KeyFlags {
  endpoint?: string | undefined;
  'api-url'?: string | undefined;
  'api-key'?: string | undefined;
}

/** The client for the flags; missing settings are one UsageError (code CONFIG) naming each flag and variable. */
export function clientFor(values: EndpointValues, io: CommandIo, extra: Partial<ComfySealClientOptions> = {}): ComfySealClient {
  const key = keyFromFlags(values);
  try {
    return new ComfySealClient({
      ...(values.endpoint ? { endpointId: values.endpoint } : {}),
      ...(values['api-url'] ? { apiUrl: values['api-url'] } : {}),
      ...(values['api-key'] ? { apiKey: values['api-key'] } : {}),
      ...(key ? { key } : {}),
      env: io.env,
      ...extra,
    });
  } catch (error) {
    if (error instanceof ConfigError) throw new UsageError(error.cliMessage, 'CONFIG');
    // A setting with an unusable value (COMFY_SEAL_BLOB_TTL_S, COMFY_SEAL_MAX_BLOB_MB): a usage error too, not a bug.
    if (error instanceof ComfySealError && error.code === 'CONFIG') throw new UsageError(error.message, 'CONFIG');
    throw error;
  }
}

/** The flags that pick the endpoint, as given (so a printed command reaches the same one); never the keys. */
export function endpointArgs(values: EndpointValues): string {
  return `${values['api-url'] ? ` --api-url ${values['api-url']}` : ''}${values.endpoint ? ` --endpoint ${values.endpoint}` : ''}`;
}

export const cancelCommand = (jobId: string, values: EndpointValues) => `comfy-seal cancel ${jobId}${endpointArgs(values)}`;
