/**
 * Runs one prompt the way ComfyUI's execution.py does: dependencies first, cached nodes skipped (but cached output nodes
 * still report `executed` with their old UI), events in ComfyUI's order, interrupt between steps, errors as
 * execution_error. The cache is keyed by each node's input signature, like ComfyUI's classic cache.
 */
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Interrupted, NodeFailure, type Dirs, type RunContext } from './context.js';
import { encodePng, hashOf, type Frame } from './images.js';
import type { NodeDef, NodeResult } from './nodes/registry.js';
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
}

export interface Emit {
  (type: string, data: Record<string, unknown>, audience: 'submitter' | 'submitter-or-all'): void;
  preview(frame: Frame, nodeId: string): void;
  text(nodeId: string, text: string): void;
}

export type Outcome =
  | { status: 'success'; outputs: Record<string, Record<string, unknown>>; messages: Array<[string, Record<string, unknown>]> }
  | { status: 'error' | 'interrupted'; outputs: Record<string, Record<string, unknown>>; messages: Array<[string, Record<string, unknown>]> }
  | { status: 'crashed' };

interface CacheEntry {
  outputs: Value[];
  ui?: Record<string, unknown>;
}

const matches = (spec: string | undefined, id: string, classType: string) => spec !== undefined && (spec === id || spec === classType);

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

  /** Dependencies before dependants, each node once, starting from the outputs to execute. */
  static order(prompt: Prompt, outputs: string[]): string[] {
    const order: string[] = [];
    const seen = new Set<string>();
    const visit = (id: string) => {
      if (seen.has(id)) return;
      seen.add(id);
      for (const v of Object.values(prompt[id]?.inputs ?? {})) if (Array.isArray(v) && typeof v[0] === 'string' && prompt[v[0]]) visit(v[0]);
      order.push(id);
    };
    for (const out of outputs) visit(out);
    return order;
  }

  #signatures(prompt: Prompt, order: string[]): Map<string, string> {
    const sigs = new Map<string, string>();
    for (const id of order) {
      const node = prompt[id]!;
      const inputs = Object.entries(node.inputs ?? {}).map(([k, v]) => [k, Array.isArray(v) && typeof v[0] === 'string' && sigs.has(v[0]) ? ['link', sigs.get(v[0]), v[1]] : v]);
      sigs.set(id, hashOf(node.class_type, inputs));
    }
    return sigs;
  }

  async run(promptId: string, prompt: Prompt, outputs: string[], emit: Emit): Promise<Outcome> {
    this.#interrupted = false; // ComfyUI clears the flag at the start of each prompt
    const order = Executor.order(prompt, outputs);
    const sigs = this.#signatures(prompt, order);
    const cached = order.filter((id) => this.#cache.has(sigs.get(id)!));
    const messages: Array<[string, Record<string, unknown>]> = [];
    const record = (type: string, data: Record<string, unknown>, audience: 'submitter' | 'submitter-or-all' = 'submitter') => {
      emit(type, data, audience);
      if (type.startsWith('execution_')) messages.push([type, data]); // history keeps start, cached and the final one
    };
    record('execution_start', { prompt_id: promptId, timestamp: Date.now() });
    record('execution_cached', { nodes: cached, prompt_id: promptId, timestamp: Date.now() });

    const values = new Map<string, Value[]>();
    const uiOutputs: Record<string, Record<string, unknown>> = {};
    const executed: string[] = [];
    const states: Record<string, Record<string, unknown>> = {};
    const progressState = (id: string, value: number, max: number, state: 'running' | 'finished') => {
      states[id] = { value, max, state, node_id: id, prompt_id: promptId, display_node_id: id, parent_node_id: null, real_node_id: id };
      emit('progress_state', { prompt_id: promptId, nodes: { ...states } }, 'submitter-or-all');
    };
    const pendingWrites: Array<() => Promise<void>> = [];

    for (const id of order) {
      const node = prompt[id]!;
      const classType = node.class_type as string;
      const def = this.registry.get(classType)!;
      const sig = sigs.get(id)!;
      const hit = this.#cache.get(sig);
      if (hit) {
        values.set(id, hit.outputs);
        if (hit.ui) {
          uiOutputs[id] = hit.ui;
          emit('executed', { node: id, display_node: id, output: hit.ui, prompt_id: promptId }, 'submitter');
        }
        continue;
      }
      const inputs = resolveInputs(node.inputs ?? {}, values);
      progressState(id, 0, 1, 'running');
      this.#running = id;
      emit('executing', { node: id, display_node: id, prompt_id: promptId }, 'submitter');
      const faults = this.options.faults();
      try {
        if (matches(faults.crashAt, id, classType)) {
          this.options.onCrash();
          return { status: 'crashed' };
        }
        if (matches(faults.errorAt, id, classType)) throw new NodeFailure('RuntimeError', `simulated failure in ${classType}`);
        if (matches(faults.hangAt, id, classType)) {
          while (!this.#interrupted) await sleep(10);
          throw new Interrupted();
        }
        const ctx = this.#context(promptId, id, emit, progressState, pendingWrites, faults);
        const result: NodeResult = await def.run(ctx, inputs);
        if (this.#interrupted) throw new Interrupted();
        values.set(id, result.outputs);
        this.#cache.set(sig, { outputs: result.outputs, ...(result.ui ? { ui: result.ui } : {}) });
        executed.push(id);
        if (result.ui) {
          uiOutputs[id] = result.ui;
          emit('executed', { node: id, display_node: id, output: result.ui, prompt_id: promptId }, 'submitter');
        }
        for (const write of pendingWrites.splice(0)) void write();
        progressState(id, 1, 1, 'finished');
      } catch (error) {
        this.#running = null;
        if (error instanceof Interrupted) {
          record('execution_interrupted', { prompt_id: promptId, node_id: id, node_type: classType, executed, timestamp: Date.now() }, 'submitter-or-all');
          return { status: 'interrupted', outputs: uiOutputs, messages };
        }
        const failure = error instanceof NodeFailure ? error : new NodeFailure((error as Error).name ?? 'Exception', (error as Error).message ?? String(error));
        record('execution_error', {
          prompt_id: promptId,
          node_id: id,
          node_type: classType,
          executed,
          exception_message: failure.message,
          exception_type: failure.exceptionType,
          traceback: [`  File "execution.py", line 1, in execute\n`, `${failure.exceptionType}: ${failure.message}\n`],
          current_inputs: Object.fromEntries(Object.entries(node.inputs ?? {}).filter(([, v]) => !Array.isArray(v))),
          current_outputs: {},
          timestamp: Date.now(),
        });
        return { status: 'error', outputs: uiOutputs, messages };
      }
    }
    this.#running = null;
    // The classic cache keeps this graph's results only.
    const keep = new Set(order.map((id) => sigs.get(id)!));
    for (const key of [...this.#cache.keys()]) if (!keep.has(key)) this.#cache.delete(key);
    record('execution_success', { prompt_id: promptId, timestamp: Date.now() });
    return { status: 'success', outputs: uiOutputs, messages };
  }

  #context(
    promptId: string,
    nodeId: string,
    emit: Emit,
    progressState: (id: string, value: number, max: number, state: 'running' | 'finished') => void,
    pendingWrites: Array<() => Promise<void>>,
    faults: Faults,
  ): RunContext {
    return {
      promptId,
      nodeId,
      dirs: this.dirs,
      step: async (value, max, preview) => {
        if (this.#interrupted) throw new Interrupted();
        progressState(nodeId, value, max, 'running');
        emit('progress', { value, max, prompt_id: promptId, node: nodeId }, 'submitter-or-all');
        if (preview) emit.preview(preview, nodeId);
        const ms = this.options.stepMs();
        if (ms > 0) await sleep(ms);
        if (this.#interrupted) throw new Interrupted();
      },
      text: (text) => emit.text(nodeId, text),
      writeOutput: (file, data) => {
        mkdirSync(path.dirname(file), { recursive: true });
        const late = faults.lateOutputs;
        if (!late) {
          writeFileSync(file, data);
          return;
        }
        // Written only after `executed` has gone out: first nothing, then the bytes in chunks.
        pendingWrites.push(async () => {
          await sleep(late.delayMs);
          const size = Math.ceil(data.length / Math.max(1, late.chunks));
          writeFileSync(file, data.subarray(0, size));
          for (let at = size; at < data.length; at += size) {
            await sleep(late.chunkDelayMs);
            appendFileSync(file, data.subarray(at, at + size));
          }
        });
      },
    };
  }
}

function resolveInputs(inputs: Record<string, unknown>, values: Map<string, Value[]>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(inputs)) {
    out[k] = Array.isArray(v) && typeof v[0] === 'string' && values.has(v[0]) ? values.get(v[0])![v[1] as number] : v;
  }
  return out;
}

export function previewPng(frame: Frame): Buffer {
  return encodePng(frame);
}
