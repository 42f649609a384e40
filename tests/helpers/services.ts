/** Spawns the built bin as a long-running service and resolves with the first loopback URL it prints. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startSimulator, type Simulator, type SimulatorOptions } from '../../simulator/index.js';
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

export interface LocalStack {
  sim: Simulator;
  worker: Service;
  /** A temp folder for the test's files; the simulator's dirs are inside it. */
  work: string;
  /** What `comfy-seal run` needs to reach the worker. */
  env(): NodeJS.ProcessEnv;
  /** Stops the worker (resolving with its exit code), then the simulator, and removes `work`. */
  close(): Promise<number | null>;
}

/** The simulator in-process and the built `comfy-seal worker --local` against it, dirs in a fresh temp folder. */
export async function startLocalStack(key: string, simOptions: Partial<SimulatorOptions> = {}, workerEnv: NodeJS.ProcessEnv = {}): Promise<LocalStack> {
  const work = mkdtempSync(path.join(os.tmpdir(), 'cs-stack-'));
  const dirs = { inputDir: path.join(work, 'in'), outputDir: path.join(work, 'out'), tempDir: path.join(work, 'tmp', 'temp') };
  // The image starts ComfyUI with --disable-metadata (start.sh): so does this stack.
  const sim = await startSimulator({ port: 0, stepMs: 5, disableMetadata: true, ...dirs, ...simOptions });
  const worker = await startService(
    ['worker', '--local', '--port', '0', '--comfy-url', sim.url, '--input-dir', dirs.inputDir, '--output-dir', dirs.outputDir, '--temp-dir', dirs.tempDir],
    { ENCRYPTION_KEY: key, ...workerEnv },
  );
  return {
    sim,
    worker,
    work,
    env: () => ({ ENCRYPTION_KEY: key, RUNPOD_API_URL: worker.url, RUNPOD_ENDPOINT_ID: 'e2e' }),
    close: async () => {
      const code = await worker.stop();
      await sim.close();
      rmSync(work, { recursive: true, force: true });
      return code;
    },
  };
}
