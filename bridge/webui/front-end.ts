/**
 * ComfyUI's built web UI: where it is (--front-end-root, else the `comfyui_frontend_package` that `python3` imports,
 * whose `static/` folder ComfyUI itself serves), its files served with their content types and no way out of the
 * folder, and the extension scripts it lists on /extensions.
 */
import { execFile } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { readdir, realpath, stat } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import path from 'node:path';
import { promisify } from 'node:util';
import { UsageError } from '../../shared/cli.js';
import { checkUserName, isContained, resolveUnder } from './user-paths.js';

export interface FrontEnd {
  /** The folder holding index.html (real path). */
  root: string;
  /** Where it was found, for the start-up line. */
  source: 'flag' | 'package';
}

/** How to get the web UI, shown when there is none. */
export const GET_THE_WEB_UI = 'pip install comfyui-frontend-package (for the python3 on PATH), or --front-end-root DIR (a built ComfyUI_frontend dist/)';

/** Asks python for the package's static folder (ComfyUI's own way to find it); a failure's traceback is kept, never shown. */
const FIND_PACKAGE = 'import importlib.resources, comfyui_frontend_package as p; print(importlib.resources.files(p) / "static")';

export interface FindFrontEndOptions {
  /** --front-end-root: must hold index.html. */
  frontEndRoot?: string | undefined;
  /** The python to ask (default python3). */
  python?: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

/** The web UI to serve, or null when there is none (the bridge then serves the API only and says so). */
export async function findFrontEnd(options: FindFrontEndOptions = {}): Promise<FrontEnd | null> {
  if (options.frontEndRoot !== undefined) {
    const root = await webRoot(options.frontEndRoot);
    if (!root) throw new UsageError(`--front-end-root ${options.frontEndRoot}: no index.html there. Give the folder of ComfyUI's built web UI (ComfyUI_frontend's dist/, or comfyui_frontend_package's static/).`);
    return { root, source: 'flag' };
  }
  let printed: string;
  try {
    const run = await promisify(execFile)(options.python ?? 'python3', ['-c', FIND_PACKAGE], { env: options.env ?? process.env, timeout: options.timeoutMs ?? 15_000, encoding: 'utf8' });
    printed = run.stdout.trim();
  } catch {
    return null; // no python, or no package
  }
  const root = printed ? await webRoot(printed) : null;
  return root ? { root, source: 'package' } : null;
}

/** The start-up line about the web UI (the bridge prints it after the address). */
export function frontEndLine(frontEnd: FrontEnd | null): string {
  if (!frontEnd) return `web UI: none, serving ComfyUI's API only. To get the web UI: ${GET_THE_WEB_UI}.`;
  return `web UI: ${frontEnd.root} (${frontEnd.source === 'flag' ? '--front-end-root' : 'comfyui_frontend_package, found through python3'})`;
}

async function webRoot(dir: string): Promise<string | null> {
  try {
    const root = await realpath(dir);
    return (await stat(path.join(root, 'index.html'))).isFile() ? root : null;
  } catch {
    return null;
  }
}

/** Python's mimetypes for what a built web UI holds; ComfyUI sets .js to carry its charset. */
const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html',
  '.js': 'application/javascript; charset=utf-8',
  '.mjs': 'application/javascript; charset=utf-8',
  '.css': 'text/css',
  '.json': 'application/json',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/vnd.microsoft.icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.ttf': 'font/ttf',
  '.otf': 'font/otf',
  '.wasm': 'application/wasm',
  '.txt': 'text/plain',
  '.mp3': 'audio/mpeg',
  '.wav': 'audio/x-wav',
  '.mp4': 'video/mp4',
  '.webm': 'video/webm',
  '.glb': 'model/gltf-binary',
};

export function contentType(file: string): string {
  return CONTENT_TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
}

/**
 * Serves `pathname` (raw, percent-encoded) from the web UI's folder; true if it was a file there. `/` is index.html.
 * A name that would leave the folder (`..`, an absolute path, a symlink pointing out) is never a file there.
 */
export async function serveStatic(frontEnd: FrontEnd, pathname: string, res: ServerResponse): Promise<boolean> {
  let name: string;
  try {
    name = pathname === '/' ? 'index.html' : decodeURIComponent(pathname.slice(1));
  } catch {
    return false;
  }
  const check = checkUserName(name);
  if (!check.ok) return false;
  const file = resolveUnder(frontEnd.root, check.relative);
  let size: number;
  try {
    const s = await stat(file);
    if (!s.isFile() || !(await isContained(frontEnd.root, file))) return false;
    size = s.size;
  } catch {
    return false;
  }
  const headers: Record<string, string | number> = { 'content-type': contentType(file), 'content-length': size };
  // As v0.27.1 sends them: the page and its scripts are never cached, so a new web UI loads at once.
  if (pathname === '/') headers['cache-control'] = 'no-store, must-revalidate';
  else if (/\.(js|css)$/.test(file)) headers['cache-control'] = 'no-store';
  res.writeHead(200, headers);
  createReadStream(file)
          .on('error', () => res.destroy()) // gone since the stat: cut, never a short 200 passed off as whole
          .pipe(res);
  return true;
}

/** /extensions: the web UI's own extension scripts (`extensions/**\/*.js`), as ComfyUI lists them; no custom nodes. */
export async function listExtensions(frontEnd: FrontEnd | null): Promise<string[]> {
  if (!frontEnd) return [];
  const found: string[] = [];
  const walk = async (dir: string, prefix: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      if (entry.isDirectory()) await walk(path.join(dir, entry.name), `${prefix}${entry.name}/`);
      else if (entry.isFile() && entry.name.endsWith('.js')) found.push(`${prefix}${entry.name}`);
    }
  };
  await walk(path.join(frontEnd.root, 'extensions'), '/extensions/');
  return found.sort();
}

/** `/` without a web UI: a small page saying this is the API and how to get the UI. */
export function sendNoWebUi(res: ServerResponse): void {
  const html = `<!doctype html><meta charset="utf-8"><title>comfy-seal bridge</title>
<h1>comfy-seal bridge</h1>
<p>ComfyUI's API is served here (point any ComfyUI client at this address); every prompt runs sealed on the endpoint.</p>
<p>No web UI is installed. To get ComfyUI's web UI here: <code>${GET_THE_WEB_UI.replace(/</g, '&lt;')}</code>, then restart the bridge.</p>
`;
  res.writeHead(404, { 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(html) });
  res.end(html);
}
