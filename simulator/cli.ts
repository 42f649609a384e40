/**
 * `comfy-seal simulator`: the ComfyUI simulator as a process. Takes its own flags and ComfyUI's own (--listen,
 * --input-directory, --output-directory, --temp-directory, --disable-metadata...), so start.sh can launch it in
 * ComfyUI's place unchanged.
 */
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { intFlag, parseCommandArgs, UsageError, type Command } from '../shared/cli.js';
import { PortInUseError, startSimulator } from './index.js';

/** The worker's own defaults (contract §8), so `comfy-seal simulator` and `comfy-seal worker --local` meet as they are. */
const DEFAULT_DIRS = {
  input: { flag: 'input-dir', env: 'COMFY_SEAL_INPUT_DIR', dir: '/dev/shm/comfy-seal/input' },
  output: { flag: 'output-dir', env: 'COMFY_SEAL_OUTPUT_DIR', dir: '/dev/shm/comfy-seal/output' },
  temp: { flag: 'temp-dir', env: 'COMFY_SEAL_TEMP_DIR', dir: '/dev/shm/comfy-seal/temp' },
} as const;

const HELP = `Usage: comfy-seal simulator [options]

A ComfyUI stand-in (HTTP + WebSocket, ComfyUI's routes and message order) for tests and demos without a GPU.

Options:
  --port N               port; 0 picks a free one (default: 8188)
  --host H               address (default: 127.0.0.1); also --listen H, as ComfyUI
  --input-dir D          where LoadImage reads; also --input-directory
                         (default: $COMFY_SEAL_INPUT_DIR, else /dev/shm/comfy-seal/input, as the worker)
  --output-dir D         where savers write; also --output-directory
                         (default: $COMFY_SEAL_OUTPUT_DIR, else /dev/shm/comfy-seal/output)
  --temp-dir D           the temp dir itself; --temp-directory X means X/temp, as ComfyUI
                         (default: $COMFY_SEAL_TEMP_DIR, else /dev/shm/comfy-seal/temp)
  --models-dir D         ComfyUI's models dir (checkpoints/, loras/, vae/...): the loaders list its files
                         (default: none, so their lists are empty, as a ComfyUI without models)
  --step-ms N            time per sampler step (default: 10)
  --log-capacity N       entries of ComfyUI's in-memory log (/internal/logs) kept (default: 300, as ComfyUI;
                         0 as the image's launcher starts ComfyUI)
Faults:
  --history-delay-ms N   delay between execution_success and the history write (default: 0)
  --slow-start-ms N      refuse connections for N ms after start (default: 0)
  --foreign-prompts N    queue N prompts of another client ahead of each submitted one (default: 0)
  --drop-after N         close a client's socket after N messages
  --error-at NODE        execution_error at this node id or class_type
  --hang-at NODE         never finish this node (until interrupted)
  --crash-at NODE        exit (status 1) when this node starts, as if ComfyUI died
  --late-outputs-ms N    write output files N ms after 'executed', in 4 chunks
  --slow-save-ms N       every file a saver writes takes N ms (in 4 chunks); savers ignore /interrupt, as ComfyUI's do
  --disable-metadata     savers embed neither the prompt nor the workflow (ComfyUI's flag)
Accepted and ignored (ComfyUI's): --disable-auto-launch --fast --dont-print-server
  -h, --help             this help
`;

export const command: Command = async (argv, io) => {
  const { values } = parseCommandArgs(argv, {
    port: { type: 'string' },
    host: { type: 'string' },
    listen: { type: 'string' },
    'input-dir': { type: 'string' },
    'input-directory': { type: 'string' },
    'output-dir': { type: 'string' },
    'output-directory': { type: 'string' },
    'temp-dir': { type: 'string' },
    'temp-directory': { type: 'string' },
    'models-dir': { type: 'string' },
    'step-ms': { type: 'string' },
    'log-capacity': { type: 'string' },
    'history-delay-ms': { type: 'string' },
    'slow-start-ms': { type: 'string' },
    'foreign-prompts': { type: 'string' },
    'drop-after': { type: 'string' },
    'error-at': { type: 'string' },
    'hang-at': { type: 'string' },
    'crash-at': { type: 'string' },
    'late-outputs-ms': { type: 'string' },
    'slow-save-ms': { type: 'string' },
    'disable-metadata': { type: 'boolean' },
    'disable-auto-launch': { type: 'boolean' },
    'dont-print-server': { type: 'boolean' },
    fast: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    io.stdout.write(HELP);
    return 0;
  }
  const lateMs = values['late-outputs-ms'] === undefined ? undefined : intFlag('late-outputs-ms', values['late-outputs-ms'], 0);
  const slowSaveMs = values['slow-save-ms'] === undefined ? undefined : intFlag('slow-save-ms', values['slow-save-ms'], 0);
  const given = {
    input: values['input-dir'] ?? values['input-directory'],
    output: values['output-dir'] ?? values['output-directory'],
    temp: values['temp-dir'] ?? (values['temp-directory'] ? path.join(values['temp-directory'], 'temp') : undefined),
  };
  const created: string[] = []; // removed again if the simulator cannot start
  const dirs = Object.fromEntries(
    (Object.keys(DEFAULT_DIRS) as Array<keyof typeof DEFAULT_DIRS>).map((key) => {
      const { flag, env, dir: fallback } = DEFAULT_DIRS[key];
      const dir = given[key] ?? (io.env[env] || fallback);
      try {
        const first = mkdirSync(dir, { recursive: true });
        if (first) created.push(first);
      } catch {
        throw new UsageError(`cannot create ${dir}; pass --${flag} D`);
      }
      return [key, dir];
    }),
  ) as Record<keyof typeof DEFAULT_DIRS, string>;
  const port = intFlag('port', values.port, 8188);
  const sim = await startSimulator({
    port,
    host: values.host ?? values.listen ?? '127.0.0.1',
    inputDir: dirs.input,
    outputDir: dirs.output,
    tempDir: dirs.temp,
    stepMs: intFlag('step-ms', values['step-ms'], 10),
    logCapacity: intFlag('log-capacity', values['log-capacity'], 300),
    historyDelayMs: intFlag('history-delay-ms', values['history-delay-ms'], 0),
    slowStartMs: intFlag('slow-start-ms', values['slow-start-ms'], 0),
    foreignPrompts: intFlag('foreign-prompts', values['foreign-prompts'], 0),
    disableMetadata: values['disable-metadata'] === true,
    ...(values['models-dir'] ? { modelsDir: values['models-dir'] } : {}),
    ...(values['drop-after'] ? { dropAfterMessages: intFlag('drop-after', values['drop-after'], 0) } : {}),
    faults: {
      ...(values['error-at'] ? { errorAt: values['error-at'] } : {}),
      ...(values['hang-at'] ? { hangAt: values['hang-at'] } : {}),
      ...(values['crash-at'] ? { crashAt: values['crash-at'] } : {}),
      ...(lateMs !== undefined ? { lateOutputs: { delayMs: lateMs, chunks: 4, chunkDelayMs: Math.max(1, Math.round(lateMs / 4)) } } : {}),
      ...(slowSaveMs !== undefined ? { slowSave: { fileMs: slowSaveMs } } : {}),
    },
    onCrash: () => {
      io.stderr.write('simulator: crash fault fired; exiting\n');
      process.exit(1);
    },
  }).catch((error: unknown) => {
    for (const dir of created.reverse()) rmSync(dir, { recursive: true, force: true });
    throw error instanceof PortInUseError ? new UsageError(error.message) : error;
  });
  io.stdout.write(`ComfyUI simulator on ${sim.url} (input ${sim.dirs.input}, output ${sim.dirs.output}, temp ${sim.dirs.temp})\n`);
  if (!io.signal.aborted) await new Promise((resolve) => io.signal.addEventListener('abort', resolve, { once: true }));
  await sim.close();
  return 0;
};
