/**
 * What every `comfy-seal` command shares: its I/O (injected, so commands run in tests without a process), argument
 * parsing that refuses unknown flags, and exit codes (0 ok, 1 the work failed, 2 usage).
 */
import path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';

export interface CommandIo {
  stdin: NodeJS.ReadableStream;
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
  /** Aborted on SIGINT/SIGTERM by the bin; long-running commands stop cleanly on it. */
  signal: AbortSignal;
  /** The bin's path as it was started (process.argv[1]), for printing commands the way the user runs them. */
  script?: string;
}

export type Command = (argv: string[], io: CommandIo) => Promise<number>;

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

/** A mistake on the command line (or a missing setting, code CONFIG): printed with a pointer to --help, exit 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  constructor(
    message: string,
    /** For `--json` reports. */
    readonly code: 'USAGE' | 'CONFIG' = 'USAGE',
  ) {
    super(message);
  }
}

/** A word as a POSIX shell reads it back: quoted only when it has to be. */
const shellWord = (word: string) => (/^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", "'\\''")}'`);

/**
 * How the user started this CLI, to print commands they can paste (`<this> cancel JOB_ID`): `npx comfy-seal` under
 * npx or an npm script (the bin is on PATH only for that run), `comfy-seal` for an installed bin (a global install,
 * the image's), else the bin as started (`node dist/cli.js`, `node_modules/.bin/comfy-seal`). Every printed command
 * uses this.
 */
export function invokedAs(io: Pick<CommandIo, 'env' | 'script'>, cwd = process.cwd()): string {
  const { env, script } = io;
  if (env.npm_command === 'exec' || env.npm_lifecycle_event) return 'npx comfy-seal';
  if (!script) return 'comfy-seal';
  const relative = path.relative(cwd, script);
  const shown = relative && !relative.startsWith('..') && !path.isAbsolute(relative) ? relative : script;
  if (path.basename(script) === 'comfy-seal') {
    // A project's node_modules/.bin is not on PATH outside npm; a global install's bin dir (or the image's) is.
    const projectBin = path.basename(path.dirname(script)) === '.bin' && path.basename(path.dirname(path.dirname(script))) === 'node_modules';
    return projectBin ? shellWord(shown.includes(path.sep) ? shown : `./${shown}`) : 'comfy-seal';
  }
  return `node ${shellWord(shown)}`;
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** Edit distance (insertions, deletions, substitutions), for "did you mean". */
function distance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length]!;
}

/** The known flag closest to a mistyped one, when one is close enough to be what was meant. */
export function closestFlag(given: string, known: readonly string[]): string | undefined {
  const ranked = known.map((k) => ({ k, d: distance(given, k) })).sort((x, y) => x.d - y.d);
  const best = ranked[0];
  return best && best.d <= Math.max(1, Math.floor(given.length / 4)) + (given.length > 5 ? 1 : 0) ? best.k : undefined;
}

/**
 * `--key -Abc…` → `--key=-Abc…`: a value that starts with a dash (one key in 64 does; a prompt may) belongs to the
 * string flag before it, unless it is itself one of the command's flags (then the value is missing, and parseArgs says so).
 */
function joinDashValues(argv: string[], options: Options): string[] {
  const flags = new Set(Object.entries(options).flatMap(([name, o]) => [`--${name}`, ...(o.short ? [`-${o.short}`] : [])]));
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') return [...out, ...argv.slice(i)];
    const next = argv[i + 1];
    const name = /^--([^=]+)$/.exec(arg)?.[1];
    if (name !== undefined && options[name]?.type === 'string' && next !== undefined && next.startsWith('-') && !flags.has(next.split('=')[0]!)) {
      out.push(`${arg}=${next}`);
      i++;
    } else out.push(arg);
  }
  return out;
}

/**
 * node:util parseArgs, strict, with a message that says which flag was wrong (and which was likely meant). A flag
 * that takes one value refuses to be given twice: the second would silently replace the first.
 */
export function parseCommandArgs<T extends Options>(argv: string[], options: T, allowPositionals = false) {
  let parsed;
  try {
    parsed = parseArgs({ args: joinDashValues(argv, options), options, strict: true, allowPositionals, tokens: true });
  } catch (error) {
    const text = error instanceof Error ? error.message.replace(/\. To specify .*$/s, '') : String(error);
    const unknown = /^Unknown option '--([^']+)'/.exec(text)?.[1];
    const meant = unknown === undefined ? undefined : closestFlag(unknown, Object.keys(options));
    throw new UsageError(meant ? `${text}; did you mean --${meant}?` : text);
  }
  const seen = new Set<string>();
  for (const token of parsed.tokens) {
    if (token.kind !== 'option' || options[token.name]?.type !== 'string' || options[token.name]?.multiple) continue;
    if (seen.has(token.name)) throw new UsageError(`--${token.name} was given twice; give it once`);
    seen.add(token.name);
  }
  return { values: parsed.values, positionals: parsed.positionals };
}

export async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks);
}

/** Parses a non-negative integer flag value, naming the flag when it is not one. */
export function intFlag(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`--${name} must be a non-negative integer`);
  return n;
}
