/**
 * A route table matched on raw path segments, as aiohttp matches `{name}` placeholders: one placeholder is one
 * segment, decoded after matching (so `workflows%2Fa.json` is one name holding a '/'). HEAD runs the GET route.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpError } from '../../simulator/http.js';
import { decodeSegment } from './user-paths.js';

export interface RouteContext {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  params: Record<string, string>;
}

export interface Route {
  method: 'GET' | 'POST' | 'DELETE' | 'PATCH';
  /** e.g. `/userdata/{file}/move/{dest}` */
  path: string;
  handle(ctx: RouteContext): Promise<void>;
}

export interface Match {
  route: Route;
  params: Record<string, string>;
}

export function matchRoute(routes: readonly Route[], method: string, pathname: string): Match | undefined {
  const wanted = method === 'HEAD' ? 'GET' : method;
  const segments = pathname.split('/');
  for (const route of routes) {
    if (route.method !== wanted) continue;
    const pattern = route.path.split('/');
    if (pattern.length !== segments.length) continue;
    const params: Record<string, string> = {};
    const fits = pattern.every((part, i) => {
      const given = segments[i]!;
      if (!part.startsWith('{')) return part === given;
      if (given === '') return false;
      const decoded = decodeSegment(given);
      if (decoded === undefined) throw new HttpError(400, 'The path is not valid percent-encoding.');
      params[part.slice(1, -1)] = decoded;
      return true;
    });
    if (fits) return { route, params };
  }
  return undefined;
}
