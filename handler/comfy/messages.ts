/**
 * ComfyUI's WebSocket events and history entries (../shared/docs/comfyui-protocol.md §2, §4), as the driver reads them.
 * Only the fields the driver uses are typed; everything else is left as unknown.
 */

export interface OutputFileRef {
  filename: string;
  subfolder?: string;
  type?: string;
}

/** A node's UI output: `images`, `gifs`, `audio`, ... each a list of file refs (or other values for text nodes). */
export type NodeUiOutput = Record<string, unknown>;

export interface HistoryEntry {
  outputs: Record<string, NodeUiOutput>;
  status?: { status_str?: string; completed?: boolean; messages?: Array<[string, Record<string, unknown>]> };
}

export type ComfyEvent =
  | { type: 'status'; data: { status?: { exec_info?: { queue_remaining?: number } }; sid?: string } }
  | { type: 'execution_start'; data: { prompt_id: string } }
  | { type: 'execution_cached'; data: { prompt_id: string; nodes: string[] } }
  | { type: 'executing'; data: { prompt_id?: string; node: string | null; display_node?: string } }
  | { type: 'progress'; data: { prompt_id?: string; node?: string; value: number; max: number } }
  | { type: 'progress_state'; data: { prompt_id?: string; nodes?: Record<string, { value?: number; max?: number; state?: string }> } }
  | { type: 'executed'; data: { prompt_id: string; node: string; output: NodeUiOutput | null } }
  | { type: 'execution_success'; data: { prompt_id: string } }
  | { type: 'execution_error'; data: ExecutionErrorData }
  | { type: 'execution_interrupted'; data: { prompt_id: string; node_id?: string; node_type?: string } };

export interface ExecutionErrorData {
  prompt_id: string;
  node_id?: string;
  node_type?: string;
  exception_message?: string;
  exception_type?: string;
  traceback?: string[];
}

const TYPES = new Set([
  'status',
  'execution_start',
  'execution_cached',
  'executing',
  'progress',
  'progress_state',
  'executed',
  'execution_success',
  'execution_error',
  'execution_interrupted',
]);

/** A text frame → a known event, or null (unknown types and malformed JSON are ignored). */
export function parseEvent(text: string): ComfyEvent | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (value === null || typeof value !== 'object') return null;
  const { type, data } = value as { type?: unknown; data?: unknown };
  if (typeof type !== 'string' || !TYPES.has(type) || data === null || typeof data !== 'object') return null;
  return value as ComfyEvent;
}

/** The prompt an event belongs to, if it says. */
export function eventPromptId(event: ComfyEvent): string | undefined {
  return 'prompt_id' in event.data ? (event.data.prompt_id as string | undefined) : undefined;
}
