/** A real pipeline against a real simulator on loopback, with temp dirs and a captured log. */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PNG } from 'pngjs';
import { DEFAULT_JOB_CONFIG, type JobConfig } from '../../handler/job.js';
import { createLogger } from '../../handler/log.js';
import { Pipeline } from '../../handler/pipeline.js';
import type { FileSystem } from '../../handler/storage.js';
import type { WarmupOptions } from '../../handler/warmup.js';
import { Fernet } from '../../shared/fernet.js';
import { startSimulator, type Simulator, type SimulatorOptions } from '../../simulator/index.js';

export interface Rig {
  sim: Simulator;
  pipeline: Pipeline;
  fernet: Fernet;
  key: string;
  logs: string[];
  root: string;
  /** Every file under the three dirs. */
  leftovers(): string[];
  close(): Promise<void>;
}

export function pngOf(width: number, height: number, fill: (x: number, y: number) => [number, number, number]): Buffer {
  const png = new PNG({ width, height });
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const [r, g, b] = fill(x, y);
      const i = (y * width + x) * 4;
      png.data[i] = r;
      png.data[i + 1] = g;
      png.data[i + 2] = b;
      png.data[i + 3] = 255;
    }
  return PNG.sync.write(png);
}

export function listFiles(dir: string): string[] {
  try {
    return readdirSync(dir, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => path.join(e.parentPath, e.name));
  } catch {
    return [];
  }
}

export async function startRig(
  options: { sim?: SimulatorOptions; job?: Partial<JobConfig>; fs?: FileSystem; key?: string; warmup?: WarmupOptions } = {},
): Promise<Rig> {
  const root = mkdtempSync(path.join(os.tmpdir(), 'cs-rig-'));
  const dirs = { input: path.join(root, 'input'), output: path.join(root, 'output'), temp: path.join(root, 'temp') };
  // The image starts ComfyUI with --disable-metadata, through the launcher that keeps its in-memory log empty (start.sh):
  // so does the rig.
  const sim = await startSimulator({ port: 0, stepMs: 1, disableMetadata: true, logCapacity: 0, inputDir: dirs.input, outputDir: dirs.output, tempDir: dirs.temp, ...options.sim });
  const key = options.key ?? Fernet.generateKey();
  const logs: string[] = [];
  const pipeline = new Pipeline({
    comfyUrl: sim.url,
    key,
    job: { ...DEFAULT_JOB_CONFIG, dirs, settleTimeoutMs: 5_000, settleQuietMs: 50, releaseTimeoutMs: 3_000, ...options.job },
    log: createLogger({ json: true, level: 'debug', write: (l) => logs.push(l) }),
    ...(options.fs ? { fs: options.fs } : {}),
    ...(options.warmup ? { warmup: options.warmup } : {}),
  });
  await pipeline.start(10_000);
  return {
    sim,
    pipeline,
    fernet: new Fernet(key),
    key,
    logs,
    root,
    leftovers: () => [...listFiles(dirs.input), ...listFiles(dirs.output), ...listFiles(dirs.temp)],
    close: async () => {
      await pipeline.close();
      await sim.close();
      rmSync(root, { recursive: true, force: true });
    },
  };
}
