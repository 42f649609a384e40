/** Spawns the built bin as a long-running service and resolves with the first loopback URL it prints. */
import { spawn, type ChildProcess } from 'node:child_process';
import { CLI } from './cli.js';

export interface Service {
  child: ChildProcess;
  url: string;
  output: () => string;
  stop(): Promise<number | null>;
}

export function startService(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Service> {
  const child = spawn(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (text += c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (text += c));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`service did not start:\n${text}`)), 20_000);
    const check = () => {
      const url = /(http:\/\/127\.0\.0\.1:\d+)/.exec(text)?.[1];
      if (!url) return;
      clearTimeout(timer);
      child.stdout!.off('data', check);
      resolve({
        child,
        url,
        output: () => text,
        stop: () =>
          new Promise((done) => {
            if (child.exitCode !== null) return done(child.exitCode);
            child.once('exit', (code) => done(code));
            child.kill('SIGTERM');
          }),
      });
    };
    child.stdout!.on('data', check);
    child.once('exit', (code) => reject(new Error(`service exited (${code}):\n${text}`)));
  });
}
