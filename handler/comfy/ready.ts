/** Readiness: ComfyUI is ready when GET /system_stats answers. Never parse its log text for this. */
import { SealError } from '../../shared/errors.js';
import type { Clock } from '../clock.js';
import type { ComfyHttp } from './http.js';

/** Polls with a short, growing delay until ComfyUI answers; COMFY_UNAVAILABLE after `timeoutMs`. Returns its version. */
export async function waitForComfy(http: ComfyHttp, clock: Clock, timeoutMs: number, signal?: AbortSignal): Promise<string> {
  const until = clock.now() + timeoutMs;
  for (let wait = 50; ; wait = Math.min(1_000, wait * 2)) {
    const version = await http.probe();
    if (version !== null) return version;
    if (signal?.aborted) throw new SealError('COMFY_UNAVAILABLE', 'stopped while waiting for ComfyUI');
    if (clock.now() + wait > until) {
      throw new SealError('COMFY_UNAVAILABLE', `ComfyUI did not answer at ${http.origin} within ${Math.round(timeoutMs / 1000)} s`);
    }
    await clock.sleep(wait, signal).catch(() => undefined);
  }
}
