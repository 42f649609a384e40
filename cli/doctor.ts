/**
 * `comfy-seal doctor`: inside the image (or with --worker) the worker's checks; elsewhere (or with --client) the
 * user's. Lives in cli/ because it is the one command that knows both sides; each side's module is loaded lazily.
 */
import { existsSync } from 'node:fs';
import { invokedAs, parseCommandArgs, type Command, type CommandIo } from '../shared/cli.js';
import { hasFailure, renderChecks, runChecks, type CheckResult } from '../shared/checks.js';
import { KEY_OPTIONS, keyFromFlags, keyHelp } from '../shared/key-flags.js';

const HELP = `Usage: comfy-seal doctor [--worker | --client | --bridge] [--json] [options]

Says what is wrong before you burn GPU time. Each check prints ok / warn / fail and, when not ok, the fix.
Exit code 1 when any check fails.

  --worker           the image's checks: ComfyUI reachable and its version, ComfyUI reading the worker's input dir
                     (a probe file fetched back through /view), the dirs on a RAM disk and writable, ENCRYPTION_KEY
                     valid, every MODELS entry present and verified, free disk and /dev/shm, SQLAlchemy >= 2
                     (the default inside the image, i.e. when /comfyui or RUNPOD_POD_ID exists)
  --client           your machine's checks: key valid, endpoint reachable with RUNPOD_API_KEY, its workers and queue,
                     and a sealed ping: proves the endpoint holds your key and says whether its ComfyUI answers
  --bridge           the checks for 'comfy-seal bridge' with its flags: the client's, then node definitions, web UI,
                     base directory, port ('comfy-seal doctor --bridge --help')
  --endpoint ID      (client) endpoint id (default: $RUNPOD_ENDPOINT_ID)
  --api-url URL      (client) API base (default: $RUNPOD_API_URL or https://api.runpod.ai/v2)
  --api-key KEY      (client) RunPod API key (default: $RUNPOD_API_KEY)
${keyHelp(21)}
  --comfy-url URL    (worker) ComfyUI's address (default: $COMFY_URL or http://127.0.0.1:8188)
  --input-dir D, --output-dir D, --temp-dir D
                     (worker) the worker's dirs (default: $COMFY_SEAL_INPUT_DIR... or /dev/shm/comfy-seal/...)
  --blob-url URL     (client) s3://BUCKET/PREFIX to check: put, presigned get, delete (default: $COMFY_SEAL_BLOB_URL)
  --models-dir DIR   (worker) ComfyUI's models dir (default: $COMFY_MODELS_DIR or /comfyui/models)
  --json             one JSON object: {"ok": bool, "checks": [...]}
  -h, --help         this help
`;

export const command: Command = async (argv, io) => {
  if (argv.includes('--bridge')) {
    const { bridgeDoctor } = await import('../bridge/doctor.js');
    const asked = await bridgeDoctor(argv.filter((a) => a !== '--bridge'), io);
    return asked ? report(await runChecks(asked.checks), asked.json, 'bridge', io) : 0;
  }
  const { values } = parseCommandArgs(argv, {
    worker: { type: 'boolean' },
    client: { type: 'boolean' },
    endpoint: { type: 'string' },
    'api-url': { type: 'string' },
    'api-key': { type: 'string' },
    ...KEY_OPTIONS,
    'comfy-url': { type: 'string' },
    'input-dir': { type: 'string' },
    'output-dir': { type: 'string' },
    'temp-dir': { type: 'string' },
    'blob-url': { type: 'string' },
    'models-dir': { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    io.stdout.write(HELP);
    return 0;
  }
  const worker = values.worker ?? (!values.client && (existsSync('/comfyui') || Boolean(io.env.RUNPOD_POD_ID)));
  let checks;
  if (worker) {
    const [{ workerChecks }, { resolveConfig }, { modelChecks }] = await Promise.all([
      import('../handler/doctor.js'),
      import('../handler/config.js'),
      import('../handler/models/doctor.js'),
    ]);
    const flags = { key: values.key, 'key-file': values['key-file'], 'comfy-url': values['comfy-url'], 'input-dir': values['input-dir'], 'output-dir': values['output-dir'], 'temp-dir': values['temp-dir'] };
    const config = resolveConfig(flags, io.env, { requireKey: false });
    const modelsDir = values['models-dir'] ?? io.env.COMFY_MODELS_DIR ?? '/comfyui/models';
    checks = workerChecks({ config, python: io.env.COMFY_PYTHON ?? 'python3', modelsDir, command: invokedAs(io) }, modelChecks(io.env, modelsDir));
  } else {
    const key = keyFromFlags(values);
    const { clientChecks } = await import('../client/doctor.js');
    checks = clientChecks({
      env: io.env,
      command: invokedAs(io),
      ...(values.endpoint ? { endpointId: values.endpoint } : {}),
      ...(values['api-url'] ? { apiUrl: values['api-url'] } : {}),
      ...(values['api-key'] ? { apiKey: values['api-key'] } : {}),
      ...(key ? { key } : {}),
      ...(values['blob-url'] ? { blobUrl: values['blob-url'] } : {}),
    });
  }
  return report(await runChecks(checks), Boolean(values.json), worker ? 'worker' : 'client', io);
};

function report(results: CheckResult[], json: boolean, side: string, io: CommandIo): number {
  const ok = !hasFailure(results);
  io.stdout.write(json ? `${JSON.stringify({ ok, side, checks: results })}\n` : `${renderChecks(results)}\n`);
  return ok ? 0 : 1;
}
