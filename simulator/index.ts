/**
 * `comfy-seal/simulator`: a stand-in for ComfyUI's HTTP + WebSocket API, for testing code that drives ComfyUI without
 * a GPU. Routes, message shapes and ordering follow ComfyUI's own server (including the race where /history is still
 * empty right after `execution_success`), nodes really read and write files, and fault knobs break things on purpose.
 *
 * @example
 * import { startSimulator } from 'comfy-seal/simulator';
 * const sim = await startSimulator({ port: 0, stepMs: 5 });
 * // point your client at sim.url (http://127.0.0.1:PORT), then:
 * await sim.close();
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Faults } from './executor.js';
import { fileNodes } from './nodes/files.js';
import { imageNodes } from './nodes/image.js';
import { modelNodes } from './nodes/model.js';
import type { NodeDef } from './nodes/registry.js';
import { SimulatorServer, type RecordedCall } from './server.js';

export type { Faults } from './executor.js';
export type { RecordedCall } from './surface.js';

export interface SimulatorOptions {
  /** 0 picks a free port. @default 8188 */
  port?: number;
  /** @default 127.0.0.1 */
  host?: string;
  /** Where LoadImage reads. Created if missing. @default a new temp dir, removed by close() */
  inputDir?: string;
  /** Where savers write. @default a new temp dir */
  outputDir?: string;
  /** ComfyUI's temp dir itself (PreviewImage). @default a new temp dir */
  tempDir?: string;
  /** Time per sampler step, for progress and interrupts. @default 10 */
  stepMs?: number;
  /** Delay between execution_success and the history write, to make the race easy to hit. @default 0 */
  historyDelayMs?: number;
  /** Connections are refused for this long after start. @default 0 */
  slowStartMs?: number;
  /** Prompts of another client queued ahead of each POST /prompt. @default 0 */
  foreignPrompts?: number;
  /** A client's socket is closed after this many messages. */
  dropAfterMessages?: number;
  /** Node-level faults: execution_error, hang, crash at a node id or class_type; late, chunked output files. */
  faults?: Faults;
  /** Body limit for POST routes. @default 100 MB */
  maxUploadBytes?: number;
  /** ComfyUI's --disable-metadata: savers embed neither the prompt nor the workflow. @default false */
  disableMetadata?: boolean;
  /** ComfyUI's models dir, in its layout (checkpoints/, loras/, vae/, diffusion_models/ or unet/, text_encoders/ or
   * clip/...): the loaders' combos list its files, read afresh on each /object_info. @default none: empty lists */
  modelsDir?: string;
  /** Entries ComfyUI's in-memory log keeps (GET /internal/logs; exception texts included). 0 is what the image's
   * launcher (docker/comfyui-launch.py) makes of it: nothing kept or sent. @default 300, as ComfyUI */
  logCapacity?: number;
  /** Called when a crash fault fires. */
  onCrash?: () => void;
}

export interface Simulator {
  url: string;
  port: number;
  dirs: { input: string; output: string; temp: string };
  /** Every HTTP call received, in order. */
  calls: RecordedCall[];
  /** Change faults or timing while running. */
  settings: { stepMs: number; historyDelayMs: number; faults: Faults; foreignPrompts: number };
  /** Queue a prompt from another client now; returns its prompt id. */
  submitForeign(): string;
  /** Cut every socket and stop listening, as if ComfyUI's process died. */
  crash(): void;
  close(): Promise<void>;
}

/** The port is taken (another ComfyUI, or a simulator still running). */
export class PortInUseError extends Error {
  override readonly name = 'PortInUseError';
  constructor(readonly port: number) {
    super(`port ${port} is in use; pass --port N`);
  }
}

export const NODES: readonly NodeDef[] = [...fileNodes, ...imageNodes, ...modelNodes];

/** Temp dirs startSimulator made itself are removed when it closes (or fails to start); dirs it was given, never. */
export const SCRATCH_PREFIX = 'comfy-sim-';

export async function startSimulator(options: SimulatorOptions = {}): Promise<Simulator> {
  const made: string[] = [];
  const scratch = () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), SCRATCH_PREFIX));
    made.push(dir);
    return dir;
  };
  const removeMade = () => {
    for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
  };
  const dirs = {
    input: options.inputDir ?? scratch(),
    output: options.outputDir ?? scratch(),
    temp: options.tempDir ?? path.join(scratch(), 'temp'),
  };
  for (const dir of Object.values(dirs)) mkdirSync(dir, { recursive: true });
  const server = new SimulatorServer(
    {
      host: options.host ?? '127.0.0.1',
      port: options.port ?? 8188,
      dirs,
      stepMs: options.stepMs ?? 10,
      historyDelayMs: options.historyDelayMs ?? 0,
      slowStartMs: options.slowStartMs ?? 0,
      foreignPrompts: options.foreignPrompts ?? 0,
      dropAfterMessages: options.dropAfterMessages,
      faults: options.faults ?? {},
      maxUploadBytes: options.maxUploadBytes ?? 100 * 1024 * 1024,
      disableMetadata: options.disableMetadata ?? false,
      modelsDir: options.modelsDir,
      logCapacity: options.logCapacity ?? 300,
      title: 'ComfyUI simulator',
      recordCalls: true,
      loopbackHostOnly: false,
      ...(options.onCrash ? { onCrash: options.onCrash } : {}),
    },
    new Map(NODES.map((n) => [n.name, n])),
  );
  try {
    await server.listen();
  } catch (error) {
    removeMade();
    if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
    throw new PortInUseError(options.port ?? 8188);
  }
  const host = server.settings.host;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${server.port}`,
    port: server.port,
    dirs,
    calls: server.calls,
    settings: server.settings,
    submitForeign: () => server.submitForeign(),
    crash: () => server.crash(),
    close: async () => {
      await server.close();
      removeMade();
    },
  };
}
