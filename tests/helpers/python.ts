/** Finds a python3 that can import `module`: `cryptography` for the Fernet interop tests, `websocket` (websocket-client) for the Python ComfyUI client. */
import { spawnSync } from 'node:child_process';

export function findPython(module = 'cryptography.fernet'): string | null {
  const candidates = [process.env.PYTHON, 'python3', '/usr/bin/python3'].filter((c): c is string => !!c);
  for (const python of candidates) {
    const r = spawnSync(python, ['-c', `import ${module}`], { stdio: 'ignore' });
    if (r.status === 0) return python;
  }
  return null;
}
