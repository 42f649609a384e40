/**
 * `comfy-seal doctor`: inside the image (or with --worker) the worker's checks; elsewhere (or with --client) the
 * user's. Lives in cli/ because it is the one command that knows both sides; each side's module is loaded lazily.
 */
import { existsSync } from 'node:fs';
import { parseCommandArgs, type Command } from '../shared/cli.js';
import { hasFailure, renderChecks, runChecks } from '../shared/checks.js';

const HELP = `Usage: comfy-seal doctor [--worker | --client] [--json] [options]

Says what is wrong before you burn GPU time. Each check prints ok / warn / fail and, when not ok, the fix.
Exit code 1 when any check fails.

  --worker           the image's checks: ComfyUI reachable and its version, the dirs on a RAM disk and writable,
                     ENCRYPTION_KEY valid, every MODELS entry present and verified, free disk and /dev/shm, SQLAlchemy >= 2
                     (the default inside the image, i.e. when /comfyui or RUNPOD_POD_ID exists)
  --client           your machine's checks: key valid, endpoint reachable with RUNPOD_API_KEY, its workers and queue
  --endpoint ID      (client) endpoint id (default: $RUNPOD_ENDPOINT_ID)
  --api-url URL      (client) API base (default: $RUNPOD_API_URL or https://api.runpod.ai/v2)
  --key KEY          Fernet key(s) (default: $ENCRYPTION_KEY)
  --blob-url URL     (client) s3://BUCKET/PREFIX to check: put, presigned get, delete (default: $COMFY_SEAL_BLOB_URL)
  --models-dir DIR   (worker) ComfyUI's models dir (default: $COMFY_MODELS_DIR or /comfyui/models)
  --json             one JSON object: {"ok": bool, "checks": [...]}
  -h, --help         this help
`;

export const command: Command = async (argv, io) => {
  const { values } = parseCommandArgs(argv, {
    worker: { type: 'boolean' },
    client: { type: 'boolean' },
    endpoint: { type: 'string' },
    'api-url': { type: 'string' },
    key: { type: 'string' },
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
    const config = resolveConfig(values.key ? { key: values.key } : {}, io.env, { requireKey: false });
    const modelsDir = values['models-dir'] ?? io.env.COMFY_MODELS_DIR ?? '/comfyui/models';
    checks = workerChecks({ config, python: io.env.COMFY_PYTHON ?? 'python3', modelsDir }, modelChecks(io.env, modelsDir));
  } else {
    const { clientChecks } = await import('../client/doctor.js');
    checks = clientChecks({
      env: io.env,
      ...(values.endpoint ? { endpointId: values.endpoint } : {}),
      ...(values['api-url'] ? { apiUrl: values['api-url'] } : {}),
      ...(values.key ? { key: values.key } : {}),
      ...(values['blob-url'] ? { blobUrl: values['blob-url'] } : {}),
    });
  }
  const results = await runChecks(checks);
  const ok = !hasFailure(results);
  io.stdout.write(values.json ? `${JSON.stringify({ ok, side: worker ? 'worker' : 'client', checks: results })}\n` : `${renderChecks(results)}\n`);
  return ok ? 0 : 1;
};
