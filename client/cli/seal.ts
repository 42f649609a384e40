import { parseCommandArgs, readAll, type Command } from '../../shared/cli.js';
import { parseBundle } from '../../shared/bundle.js';
import { KEY_OPTIONS, keyHelp } from '../../shared/key-flags.js';
import { fernetFrom } from './key.js';

const HELP = `Usage: comfy-seal seal [--key-file FILE] [--bundle] < plaintext > token

Encrypts stdin (any bytes) into one Fernet token on stdout.

Options:
${keyHelp(15, 'Fernet key(s); of several (comma-separated) the first encrypts')}
  --bundle     stdin is a bundle (JSON: workflow, images, options): check it against the contract first and print
               a RunPod request body {"input":{"encrypted_input":"<token>"}} instead of the bare token
  -h, --help   this help

Examples:
  echo -n hello | comfy-seal seal
  comfy-seal seal --bundle < bundle.json > request.json
`;

export const command: Command = async (argv, io) => {
  const { values } = parseCommandArgs(argv, {
    ...KEY_OPTIONS,
    bundle: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    io.stdout.write(HELP);
    return 0;
  }
  const fernet = fernetFrom(values, io.env);
  const input = await readAll(io.stdin);
  if (values.bundle) {
    parseBundle(input);
    io.stdout.write(`${JSON.stringify({ input: { encrypted_input: fernet.encrypt(input) } })}\n`);
  } else {
    io.stdout.write(`${fernet.encrypt(input)}\n`);
  }
  return 0;
};
