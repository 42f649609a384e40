/**
 * Warm-up (contract §10): with COMFY_SEAL_WARMUP_WORKFLOW the worker runs that workflow once after ComfyUI is ready and
 * before it takes a job, so the first user does not pay for loading models. It goes through the job's own steps
 * (stage, run, collect, wipe, history deleted) as a plaintext job whose result is dropped. Its outcome and duration go
 * to a small status file (never the workflow's content) that `doctor --worker` reads.
 */
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Check } from '../shared/checks.js';
import { SealError, type ErrorCode } from '../shared/errors.js';
import type { Clock } from './clock.js';
import type { JobOutcome } from './job.js';
import type { Logger } from './log.js';

export interface WarmupOptions {
  /** API-format workflow file (inside the image). */
  workflowPath: string;
  /** COMFY_SEAL_WARMUP_REQUIRED: a failed warm-up stops the worker. */
  required: boolean;
}

/** What the status file holds: our code, the duration, when, and whether a failure stops the worker. */
export interface WarmupStatus {
  code: 'OK' | ErrorCode;
  ms: number;
  at: string;
  required: boolean;
}

/** The status file, beside the worker's dirs (on the RAM disk with them): e.g. /dev/shm/comfy-seal/warmup.json. */
export function warmupStatusFile(inputDir: string): string {
  return path.join(path.dirname(inputDir), 'warmup.json');
}

async function readWorkflow(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new SealError('BAD_INPUT', 'the warm-up workflow (COMFY_SEAL_WARMUP_WORKFLOW) cannot be read', { reason: (error as NodeJS.ErrnoException).code ?? 'error' });
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new SealError('BAD_INPUT', 'the warm-up workflow (COMFY_SEAL_WARMUP_WORKFLOW) is not JSON');
  }
}

export interface WarmupDeps {
  /** Runs a plaintext job input through the job pipeline (plaintext allowed for this one job). */
  runJob: (job: { id: string; input: unknown }) => Promise<JobOutcome>;
  log: Logger;
  clock: Clock;
  statusFile: string;
}

/**
 * Runs the warm-up and records its outcome. A failure is logged by code and returned, unless `required`, when it is
 * thrown (the worker exits 1). Null when the worker was stopped during it.
 */
export async function warmUp(options: WarmupOptions, deps: WarmupDeps): Promise<WarmupStatus | null> {
  const started = deps.clock.now();
  let code: WarmupStatus['code'];
  try {
    const workflow = await readWorkflow(options.workflowPath);
    const outcome = await deps.runJob({ id: 'warmup', input: { workflow } });
    // Stopped (SIGTERM while it ran): the worker is shutting down, not failing; nothing to record.
    if (outcome.kind === 'cancelled') return null;
    code = outcome.kind === 'success' ? 'OK' : outcome.code;
  } catch (error) {
    code = SealError.from(error).code;
  }
  const status: WarmupStatus = { code, ms: Math.round(deps.clock.now() - started), at: new Date().toISOString(), required: options.required };
  await writeStatus(deps.statusFile, status).catch(() => undefined); // only doctor reads it; the worker goes on
  if (code === 'OK') deps.log.log('info', 'warmup.done', { ms: status.ms });
  else deps.log.log(options.required ? 'error' : 'warn', 'warmup.failed', { code, ms: status.ms });
  if (code !== 'OK' && options.required) {
    throw new SealError(code, 'the warm-up workflow failed and COMFY_SEAL_WARMUP_REQUIRED=1: the worker does not start');
  }
  return status;
}

async function writeStatus(file: string, status: WarmupStatus): Promise<void> {
  const temp = `${file}.${process.pid}.tmp`;
  await writeFile(temp, `${JSON.stringify(status)}\n`, { mode: 0o644 });
  await rename(temp, file);
}

/** A worker starting drops an earlier worker's status, so doctor never reports another run's warm-up as this one's. */
export async function clearWarmupStatus(file: string): Promise<void> {
  await rm(file, { force: true }).catch(() => undefined); // only doctor reads it; the worker goes on
}

/**
 * doctor --worker: the last warm-up's outcome and duration, from the worker's status file: the worker's environment
 * decides whether there is one, not doctor's (`workflowPath` / `required`: doctor's own settings, a fallback only).
 */
export function warmupCheck(workflowPath: string | undefined, required: boolean, inputDir: string): Check {
  return async () => {
    const file = warmupStatusFile(inputDir);
    let status: WarmupStatus;
    try {
      status = JSON.parse(await readFile(file, 'utf8')) as WarmupStatus;
    } catch {
      return workflowPath
        ? { name: 'warm-up', verdict: 'warn', detail: 'configured but has not run yet', fix: 'the worker runs it at start; look again once it reports ready' }
        : { name: 'warm-up', verdict: 'ok', detail: `none has run (no ${file}: the worker writes it when its COMFY_SEAL_WARMUP_WORKFLOW is set)` };
    }
    const when = `${status.ms} ms, at ${status.at}`;
    if (status.code === 'OK') return { name: 'warm-up', verdict: 'ok', detail: `ran in ${when}` };
    return {
      name: 'warm-up',
      verdict: required || status.required === true ? 'fail' : 'warn',
      detail: `failed with ${status.code} (${when})`,
      fix: "check the worker's COMFY_SEAL_WARMUP_WORKFLOW: an API-format workflow whose models are in the image and that loads no input file",
    };
  };
}
