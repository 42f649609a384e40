/**
 * One prompt's ComfyUI events, made from what the endpoint says: sealed progress (the node running, a sampler's step,
 * a live preview) and the result (each output node's `ui`). The order is ComfyUI's: execution_start, execution_cached,
 * then per node progress_state (running), executing, [progress_state, type-4 preview, progress, type-1 preview]*,
 * executed, progress_state (finished); then the final event. Progress is polled, so nodes the polls missed show up
 * only as the result's `executed`.
 */
import type { JobProgress } from '../client/client.js';
import type { Audience, Emit } from '../simulator/executor.js';

type Messages = Array<[string, Record<string, unknown>]>;
type NodeState = { value: number; max: number; state: 'running' | 'finished' };

export class PromptEvents {
  readonly messages: Messages = [];
  /** Nodes that finished, in order (execution_error's and execution_interrupted's `executed`). */
  readonly executed: string[] = [];
  #current: string | null = null;
  readonly #states: Record<string, Record<string, unknown>> = {};

  constructor(
    private readonly promptId: string,
    private readonly workflow: Record<string, { class_type: string }>,
    private readonly emit: Emit,
  ) {}

  get currentNode(): string | null {
    return this.#current;
  }

  #record(type: string, data: Record<string, unknown>, audience: Audience = 'submitter'): void {
    this.emit(type, data, audience);
    this.messages.push([type, data]); // history keeps start, cached and the final one
  }

  start(): void {
    this.#record('execution_start', { prompt_id: this.promptId, timestamp: Date.now() });
    this.#record('execution_cached', { nodes: [], prompt_id: this.promptId, timestamp: Date.now() });
  }

  #state(id: string, next: NodeState): void {
    this.#states[id] = { ...next, node_id: id, prompt_id: this.promptId, display_node_id: id, parent_node_id: null, real_node_id: id };
    this.emit('progress_state', { prompt_id: this.promptId, nodes: structuredClone(this.#states) }, 'submitter-or-all');
  }

  /** Moves to `id` (finishing the node before it); nothing when it already runs or is done. */
  enter(id: string): void {
    if (this.#current === id || !Object.hasOwn(this.workflow, id) || this.executed.includes(id)) return;
    this.#finishCurrent();
    this.#current = id;
    this.#state(id, { value: 0, max: 1, state: 'running' });
    this.emit('executing', { node: id, display_node: id, prompt_id: this.promptId }, 'submitter');
  }

  #finishCurrent(): void {
    const id = this.#current;
    if (id === null) return;
    const max = (this.#states[id]?.max as number | undefined) ?? 1;
    this.#state(id, { value: max, max, state: 'finished' });
    this.executed.push(id);
    this.#current = null;
  }

  /** A polled progress: the node, the step (with its preview frames around `progress`, as main.py sends them). */
  progress(event: JobProgress): void {
    const p = event.progress;
    if (!p) return;
    const node = p.sampler?.node_id ?? p.node_id;
    if (node !== undefined) this.enter(node);
    const at = this.#current;
    const preview = event.preview;
    const format = preview?.mime === 'image/png' ? 'PNG' : 'JPEG';
    const previewNode = preview?.nodeId ?? at ?? '';
    if (p.step && at !== null) {
      this.#state(at, { value: p.step.value, max: p.step.max, state: 'running' });
      if (preview) this.emit.preview(preview.data, format, previewNode, 'metadata');
      this.emit('progress', { value: p.step.value, max: p.step.max, prompt_id: this.promptId, node: at }, 'submitter-or-all');
      if (preview) this.emit.preview(preview.data, format, previewNode, 'legacy');
    } else if (preview) {
      this.emit.preview(preview.data, format, previewNode, 'metadata');
      this.emit.preview(preview.data, format, previewNode, 'legacy');
    }
  }

  /** The result: each output node executes (if the polls missed it) and reports its ui, then execution_success. */
  success(ui: Record<string, Record<string, unknown>>): void {
    for (const [id, output] of Object.entries(ui)) {
      this.enter(id);
      this.emit('executed', { node: id, display_node: id, output, prompt_id: this.promptId }, 'submitter');
      this.#finishCurrent();
    }
    this.#finishCurrent();
    this.#record('execution_success', { prompt_id: this.promptId, timestamp: Date.now() });
  }

  error(details: { node_id?: unknown; node_type?: unknown; exception_message?: unknown; exception_type?: unknown; traceback?: unknown }): void {
    const nodeId = typeof details.node_id === 'string' ? details.node_id : (this.#current ?? '');
    this.#record('execution_error', {
      prompt_id: this.promptId,
      node_id: nodeId,
      node_type: typeof details.node_type === 'string' ? details.node_type : (this.workflow[nodeId]?.class_type ?? ''),
      executed: [...this.executed],
      exception_message: typeof details.exception_message === 'string' ? details.exception_message : '',
      exception_type: typeof details.exception_type === 'string' ? details.exception_type : 'Exception',
      traceback: Array.isArray(details.traceback) ? details.traceback : [],
      current_inputs: {},
      current_outputs: {},
      timestamp: Date.now(),
    });
  }

  interrupted(): void {
    const nodeId = this.#current ?? '';
    this.#record(
      'execution_interrupted',
      { prompt_id: this.promptId, node_id: nodeId, node_type: this.workflow[nodeId]?.class_type ?? '', executed: [...this.executed], timestamp: Date.now() },
      'submitter-or-all',
    );
  }
}
