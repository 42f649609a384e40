import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

export interface CliRun {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

/** Runs the BUILT bin (`npm test` builds first), as a user would, with stdin and env of the test's choosing. */
export function runCli(args: string[], options: { stdin?: string | Buffer; env?: NodeJS.ProcessEnv; script?: string } = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    // `script`: the bin by another path (a symlink named comfy-seal, as a global install has).
    const child = spawn(process.execPath, [options.script ?? CLI, ...args], {
      env: { PATH: process.env.PATH, ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8') }));
    child.stdin.end(options.stdin ?? '');
  });
}

/**
 * Starts the built bin's `run` and SIGKILLs it as soon as it says which job it submitted, as a user's crash would:
 * resolves with that job id and what it had printed.
 */
export async function killRunOnceSubmitted(args: string[], env: NodeJS.ProcessEnv): Promise<{ jobId: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI, 'run', ...args], { env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  const jobId = await new Promise<string>((resolve) => {
    child.stderr.setEncoding('utf8').on('data', (c: string) => {
      stderr += c;
      const m = /submitted job (\S+)/.exec(stderr);
      if (m) resolve(m[1]!);
    });
  });
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  return { jobId, stderr };
}
