/**
 * `--key KEY` and `--key-file FILE`, one way for every command that takes a key (seal, open, run, nodes, doctor, the
 * worker). A key on the command line is visible to every user of the machine (`ps`, /proc/PID/cmdline), so each help
 * says that ENCRYPTION_KEY or a file is safer.
 */
import { readFileSync } from 'node:fs';
import { UsageError } from './cli.js';

export const KEY_OPTIONS = {
  key: { type: 'string' },
  'key-file': { type: 'string' },
} as const;

export interface KeyFlags {
  key?: string | undefined;
  'key-file'?: string | undefined;
}

/**
 * The key the flags give: `--key`, or the contents of `--key-file` less one trailing newline (as `keygen > FILE`
 * leaves it); undefined when neither is given (ENCRYPTION_KEY then, by the caller's rule). Both at once, an unreadable
 * file or an empty one is a usage error (code CONFIG) saying what to do.
 */
export function keyFromFlags(flags: KeyFlags): string | undefined {
  const file = flags['key-file'];
  if (file === undefined) return flags.key;
  if (flags.key !== undefined) throw new UsageError('--key and --key-file were both given; give one (--key-file: a key on the command line shows in ps)');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw new UsageError(`--key-file ${file}: cannot read it (${code}); give a file that holds your key (make one with 'comfy-seal keygen > FILE')`, 'CONFIG');
  }
  const key = text.replace(/\r?\n$/, '');
  if (key.trim() === '') throw new UsageError(`--key-file ${file} is empty; put your key in it (make one with 'comfy-seal keygen > FILE')`, 'CONFIG');
  return key;
}

/**
 * The help lines of both flags, their descriptions starting at `column`; `meaning` says what the key does for the
 * command.
 */
export function keyHelp(column: number, meaning = 'Fernet key(s)'): string {
  const more = (text: string) => `${' '.repeat(column)}${text}`;
  // A name wider than its column gets the text on the next line, as the other options' help does.
  const flag = (name: string, text: string) => (name.length <= column - 3 ? `  ${name.padEnd(column - 3)} ${text}` : `  ${name}\n${more(text)}`);
  return [
    flag('--key KEY', `${meaning} (default: $ENCRYPTION_KEY)`),
    flag('--key-file FILE', 'the key read from FILE (one trailing newline ignored); $ENCRYPTION_KEY or a'),
    more("file is safer than --key, which every user of this machine can see in 'ps'"),
  ].join('\n');
}
