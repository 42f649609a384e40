/**
 * Who may talk to the local endpoint (contract §11): it runs on the developer's machine, where any web page they visit
 * can send it requests. A foreign `Host` (DNS rebinding: a page's own name resolved to 127.0.0.1) and an `Origin`
 * not listed with `--allow-origin` (browsers send one on every cross-site request) are refused; the listed origins get
 * the CORS headers a browser needs to read the answers.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { UsageError } from '../../shared/cli.js';
import { isLoopbackHost } from '../../shared/loopback.js';

/**
 * `--allow-origin` values (repeatable, each may be comma-separated) as the origins browsers send:
 * `http://localhost:5173/` → `http://localhost:5173`. Anything that is not an http(s) origin is a usage error.
 */
export function parseAllowedOrigins(values: readonly string[]): Set<string> {
  const origins = new Set<string>();
  for (const value of values.flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v !== '')) {
    let url: URL | undefined;
    try {
      url = new URL(value);
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.pathname !== '/' || url.search || url.hash || url.username) {
      throw new UsageError(`--allow-origin ${value} is not an origin; give scheme, host and port only, e.g. http://localhost:5173`);
    }
    origins.add(url.origin);
  }
  return origins;
}

/** Why the request is refused (403), or null when it may go on. The messages never repeat what was sent. */
export function requestProblem(headers: IncomingHttpHeaders, allowedOrigins: ReadonlySet<string>): string | null {
  if (!isLoopbackHost(headers.host)) {
    return 'the local endpoint answers only requests addressed to this machine (Host: localhost, 127.0.0.1 or [::1]); use http://127.0.0.1:PORT';
  }
  const origin = headers.origin;
  if (origin !== undefined && !allowedOrigins.has(origin)) {
    return 'requests from web pages are refused (their Origin is not listed); start the worker with --allow-origin ORIGIN for a page of yours';
  }
  return null;
}

/** The CORS headers for a request from a listed origin (none for others: their requests never get this far). */
export function corsHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const origin = headers.origin;
  if (origin === undefined) return {};
  return {
    'access-control-allow-origin': origin,
    'access-control-allow-methods': 'GET, POST',
    'access-control-allow-headers': 'authorization, content-type',
    'access-control-max-age': '600',
    vary: 'Origin',
  };
}
