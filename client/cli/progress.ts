/** Progress for people: one line, rewritten in place on a terminal; nothing when stderr is not a terminal. */
import type { JobProgress } from '../client.js';

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}

export function describeProgress(event: JobProgress): string {
  const p = event.progress;
  if (event.status === 'IN_QUEUE') return `in RunPod's queue ${seconds(event.queueMs ?? event.elapsedMs)}`;
  if (!p) return `starting ${seconds(event.elapsedMs)}`;
  const parts: string[] = [p.state];
  if (p.state === 'queued' && typeof p.queue_remaining === 'number') parts.push(`(${p.queue_remaining} in ComfyUI's queue)`);
  if (typeof p.percent === 'number') parts.push(`${Math.round(p.percent)}%`);
  if (p.sampler) parts.push(`${p.sampler.node_type ?? 'sampler'} #${p.sampler.node_id}`);
  else if (p.node_type) parts.push(p.node_type);
  if (p.step) parts.push(`step ${p.step.value}/${p.step.max}`);
  parts.push(seconds(event.elapsedMs));
  return parts.join(' ');
}

export interface ProgressLine {
  update(event: JobProgress): void;
  /** Clears the line so the next output starts clean. */
  done(): void;
}

export function progressLine(stream: NodeJS.WritableStream & { isTTY?: boolean }): ProgressLine {
  if (!stream.isTTY) return { update() {}, done() {} };
  let shown = false;
  return {
    update(event) {
      stream.write(`\r\x1b[2K${describeProgress(event)}`);
      shown = true;
    },
    done() {
      if (shown) stream.write('\r\x1b[2K');
      shown = false;
    },
  };
}
