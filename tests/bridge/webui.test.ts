/**
 * The bridge's web UI routes (contract §14, issue #21 item 5) over real sockets: settings, users and userdata from the
 * user dir, names that try to leave it, the web UI's static files, finding the web UI through python3, and the
 * catalogs the UI asks for. The recorded web UI session is replayed in tests/reference/bridge/webui-replay.test.ts (the reference suite).
 */
import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { findFrontEnd, frontEndLine, isForeignOrigin, type FrontEnd } from '../../bridge/webui/index.js';
import { UsageError } from '../../shared/cli.js';
import { fakeModels, rawRequest, startWebUi, UNHANDLED, type WebUiServer } from '../helpers/webui.js';

const MODELS = fakeModels(['checkpoints', 'configs', 'loras', 'custom_nodes'], { checkpoints: ['sd15.safetensors', 'sub/xl.safetensors'] });

let scratch: string;
beforeAll(async () => {
  scratch = await mkdtemp(path.join(tmpdir(), 'cs-webui-t-'));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

/** A built web UI's folder: index.html, assets, a font, extension scripts; a secret beside it and a link out. */
async function fakeFrontEnd(): Promise<FrontEnd> {
  const root = await mkdtemp(path.join(scratch, 'fe-'));
  const files: Record<string, string> = {
    'index.html': '<!doctype html><title>ComfyUI</title>',
    'assets/index-abc.js': 'console.log(1)',
    'assets/style.css': 'body{}',
    'assets/logo.svg': '<svg/>',
    'assets/data.json': '{}',
    'fonts/inter.woff2': 'wOF2',
    'extensions/core/groupNode.js': '//',
    'extensions/core/maskeditor/types.js': '//',
    'extensions/core/readme.md': 'not a script',
  };
  for (const [name, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(root, name)), { recursive: true });
    await writeFile(path.join(root, name), text);
  }
  await writeFile(path.join(scratch, 'secret.txt'), 'SECRET-OUTSIDE');
  await symlink(path.join(scratch, 'secret.txt'), path.join(root, 'assets', 'link-out.txt'));
  return (await findFrontEnd({ frontEndRoot: root }))!;
}

describe('settings, users and userdata', () => {
  let ui: WebUiServer;
  let outside: string;
  beforeEach(async () => {
    ui = await startWebUi(null, MODELS);
    outside = await mkdtemp(path.join(scratch, 'outside-'));
  });
  afterEach(async () => {
    await ui.close();
  });

  const userFile = (name: string) => path.join(ui.userDir, 'default', name);

  it('keeps settings in user/default/comfy.settings.json: POST one, POST several, GET all and one', async () => {
    expect(await (await fetch(`${ui.url}/api/settings`)).json()).toEqual({});
    expect(await (await fetch(`${ui.url}/api/settings/Comfy.TutorialCompleted`)).json()).toBeNull();
    const post = await fetch(`${ui.url}/api/settings/Comfy.TutorialCompleted`, { method: 'POST', body: 'true' });
    expect(post.status).toBe(200);
    expect(await (await fetch(`${ui.url}/api/settings/Comfy.TutorialCompleted`)).json()).toBe(true);
    await fetch(`${ui.url}/settings`, { method: 'POST', body: JSON.stringify({ 'Comfy.Locale': 'fr', 'Comfy.Sidebar.Size': 3 }) });
    expect(await (await fetch(`${ui.url}/settings`)).json()).toEqual({ 'Comfy.TutorialCompleted': true, 'Comfy.Locale': 'fr', 'Comfy.Sidebar.Size': 3 });
    const onDisk = await readFile(userFile('comfy.settings.json'), 'utf8');
    expect(JSON.parse(onDisk)).toEqual({ 'Comfy.TutorialCompleted': true, 'Comfy.Locale': 'fr', 'Comfy.Sidebar.Size': 3 });
    expect(onDisk).toContain('\n    "Comfy.Locale": "fr"'); // ComfyUI's indent=4
    expect((await readdir(path.join(ui.userDir, 'default'))).filter((n) => n.startsWith('.'))).toEqual([]); // no temp left
  });

  it('keeps every one of many settings posted at once (writes are serialized)', async () => {
    await Promise.all(Array.from({ length: 25 }, (_, i) => fetch(`${ui.url}/api/settings/s${i}`, { method: 'POST', body: String(i) })));
    const all = (await (await fetch(`${ui.url}/api/settings`)).json()) as Record<string, number>;
    expect(Object.keys(all)).toHaveLength(25);
    expect(all.s24).toBe(24);
  });

  it('refuses a setting that is not JSON, with a way out, and keeps what was there', async () => {
    await fetch(`${ui.url}/api/settings/a`, { method: 'POST', body: '1' });
    const bad = await fetch(`${ui.url}/api/settings/b`, { method: 'POST', body: 'not json' });
    expect(bad.status).toBe(400);
    expect(await bad.text()).toMatch(/not JSON.*send the value as JSON/);
    expect(await (await fetch(`${ui.url}/api/settings`)).json()).toEqual({ a: 1 });
  });

  it('reads a damaged settings file as no settings, as ComfyUI does, and keeps it beside on the next write', async () => {
    await mkdir(path.join(ui.userDir, 'default'), { recursive: true });
    await writeFile(userFile('comfy.settings.json'), '{ torn');
    expect(await (await fetch(`${ui.url}/api/settings`)).json()).toEqual({});
    await fetch(`${ui.url}/api/settings/a`, { method: 'POST', body: '1' });
    expect(await (await fetch(`${ui.url}/api/settings`)).json()).toEqual({ a: 1 });
    const kept = (await readdir(path.join(ui.userDir, 'default'))).filter((n) => n.startsWith('comfy.settings.json.damaged-'));
    expect(kept).toHaveLength(1);
    expect(await readFile(userFile(kept[0]!), 'utf8')).toBe('{ torn');
  });

  it('answers /users for the one user, with the folder made', async () => {
    expect(await (await fetch(`${ui.url}/api/users`)).json()).toEqual({ storage: 'server', migrated: true });
    expect((await stat(path.join(ui.userDir, 'default'))).isDirectory()).toBe(true);
    const add = await fetch(`${ui.url}/api/users`, { method: 'POST', body: JSON.stringify({ username: 'x' }) });
    expect(add.status).toBe(400);
    expect(((await add.json()) as { error: string }).error).toMatch(/one user/);
  });

  it('saves, lists, loads, moves and deletes a workflow as the web UI does', async () => {
    const workflow = JSON.stringify({ nodes: [], links: [], version: 0.4 });
    const listUrl = `${ui.url}/api/userdata?dir=workflows&recurse=true&split=false&full_info=true`;
    const empty = await fetch(listUrl);
    expect(empty.status).toBe(404);
    expect(await empty.text()).toBe('Directory not found');

    const saved = await fetch(`${ui.url}/api/userdata/workflows%2Fmy%20flow.json?overwrite=false&full_info=true`, { method: 'POST', body: workflow });
    expect(saved.status).toBe(200);
    const info = (await saved.json()) as Record<string, unknown>;
    expect(info).toEqual({ path: 'workflows/my flow.json', size: workflow.length, modified: expect.any(Number), created: expect.any(Number) });
    expect(await readFile(userFile('workflows/my flow.json'), 'utf8')).toBe(workflow);
    expect((await stat(userFile('workflows/my flow.json'))).mode & 0o777).toBe(0o600);

    const again = await fetch(`${ui.url}/api/userdata/workflows%2Fmy%20flow.json?overwrite=false`, { method: 'POST', body: '{}' });
    expect(again.status).toBe(409);
    expect(await readFile(userFile('workflows/my flow.json'), 'utf8')).toBe(workflow);
    const replaced = await fetch(`${ui.url}/api/userdata/workflows%2Fsub%2Fb.json`, { method: 'POST', body: '{"b":1}' });
    expect(await replaced.json()).toBe('workflows/sub/b.json');

    const listed = (await (await fetch(listUrl)).json()) as Array<Record<string, unknown>>;
    expect(listed.map((e) => e.path)).toEqual(['my flow.json', 'sub/b.json']);
    expect(listed[0]).toEqual({ path: 'my flow.json', size: workflow.length, modified: info.modified, created: expect.any(Number) });
    expect(await (await fetch(`${ui.url}/api/userdata?dir=workflows`)).json()).toEqual(['my flow.json']);
    expect(await (await fetch(`${ui.url}/api/userdata?dir=workflows&recurse=true&split=true`)).json()).toEqual([
      ['my flow.json', 'my flow.json'],
      ['sub/b.json', 'sub', 'b.json'],
    ]);
    expect((await fetch(`${ui.url}/api/userdata`)).status).toBe(400);

    const loaded = await fetch(`${ui.url}/api/userdata/workflows%2Fmy%20flow.json`);
    expect(loaded.status).toBe(200);
    expect(await loaded.text()).toBe(workflow);
    expect(loaded.headers.get('content-type')).toBe('application/json');
    expect(loaded.headers.get('content-disposition')).toBe('attachment');
    expect(loaded.headers.get('x-content-type-options')).toBe('nosniff');

    const moved = await fetch(`${ui.url}/api/userdata/workflows%2Fmy%20flow.json/move/workflows%2Frenamed.json?overwrite=false`, { method: 'POST' });
    expect(await moved.json()).toBe('workflows/renamed.json');
    expect((await fetch(`${ui.url}/api/userdata/workflows%2Fmy%20flow.json`)).status).toBe(404);
    expect(await (await fetch(`${ui.url}/api/userdata/workflows%2Frenamed.json`)).text()).toBe(workflow);
    const clash = await fetch(`${ui.url}/api/userdata/workflows%2Fsub%2Fb.json/move/workflows%2Frenamed.json?overwrite=false`, { method: 'POST' });
    expect(clash.status).toBe(409);
    const movedInfo = await fetch(`${ui.url}/api/userdata/workflows%2Fsub%2Fb.json/move/workflows%2Frenamed.json?full_info=true`, { method: 'POST' });
    expect(((await movedInfo.json()) as { path: string }).path).toBe('workflows/renamed.json');
    expect(await readFile(userFile('workflows/renamed.json'), 'utf8')).toBe('{"b":1}');

    const deleted = await fetch(`${ui.url}/api/userdata/workflows%2Frenamed.json`, { method: 'DELETE' });
    expect(deleted.status).toBe(204);
    expect((await fetch(`${ui.url}/api/userdata/workflows%2Frenamed.json`, { method: 'DELETE' })).status).toBe(404);
    expect(await (await fetch(`${ui.url}/api/userdata?dir=workflows&recurse=true`)).json()).toEqual([]);
    expect(await (await fetch(`${ui.url}/api/v2/userdata`)).json()).toEqual([
      { name: 'sub', path: 'workflows/sub', type: 'directory' },
      { name: 'workflows', path: 'workflows', type: 'directory' },
    ]);
  });

  it('lets exactly one of many saves with overwrite=false take a new name (no window between check and write)', async () => {
    const answers = await Promise.all(
      Array.from({ length: 12 }, (_, i) => fetch(`${ui.url}/api/userdata/workflows%2Frace.json?overwrite=false`, { method: 'POST', body: `{"n":${i}}` })),
    );
    expect(answers.map((a) => a.status).sort()).toEqual([200, ...Array<number>(11).fill(409)]);
    const winner = answers.findIndex((a) => a.status === 200);
    expect(await readFile(userFile('workflows/race.json'), 'utf8')).toBe(`{"n":${winner}}`);
    expect(await readdir(path.join(ui.userDir, 'default', 'workflows'))).toEqual(['race.json']); // no temp left
    const moves = await Promise.all(
      ['a', 'b', 'c'].map(async (n) => {
        await fetch(`${ui.url}/api/userdata/${n}.json`, { method: 'POST', body: n });
        return fetch(`${ui.url}/api/userdata/${n}.json/move/moved.json?overwrite=false`, { method: 'POST' });
      }),
    );
    expect(moves.map((m) => m.status).sort()).toEqual([200, 409, 409]);
  });

  it("reads the flags as ComfyUI does: overwrite on unless exactly 'false' (the UI sends overwrite=undefined), full_info=True on", async () => {
    await fetch(`${ui.url}/api/userdata/a.json`, { method: 'POST', body: 'A' });
    await fetch(`${ui.url}/api/userdata/b.json`, { method: 'POST', body: 'B' });
    const moved = await fetch(`${ui.url}/api/userdata/a.json/move/b.json?overwrite=undefined`, { method: 'POST' });
    expect(moved.status).toBe(200);
    expect(await readFile(userFile('b.json'), 'utf8')).toBe('A');
    const saved = await fetch(`${ui.url}/api/userdata/b.json?overwrite=False&full_info=True`, { method: 'POST', body: 'C' });
    expect(((await saved.json()) as { path: string }).path).toBe('b.json');
    expect(await readFile(userFile('b.json'), 'utf8')).toBe('C');
  });

  it('serves user.css inline as CSS (the UI loads it as a stylesheet), other files as downloads', async () => {
    await fetch(`${ui.url}/api/userdata/user.css`, { method: 'POST', body: 'body{color:red}' });
    const css = await fetch(`${ui.url}/api/userdata/user.css`);
    expect(css.headers.get('content-type')).toBe('text/css');
    expect(css.headers.get('content-disposition')).toBe('inline');
    await fetch(`${ui.url}/api/userdata/page.html`, { method: 'POST', body: '<script>x</script>' });
    expect((await fetch(`${ui.url}/api/userdata/page.html`)).headers.get('content-type')).toBe('application/octet-stream');
  });

  const escapes = [
    '..%2Fescape.json',
    '%2E%2E%2Fescape.json',
    '%252e%252e%252fescape.json', // encoded twice: ComfyUI decodes again
    'workflows%2F..%2F..%2Fescape.json',
    '%2Ftmp%2Fescape.json',
    'C%3A%5Cescape.json',
    'workflows%5C..%5C..%5Cescape.json',
    'a%00.json',
  ];

  it.each(escapes)('refuses the name %s for every userdata verb, writing nothing anywhere', async (name) => {
    await fetch(`${ui.url}/api/userdata/ok.json`, { method: 'POST', body: 'OK' });
    const before = await readdir(ui.base, { recursive: true });
    for (const [method, p] of [
      ['POST', `/api/userdata/${name}`],
      ['GET', `/api/userdata/${name}`],
      ['DELETE', `/api/userdata/${name}`],
      ['POST', `/api/userdata/ok.json/move/${name}`],
      ['GET', `/api/userdata?dir=${name}`],
    ] as const) {
      const res = await rawRequest(ui.url, method, p);
      expect(res.status, `${method} ${p}`).toBe(403);
      expect(res.body.toString(), `${method} ${p}`).toMatch(/^Invalid path: /);
    }
    expect(await readdir(ui.base, { recursive: true })).toEqual(before);
    await expect(stat(path.join(ui.base, 'escape.json'))).rejects.toThrow();
    expect(await readFile(userFile('ok.json'), 'utf8')).toBe('OK');
  });

  it('refuses names that lead out through a symlink (to a folder, to a file, dangling), for reads and writes', async () => {
    await mkdir(path.join(ui.userDir, 'default', 'workflows'), { recursive: true });
    await writeFile(path.join(outside, 'theirs.json'), 'THEIRS');
    await symlink(outside, path.join(ui.userDir, 'default', 'workflows', 'out'));
    await symlink(path.join(outside, 'theirs.json'), path.join(ui.userDir, 'default', 'workflows', 'file-out.json'));
    await symlink(path.join(outside, 'not-yet'), path.join(ui.userDir, 'default', 'workflows', 'dangling'));
    const cases: Array<[string, string]> = [
      ['POST', '/api/userdata/workflows%2Fout%2Fnew.json'],
      ['GET', '/api/userdata/workflows%2Fout%2Ftheirs.json'],
      ['GET', '/api/userdata/workflows%2Ffile-out.json'],
      ['POST', '/api/userdata/workflows%2Ffile-out.json'],
      ['DELETE', '/api/userdata/workflows%2Ffile-out.json'],
      ['POST', '/api/userdata/workflows%2Fdangling%2Fx.json'],
      ['GET', '/api/userdata?dir=workflows%2Fout'],
    ];
    for (const [method, p] of cases) {
      const res = await rawRequest(ui.url, method, p);
      expect(res.status, `${method} ${p}`).toBe(403);
      expect(res.body.toString()).toMatch(/symlink/);
    }
    expect(await readdir(outside)).toEqual(['theirs.json']);
    expect(await readFile(path.join(outside, 'theirs.json'), 'utf8')).toBe('THEIRS');
    // The listing does not follow the links either.
    expect(await (await fetch(`${ui.url}/api/userdata?dir=workflows&recurse=true`)).json()).toEqual([]);
  });

  it('answers 400 with a way out for a name that cannot be a file (under a file, a folder, too long)', async () => {
    await fetch(`${ui.url}/api/userdata/ok.json`, { method: 'POST', body: 'OK' });
    await mkdir(path.join(ui.userDir, 'default', 'workflows'), { recursive: true });
    for (const name of ['ok.json%2Fx.json', 'workflows', `${'n'.repeat(300)}.json`]) {
      const res = await fetch(`${ui.url}/api/userdata/${name}`, { method: 'POST', body: '{}' });
      expect(res.status, name).toBe(400);
      expect(await res.text(), name).toMatch(/choose another name|choose a file name/);
    }
    expect(await readFile(userFile('ok.json'), 'utf8')).toBe('OK');
  });

  it("refuses what another web site's page sends (Origin not this address), as ComfyUI does", async () => {
    const host = new URL(ui.url).host;
    const evil = await rawRequest(ui.url, 'POST', '/api/settings/Comfy.Locale', { host, origin: 'http://evil.example', 'content-type': 'text/plain' }, '"xx"');
    expect(evil.status).toBe(403);
    expect(evil.body.toString()).toMatch(/another web site/);
    const rebinding = await rawRequest(ui.url, 'POST', '/api/userdata/workflows%2Fa.json', { host, origin: 'http://127.0.0.1:1' }, '{}');
    expect(rebinding.status).toBe(403);
    expect(await (await fetch(`${ui.url}/api/settings`)).json()).toEqual({});
    const same = await rawRequest(ui.url, 'POST', '/api/settings/Comfy.Locale', { host, origin: `http://${host}` }, '"fr"');
    expect(same.status).toBe(200);
    const localhost = await rawRequest(ui.url, 'GET', '/api/settings', { host: `localhost:${new URL(ui.url).port}`, origin: `http://localhost:${new URL(ui.url).port}` });
    expect(JSON.parse(localhost.body.toString())).toEqual({ 'Comfy.Locale': 'fr' });
  });

  it('refuses a body over the limit with 413 and leaves no file', async () => {
    const small = await startWebUiWithLimit(16);
    try {
      const res = await fetch(`${small.url}/api/userdata/big.json`, { method: 'POST', body: 'x'.repeat(64) });
      expect(res.status).toBe(413);
      await expect(stat(path.join(small.userDir, 'default', 'big.json'))).rejects.toThrow();
    } finally {
      await small.close();
    }
  });
});

async function startWebUiWithLimit(maxBodyBytes: number): Promise<WebUiServer> {
  const { createWebUiRoutes } = await import('../../bridge/webui/index.js');
  const ui = await startWebUi(null, MODELS);
  // A second handler over the same dirs with a small limit, on its own server.
  const handle = createWebUiRoutes({ userDir: ui.userDir, frontEnd: null, dirs: ui.dirs, models: MODELS, maxBodyBytes });
  const { createServer } = await import('node:http');
  const server = createServer((req, res) => void handle(req, res, (req.url ?? '/').split('?')[0]!));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    ...ui,
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await ui.close();
    },
  };
}

describe('the web UI itself', () => {
  it('serves a front-end root: index.html at /, assets with their content types, HEAD, no way out of the folder', async () => {
    const ui = await startWebUi(await fakeFrontEnd(), MODELS);
    try {
      const index = await fetch(`${ui.url}/`);
      expect(index.status).toBe(200);
      expect(index.headers.get('content-type')).toBe('text/html');
      expect(index.headers.get('cache-control')).toBe('no-store, must-revalidate');
      expect(await index.text()).toContain('<title>ComfyUI</title>');
      const types: Record<string, string> = {
        '/assets/index-abc.js': 'application/javascript; charset=utf-8',
        '/assets/style.css': 'text/css',
        '/assets/logo.svg': 'image/svg+xml',
        '/assets/data.json': 'application/json',
        '/fonts/inter.woff2': 'font/woff2',
      };
      for (const [p, type] of Object.entries(types)) {
        const res = await fetch(`${ui.url}${p}`);
        expect(res.status, p).toBe(200);
        expect(res.headers.get('content-type'), p).toBe(type);
      }
      const head = await rawRequest(ui.url, 'HEAD', '/assets/index-abc.js');
      expect(head.status).toBe(200);
      expect(head.headers['content-length']).toBe('14');
      expect(head.body.length).toBe(0);
      for (const p of ['/../secret.txt', '/assets/../../secret.txt', '/%2e%2e/secret.txt', '/assets%2F..%2F..%2Fsecret.txt', '/assets/link-out.txt', '/assets', '/nothing.js', `/${path.join(scratch, 'secret.txt')}`, '//etc/passwd']) {
        const res = await rawRequest(ui.url, 'GET', p);
        expect(res.status, p).toBe(404);
        expect(res.headers[UNHANDLED], p).toBe('1'); // left to the core's 404
        expect(res.body.toString()).not.toContain('SECRET');
      }
      // Static files are not served under /api, nor written to.
      expect((await rawRequest(ui.url, 'GET', '/api/index.html')).headers[UNHANDLED]).toBe('1');
      expect((await rawRequest(ui.url, 'POST', '/index.html')).headers[UNHANDLED]).toBe('1');
      expect(await (await fetch(`${ui.url}/api/extensions`)).json()).toEqual(['/extensions/core/groupNode.js', '/extensions/core/maskeditor/types.js']);
    } finally {
      await ui.close();
    }
  });

  it('without a web UI serves the API only and says at / how to get the UI', async () => {
    const ui = await startWebUi(null, MODELS);
    try {
      const root = await fetch(`${ui.url}/`);
      expect(root.status).toBe(404);
      expect(root.headers.get('content-type')).toBe('text/html; charset=utf-8');
      const page = await root.text();
      expect(page).toContain('pip install comfyui-frontend-package');
      expect(page).toContain('--front-end-root');
      expect(await (await fetch(`${ui.url}/api/extensions`)).json()).toEqual([]);
      expect((await rawRequest(ui.url, 'GET', '/assets/index.js')).headers[UNHANDLED]).toBe('1');
      expect((await fetch(`${ui.url}/api/settings`)).status).toBe(200);
    } finally {
      await ui.close();
    }
  });
});

describe('findFrontEnd', () => {
  /** A fake comfyui_frontend_package: the layout ComfyUI reads (the package's static/ folder). */
  async function fakePackage(withIndex = true): Promise<string> {
    const site = await mkdtemp(path.join(scratch, 'site-'));
    const pkg = path.join(site, 'comfyui_frontend_package');
    await mkdir(path.join(pkg, 'static'), { recursive: true });
    await writeFile(path.join(pkg, '__init__.py'), '');
    if (withIndex) await writeFile(path.join(pkg, 'static', 'index.html'), '<!doctype html>');
    return site;
  }

  it('takes --front-end-root when it holds index.html, and refuses one that does not with what to give', async () => {
    const fe = await fakeFrontEnd();
    expect(fe.source).toBe('flag');
    const empty = await mkdtemp(path.join(scratch, 'empty-'));
    const refused = findFrontEnd({ frontEndRoot: empty });
    await expect(refused).rejects.toBeInstanceOf(UsageError);
    await expect(refused).rejects.toThrow(/no index\.html there.*built web UI/);
    await expect(findFrontEnd({ frontEndRoot: path.join(empty, 'missing') })).rejects.toBeInstanceOf(UsageError);
  });

  it('finds the installed comfyui_frontend_package through python3 (its static/ folder)', async () => {
    const site = await fakePackage();
    const found = await findFrontEnd({ env: { ...process.env, PYTHONPATH: site } });
    expect(found).toEqual({ root: path.join(site, 'comfyui_frontend_package', 'static'), source: 'package' });
  });

  it('says at start-up which web UI is served, or how to get one', async () => {
    const site = await fakePackage();
    const found = await findFrontEnd({ env: { ...process.env, PYTHONPATH: site } });
    expect(frontEndLine(found)).toBe(`web UI: ${path.join(site, 'comfyui_frontend_package', 'static')} (comfyui_frontend_package, found through python3)`);
    expect(frontEndLine(null)).toMatch(/^web UI: none, serving ComfyUI's API only\. To get the web UI: pip install comfyui-frontend-package .*--front-end-root DIR/);
  });

  it('finds none without the package, with a package lacking index.html, or without python', async () => {
    const bare = await mkdtemp(path.join(scratch, 'bare-'));
    expect(await findFrontEnd({ env: { ...process.env, PYTHONPATH: bare } })).toBeNull();
    expect(await findFrontEnd({ env: { ...process.env, PYTHONPATH: await fakePackage(false) } })).toBeNull();
    expect(await findFrontEnd({ python: path.join(bare, 'no-python3') })).toBeNull();
  });
});

describe('catalogs and internal routes', () => {
  let ui: WebUiServer;
  beforeEach(async () => {
    ui = await startWebUi(null, MODELS);
  });
  afterEach(async () => {
    await ui.close();
  });

  it('answers as a ComfyUI without custom nodes, blueprints or local models', async () => {
    for (const [p, body] of [
      ['/api/i18n', {}],
      ['/api/workflow_templates', {}],
      ['/api/global_subgraphs', {}],
      ['/api/global_subgraphs/e6bbff48b2969df3162512e433dcbbe3ef2f806e677eb56e2dadf7962c661ff5', null],
      ['/api/node_replacements', {}],
      ['/i18n', {}],
    ] as const) {
      const res = await fetch(`${ui.url}${p}`);
      expect(res.status, p).toBe(200);
      expect(await res.json(), p).toEqual(body);
    }
  });

  it('lists the model folders by name (no paths of another machine) and the endpoint models in one', async () => {
    expect(await (await fetch(`${ui.url}/api/experiment/models`)).json()).toEqual([
      { name: 'checkpoints', folders: [] },
      { name: 'loras', folders: [] },
    ]);
    expect(await (await fetch(`${ui.url}/api/experiment/models/checkpoints`)).json()).toEqual([
      { name: 'sd15.safetensors', pathIndex: 0 },
      { name: 'sub/xl.safetensors', pathIndex: 0 },
    ]);
    const unknown = await fetch(`${ui.url}/api/experiment/models/nope`);
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: string }).error).toMatch(/GET \/experiment\/models lists them/);
    expect(await (await fetch(`${ui.url}/internal/folder_paths`)).json()).toEqual({ checkpoints: [], configs: [], loras: [], custom_nodes: [] });
  });

  it('lists input/output/temp files newest first with their annotation, hidden files left out', async () => {
    await writeFile(path.join(ui.dirs.input, 'old.png'), 'a');
    await writeFile(path.join(ui.dirs.input, 'new.png'), 'b');
    await writeFile(path.join(ui.dirs.input, '.hidden.png'), 'c');
    await mkdir(path.join(ui.dirs.input, 'clipspace'));
    await utimes(path.join(ui.dirs.input, 'old.png'), 1_000, 1_000);
    expect(await (await fetch(`${ui.url}/internal/files/input`)).json()).toEqual(['new.png [input]', 'old.png [input]']);
    await writeFile(path.join(ui.dirs.output, 'ComfyUI_00001_.png'), 'o');
    expect(await (await fetch(`${ui.url}/internal/files/output`)).json()).toEqual(['ComfyUI_00001_.png [output]']);
    expect(await (await fetch(`${ui.url}/internal/files/temp`)).json()).toEqual([]);
    const bad = await fetch(`${ui.url}/internal/files/models`);
    expect(bad.status).toBe(400);
    expect(await bad.json()).toEqual({ error: 'Invalid directory type' });
    // /internal is not under /api, as in ComfyUI.
    expect((await rawRequest(ui.url, 'GET', '/api/internal/files/input')).headers[UNHANDLED]).toBe('1');
  });

  it("answers the terminal panel's log routes with no logs (the bridge keeps none)", async () => {
    expect(await (await fetch(`${ui.url}/internal/logs`)).json()).toBe('');
    expect(await (await fetch(`${ui.url}/internal/logs/raw`)).json()).toEqual({ entries: [], size: { cols: 80, rows: 24 } });
    const subscribe = await fetch(`${ui.url}/internal/logs/subscribe`, { method: 'PATCH', body: JSON.stringify({ clientId: 'x', enabled: true }) });
    expect(subscribe.status).toBe(200);
  });

  it('leaves every other route to the core', async () => {
    for (const [method, p] of [
      ['GET', '/api/jobs'],
      ['POST', '/api/prompt'],
      ['GET', '/view'],
      ['GET', '/system_stats'],
      ['PUT', '/api/settings'],
    ] as const) {
      expect((await rawRequest(ui.url, method, p)).headers[UNHANDLED], `${method} ${p}`).toBe('1');
    }
  });
});

describe('isForeignOrigin (server.py origin_only_middleware)', () => {
  it.each([
    ['127.0.0.1:8188', 'http://127.0.0.1:8188', false],
    ['127.0.0.1:8188', 'http://evil.example', true],
    ['127.0.0.1:8188', 'http://127.0.0.1:9000', true],
    ['127.0.0.1:8188', 'http://127.0.0.1', false], // no port in Origin: host names compared
    ['127.0.0.1', 'http://127.0.0.1:9000', false], // no port in Host: host names compared
    ['127.0.0.1:8188', 'http://localhost:8188', true],
    ['localhost:8188', 'http://evil.example:8188', true],
    ['[::1]:8188', 'http://evil.example', true],
    ['192.168.1.5:8188', 'http://evil.example', false], // not loopback: ComfyUI leaves it to --listen's warning
    ['127.0.0.1:80', 'http://127.0.0.1:8188', true],
    ['127.0.0.1:8188', 'null', false],
    [undefined, 'http://evil.example', false],
    ['127.0.0.1:8188', undefined, false],
  ] as const)('Host %s, Origin %s → %s', (host, origin, refused) => {
    expect(isForeignOrigin(host, origin)).toBe(refused);
  });
});
