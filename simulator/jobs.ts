/**
 * ComfyUI's newer job listing (`GET /api/jobs`, `GET /api/jobs/{id}`, what its web UI polls instead of /queue), made
 * from the queue and the history: pending, in_progress, then completed / failed / cancelled (an interrupted prompt),
 * newest first, filtered by `status`, paged by `limit` and `offset`, with the first output as `preview_output`.
 */
import type { QueueItem } from './surface.js';

export interface JobSource {
  pending: readonly QueueItem[];
  running: readonly QueueItem[];
  history: ReadonlyMap<string, { prompt: QueueItem; outputs: Record<string, Record<string, unknown>>; status: { status_str: string; messages: Array<[string, Record<string, unknown>]> } }>;
}

type Job = Record<string, unknown>;

function base(item: QueueItem, status: string): Job {
  const extra = item[3];
  const workflowId = (extra.extra_pnginfo as { workflow?: { id?: unknown } } | undefined)?.workflow?.id;
  return { id: item[1], status, priority: item[0], create_time: extra.create_time, outputs_count: 0, ...(typeof workflowId === 'string' ? { workflow_id: workflowId } : {}) };
}

function finished(id: string, entry: JobSource['history'] extends ReadonlyMap<string, infer E> ? E : never, full: boolean): Job {
  const messages = entry.status.messages;
  const at = (type: string) => messages.find(([t]) => t === type)?.[1];
  const status = at('execution_interrupted') ? 'cancelled' : entry.status.status_str === 'success' ? 'completed' : 'failed';
  const files = Object.entries(entry.outputs).flatMap(([nodeId, ui]) =>
    Object.entries(ui).flatMap(([mediaType, list]) =>
      Array.isArray(list) ? list.filter((f): f is Record<string, unknown> => !!f && typeof f === 'object' && 'filename' in f).map((f) => ({ ...f, nodeId, mediaType })) : [],
    ),
  );
  const end = at('execution_success') ?? at('execution_error') ?? at('execution_interrupted');
  const error = at('execution_error');
  return {
    ...base(entry.prompt, status),
    id,
    ...(at('execution_start') ? { execution_start_time: at('execution_start')!.timestamp } : {}),
    ...(end ? { execution_end_time: end.timestamp } : {}),
    outputs_count: files.length,
    ...(files[0] ? { preview_output: files[0] } : {}),
    ...(error ? { execution_error: error } : {}),
    ...(full ? { outputs: entry.outputs, workflow: { prompt: entry.prompt[2], extra_data: entry.prompt[3] } } : {}),
  };
}

function allJobs(source: JobSource, full: boolean): Job[] {
  const jobs = [...source.running.map((i) => base(i, 'in_progress')), ...source.pending.map((i) => base(i, 'pending'))];
  for (const [id, entry] of source.history) jobs.push(finished(id, entry, full));
  return jobs;
}

/** GET /api/jobs. */
export function listJobs(source: JobSource, query: URLSearchParams): Record<string, unknown> {
  const wanted = query.get('status')?.split(',').filter(Boolean);
  const workflowId = query.get('workflow_id');
  const ascending = query.get('sort_order') === 'asc';
  let jobs = allJobs(source, false).filter((j) => (!wanted || wanted.includes(j.status as string)) && (!workflowId || j.workflow_id === workflowId));
  jobs.sort((a, b) => ((b.create_time as number) ?? 0) - ((a.create_time as number) ?? 0));
  if (ascending) jobs.reverse();
  const offset = Math.max(0, Number(query.get('offset') ?? 0) || 0);
  const limitText = query.get('limit');
  const limit = limitText === null ? null : Math.max(0, Number(limitText) || 0);
  const total = jobs.length;
  jobs = jobs.slice(offset, limit === null ? undefined : offset + limit);
  return { jobs, pagination: { offset, limit, total, has_more: offset + jobs.length < total } };
}

/** GET /api/jobs/{id}: the job with its outputs and workflow, or null. */
export function findJob(source: JobSource, id: string): Job | null {
  return allJobs(source, true).find((j) => j.id === id) ?? null;
}
