import { Fernet } from '../../shared/fernet.js';
import { parseCommandArgs, type Command } from '../../shared/cli.js';

const HELP = `Usage: comfy-seal keygen

Prints a new Fernet key (url-safe base64 of 32 random bytes) on stdout.
Use it as ENCRYPTION_KEY on the endpoint and on the client. Several keys, comma-separated, rotate:
the first encrypts, all of them decrypt.
`;

export const command: Command = async (argv, io) => {
  const { values } = parseCommandArgs(argv, { help: { type: 'boolean', short: 'h' } });
  if (values.help) {
    io.stdout.write(HELP);
    return 0;
  }
  io.stdout.write(`${Fernet.generateKey()}\n`);
  return 0;
};
