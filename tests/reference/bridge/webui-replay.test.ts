/**
 * Reference suite: the real web UI's session with the real ComfyUI v0.27.1 (../shared/fixtures/comfyui-frontend-1.45.6,
 * read only here) replayed against the bridge's web UI routes mounted in a real server. Every request the recording
 * holds that is the web UI's part (its files, settings, users, userdata, i18n, extensions, templates, subgraphs, node
 * replacements, model folders, /internal) is sent in the recorded order, with the recorded body; the answer must have
 * the recorded status, content type and body shape (values may differ where they are the machine's own: paths, times).
 * Requests that are the core's (/prompt, /jobs, /view, /object_info, /system_stats, uploads, /interrupt) are not
 * sent; an upload's effect (the file in input/) is reproduced when the recording reaches it.
 */
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findFrontEnd } from '../../../bridge/webui/index.js';
import { sharedPath } from '../../helpers/reference.js';
import { fakeModels, startWebUi, UNHANDLED, type WebUiServer } from '../../helpers/webui.js';

const RECORDING = sharedPath('fixtures', 'comfyui-frontend-1.45.6', 'http.jsonl');

interface Body {
  kind?: 'text' | 'binary';
  contentType?: string;
  text?: string;
  truncated?: boolean;
  error?: string;
}
interface Exchange {
  id: number;
  phase: string;
  method: string;
  status?: number;
  path: string;
  requestHeaders: Record<string, string>;
  requestBody?: Body;
  responseHeaders: Record<string, string>;
  responseBody?: Body;
}

const exchanges: Exchange[] = readFileSync(RECORDING, 'utf8')
  .split('\n')
  .filter((line) => line.trim())
  .map((line) => JSON.parse(line) as Exchange & { marker?: string })
  .filter((e) => !e.marker);

const pathOf = (e: Exchange) => e.path.split('?')[0]!;

/** The web UI module's routes (served at /x and /api/x), as opposed to the core's. */
const API = /^\/api\/(users|settings(\/[^/]+)?|userdata(\/.+)?|v2\/userdata|i18n|extensions|global_subgraphs(\/[^/]+)?|node_replacements|experiment\/models(\/[^/]+)?|workflow_templates)$/;
/** Its static side: the web UI's files, /templates (a package ComfyUI mounts when installed), user.css. */
const STATIC = /^\/($|assets\/|fonts\/|templates\/|[^/]+\.[a-z0-9]+$)/;

function isWebUis(e: Exchange): boolean {
  if (e.status === undefined || !e.path.startsWith('/')) return false; // other hosts (blocked), never the server's
  const p = pathOf(e);
  return API.test(p) || p.startsWith('/internal/') || STATIC.test(p);
}

const mine = exchanges.filter(isWebUis);
const recordedFolders = JSON.parse(exchanges.find((e) => e.path === '/internal/folder_paths')!.responseBody!.text!) as Record<string, string[]>;
const recordedExtensions = JSON.parse(exchanges.find((e) => e.path === '/api/extensions')!.responseBody!.text!) as string[];

/**
 * Where the bridge answers otherwise, on purpose: what a ComfyUI checkout has and the bridge has not.
 * - global subgraphs come from ComfyUI's own blueprints/ folder (89 here): the bridge has no ComfyUI checkout, so none,
 *   and an id it does not know is JSON null (ComfyUI's answer for an unknown id);
 * - node replacements are registered by the endpoint's nodes, which the bridge cannot ask for: none (the UI then just
 *   offers no replacement).
 */
const DELIBERATE: Array<[RegExp, unknown]> = [
  [/^\/api\/global_subgraphs$/, {}],
  [/^\/api\/global_subgraphs\/[0-9a-f]{64}$/, null],
  [/^\/api\/node_replacements$/, {}],
];

/** Media types that differ from v0.27.1's: Python's mimetypes there had no woff2 and sent octet-stream. */
const BETTER_TYPES: Record<string, string> = { '.woff2': 'font/woff2' };

/** Same JSON shape: same types, same object keys; array items shaped like the recorded first item (empty = any). */
function expectSameShape(actual: unknown, recorded: unknown, where: string): void {
  if (recorded === null || typeof recorded !== 'object') {
    expect(actual === null ? 'null' : typeof actual, where).toBe(recorded === null ? 'null' : typeof recorded);
    return;
  }
  if (Array.isArray(recorded)) {
    expect(Array.isArray(actual), where).toBe(true);
    if (recorded.length > 0) for (const [i, item] of (actual as unknown[]).entries()) expectSameShape(item, recorded[0], `${where}[${i}]`);
    return;
  }
  expect(actual !== null && typeof actual === 'object' && !Array.isArray(actual), where).toBe(true);
  expect(Object.keys(actual as object).sort(), where).toEqual(Object.keys(recorded).sort());
  for (const [key, value] of Object.entries(recorded)) expectSameShape((actual as Record<string, unknown>)[key], value, `${where}.${key}`);
}

describe('the recorded web UI session (ComfyUI_frontend 1.45.6 against ComfyUI v0.27.1), replayed', () => {
  let ui: WebUiServer;
  let root: string;

  beforeAll(async () => {
    // A built web UI holding every file the session loaded, and the extension scripts the real one listed.
    root = await mkdtemp(path.join(tmpdir(), 'cs-webui-ref-'));
    const files = new Set([...mine.filter((e) => e.status === 200 && STATIC.test(pathOf(e)) && pathOf(e) !== '/').map(pathOf), ...recordedExtensions]);
    for (const file of files) {
      const at = path.join(root, ...decodeURIComponent(file).split('/'));
      await mkdir(path.dirname(at), { recursive: true });
      await writeFile(at, `/* ${file} */`);
    }
    await writeFile(path.join(root, 'index.html'), '<!doctype html><title>ComfyUI</title>');
    ui = await startWebUi(await findFrontEnd({ frontEndRoot: root }), fakeModels(Object.keys(recordedFolders)));
  });
  afterAll(async () => {
    await ui.close();
    await rm(root, { recursive: true, force: true });
  });

  it('holds every kind of request the web UI made of the web UI routes', () => {
    const kinds = new Set(mine.map((e) => `${e.method} ${pathOf(e).replace(/\/[0-9a-f]{64}$/, '/{id}').replace(/\/[^/]+\.(js|css|json|svg|png|woff2)$/, '/*.$1')}`));
    for (const kind of ['GET /', 'GET /*.css', 'GET /api/userdata/*.css', 'GET /api/users', 'GET /api/settings', 'GET /api/userdata', 'GET /api/i18n', 'GET /api/extensions', 'GET /api/global_subgraphs', 'GET /api/global_subgraphs/{id}', 'GET /api/userdata/*.json', 'GET /api/node_replacements', 'POST /api/settings/Comfy.TutorialCompleted', 'GET /api/experiment/models', 'GET /api/workflow_templates', 'GET /templates/*.json', 'GET /internal/folder_paths', 'POST /api/settings/Comfy.Queue.History.Expanded', 'GET /internal/files/input', 'GET /assets/*.js']) {
      expect(kinds, kind).toContain(kind);
    }
    expect(mine.length).toBeGreaterThan(200);
  });

  it('answers each one in order with the recorded status, content type and body shape', async () => {
    let replayed = 0;
    for (const e of exchanges) {
      if (e.method === 'POST' && pathOf(e) === '/api/upload/image') {
        // The core's upload (not replayed here) leaves the file in input/, which /internal/files/input then lists.
        await writeFile(path.join(ui.dirs.input, 'test-upload.png'), 'png');
        continue;
      }
      if (!isWebUis(e)) continue;
      replayed++;
      const where = `#${e.id} ${e.method} ${e.path}`;
      const headers: Record<string, string> = {};
      for (const name of ['comfy-user', 'content-type']) if (e.requestHeaders[name] !== undefined) headers[name] = e.requestHeaders[name]!;
      const res = await fetch(`${ui.url}${e.path}`, { method: e.method, headers, ...(e.requestBody?.text !== undefined ? { body: e.requestBody.text } : {}) });
      expect(res.status, where).toBe(e.status);
      const body = Buffer.from(await res.arrayBuffer());
      if (e.status !== 200) {
        // The recorded 404s: user.css and templates have no file, the userdata folders and files do not exist yet.
        if (e.responseBody?.text !== undefined) expect(body.toString(), where).toBe(e.responseBody.text);
        continue;
      }
      const recordedType = e.responseHeaders['content-type'];
      if (recordedType) {
        const media = (type: string | null) => (type ?? '').split(';')[0]!.trim();
        const expected = BETTER_TYPES[path.extname(pathOf(e))] ?? media(recordedType);
        expect(media(res.headers.get('content-type')), where).toBe(expected);
      }
      const deliberate = DELIBERATE.find(([pattern]) => pattern.test(pathOf(e)));
      if (deliberate) {
        expect(JSON.parse(body.toString()), where).toEqual(deliberate[1]);
        continue;
      }
      const text = e.responseBody?.text;
      if (text === undefined || e.responseBody?.truncated) continue; // static files are recorded by size; some bodies were not readable
      if (recordedType?.startsWith('application/json')) {
        const actual = JSON.parse(body.toString()) as unknown;
        const recorded = JSON.parse(text) as unknown;
        expectSameShape(actual, recorded, where);
        // Where the values are not the machine's own, they are the recorded ones (/extensions in glob's order there).
        if (pathOf(e) === '/api/extensions') expect([...(actual as string[])].sort(), where).toEqual([...recordedExtensions].sort());
        if (pathOf(e) === '/api/experiment/models') expect((actual as Array<{ name: string }>).map((m) => m.name), where).toEqual((recorded as Array<{ name: string }>).map((m) => m.name));
        if (pathOf(e) === '/internal/folder_paths') expect(Object.keys(actual as object), where).toEqual(Object.keys(recorded as object));
        if (!/^\/(api\/extensions|api\/experiment\/models|internal\/folder_paths)$/.test(pathOf(e))) expect(actual, where).toEqual(recorded);
      } else {
        expect(body.toString(), where).toBe(text);
      }
    }
    expect(replayed).toBe(mine.length);
  });

  it('leaves the settings the session posted in the user folder', async () => {
    expect(await (await fetch(`${ui.url}/api/settings`)).json()).toEqual({ 'Comfy.TutorialCompleted': true, 'Comfy.Queue.History.Expanded': false });
    expect((await fetch(`${ui.url}/api/settings`)).headers.get(UNHANDLED)).toBeNull();
  });
});
