/**
 * ComfyUI's guard against other web sites (server.py, origin_only_middleware): a browser lets any page POST to
 * 127.0.0.1, so a request whose Origin names another host than the one it was sent to is refused when that host is a
 * loopback one. Without it, any page the user visits could rewrite their settings and workflows.
 */
import { isLoopbackHost } from './loopback.js';

/** `name[:port]` of a Host header, as ComfyUI splits it (no default port filled in). */
function splitHost(host: string): { name: string; port: string } | undefined {
  const parts = /^(\[[^\]]+\]|[^:]+)(?::(\d{1,5}))?$/.exec(host.toLowerCase());
  return parts ? { name: parts[1]!, port: parts[2] ?? '' } : undefined;
}

/** True when ComfyUI would answer 403: Host is loopback and Origin names another host (ports compared when both have one). */
export function isForeignOrigin(host: string | undefined, origin: string | undefined): boolean {
  if (!host || !origin || !isLoopbackHost(host)) return false;
  const sent = splitHost(host);
  let from: URL;
  try {
    from = new URL(origin.toLowerCase());
  } catch {
    return false; // "null" origins and the like: ComfyUI compares nothing there either
  }
  if (!sent || !from.hostname) return false;
  // ComfyUI compares host:port only when both carry a port, else the host names.
  return sent.port !== '' && from.port !== '' ? `${sent.name}:${sent.port}` !== from.host : sent.name !== from.hostname;
}
