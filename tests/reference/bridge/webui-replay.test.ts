/**
 * Reference suite: the real web UI's session with the real ComfyUI v0.27.1 (../shared/fixtures/comfyui-frontend-1.45.6,
 * read only here) replayed against the bridge's web UI routes mounted in a real server. Every request the recording
 * holds that is the web UI's part (its files, settings, users, userdata, i18n, extensions, templates, subgraphs, node
 * replacements, model folders, /internal) is sent in the recorded order, with the recorded body; the answer must have
 * the recorded status, content type and body shape (values may differ where they are the machine's own: paths, times).
 * Requests that are the core's (/prompt, /jobs, /view, /object_info, /system_stats, uploads, /interrupt) are not
 * sent there; an upload's effect (the file in input/) is reproduced when the recording reaches it.
 * Then the whole session, the core's routes included, is replayed against the real `comfy-seal bridge` (in-process,
 * with the built worker --local and the simulator behind it): every exchange the server answered.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findFrontEnd } from '../../../bridge/webui/index.js';
import { encodePng, generateFrame } from '../../../simulator/images.js';
import { isPng } from '../../../simulator/png.js';
import { startBridgeRig, type BridgeRig } from '../../bridge/helpers.js';
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

/** A built web UI holding every file the session loaded, and the extension scripts the real one listed. */
async function fakeWebUiRoot(): Promise<string> {
  const root = await mkdtemp(path.join(tmpdir(), 'cs-webui-ref-'));
  const files = new Set([...mine.filter((e) => e.status === 200 && STATIC.test(pathOf(e)) && pathOf(e) !== '/').map(pathOf), ...recordedExtensions]);
  for (const file of files) {
    const at = path.join(root, ...decodeURIComponent(file).split('/'));
    await mkdir(path.dirname(at), { recursive: true });
    await writeFile(at, `/* ${file} */`);
  }
  await writeFile(path.join(root, 'index.html'), '<!doctype html><title>ComfyUI</title>');
  return root;
}

/** The recorded request (its user header, content type and text body), sent to `url`. */
function sendRecorded(url: string, e: Exchange, body = e.requestBody?.text): Promise<Response> {
  const headers: Record<string, string> = {};
  for (const name of ['comfy-user', 'content-type']) if (e.requestHeaders[name] !== undefined) headers[name] = e.requestHeaders[name]!;
  return fetch(`${url}${e.path}`, { method: e.method, headers, ...(body !== undefined ? { body } : {}) });
}

/** A web UI route's answer against the recorded one: status, content type, body (or its shape where it is the machine's). */
async function expectWebUiAnswer(e: Exchange, res: Response): Promise<void> {
  const where = `#${e.id} ${e.method} ${e.path}`;
  expect(res.status, where).toBe(e.status);
  const body = Buffer.from(await res.arrayBuffer());
  if (e.status !== 200) {
    // The recorded 404s: user.css and templates have no file, the userdata folders and files do not exist yet.
    if (e.responseBody?.text !== undefined) expect(body.toString(), where).toBe(e.responseBody.text);
    return;
  }
  const recordedType = e.responseHeaders['content-type'];
  if (recordedType) {
    const expected = BETTER_TYPES[path.extname(pathOf(e))] ?? media(recordedType);
    expect(media(res.headers.get('content-type')), where).toBe(expected);
  }
  const deliberate = DELIBERATE.find(([pattern]) => pattern.test(pathOf(e)));
  if (deliberate) {
    expect(JSON.parse(body.toString()), where).toEqual(deliberate[1]);
    return;
  }
  const text = e.responseBody?.text;
  if (text === undefined || e.responseBody?.truncated) return; // static files are recorded by size; some bodies were not readable
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

const media = (type: string | null) => (type ?? '').split(';')[0]!.trim();

describe('the recorded web UI session (ComfyUI_frontend 1.45.6 against ComfyUI v0.27.1), replayed', () => {
  let ui: WebUiServer;
  let root: string;

  beforeAll(async () => {
    root = await fakeWebUiRoot();
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
      const res = await sendRecorded(ui.url, e);
      await expectWebUiAnswer(e, res);
    }
    expect(replayed).toBe(mine.length);
  });

  it('leaves the settings the session posted in the user folder', async () => {
    expect(await (await fetch(`${ui.url}/api/settings`)).json()).toEqual({ 'Comfy.TutorialCompleted': true, 'Comfy.Queue.History.Expanded': false });
    expect((await fetch(`${ui.url}/api/settings`)).headers.get(UNHANDLED)).toBeNull();
  });
});

/** The core's routes the session used (ComfyUI's server.py, answered by the surface with the bridge's executor). */
const CORE = /^\/api\/(jobs|prompt|view|upload\/image|object_info|system_stats|interrupt)$/;
/** The page's own blob: URLs (its web workers), recorded by their path: never sent to the server. */
const isBlobUrl = (e: Exchange) => /^\/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(pathOf(e));
const isServers = (e: Exchange) => e.status !== undefined && e.path.startsWith('/') && !isBlobUrl(e);

type Job = { id: string; status: string } & Record<string, unknown>;

describe('the recorded web UI session replayed whole against the real comfy-seal bridge', () => {
  let rig: BridgeRig;
  let root: string;

  beforeAll(async () => {
    root = await fakeWebUiRoot();
    // Sampler steps slow enough that the recorded moments with a job in progress can be met.
    rig = await startBridgeRig({ frontEnd: (await findFrontEnd({ frontEndRoot: root }))!, checkpoints: ['v1-5-pruned-emaonly.safetensors'], stepMs: 250 });
  }, 120_000);
  afterAll(async () => {
    await rig?.close();
    await rm(root, { recursive: true, force: true });
  });

  it("every exchange the server answered is the web UI module's or the core's", () => {
    const servers = exchanges.filter(isServers);
    expect(servers.filter((e) => !isWebUis(e) && !CORE.test(pathOf(e))).map((e) => e.path)).toEqual([]);
    expect(servers.length).toBe(296); // 306 less 4 to other hosts and 6 blob: URLs
  });

  it('answers each one in order with the recorded status and shape, the prompts run on the endpoint', async () => {
    const url = rig.bridge.url;
    /** The recorded prompt ids → the bridge's. */
    const ids = new Map<string, string>();
    let replayed = 0;
    for (const e of exchanges.filter(isServers)) {
      replayed++;
      const where = `#${e.id} ${e.method} ${e.path}`;
      const p = pathOf(e);
      if (isWebUis(e)) {
        await expectWebUiAnswer(e, await sendRecorded(url, e));
        continue;
      }
      const recordedText = e.responseBody?.text;
      if (p === '/api/jobs') {
        // The recording's moment: the bridge is waited for until its jobs are in the recorded states, in order.
        const recorded = JSON.parse(recordedText!) as { jobs: Job[]; pagination: unknown };
        const wanted = recorded.jobs.map((j) => `${ids.get(j.id)} ${j.status}`);
        let actual: { jobs: Job[]; pagination: unknown } | undefined;
        for (const deadline = Date.now() + 30_000; ; await sleep(50)) {
          const res = await sendRecorded(url, e);
          expect(res.status, where).toBe(200);
          actual = (await res.json()) as typeof actual;
          if (JSON.stringify(actual!.jobs.map((j) => `${j.id} ${j.status}`)) === JSON.stringify(wanted) || Date.now() > deadline) break;
        }
        expect(actual!.jobs.map((j) => `${j.id} ${j.status}`), where).toEqual(wanted);
        for (const [i, job] of recorded.jobs.entries()) expectSameShape(actual!.jobs[i], job, `${where} jobs[${i}]`);
        expectSameShape(actual!.pagination, recorded.pagination, `${where} pagination`);
        continue;
      }
      if (p === '/api/upload/image') {
        const form = new FormData();
        form.append('image', new Blob([encodePng(generateFrame(64, 64, 'upload'))], { type: 'image/png' }), 'test-upload.png');
        form.append('type', 'input');
        const res = await fetch(`${url}${e.path}`, { method: 'POST', body: form });
        expect(res.status, where).toBe(e.status);
        expect(await res.json(), where).toEqual(JSON.parse(recordedText!));
        continue;
      }
      // The interrupt names the bridge's id for the recorded prompt.
      let body = e.requestBody?.text;
      for (const [recorded, ours] of ids) body = body?.replaceAll(recorded, ours);
      const res = await sendRecorded(url, e, body);
      expect(res.status, where).toBe(e.status);
      const answer = Buffer.from(await res.arrayBuffer());
      if (p === '/api/prompt') {
        const recorded = JSON.parse(recordedText!) as { prompt_id: string; number: number; node_errors: unknown };
        const actual = JSON.parse(answer.toString()) as typeof recorded;
        expect({ ...actual, prompt_id: 'id' }, where).toEqual({ ...recorded, prompt_id: 'id' });
        ids.set(recorded.prompt_id, actual.prompt_id);
      } else if (p === '/api/view') {
        // The image the endpoint made, or ComfyUI's 404 for the input the UI's placeholder names.
        if (e.status === 200) {
          expect(media(res.headers.get('content-type')), where).toBe(media(e.responseHeaders['content-type']!));
          expect(isPng(answer), where).toBe(true);
        } else expect(answer.toString(), where).toBe(recordedText ?? '');
      } else if (p === '/api/object_info') {
        // Recorded truncated (1.3 MB): the classes the session ran are defined, shaped as the recorded ones are.
        const info = JSON.parse(answer.toString()) as Record<string, Record<string, unknown>>;
        for (const name of ['KSampler', 'CheckpointLoaderSimple', 'EmptyLatentImage', 'CLIPTextEncode', 'VAEDecode', 'SaveImage', 'LoadImage', 'ImageInvert']) {
          expect(Object.keys(info[name] ?? {}).sort(), `${where} ${name}`).toEqual(expect.arrayContaining(['input', 'output', 'output_node', 'name', 'display_name', 'category']));
        }
      } else if (p === '/api/system_stats') {
        const actual = JSON.parse(answer.toString()) as { system: unknown; devices: Array<Record<string, unknown>> };
        const recorded = JSON.parse(recordedText!) as typeof actual;
        expectSameShape(actual.system, recorded.system, where);
        expect(Object.keys(actual.devices[0]!).sort(), where).toEqual(Object.keys(recorded.devices[0]!).sort());
      } else {
        expect(answer.toString(), where).toBe(recordedText ?? ''); // /interrupt: an empty 200
      }
    }
    expect(replayed).toBe(296);
    // The endpoint ran them: the two finished prompts' images are in output/, under ComfyUI's names.
    expect(readdirSync(rig.bridge.folders.output).sort()).toEqual(['ComfyUI_00001_.png', 'invert_00001_.png']);
  }, 120_000);
});
