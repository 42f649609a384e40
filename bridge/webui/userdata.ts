/**
 * /users and /userdata (app/user_manager.py) for the one user: list a folder (dir, recurse, split, full_info), read,
 * write (overwrite, full_info), delete and move a file. Every name is checked (user-paths.ts); writes are atomic.
 */
import { createReadStream } from 'node:fs';
import { readdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { HttpError, readBody, sendJson, sendText } from '../../simulator/http.js';
import type { Route, RouteContext } from './router.js';
import { fileInfo, kindOf, listFiles, moveNoReplace, syncDir, writeFileAtomic } from './user-files.js';
import type { UserDir } from './user-dir.js';

/** What a user file is sent as; anything else (html, js, svg: what a browser would run) goes as bytes (stored XSS). */
const CONTENT_TYPES: Record<string, string> = { '.json': 'application/json', '.css': 'text/css', '.txt': 'text/plain', '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.webp': 'image/webp' };

/** `?recurse=true`, `?full_info=True`...: on only when true, in any case. */
const flag = (url: URL, name: string): boolean => (url.searchParams.get(name) ?? '').toLowerCase() === 'true';
/** `?overwrite`: on unless exactly `false` (the web UI may send `overwrite=undefined`, which ComfyUI takes as on). */
const overwrites = (url: URL): boolean => url.searchParams.get('overwrite') !== 'false';

export function userdataRoutes(user: UserDir, bodyLimit: number): Route[] {
  /** The named file, which must exist as a regular file (404 otherwise, as ComfyUI answers). */
  const existing = async (name: string): Promise<string> => {
    const file = await user.resolve(name);
    const kind = await kindOf(file);
    if (kind === 'missing') throw new HttpError(404, '');
    if (kind !== 'file') throw new HttpError(400, 'That name is a folder or a link, not a file.');
    return file;
  };

  const answerWritten = async ({ res, url }: RouteContext, file: string): Promise<void> => {
    sendJson(res, 200, flag(url, 'full_info') ? await fileInfo(file, user.root) : user.relative(file));
  };

  return [
    {
      method: 'GET',
      path: '/users',
      handle: async ({ res }) => {
        await user.ready();
        sendJson(res, 200, { storage: 'server', migrated: true });
      },
    },
    {
      method: 'POST',
      path: '/users',
      handle: async ({ res }) => sendJson(res, 400, { error: 'The bridge keeps one user (default), as ComfyUI does without --multi-user.' }),
    },
    {
      method: 'GET',
      path: '/userdata',
      handle: async ({ res, url }) => {
        const dir = url.searchParams.get('dir') ?? '';
        if (!dir) return sendText(res, 400, 'Directory not provided');
        const folder = await user.resolve(dir);
        const kind = await kindOf(folder);
        if (kind === 'missing') return sendText(res, 404, 'Directory not found');
        const names = kind === 'directory' ? await listFiles(folder, flag(url, 'recurse')) : [];
        if (flag(url, 'full_info')) {
          return sendJson(res, 200, await Promise.all(names.map((n) => fileInfo(path.join(folder, ...n.split('/')), folder))));
        }
        sendJson(res, 200, flag(url, 'split') ? names.map((n) => [n, ...n.split('/')]) : names);
      },
    },
    {
      method: 'GET',
      path: '/v2/userdata',
      handle: async ({ res, url }) => {
        const wanted = url.searchParams.get('path') ?? '';
        const folder = wanted ? await user.resolve(wanted) : (await user.ready(), user.root);
        const kind = await kindOf(folder);
        if (kind === 'missing') return wanted ? sendText(res, 404, 'Requested path not found') : sendJson(res, 200, []);
        if (kind !== 'directory') return sendText(res, 400, 'Requested path is not a directory');
        sendJson(res, 200, await describeTree(folder, user.root));
      },
    },
    {
      method: 'GET',
      path: '/userdata/{file}',
      handle: async ({ res, params }) => {
        const file = await existing(params.file!);
        const size = (await stat(file)).size;
        const isUserCss = user.relative(file) === 'user.css';
        const type = isUserCss ? 'text/css' : (CONTENT_TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream');
        res.writeHead(200, {
          'content-type': type,
          'content-length': size,
          'x-content-type-options': 'nosniff',
          'content-disposition': isUserCss ? 'inline' : 'attachment',
        });
        createReadStream(file)
          .on('error', () => res.destroy()) // gone since the stat: cut, never a short 200 passed off as whole
          .pipe(res);
      },
    },
    {
      method: 'POST',
      path: '/userdata/{file}',
      handle: async (ctx) => {
        const file = await user.resolve(ctx.params.file!);
        const replace = overwrites(ctx.url);
        if (!replace && (await kindOf(file)) !== 'missing') return sendText(ctx.res, 409, 'File already exists');
        const body = await readBody(ctx.req, bodyLimit);
        await user.makeParent(file);
        if ((await kindOf(file)) === 'directory') return sendText(ctx.res, 400, 'That name is a folder: choose a file name.');
        if (!(await writeFileAtomic(file, body, { replace }))) return sendText(ctx.res, 409, 'File already exists');
        await answerWritten(ctx, file);
      },
    },
    {
      method: 'DELETE',
      path: '/userdata/{file}',
      handle: async ({ res, params }) => {
        const file = await existing(params.file!);
        await rm(file);
        await syncDir(path.dirname(file));
        sendText(res, 204);
      },
    },
    {
      method: 'POST',
      path: '/userdata/{file}/move/{dest}',
      handle: async (ctx) => {
        const source = await existing(ctx.params.file!);
        const dest = await user.resolve(ctx.params.dest!);
        const there = await kindOf(dest);
        const replace = overwrites(ctx.url);
        if (!replace && there !== 'missing') return sendText(ctx.res, 409, 'File already exists');
        if (there === 'directory') return sendText(ctx.res, 400, 'The destination is a folder: give the new file name.');
        await user.makeParent(dest);
        if (replace) await rename(source, dest);
        else if (!(await moveNoReplace(source, dest))) return sendText(ctx.res, 409, 'File already exists');
        await syncDir(path.dirname(dest));
        if (path.dirname(dest) !== path.dirname(source)) await syncDir(path.dirname(source));
        await answerWritten(ctx, dest);
      },
    },
  ];
}

/** /v2/userdata's listing: folders and files below `folder`, paths relative to the user's root, folders first. */
async function describeTree(folder: string, root: string): Promise<Array<Record<string, unknown>>> {
  const out: Array<Record<string, unknown>> = [];
  const walk = async (at: string): Promise<void> => {
    for (const entry of await readdir(at, { withFileTypes: true })) {
      if (entry.name.startsWith('.')) continue; // our temp files, as in /userdata
      const full = path.join(at, entry.name);
      const rel = path.relative(root, full).split(path.sep).join('/');
      if (entry.isDirectory()) {
        out.push({ name: entry.name, path: rel, type: 'directory' });
        await walk(full);
      } else if (entry.isFile()) {
        const s = await stat(full);
        out.push({ name: entry.name, path: rel, type: 'file', size: s.size, modified: s.mtimeMs / 1000 });
      }
    }
  };
  await walk(folder);
  return out.sort((a, b) => Number(a.type !== 'directory') - Number(b.type !== 'directory') || String(a.name).toLowerCase().localeCompare(String(b.name).toLowerCase()));
}
