/** Finds a python3 that has `cryptography`, for the Fernet interop tests. */
import { spawnSync } from 'node:child_process';

export function findPython(): string | null {
  const candidates = [process.env.PYTHON, 'python3', '/usr/bin/python3'].filter((c): c is string => !!c);
  for (const python of candidates) {
    const r = spawnSync(python, ['-c', 'import cryptography.fernet'], { stdio: 'ignore' });
    if (r.status === 0) return python;
  }
  return null;
}
