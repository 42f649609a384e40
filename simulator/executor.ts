/**
 * Runs one prompt the way ComfyUI's execution.py does: nodes in ExecutionList order (order.ts), cached nodes skipped
 * (but cached output nodes still report `executed` with their old UI), events in ComfyUI's order with a
 * `progress_state` of every node seen so far, the interrupt flag looked at only inside sampler steps and between nodes,
 * errors as execution_error. The cache is keyed by each node's input signature, like ComfyUI's classic cache.
 */
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Interrupted, NodeFailure, type Dirs, type RunContext, type SaveMetadata } from './context.js';
import { encodeJpeg, hashOf, noiseFrame } from './images.js';
import type { NodeDef, NodeResult } from './nodes/registry.js';
import { executionOrder } from './order.js';
import type { Prompt } from './validate.js';
import type { Value } from './values.js';

export interface Faults {
  /** Node id or class_type where execution_error is raised. */
  errorAt?: string;
  /** Node id or class_type that never finishes (until interrupted). */
  hangAt?: string;
  /** Node id or class_type where the process "dies": sockets cut, server gone. */
  crashAt?: string;
  /** Output files written after `executed`, late and in chunks. */
  lateOutputs?: { delayMs: number; chunks: number; chunkDelayMs: number };
  /** Every file a saver writes takes `fileMs`, written in a few chunks; savers never look at the interrupt flag. */
  slowSave?: { fileMs: number };
  /** POST /free fails (500) and sets no flag: the cache stays. */
  freeFails?: boolean;
  /** Sampler previews become noise pictures of `px` × `px` (a JPEG of ~125 KB at 300 px): for size limits. */
  largePreviews?: { px: number };
}

export type Audience = 'submitter' | 'submitter-or-all';

export interface Emit {
  (type: string, data: Record<string, unknown>, audience: Audience): void;
  /** A preview frame: `metadata` clients get type 4 (sent before `progress`), the others type 1 (after it). */
  preview(image: Buffer, format: 'PNG' | 'JPEG', nodeId: string, to: 'metadata' | 'legacy'): void;
}

export interface RunOptions {
  /** `extra_data.preview_method: "none"` turns latent previews off for the prompt. */
  previews: boolean;
  metadata: SaveMetadata | null;
}

type Messages = Array<[string, Record<string, unknown>]>;

export type Outcome =
  | { status: 'success' | 'error' | 'interrupted'; outputs: Record<string, Record<string, unknown>>; messages: Messages }
  | { status: 'crashed' };

interface CacheEntry {
  outputs: Value[];
  ui?: Record<string, unknown>;
}

type State = 'running' | 'finished';

const matches = (spec: string | undefined, id: string, classType: string) => spec !== undefined && (spec === id || spec === classType);
/** Chunks a slow saver writes each file in. */
const SLOW_CHUNKS = 4;

export class Executor {
  /** Signature → result, for the nodes of the previous prompt (ComfyUI's classic cache keeps one graph's worth). */
  #cache = new Map<string, CacheEntry>();
  #interrupted = false;
  #running: string | null = null;

  constructor(
    private readonly registry: Map<string, NodeDef>,
    private readonly dirs: Dirs,
    private readonly options: { stepMs: () => number; faults: () => Faults; onCrash: () => void },
  ) {}

  get runningNode(): string | null {
    return this.#running;
  }

  interrupt(): void {
    this.#interrupted = true;
  }

  clearCache(): void {
    this.#cache.clear();
  }

  #signatures(prompt: Prompt, order: string[]): Map<string, string> {
    const sigs = new Map<string, string>();
    const visit = (id: string): string => {
      const known = sigs.get(id);
      if (known) return known;
      const node = prompt[id]!;
      const inputs = Object.entries(node.inputs ?? {}).map(([k, v]) => [k, Array.isArray(v) && typeof v[0] === 'string' && prompt[v[0]] ? ['link', visit(v[0]), v[1]] : v]);
      const sig = hashOf(node.class_type, inputs);
      sigs.set(id, sig);
      return sig;
    };
    for (const id of order) visit(id);
    return sigs;
  }

  async run(promptId: string, prompt: Prompt, outputs: string[], emit: Emit, options: RunOptions): Promise<Outcome> {
    this.#interrupted = false; // ComfyUI clears the flag at the start of each prompt
    const all = Object.keys(prompt);
    const sigs = this.#signatures(prompt, all);
    const isCached = (id: string) => this.#cache.has(sigs.get(id)!);
    const isOutput = (id: string) => this.registry.get(prompt[id]!.class_type as string)?.outputNode === true;
    const order = executionOrder(prompt, outputs, isCached, isOutput);
    const messages: Messages = [];
    const record = (type: string, data: Record<string, unknown>, audience: Audience = 'submitter') => {
      emit(type, data, audience);
      messages.push([type, data]); // history keeps start, cached and the final one
    };
    record('execution_start', { prompt_id: promptId, timestamp: Date.now() });
    // ComfyUI lists every cached node of the prompt, in prompt order.
    record('execution_cached', { nodes: all.filter(isCached), prompt_id: promptId, timestamp: Date.now() });

    const values = new Map<string, Value[]>();
    const uiOutputs: Record<string, Record<string, unknown>> = {};
    const executed: string[] = [];
    // ComfyUI's progress registry: every node of this prompt seen so far, resent whole on each change.
    const states: Record<string, Record<string, unknown>> = {};
    const progressState = (id: string, state: State, value?: number, max?: number) => {
      const prev = states[id] as { value: number; max: number } | undefined;
      const m = max ?? prev?.max ?? 1;
      const v = state === 'finished' ? m : (value ?? 0);
      states[id] = { value: v, max: m, state, node_id: id, prompt_id: promptId, display_node_id: id, parent_node_id: null, real_node_id: id };
      emit('progress_state', { prompt_id: promptId, nodes: structuredClone(states) }, 'submitter-or-all');
    };
    const executedMessage = (id: string, ui: Record<string, unknown> | null) => emit('executed', { node: id, display_node: id, output: ui, prompt_id: promptId }, 'submitter');

    let current = '';
    let currentType = '';
    try {
      for (const id of order) {
        const node = prompt[id]!;
        current = id;
        currentType = node.class_type as string;
        const sig = sigs.get(id)!;
        const hit = this.#cache.get(sig);
        if (hit) {
          // Only output nodes get here cached: the walk does not follow cached inputs.
          values.set(id, hit.outputs);
          executedMessage(id, hit.ui ?? null);
          if (hit.ui) uiOutputs[id] = hit.ui;
          progressState(id, 'finished');
          continue;
        }
        progressState(id, 'running', 0, 1);
        this.#running = id;
        emit('executing', { node: id, display_node: id, prompt_id: promptId }, 'submitter');
        if (this.#interrupted) throw new Interrupted(); // between nodes
        const faults = this.options.faults();
        if (matches(faults.crashAt, id, currentType)) {
          this.options.onCrash();
          return { status: 'crashed' };
        }
        if (matches(faults.errorAt, id, currentType)) throw new NodeFailure('RuntimeError', `simulated failure in ${currentType}`);
        if (matches(faults.hangAt, id, currentType)) {
          while (!this.#interrupted) await sleep(10);
          throw new Interrupted();
        }
        const pendingWrites: Array<() => Promise<void>> = [];
        const ctx = this.#context(promptId, id, emit, options, progressState, pendingWrites, faults);
        // Inputs from nodes of this run, or from the cache for cached nodes the walk never visited.
        const outputsOf = (source: string) => values.get(source) ?? this.#cache.get(sigs.get(source) ?? '')?.outputs;
        const result: NodeResult = await this.registry.get(currentType)!.run(ctx, resolveInputs(node.inputs ?? {}, outputsOf));
        values.set(id, result.outputs);
        this.#cache.set(sig, { outputs: result.outputs, ...(result.ui ? { ui: result.ui } : {}) });
        executed.push(id);
        if (result.ui) {
          uiOutputs[id] = result.ui;
          executedMessage(id, result.ui);
        }
        for (const write of pendingWrites) void write();
        progressState(id, 'finished');
      }
      // A flag raised while the last node (typically a saver) ran is seen once it ends: the prompt is interrupted.
      if (this.#interrupted) throw new Interrupted();
    } catch (error) {
      this.#running = null;
      if (error instanceof Interrupted) {
        record('execution_interrupted', { prompt_id: promptId, node_id: current, node_type: currentType, executed, timestamp: Date.now() }, 'submitter-or-all');
        return { status: 'interrupted', outputs: uiOutputs, messages };
      }
      const failure = error instanceof NodeFailure ? error : new NodeFailure((error as Error).name ?? 'Exception', (error as Error).message ?? String(error));
      const inputs = prompt[current]?.inputs ?? {};
      record('execution_error', {
        prompt_id: promptId,
        node_id: current,
        node_type: currentType,
        executed,
        exception_message: failure.message,
        exception_type: failure.exceptionType,
        traceback: [`  File "execution.py", line 1, in execute\n`, `${failure.exceptionType}: ${failure.message}\n`],
        current_inputs: Object.fromEntries(Object.entries(inputs).filter(([, v]) => !Array.isArray(v))),
        current_outputs: {},
        timestamp: Date.now(),
      });
      return { status: 'error', outputs: uiOutputs, messages };
    }
    this.#running = null;
    // The classic cache keeps this graph's results only.
    const keep = new Set(all.map((id) => sigs.get(id)!));
    for (const key of [...this.#cache.keys()]) if (!keep.has(key)) this.#cache.delete(key);
    record('execution_success', { prompt_id: promptId, timestamp: Date.now() });
    return { status: 'success', outputs: uiOutputs, messages };
  }

  #context(
    promptId: string,
    nodeId: string,
    emit: Emit,
    options: RunOptions,
    progressState: (id: string, state: State, value?: number, max?: number) => void,
    pendingWrites: Array<() => Promise<void>>,
    faults: Faults,
  ): RunContext {
    // main.py's progress hook: progress_state, the type-4 preview, `progress`, then the type-1 preview.
    const report = (value: number, max: number, image?: { format: 'PNG' | 'JPEG'; bytes: Buffer }) => {
      progressState(nodeId, 'running', value, max);
      if (image) emit.preview(image.bytes, image.format, nodeId, 'metadata');
      emit('progress', { value, max, prompt_id: promptId, node: nodeId }, 'submitter-or-all');
      if (image) emit.preview(image.bytes, image.format, nodeId, 'legacy');
    };
    return {
      promptId,
      nodeId,
      dirs: this.dirs,
      metadata: options.metadata,
      step: async (value, max, preview) => {
        if (this.#interrupted) throw new Interrupted();
        const frame = preview && faults.largePreviews ? noiseFrame(faults.largePreviews.px, `${promptId}:${nodeId}:${value}`) : preview;
        report(value, max, frame && options.previews ? { format: 'JPEG', bytes: encodeJpeg(frame) } : undefined);
        const ms = this.options.stepMs();
        if (ms > 0) await sleep(ms);
        if (this.#interrupted) throw new Interrupted();
      },
      progress: (value, max, image) => report(value, max, image),
      writeOutput: async (file, data) => {
        mkdirSync(path.dirname(file), { recursive: true });
        const late = faults.lateOutputs;
        if (late) {
          // Written only after `executed` has gone out: first nothing, then the bytes in chunks.
          pendingWrites.push(async () => {
            await sleep(late.delayMs);
            await writeChunked(file, data, late.chunks, late.chunkDelayMs);
          });
          return;
        }
        const slow = faults.slowSave;
        if (slow) return writeChunked(file, data, SLOW_CHUNKS, slow.fileMs / SLOW_CHUNKS, true);
        writeFileSync(file, data);
      },
    };
  }
}

/** The file in `chunks` pieces, `delayMs` apart (and after the last one too when `waitLast`, so a file takes chunks × delay). */
async function writeChunked(file: string, data: Buffer, chunks: number, delayMs: number, waitLast = false): Promise<void> {
  const size = Math.max(1, Math.ceil(data.length / Math.max(1, chunks)));
  writeFileSync(file, data.subarray(0, size));
  for (let at = size; at < data.length; at += size) {
    await sleep(delayMs);
    appendFileSync(file, data.subarray(at, at + size));
  }
  if (waitLast) await sleep(delayMs);
}

/** Linked inputs take their source's outputs: from this run, or from the cache for a cached source (never walked). */
function resolveInputs(inputs: Record<string, unknown>, outputsOf: (id: string) => Value[] | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(inputs)) {
    const source = Array.isArray(v) && typeof v[0] === 'string' ? outputsOf(v[0]) : undefined;
    out[k] = source ? source[(v as [string, number])[1]] : v;
  }
  return out;
}
