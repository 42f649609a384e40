/**
 * ComfyUI's guard against other web sites (server.py, origin_only_middleware): a browser lets any page POST to
 * 127.0.0.1, so a request whose Origin names another host than the one it was sent to is refused when that host is a
 * loopback one. Without it, any page the user visits could rewrite their settings and workflows.
 */
import { isIP } from 'node:net';

function isLoopback(hostname: string): boolean {
  const bare = hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (bare === 'localhost' || bare.endsWith('.localhost')) return true;
  if (isIP(bare) === 4) return bare.startsWith('127.');
  if (isIP(bare) === 6) return bare === '::1' || bare === '0:0:0:0:0:0:0:1';
  return false;
}

/** True when ComfyUI would answer 403: Host is loopback and Origin names another host (ports compared when both have one). */
export function isForeignOrigin(host: string | undefined, origin: string | undefined): boolean {
  if (!host || !origin) return false;
  let sent: URL;
  let from: URL;
  try {
    sent = new URL(`http://${host.toLowerCase()}`);
    from = new URL(origin.toLowerCase());
  } catch {
    return false; // "null" origins and the like: ComfyUI compares nothing there either
  }
  if (!isLoopback(sent.hostname)) return false;
  // ComfyUI compares host:port only when both carry a port, else the host names.
  const bothPorts = sent.port !== '' && from.port !== '';
  return bothPorts ? sent.host !== from.host : sent.hostname !== from.hostname;
}
