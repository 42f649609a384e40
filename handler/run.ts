/**
 * Run step: queue the prompt and follow it to the end, whatever the socket does.
 *
 * Completion is `executing {node: null}` for our prompt_id (ComfyUI writes history just before it). If the socket drops,
 * messages sent meanwhile are lost, so while it is down /history is polled, and on every reconnect it is asked at once.
 * One `settle()` ends the wait: it runs once, removes every listener and timer.
 */
import { SealError } from '../shared/errors.js';
import type { ProgressUpdate, Workflow } from '../shared/schema.js';
import type { Clock } from './clock.js';
import type { ComfyHttp } from './comfy/http.js';
import { eventPromptId, type ComfyEvent, type ExecutionErrorData, type HistoryEntry, type NodeUiOutput } from './comfy/messages.js';
import type { ComfySocket } from './comfy/ws.js';
import { parsePreviewFrame, type PreviewFrame } from './previews.js';
import { ProgressEstimate } from './progress.js';

export interface RunDeps {
  http: ComfyHttp;
  socket: ComfySocket;
  clock: Clock;
}

export interface RunOptions {
  promptId: string;
  /** Absolute time (clock.now()) after which the prompt is interrupted and the job fails with TIMEOUT. */
  deadline: number;
  signal?: AbortSignal;
  onProgress?: (progress: ProgressUpdate) => void;
  /** Live preview frames of this prompt (§13), each naming its node; without it binary frames are not even parsed. */
  onPreview?: (frame: PreviewFrame & { nodeId: string }) => void;
  /** /history polling while the socket is down. */
  pollMinMs?: number;
  pollMaxMs?: number;
  /** Bounded /history retries after completion (the entry is written just before `executing null`). */
  historyRetries?: number;
}

export interface RunResult {
  outputs: Record<string, NodeUiOutput>;
  /** From `executing null` arriving to the run being settled (history read included), ms; null if it never arrived. */
  completionMs: number | null;
}

const DEFAULTS = { pollMinMs: 100, pollMaxMs: 1_000, historyRetries: 20 };

/** Submits the workflow; WORKFLOW_INVALID (details sealed) when ComfyUI refuses it or would run only part of it. */
export async function submitPrompt(http: ComfyHttp, workflow: Workflow, clientId: string, promptId: string): Promise<void> {
  const res = await http.postPrompt({ prompt: workflow, client_id: clientId, prompt_id: promptId });
  const body = (res.body ?? {}) as { error?: unknown; node_errors?: Record<string, unknown> };
  if (res.status === 400) {
    throw new SealError('WORKFLOW_INVALID', 'ComfyUI refused the workflow', { error: body.error, node_errors: body.node_errors });
  }
  if (res.status !== 200) {
    throw new SealError(res.status >= 500 ? 'COMFY_UNAVAILABLE' : 'INTERNAL', `ComfyUI answered ${res.status} to the prompt`, {
      body: res.body,
    });
  }
  if (body.node_errors && Object.keys(body.node_errors).length > 0) {
    // ComfyUI would run only the valid outputs: never let a partial workflow run silently (contract §6).
    await cancelPrompt(http, promptId);
    throw new SealError('WORKFLOW_INVALID', 'ComfyUI would run only part of the workflow', { node_errors: body.node_errors });
  }
}

/** Removes a prompt whether it is queued or running; best effort, never throws. */
export async function cancelPrompt(http: ComfyHttp, promptId: string): Promise<void> {
  await Promise.allSettled([http.deleteQueued([promptId]), http.interrupt(promptId)]);
}

function executionFailed(data: Partial<ExecutionErrorData> & { prompt_id?: string }, interrupted: boolean): SealError {
  return new SealError('EXECUTION_FAILED', interrupted ? 'the prompt was interrupted' : 'a node failed', {
    node_id: data.node_id,
    node_type: data.node_type,
    exception_type: data.exception_type,
    exception_message: data.exception_message,
    traceback: data.traceback,
  });
}

/** A finished history entry → outputs, or the failure it records; null while not finished. */
export function outcomeOfHistory(entry: HistoryEntry | null): { outputs: Record<string, NodeUiOutput> } | SealError | null {
  if (!entry) return null;
  const status = entry.status;
  if (status?.status_str === 'error' || status?.completed === false) {
    for (const [event, data] of status?.messages ?? []) {
      if (event === 'execution_error') return executionFailed(data as Partial<ExecutionErrorData>, false);
      if (event === 'execution_interrupted') return executionFailed(data as Partial<ExecutionErrorData>, true);
    }
    return new SealError('EXECUTION_FAILED', 'ComfyUI recorded the prompt as failed', {});
  }
  return { outputs: entry.outputs ?? {} };
}

/**
 * Queues the workflow and follows it to its end. Listeners are attached before the prompt is posted, so a prompt that
 * finishes before POST /prompt returns is still seen. Resolves with its outputs or rejects with a SealError.
 */
export function runPrompt(workflow: Workflow, deps: RunDeps, options: RunOptions): Promise<RunResult> {
  const opts = { ...DEFAULTS, ...options };
  const { http, socket, clock } = deps;
  const { promptId } = opts;
  const estimate = new ProgressEstimate(workflow);
  const executedOutputs: Record<string, NodeUiOutput> = {};
  let sawSuccess = false;
  let running = false;
  let doneAt: number | null = null;
  /** The node a type 1 frame belongs to (it does not say): the one whose step or start came last. */
  let currentNode: string | null = null;
  const since = (t: number | null) => (t === null ? null : Math.round((clock.now() - t) * 100) / 100);

  return new Promise<RunResult>((resolve, reject) => {
    let settled = false;
    let pollTimer: NodeJS.Timeout | null = null;
    let pollDelay = opts.pollMinMs;
    let checking = false;

    // Settled first, cancelled after: the interrupt's own events must not be what the job reports. The job then waits
    // for ComfyUI to let go of the prompt before wiping.
    const deadlineTimer = setTimeout(() => {
      settle(new SealError('TIMEOUT', 'the job ran past its time limit'));
      void cancelPrompt(http, promptId);
    }, Math.max(0, opts.deadline - clock.now()));

    const onAbort = () => {
      settle(new SealError('EXECUTION_FAILED', 'the job was cancelled', {}));
      void cancelPrompt(http, promptId);
    };

    function settle(outcome: RunResult | SealError): void {
      if (settled) return;
      settled = true;
      clearTimeout(deadlineTimer);
      if (pollTimer) clearTimeout(pollTimer);
      socket.off('event', onEvent);
      socket.off('up', onUp);
      socket.off('down', onDown);
      socket.off('binary', onBinary);
      opts.signal?.removeEventListener('abort', onAbort);
      if (outcome instanceof SealError) reject(outcome);
      else resolve(outcome);
    }

    const progress = (p: ProgressUpdate) => {
      if (!settled) opts.onProgress?.(p);
    };

    /** A check asked for while one runs: run again after it (true wins: the prompt is known to have ended). */
    let again: boolean | null = null;

    /** Asks /history (bounded retries when `completed` says it must be there) and settles if the prompt ended. */
    async function checkHistory(completed: boolean): Promise<void> {
      if (settled) return;
      if (checking) {
        again = (again ?? false) || completed;
        return;
      }
      checking = true;
      try {
        for (let attempt = 0; ; attempt++) {
          const outcome = outcomeOfHistory(await http.history(promptId, opts.signal));
          if (outcome instanceof SealError) return settle(outcome);
          if (outcome) return settle({ outputs: mergeOutputs(outcome.outputs, executedOutputs), completionMs: since(doneAt) });
          if (!completed || settled) return;
          if (attempt >= opts.historyRetries) {
            // The socket said it finished; without a history entry the executed messages are all we have.
            if (sawSuccess) return settle({ outputs: executedOutputs, completionMs: since(doneAt) });
            return settle(new SealError('COMFY_UNAVAILABLE', 'ComfyUI finished the prompt but has no history of it', {}));
          }
          await clock.sleep(Math.min(500, 10 * 2 ** attempt));
        }
      } catch (error) {
        settle(SealError.from(error));
      } finally {
        checking = false;
        if (again !== null && !settled) {
          const next = again;
          again = null;
          void checkHistory(next);
        }
      }
    }

    // Until POST /prompt has answered, events are held: if ComfyUI refuses the prompt (or would run only part of it)
    // the worker cancels it, and what that prompt did meanwhile must not decide the job.
    let held: ComfyEvent[] | null = [];
    function onEvent(event: ComfyEvent): void {
      if (held) {
        held.push(event);
        return;
      }
      handle(event);
    }

    function handle(event: ComfyEvent): void {
      if (event.type === 'status') {
        const remaining = event.data.status?.exec_info?.queue_remaining;
        if (!running && typeof remaining === 'number') progress({ state: 'queued', queue_remaining: remaining });
        return;
      }
      if (eventPromptId(event) !== promptId) return; // other clients' prompts share the queue
      switch (event.type) {
        case 'execution_start':
          running = true;
          progress({ state: 'running', percent: 0 });
          return;
        case 'execution_cached':
          estimate.cached((event.data.nodes ?? []).map(String));
          return;
        case 'executing': {
          const node = event.data.node;
          if (node === null) {
            doneAt = clock.now();
            void checkHistory(true);
            return;
          }
          running = true;
          currentNode = node;
          estimate.executing(node);
          progress({ state: 'running', node_id: node, node_type: workflow[node]?.class_type, percent: estimate.percent() });
          return;
        }
        case 'progress': {
          const step = { value: event.data.value, max: event.data.max };
          const node = event.data.node;
          if (!node) {
            progress({ state: 'running', step, percent: estimate.percent() });
            return;
          }
          currentNode = node;
          estimate.step(node, step.value, step.max);
          const sampler = { node_id: node, node_type: workflow[node]?.class_type };
          progress({ state: 'running', step, percent: estimate.percent(), ...sampler, sampler });
          return;
        }
        case 'progress_state':
          estimate.states(event.data.nodes ?? {});
          return;
        case 'executed':
          estimate.finished(event.data.node);
          if (event.data.output) executedOutputs[event.data.node] = event.data.output;
          return;
        case 'execution_success':
          sawSuccess = true;
          return;
        case 'execution_error':
          return settle(executionFailed(event.data, false));
        case 'execution_interrupted':
          return settle(executionFailed(event.data, true));
      }
    }

    // Type 4 frames name their prompt; type 1 frames go only to the submitter (us) or, for a prompt without a client
    // id, to everyone, so they count while ours runs.
    function onBinary(data: Buffer): void {
      if (held || settled || !running) return;
      const frame = parsePreviewFrame(data);
      if (!frame || (frame.promptId !== undefined && frame.promptId !== promptId)) return;
      const nodeId = frame.nodeId ?? currentNode;
      if (nodeId !== null) opts.onPreview?.({ ...frame, nodeId });
    }

    function schedulePoll(): void {
      if (settled || pollTimer || socket.isOpen) return;
      pollTimer = setTimeout(() => {
        pollTimer = null;
        pollDelay = Math.min(opts.pollMaxMs, pollDelay * 2);
        void checkHistory(false).finally(schedulePoll);
      }, pollDelay);
    }

    function onDown(): void {
      pollDelay = opts.pollMinMs;
      schedulePoll();
    }

    function onUp(): void {
      // Messages may have been dropped while we were away: history tells whether the prompt already ended.
      void checkHistory(false);
    }

    socket.on('event', onEvent);
    socket.on('up', onUp);
    socket.on('down', onDown);
    if (opts.onPreview) socket.on('binary', onBinary);
    if (opts.signal?.aborted) return onAbort();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    submitPrompt(http, workflow, socket.clientId, promptId).then(
      () => {
        const events = held ?? [];
        held = null;
        for (const event of events) if (!settled) handle(event);
        schedulePoll();
      },
      (error: unknown) => settle(SealError.from(error)),
    );
  });
}

/** History is authoritative; executed messages fill in only nodes it lacks. */
function mergeOutputs(history: Record<string, NodeUiOutput>, executed: Record<string, NodeUiOutput>): Record<string, NodeUiOutput> {
  return { ...executed, ...history };
}
