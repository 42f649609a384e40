/**
 * What the web UI asks of the server's own installation, answered as a ComfyUI v0.27.1 without custom nodes, blueprints
 * or local models answers (the models live on the endpoint): no translations beyond the UI's own, no example workflows,
 * no global subgraphs, no node replacements; the model folders by name, holding what the endpoint lists; the
 * bridge's input/output/temp files; no console logs.
 */
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { sendJson, sendText } from '../../simulator/http.js';
import type { Route } from './router.js';

/** The endpoint's models, as the bridge knows them (from its /object_info), by ComfyUI's folder names. */
export interface ModelSource {
  /** The folder names, in ComfyUI's order (what /models answers). */
  folders: readonly string[];
  /** A folder's model names (what /models/{folder} answers); undefined for a folder there is not. */
  files(folder: string): Promise<readonly string[] | undefined>;
}

export interface FileDirs {
  input: string;
  output: string;
  temp: string;
}

/** /experiment/models leaves these out (model_manager.py). */
const NOT_MODEL_FOLDERS = new Set(['configs', 'custom_nodes']);

export function catalogRoutes(models: ModelSource): Route[] {
  const constant = (routePath: string, body: unknown): Route => ({ method: 'GET', path: routePath, handle: async ({ res }) => sendJson(res, 200, body) });
  return [
    // Translations come from custom nodes' locales/ folders: none here. The UI carries its own.
    constant('/i18n', {}),
    // custom_nodes/*/example_workflows: none.
    constant('/workflow_templates', {}),
    // blueprints/ of a ComfyUI checkout and custom_nodes/*/subgraphs: none. An unknown id is JSON null, as ComfyUI answers.
    constant('/global_subgraphs', {}),
    constant('/global_subgraphs/{id}', null),
    // Registered by the endpoint's nodes, which the bridge cannot ask for: the UI then offers no replacement.
    constant('/node_replacements', {}),
    {
      method: 'GET',
      path: '/experiment/models',
      // `folders` are paths on the ComfyUI machine: the endpoint's are not the bridge's to show, so none.
      handle: async ({ res }) => sendJson(res, 200, models.folders.filter((f) => !NOT_MODEL_FOLDERS.has(f)).map((name) => ({ name, folders: [] }))),
    },
    {
      method: 'GET',
      path: '/experiment/models/{folder}',
      handle: async ({ res, params }) => {
        const files = models.folders.includes(params.folder!) ? await models.files(params.folder!) : undefined;
        if (files === undefined) return sendJson(res, 404, { error: `No model folder named ${params.folder!}: GET /experiment/models lists them.` });
        sendJson(res, 200, files.map((name) => ({ name, pathIndex: 0 })));
      },
    },
  ];
}

/**
 * /internal/* (served at /internal only, as ComfyUI's sub-app is). The logs the web UI's terminal panel shows are
 * ComfyUI's own console: the bridge has none to show (and keeps nothing of a prompt), so they are empty.
 */
export function internalRoutes(models: ModelSource, dirs: FileDirs): Route[] {
  return [
    { method: 'GET', path: '/internal/logs', handle: async ({ res }) => sendJson(res, 200, '') },
    { method: 'GET', path: '/internal/logs/raw', handle: async ({ res }) => sendJson(res, 200, { entries: [], size: { cols: 80, rows: 24 } }) },
    { method: 'PATCH', path: '/internal/logs/subscribe', handle: async ({ res }) => sendText(res, 200) },
    {
      method: 'GET',
      path: '/internal/folder_paths',
      handle: async ({ res }) => sendJson(res, 200, Object.fromEntries(models.folders.map((name) => [name, []]))),
    },
    {
      method: 'GET',
      path: '/internal/files/{type}',
      handle: async ({ res, params }) => {
        const type = params.type!;
        if (type !== 'input' && type !== 'output' && type !== 'temp') return sendJson(res, 400, { error: 'Invalid directory type' });
        sendJson(res, 200, (await newestFirst(dirs[type])).map((name) => `${name} [${type}]`));
      },
    },
  ];
}

/** Visible files directly in dir, newest first (a missing dir has none). */
async function newestFirst(dir: string): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  const files = await Promise.all(
    entries.filter((e) => e.isFile() && !e.name.startsWith('.')).map(async (e) => ({ name: e.name, mtime: (await stat(path.join(dir, e.name))).mtimeMs })),
  );
  return files.sort((a, b) => b.mtime - a.mtime).map((f) => f.name);
}
