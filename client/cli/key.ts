import { Fernet } from '../../shared/fernet.js';
import { UsageError } from '../../shared/cli.js';

/** The key for a command: `--key` wins over ENCRYPTION_KEY (one key or a comma-separated list). */
export function fernetFrom(flag: string | undefined, env: NodeJS.ProcessEnv): Fernet {
  const key = flag ?? env.ENCRYPTION_KEY;
  if (key === undefined || key.trim() === '') {
    throw new UsageError("no key: set ENCRYPTION_KEY or pass --key (make one with 'comfy-seal keygen')");
  }
  return new Fernet(key);
}
