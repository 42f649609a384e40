#!/usr/bin/env node
/**
 * The one `comfy-seal` executable. Each command's module is imported only when that command runs, so the SDK side
 * (`run`, `seal`, `open`) never loads the worker or the simulator.
 */
import { readFileSync } from 'node:fs';
import { EXIT_FAILED, EXIT_USAGE, UsageError, type Command, type CommandIo } from '../shared/cli.js';
import { SealError } from '../shared/errors.js';

interface Entry {
  summary: string;
  load: () => Promise<{ command: Command }>;
  /** The command stops cleanly on io.signal; others keep the default SIGINT/SIGTERM behaviour (exit at once). */
  handlesSignals?: boolean;
}

const COMMANDS: Record<string, Entry> = {
  keygen: { summary: 'print a new Fernet key', load: () => import('../client/cli/keygen.js') },
  seal: { summary: 'encrypt stdin to a Fernet token on stdout', load: () => import('../client/cli/seal.js') },
  open: { summary: 'decrypt a token (or a RunPod /status JSON) from stdin', load: () => import('../client/cli/open.js') },
  run: { summary: 'seal a workflow, run it on your endpoint, write the results', load: () => import('../client/cli/run.js'), handlesSignals: true },
  nodes: { summary: "fetch and cache your endpoint's node definitions", load: () => import('../client/cli/nodes.js') },
  check: { summary: 'check a workflow against the node definitions', load: () => import('../client/cli/check.js') },
  convert: { summary: 'print a workflow (UI, PNG, WebP or API) in API format', load: () => import('../client/cli/convert.js') },
  cancel: { summary: 'cancel a job on your endpoint', load: () => import('../client/cli/cancel.js') },
  deploy: { summary: 'create or update your RunPod endpoint (REST API v2)', load: () => import('../client/cli/deploy.js') },
  worker: { summary: 'the RunPod worker (--local: a local endpoint API)', load: () => import('../handler/cli.js'), handlesSignals: true },
  models: { summary: 'sync MODELS from Hugging Face or URLs (start.sh runs it)', load: () => import('../handler/models/cli.js'), handlesSignals: true },
  doctor: { summary: 'check the setup (inside the image, or your machine)', load: () => import('./doctor.js') },
  bridge: { summary: "ComfyUI's API here, every prompt sealed and run on your endpoint", load: () => import('../bridge/cli.js'), handlesSignals: true },
  simulator: { summary: 'run the ComfyUI simulator', load: () => import('../simulator/cli.js'), handlesSignals: true },
};

const HELP = `Usage: comfy-seal <command> [options]

Commands:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`)
  .join('\n')}

Run 'comfy-seal <command> --help' (or 'comfy-seal help <command>') for a command's options;
'comfy-seal --version' prints the version.
`;

/** The package's version, from the package.json beside dist/ (and beside cli/ in the source tree). */
function version(): string {
  return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

export async function main(argv: string[], io: CommandIo, onSignal?: () => void): Promise<number> {
  if (argv[0] === '--version' || argv[0] === '-v') {
    io.stdout.write(`${version()}\n`);
    return 0;
  }
  // `help run` is `run --help`.
  const [name, ...rest] = argv[0] === 'help' && argv.length > 1 ? [argv[1]!, '--help'] : argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(HELP);
    return name === undefined ? EXIT_USAGE : 0;
  }
  const entry = COMMANDS[name];
  if (!entry) {
    io.stderr.write(`comfy-seal: unknown command '${name}'\n\n${HELP}`);
    return EXIT_USAGE;
  }
  try {
    const { command } = await entry.load();
    if (entry.handlesSignals) onSignal?.();
    return await command(rest, io);
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr.write(`comfy-seal ${name}: ${error.message} (see 'comfy-seal ${name} --help')\n`);
      return EXIT_USAGE;
    }
    if (error instanceof SealError) {
      // Our messages never carry user data (shared/errors.ts), so they are safe to print.
      io.stderr.write(`comfy-seal ${name}: ${error.code}: ${error.message}\n`);
      return EXIT_FAILED;
    }
    throw error;
  }
}

const controller = new AbortController();
const io: CommandIo = { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env, signal: controller.signal, ...(process.argv[1] ? { script: process.argv[1] } : {}) };
const trapSignals = () => {
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => controller.abort(sig));
};
main(process.argv.slice(2), io, trapSignals).then(
  (code) => {
    // Exit once the output is flushed: a library's leftover timer (runpod-sdk's request timeout is not cleared when
    // a connection fails) must not hold a finished command for 30 s.
    process.exitCode = code;
    process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
  },
  (error: unknown) => {
    // A bug, not bad input: report it without echoing anything that could carry user data.
    const code = (error as { code?: unknown })?.code;
    process.stderr.write(`comfy-seal: unexpected ${typeof code === 'string' ? code : 'error'}; please report this\n`);
    if (io.env.COMFY_SEAL_DEBUG_STACK === '1' && error instanceof Error) process.stderr.write(`${error.stack}\n`);
    process.exitCode = 1;
    process.stdout.write('', () => process.stderr.write('', () => process.exit(1)));
  },
);
