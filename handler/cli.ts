/** `comfy-seal worker`: the RunPod worker, or with --local a RunPod-compatible endpoint API on loopback. */
import { randomUUID } from 'node:crypto';
import { intFlag, parseCommandArgs, UsageError, type Command } from '../shared/cli.js';
import { systemClock } from './clock.js';
import { jobConfigOf, resolveConfig, settingArgs, settingsHelp } from './config.js';
import { parseAllowedOrigins } from './local/guard.js';
import { DEFAULT_MAX_QUEUE, startLocalApi } from './local/server.js';
import { createLogger } from './log.js';
import { Pipeline } from './pipeline.js';
import { Platform } from './runpod/platform.js';
import { runWorkerLoop } from './runpod/worker.js';

const HELP = `Usage: comfy-seal worker [--local [--port 8000] [--host 127.0.0.1]] [options]

Runs the sealed job pipeline next to ComfyUI.
  on RunPod (RUNPOD_WEBHOOK_GET_JOB set): takes jobs with RunPod's worker protocol;
  --local: serves a RunPod-compatible endpoint API (/{endpoint}/run, /runsync, /status/{id}, /stream/{id},
           /cancel/{id}, /health, /purge-queue) for development, e.g. runpod-sdk with baseUrl http://127.0.0.1:8000.

Options (flag, then its environment variable; flags win):
  --local              serve the local endpoint API instead of taking RunPod jobs
  --port N             local API port (default: 8000)
  --host H             local API address (default: 127.0.0.1)
  --allow-origin URL   a web page origin (e.g. http://localhost:5173) that may call the local API; repeat or
                       comma-separate. Requests with any other Origin, or a Host that is not localhost, 127.x or
                       [::1], are refused (403): other pages you visit cannot reach your endpoint
  --max-queue N        local API: jobs waiting before /run answers 429 (default: ${DEFAULT_MAX_QUEUE})
${settingsHelp()}
  -h, --help           this help

RunPod variables read in worker mode: RUNPOD_WEBHOOK_GET_JOB, RUNPOD_WEBHOOK_POST_OUTPUT, RUNPOD_WEBHOOK_PING,
RUNPOD_AI_API_KEY, RUNPOD_POD_ID, RUNPOD_PING_INTERVAL (ms, default 10000), RUNPOD_ENDPOINT_ID (JSON log lines).
`;

export const command: Command = async (argv, io) => {
  const { values } = parseCommandArgs(argv, {
    ...settingArgs(),
    local: { type: 'boolean' },
    port: { type: 'string' },
    host: { type: 'string' },
    'allow-origin': { type: 'string', multiple: true },
    'max-queue': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    io.stdout.write(HELP);
    return 0;
  }
  const config = resolveConfig(values as Record<string, string | undefined>, io.env);
  const allowedOrigins = parseAllowedOrigins(values['allow-origin'] ?? []);
  const maxQueue = intFlag('max-queue', values['max-queue'], DEFAULT_MAX_QUEUE);
  if (maxQueue < 1) throw new UsageError('--max-queue must be at least 1 (jobs that may wait while one runs)');
  const log = createLogger({ json: Boolean(io.env.RUNPOD_ENDPOINT_ID), write: (line) => io.stdout.write(line) });

  const pingIntervalMs = intFlag('RUNPOD_PING_INTERVAL', io.env.RUNPOD_PING_INTERVAL || undefined, 10_000);
  let platform: Platform | null = null;
  if (!values.local) {
    const env = io.env;
    if (!env.RUNPOD_WEBHOOK_GET_JOB || !env.RUNPOD_WEBHOOK_POST_OUTPUT) {
      throw new UsageError('not on RunPod (RUNPOD_WEBHOOK_GET_JOB / RUNPOD_WEBHOOK_POST_OUTPUT unset); use --local for a local endpoint');
    }
    platform = new Platform({
      takeUrl: env.RUNPOD_WEBHOOK_GET_JOB,
      doneUrl: env.RUNPOD_WEBHOOK_POST_OUTPUT,
      pingUrl: env.RUNPOD_WEBHOOK_PING ?? '',
      apiKey: env.RUNPOD_AI_API_KEY ?? '',
      podId: env.RUNPOD_POD_ID || randomUUID(),
      pingIntervalMs,
    });
  }

  const pipeline = new Pipeline({
    comfyUrl: config.comfyUrl,
    key: config.key,
    job: jobConfigOf(config),
    log,
    ...(config.warmupWorkflow ? { warmup: { workflowPath: config.warmupWorkflow, required: config.warmupRequired } } : {}),
  });
  try {
    await pipeline.start(config.readyTimeoutS * 1000, io.signal);
    if (platform) {
      const end = await runWorkerLoop({ platform, runner: pipeline, log, clock: systemClock, pingIntervalMs }, io.signal);
      await platform.close();
      // Unhealthy: stopPod has been posted; a non-zero exit ends the container so RunPod replaces it.
      return end === 'unhealthy' ? 1 : 0;
    }
    const port = intFlag('port', values.port, 8000);
    const api = await startLocalApi({ runner: pipeline, port, maxQueue, allowedOrigins, ...(values.host ? { host: values.host } : {}) }).catch((error: unknown) => {
      const code = (error as NodeJS.ErrnoException)?.code;
      if (code === 'EADDRINUSE') throw new UsageError(`port ${port} is in use (another 'comfy-seal worker --local'?); choose another with --port N`);
      if (code === 'EACCES') throw new UsageError(`port ${port} needs privileges; choose one above 1023 with --port N`);
      if (code === 'EADDRNOTAVAIL') throw new UsageError(`--host ${values.host} is not an address of this machine`);
      throw error;
    });
    io.stdout.write(`comfy-seal local endpoint on ${api.url} (ComfyUI at ${config.comfyUrl})\n`);
    if (!io.signal.aborted) await new Promise((resolve) => io.signal.addEventListener('abort', resolve, { once: true }));
    await api.close();
    return 0;
  } finally {
    await pipeline.close();
  }
};
