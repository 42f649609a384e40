/** `comfy-seal models sync`: MODELS present and verified, or a clear failure (exit 1) unless MODELS_OPTIONAL=1. */
import { parseCommandArgs, UsageError, intFlag, type Command } from '../../shared/cli.js';
import { parseModels, ModelSpecError } from './spec.js';
import { syncModels } from './sync.js';

const HELP = `Usage: comfy-seal models sync [--models-dir DIR] [--host-cache DIR] [--concurrency N]

Makes every MODELS entry present and verified under the models dir, before ComfyUI starts.
  MODELS          comma-separated entries:
                    repo:file:target_dir[:local_name]        e.g. Comfy-Org/flux1-dev:flux1-dev-fp8.safetensors:checkpoints
                    URL[|MIRROR...]>target_dir[:local_name]   e.g. https://a.example/x.safetensors|https://b.example/x.safetensors>loras
  HF_TOKEN        token for gated or private repos
  MODELS_OPTIONAL 1 = report failures but exit 0 (default: a failure stops start-up, exit 1)

Options:
  --models-dir DIR   ComfyUI's models dir (default: $COMFY_MODELS_DIR or /comfyui/models)
  --host-cache DIR   host Hugging Face cache to link from (default: $HF_HUB_CACHE or /runpod-volume/huggingface-cache/hub)
  --concurrency N    downloads at once (default: 2)
  -h, --help         this help
`;

export const command: Command = async (argv, io) => {
  const { values, positionals } = parseCommandArgs(
    argv,
    { 'models-dir': { type: 'string' }, 'host-cache': { type: 'string' }, concurrency: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    true,
  );
  if (values.help) {
    io.stdout.write(HELP);
    return 0;
  }
  if (positionals[0] !== 'sync' || positionals.length > 1) throw new UsageError("expected 'comfy-seal models sync'");
  let entries;
  try {
    entries = parseModels(io.env.MODELS);
  } catch (error) {
    if (error instanceof ModelSpecError) throw new UsageError(error.message);
    throw error;
  }
  if (entries.length === 0) {
    io.stdout.write('models: MODELS is empty; nothing to sync\n');
    return 0;
  }
  const results = await syncModels(entries, {
    modelsDir: values['models-dir'] ?? io.env.COMFY_MODELS_DIR ?? '/comfyui/models',
    ...(values['host-cache'] ?? io.env.HF_HUB_CACHE ? { hostCache: (values['host-cache'] ?? io.env.HF_HUB_CACHE)! } : {}),
    ...(io.env.HF_TOKEN ? { accessToken: io.env.HF_TOKEN } : {}),
    ...(io.env.HF_ENDPOINT ? { hubUrl: io.env.HF_ENDPOINT } : {}),
    concurrency: intFlag('concurrency', values.concurrency, 2) || 1,
    progress: (line) => io.stdout.write(`${line}\n`),
    signal: io.signal,
  });
  // Stopped (start.sh got SIGTERM): the downloads were aborted and their temp files removed.
  if (io.signal.aborted) return 1;
  const failed = results.filter((r) => r.status === 'failed');
  if (failed.length === 0) return 0;
  const optional = io.env.MODELS_OPTIONAL === '1';
  io.stderr.write(`models: ${failed.length} of ${results.length} failed${optional ? ' (MODELS_OPTIONAL=1: starting anyway)' : '; fix MODELS or set MODELS_OPTIONAL=1'}\n`);
  return optional ? 0 : 1;
};
