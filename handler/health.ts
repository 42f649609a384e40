/**
 * Worker health (contract §6): a job that leaves the worker unfit (a wipe failed, ComfyUI gone or not letting go of a
 * prompt) stops it taking jobs. On RunPod that ends the process; the local endpoint re-checks before each job and
 * resumes once this check passes.
 */
import { SealError } from '../shared/errors.js';
import type { ComfyHttp } from './comfy/http.js';
import type { JobOutcome } from './job.js';
import { wipeDirs, type Dirs, type FileSystem } from './storage.js';

/** What is wrong, in code terms: never a path or anything from a job. */
export interface HealthProblem {
  problem: 'WIPE_FAILED' | 'COMFY_UNAVAILABLE' | 'COMFY_BUSY' | 'CACHE_KEPT';
  /** An errno code, or how many prompts ComfyUI still holds. */
  reason?: string;
}

/** Whether an outcome says this worker must take no further job (any outcome kind may carry the flag). */
export function isUnhealthy(outcome: JobOutcome): boolean {
  return 'unhealthy' in outcome && outcome.unhealthy === true;
}

export interface HealthCheckDeps {
  http: ComfyHttp;
  /** The worker's ComfyUI client id: prompts queued under it are ours. */
  clientId: string;
  dirs: Dirs;
  fs: FileSystem;
  /** Whether jobs clear ComfyUI's cache (not COMFY_SEAL_KEEP_CACHE): then the re-check clears it too. */
  clearCache: boolean;
}

/**
 * Healthy when a wipe of the dirs succeeds, ComfyUI answers, holds no prompt of ours and (unless keep-cache) takes a
 * /free; else the first problem.
 */
export async function checkHealth(deps: HealthCheckDeps): Promise<HealthProblem | null> {
  const wipe = await wipeDirs(deps.dirs, deps.fs);
  if (wipe.failures.length > 0) return { problem: 'WIPE_FAILED', reason: wipe.failures[0]! };
  if ((await deps.http.probe()) === null) return { problem: 'COMFY_UNAVAILABLE' };
  let held: string[];
  try {
    held = await deps.http.queuedBy(deps.clientId);
  } catch {
    return { problem: 'COMFY_UNAVAILABLE' };
  }
  if (held.length > 0) return { problem: 'COMFY_BUSY', reason: `${held.length}_prompts` };
  if (deps.clearCache && !(await deps.http.free().then(() => true, () => false))) return { problem: 'CACHE_KEPT' };
  return null;
}

/** The failure a job gets while the worker is unhealthy: a plain COMFY_UNAVAILABLE with the problem in code terms. */
export function unhealthyError(health: HealthProblem): SealError {
  const what = health.reason ? `${health.problem}: ${health.reason}` : health.problem;
  return new SealError(
    'COMFY_UNAVAILABLE',
    `the worker is unhealthy (${what}) and takes no job until it recovers; it checks again before each job (see the worker's log)`,
  );
}
