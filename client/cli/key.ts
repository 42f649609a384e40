import { Fernet } from '../../shared/fernet.js';
import { UsageError } from '../../shared/cli.js';
import { keyFromFlags, type KeyFlags } from '../../shared/key-flags.js';

/** The key for a command: `--key` / `--key-file` win over ENCRYPTION_KEY (one key or a comma-separated list). */
export function fernetFrom(flags: KeyFlags, env: NodeJS.ProcessEnv): Fernet {
  const key = keyFromFlags(flags) ?? env.ENCRYPTION_KEY;
  if (key === undefined || key.trim() === '') {
    throw new UsageError("no key: set ENCRYPTION_KEY or pass --key-file FILE (make one with 'comfy-seal keygen')");
  }
  return new Fernet(key);
}
