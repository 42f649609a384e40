/**
 * Webhook delivery as RunPod does it (contract §10): one POST of the job's final /status JSON, retried twice, 10 s
 * apart, on anything but a 200 answer (a connection error included). The body is what /status serves, so only
 * tokens and codes leave; the URL is the user's and is never logged.
 */

export interface WebhookOptions {
  /** Pause before each retry. @default 10000 (RunPod's) */
  retryDelayMs: number;
  /** Retries after the first attempt. @default 2 */
  retries: number;
  /** Per attempt. @default 10000 */
  timeoutMs: number;
}

export const DEFAULT_WEBHOOK_OPTIONS: WebhookOptions = { retryDelayMs: 10_000, retries: 2, timeoutMs: 10_000 };

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/** POSTs `body` to `url` until one attempt is answered 200; resolves with whether one was. Stops early on `signal`. */
export async function deliverWebhook(url: string, body: string, signal: AbortSignal, options: WebhookOptions = DEFAULT_WEBHOOK_OPTIONS): Promise<boolean> {
  for (let attempt = 0; attempt <= options.retries && !signal.aborted; attempt++) {
    if (attempt > 0) await pause(options.retryDelayMs, signal);
    if (signal.aborted) break;
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
        signal: AbortSignal.any([signal, AbortSignal.timeout(options.timeoutMs)]),
      });
      await res.arrayBuffer().catch(() => undefined);
      if (res.status === 200) return true;
    } catch {
      // refused, reset or timed out: retried like a non-200 answer
    }
  }
  return false;
}
