/** What a simulated node can do while it runs: report progress, send previews, read inputs, write outputs. */
import type { Frame } from './images.js';

export interface Dirs {
  input: string;
  output: string;
  /** ComfyUI's temp dir itself (--temp-directory X gives X/temp). */
  temp: string;
}

export interface RunContext {
  promptId: string;
  nodeId: string;
  dirs: Dirs;
  /** One sampler step: sends progress (and a preview), waits the step time, stops if interrupted. */
  step(value: number, max: number, preview?: Frame): Promise<void>;
  /** A type 3 text frame for this node. */
  text(text: string): void;
  /** Writes a result file (possibly late and in chunks, when that fault is on). */
  writeOutput(file: string, data: Buffer): void;
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
