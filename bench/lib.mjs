// Shared bits of the bench scripts: medians, tables, a python with cryptography.
import { spawnSync } from 'node:child_process';

export function median(values) {
  const s = [...values].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function table(headers, rows) {
  const line = (cells) => `| ${cells.join(' | ')} |`;
  return [line(headers), line(headers.map(() => '---')), ...rows.map(line)].join('\n');
}

export function findPython() {
  for (const python of [process.env.PYTHON, 'python3', '/usr/bin/python3'].filter(Boolean)) {
    if (spawnSync(python, ['-c', 'import cryptography.fernet'], { stdio: 'ignore' }).status === 0) return python;
  }
  return null;
}

export const MB = 1024 * 1024;
export const fmt = (n, digits = 1) => (n === null || n === undefined ? 'skipped' : n.toFixed(digits));
