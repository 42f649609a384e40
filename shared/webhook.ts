/** The webhook URL rule both sides apply (contract §10): RunPod and the local endpoint POST only to http(s). */

/** Why `url` cannot be a webhook, or null when it can. The reason never repeats the URL (it may hold a secret). */
export function webhookUrlProblem(url: string): string | null {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'the webhook is not a URL';
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return 'the webhook URL must be http:// or https://';
  return null;
}
