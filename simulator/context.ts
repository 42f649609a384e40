/** What a simulated node can do while it runs: report progress, send previews, read inputs, write outputs. */
import type { Frame } from './images.js';

export interface Dirs {
  input: string;
  output: string;
  /** ComfyUI's temp dir itself (--temp-directory X gives X/temp). */
  temp: string;
}

/** What savers embed (ComfyUI's hidden PROMPT and EXTRA_PNGINFO inputs); null under --disable-metadata. */
export interface SaveMetadata {
  prompt: unknown;
  extraPnginfo?: Record<string, unknown>;
}

export interface RunContext {
  promptId: string;
  nodeId: string;
  dirs: Dirs;
  metadata: SaveMetadata | null;
  /** One sampler step: progress (and a latent preview, unless previews are off), the step time; stops if interrupted. */
  step(value: number, max: number, preview?: Frame): Promise<void>;
  /** Progress with an image of the node's own (SaveImageWebsocket): never interrupts, always sent. */
  progress(value: number, max: number, image: { format: 'PNG' | 'JPEG'; bytes: Buffer }): void;
  /** Writes a result file; slow or late and in chunks when those faults are on. Never looks at the interrupt flag. */
  writeOutput(file: string, data: Buffer): Promise<void>;
}

/** Thrown inside a node when the prompt is interrupted. */
export class Interrupted extends Error {
  override readonly name = 'InterruptProcessingException';
  constructor() {
    super('interrupted');
  }
}

/** A node failure the way ComfyUI reports it (exception_type / exception_message). */
export class NodeFailure extends Error {
  constructor(
    readonly exceptionType: string,
    message: string,
  ) {
    super(message);
  }
}
