/**
 * The job's percent, from what ComfyUI says about each node. `progress_state` (newer ComfyUI, sent with every node's
 * state) is the one message that says a non-output node has finished; `executing` and `executed` stand in where it is
 * absent. Sampler steps weigh as much as they are many, and the percent never goes back, whatever arrives in what order.
 */
import type { Workflow } from '../shared/schema.js';

export interface NodeState {
  value?: number;
  max?: number;
  state?: string;
}

export class ProgressEstimate {
  /** Each node's weight: its literal `steps` when it has some (a sampler), else 1; a step's max replaces it. */
  readonly #weight = new Map<string, number>();
  /** How far each node is, 0–1. */
  readonly #done = new Map<string, number>();
  #executing: string | null = null;
  #shown = 0;

  constructor(workflow: Workflow) {
    for (const [id, node] of Object.entries(workflow)) {
      const steps = node.inputs.steps;
      this.#weight.set(id, typeof steps === 'number' && steps >= 1 ? steps : 1);
      this.#done.set(id, 0);
    }
  }

  cached(ids: readonly string[]): void {
    for (const id of ids) this.#set(id, 1);
  }

  /** ComfyUI runs one node at a time: the one it starts means the one before has ended. */
  executing(id: string): void {
    if (this.#executing !== null && this.#executing !== id) this.#set(this.#executing, 1);
    this.#executing = id;
  }

  step(id: string, value: number, max: number): void {
    if (max > 1 && this.#weight.has(id)) this.#weight.set(id, max);
    if (max > 0) this.#set(id, value / max);
  }

  finished(id: string): void {
    this.#set(id, 1);
  }

  /** A `progress_state` message: every node of the prompt seen so far. */
  states(nodes: Record<string, NodeState>): void {
    for (const [id, s] of Object.entries(nodes)) {
      if (s.state === 'finished') this.#set(id, 1);
      else if (typeof s.value === 'number' && typeof s.max === 'number') this.step(id, s.value, s.max);
    }
  }

  /** 0–99.9 while running (100 is the end, said by the caller), never below what it said before. */
  percent(): number {
    let total = 0;
    let done = 0;
    for (const [id, w] of this.#weight) {
      total += w;
      done += w * (this.#done.get(id) ?? 0);
    }
    const now = Math.min(99.9, Math.round((done / Math.max(1, total)) * 1000) / 10);
    this.#shown = Math.max(this.#shown, now);
    return this.#shown;
  }

  #set(id: string, fraction: number): void {
    if (!this.#done.has(id)) return; // a node of another prompt, or one ComfyUI added
    this.#done.set(id, Math.max(this.#done.get(id) ?? 0, Math.min(1, fraction)));
  }
}
