/**
 * The web UI's part of the bridge (contract §14): ComfyUI's web UI served from its built folder, and the routes it
 * needs to start, save and load work, answered from the bridge's `user/` dir. The core mounts the returned handler
 * after its own routes: it answers what is the web UI's and returns false for anything else.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { catalogRoutes, internalRoutes, type FileDirs, type ModelSource } from './catalogs.js';
import { listExtensions, sendNoWebUi, serveStatic, type FrontEnd } from './front-end.js';
import { HttpError, sendError, sendJson, sendText } from '../../simulator/http.js';
import { isForeignOrigin } from '../../shared/origin.js';
import { matchRoute, type Route } from './router.js';
import { settingsRoutes } from './settings.js';
import { UserDir } from './user-dir.js';
import { userdataRoutes } from './userdata.js';

export { findFrontEnd, frontEndLine, GET_THE_WEB_UI, type FrontEnd, type FindFrontEndOptions } from './front-end.js';
export type { FileDirs, ModelSource } from './catalogs.js';
export { isForeignOrigin } from '../../shared/origin.js';

export interface WebUiOptions {
  /** --user-directory (default `<base>/user`); the one user's files are in its `default/`. */
  userDir: string;
  /** From findFrontEnd; null serves the API only, with a page at `/` saying how to get the UI. */
  frontEnd: FrontEnd | null;
  /** input/, output/, temp/ of the bridge, for /internal/files/{type}. */
  dirs: FileDirs;
  models: ModelSource;
  /** Largest settings or userdata body accepted (ComfyUI's --max-upload-size default: 100 MiB). */
  maxBodyBytes?: number;
}

/**
 * File system errors that come from the name asked for, not from the disk: the caller's to fix (ComfyUI: 400).
 * EEXIST is mkdir's answer when a file stands where a folder of the name would be.
 */
const NAME_ERRORS = new Set(['ENOTDIR', 'EISDIR', 'ENAMETOOLONG', 'EEXIST']);

export const WEBUI_DEFAULTS = { maxBodyBytes: 100 * 1024 * 1024 } as const;

/** Handles one request; true if it answered. `pathname` is the request's path as received (percent-encoded). */
export type WebUiHandler = (req: IncomingMessage, res: ServerResponse, pathname: string) => Promise<boolean>;

export function createWebUiRoutes(options: WebUiOptions): WebUiHandler {
  const limit = options.maxBodyBytes ?? WEBUI_DEFAULTS.maxBodyBytes;
  const user = new UserDir(options.userDir);
  const { frontEnd } = options;
  // Each of these is served at /x and /api/x, as ComfyUI registers its routes twice.
  const api: Route[] = [
    ...settingsRoutes(user, limit),
    ...userdataRoutes(user, limit),
    ...catalogRoutes(options.models),
    { method: 'GET', path: '/extensions', handle: async ({ res }) => sendJson(res, 200, await listExtensions(frontEnd)) },
  ];
  const internal = internalRoutes(options.models, options.dirs);

  return async (req, res, pathname) => {
    const method = req.method ?? 'GET';
    const url = new URL(req.url ?? '/', 'http://bridge');
    try {
      if (isForeignOrigin(req.headers.host, req.headers.origin)) {
        sendText(res, 403, 'Refused: this request came from another web site (its Origin is not this address).');
        return true;
      }
      const apiPath = pathname.startsWith('/api/') ? pathname.slice(4) : pathname;
      const match = matchRoute(api, method, apiPath) ?? (pathname.startsWith('/api/') ? undefined : matchRoute(internal, method, pathname));
      if (match) {
        await match.route.handle({ req, res, url, params: match.params });
        return true;
      }
      if ((method !== 'GET' && method !== 'HEAD') || pathname.startsWith('/api/') || pathname.startsWith('/internal/')) return false;
      if (!frontEnd) {
        if (pathname !== '/') return false;
        sendNoWebUi(res);
        return true;
      }
      return await serveStatic(frontEnd, pathname, res);
    } catch (error) {
      if (res.headersSent) {
        res.destroy();
        return true;
      }
      if (error instanceof HttpError) sendError(res, error);
      else if (NAME_ERRORS.has((error as NodeJS.ErrnoException).code ?? '')) sendText(res, 400, 'That name cannot be a file here (a part of it is a file, or it is too long): choose another name.');
      else sendText(res, 500, 'The bridge could not read or write its user folder: check that it exists and is writable.');
      return true;
    }
  };
}
