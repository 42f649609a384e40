/**
 * /settings (app/app_settings.py): the web UI's settings, one JSON object in `comfy.settings.json` of the user's
 * folder, written with 4-space indent as ComfyUI writes it. Writes are serialized (read-modify-write) and atomic.
 */
import { readFile, rename } from 'node:fs/promises';
import { readJsonValue, sendJson, sendText } from '../../simulator/http.js';
import type { Route } from './router.js';
import { writeFileAtomic } from './user-files.js';
import type { UserDir } from './user-dir.js';

export const SETTINGS_FILE = 'comfy.settings.json';

type Settings = Record<string, unknown>;

/** An own property even for a key like `__proto__`, which plain assignment would treat as the prototype. */
function setOwn(settings: Settings, key: string, value: unknown): void {
  Object.defineProperty(settings, key, { value, enumerable: true, writable: true, configurable: true });
}

export function settingsRoutes(user: UserDir, bodyLimit: number): Route[] {
  let queue: Promise<unknown> = Promise.resolve();
  /** One change at a time: two settings posted together must both be kept. */
  const change = (edit: (s: Settings) => void): Promise<void> => {
    const run = queue.then(async () => {
      const file = await user.resolve(SETTINGS_FILE);
      const { settings, damaged } = await read();
      // The damaged file is kept beside (renamed), never overwritten: the user may want back what it held.
      if (damaged) await rename(file, `${file}.damaged-${Date.now()}`);
      edit(settings);
      await writeFileAtomic(file, JSON.stringify(settings, null, 4));
    });
    queue = run.catch(() => undefined);
    return run;
  };

  /** A missing file reads as no settings; so does a damaged one, as ComfyUI reads it (which then overwrites it). */
  const read = async (): Promise<{ settings: Settings; damaged: boolean }> => {
    let text: string;
    try {
      text = await readFile(await user.resolve(SETTINGS_FILE), 'utf8');
    } catch {
      return { settings: {}, damaged: false };
    }
    try {
      const value = JSON.parse(text) as unknown;
      if (value && typeof value === 'object' && !Array.isArray(value)) return { settings: value as Settings, damaged: false };
    } catch {
      // damaged: below
    }
    return { settings: {}, damaged: true };
  };

  return [
    { method: 'GET', path: '/settings', handle: async ({ res }) => sendJson(res, 200, (await read()).settings) },
    {
      method: 'GET',
      path: '/settings/{id}',
      handle: async ({ res, params }) => {
        const { settings } = await read();
        sendJson(res, 200, Object.hasOwn(settings, params.id!) ? settings[params.id!] : null);
      },
    },
    {
      method: 'POST',
      path: '/settings',
      handle: async ({ req, res }) => {
        const body = await readJsonValue(req, bodyLimit);
        if (!body || typeof body !== 'object' || Array.isArray(body)) {
          return sendText(res, 400, 'POST /settings takes a JSON object of setting id → value.');
        }
        await change((s) => {
          for (const [key, value] of Object.entries(body)) setOwn(s, key, value);
        });
        sendText(res, 200);
      },
    },
    {
      method: 'POST',
      path: '/settings/{id}',
      handle: async ({ req, res, params }) => {
        const value = await readJsonValue(req, bodyLimit);
        await change((s) => setOwn(s, params.id!, value));
        sendText(res, 200);
      },
    },
  ];
}
