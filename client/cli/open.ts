import { parseCommandArgs, readAll, type Command } from '../../shared/cli.js';
import { openError } from '../../shared/envelope.js';
import { SealError } from '../../shared/errors.js';
import type { Fernet } from '../../shared/fernet.js';
import { KEY_OPTIONS, keyHelp } from '../../shared/key-flags.js';
import { fernetFrom } from './key.js';

const HELP = `Usage: comfy-seal open [--key-file FILE] < token-or-json

Decrypts what is on stdin and prints the plaintext (pretty-printed when it is JSON). Stdin may be:
  - a bare Fernet token;
  - a RunPod /status (or /runsync) response: the result, progress or error it holds is opened;
  - an output, progress or error object ({"encrypted_output"}, {"encrypted_progress"}, {"code","encrypted_error"});
  - a request body or job input ({"input":{"encrypted_input"}}, {"encrypted_input"}).

Options:
${keyHelp(15, 'Fernet key(s); each of several (comma-separated) is tried')}
  -h, --help   this help

Examples:
  curl -s -H "Authorization: Bearer $RUNPOD_API_KEY" https://api.runpod.ai/v2/$EP/status/$JOB | comfy-seal open
  comfy-seal open < token.txt > bundle.json
`;

const TOKEN_FIELDS = ['encrypted_output', 'encrypted_progress', 'encrypted_input'] as const;

type Found = { token: string } | { error: unknown } | null;

/** Where the sealed part of a pasted JSON document is. */
function locate(value: unknown): Found {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return null;
  const v = value as Record<string, unknown>;
  for (const field of TOKEN_FIELDS) if (typeof v[field] === 'string') return { token: v[field] as string };
  if (typeof v.encrypted_error === 'string' || (typeof v.code === 'string' && typeof v.message === 'string')) return { error: v };
  if (v.error !== undefined && v.error !== null && v.error !== '') return { error: v.error };
  return locate(v.output) ?? locate(v.input);
}

function printPlaintext(bytes: Buffer, io: Parameters<Command>[1]): void {
  const text = bytes.toString('utf8');
  try {
    io.stdout.write(`${JSON.stringify(JSON.parse(text), null, 2)}\n`);
  } catch {
    io.stdout.write(bytes);
  }
}

function openDocument(text: string, fernet: Fernet, io: Parameters<Command>[1]): void {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new SealError('BAD_INPUT', 'stdin starts like JSON but is not valid JSON');
  }
  const found = locate(doc);
  if (found === null) {
    const status = (doc as { status?: unknown }).status;
    throw new SealError(
      'BAD_INPUT',
      typeof status === 'string' ? `nothing sealed to open: the job is ${status}` : 'no Fernet token or sealed error found in the JSON',
    );
  }
  if ('token' in found) {
    printPlaintext(fernet.decrypt(found.token), io);
    return;
  }
  const error = openError(found.error, fernet);
  io.stdout.write(`${JSON.stringify({ code: error.code, message: error.message, details: error.details }, null, 2)}\n`);
}

export const command: Command = async (argv, io) => {
  const { values } = parseCommandArgs(argv, { ...KEY_OPTIONS, help: { type: 'boolean', short: 'h' } });
  if (values.help) {
    io.stdout.write(HELP);
    return 0;
  }
  const fernet = fernetFrom(values, io.env);
  const text = (await readAll(io.stdin)).toString('utf8').trim();
  if (text.startsWith('{')) openDocument(text, fernet, io);
  else printPlaintext(fernet.decrypt(text), io);
  return 0;
};
