import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { connectClient, getJson, postJson, useBridgeRig } from './helpers.js';

const CANARY = 'canary-bridge-7f3e-wren';

function generate(prefix: string, steps = 4) {
  return {
    '10': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'sd15.safetensors' } },
    '11': { class_type: 'CLIPTextEncode', inputs: { text: `a photo of ${CANARY}`, clip: ['10', 1] } },
    '13': { class_type: 'EmptyLatentImage', inputs: { width: 16, height: 16, batch_size: 1 } },
    '14': {
      class_type: 'KSampler',
      inputs: { model: ['10', 0], seed: 5, steps, cfg: 7, sampler_name: 'euler', scheduler: 'normal', positive: ['11', 0], negative: ['11', 0], latent_image: ['13', 0], denoise: 1 },
    },
    '15': { class_type: 'VAEDecode', inputs: { samples: ['14', 0], vae: ['10', 2] } },
    '16': { class_type: 'SaveImage', inputs: { images: ['15', 0], filename_prefix: prefix } },
    '17': { class_type: 'PreviewImage', inputs: { images: ['15', 0] } },
  };
}

const rig = useBridgeRig();

describe('comfy-seal bridge: a ComfyUI client runs a prompt on the endpoint', () => {
  it("sends ComfyUI's messages in ComfyUI's order, writes the files under ComfyUI's names, and /history and /view have them", async () => {
    const url = rig().bridge.url;
    const c = await connectClient(url, 'client-a');
    const prefix = `${CANARY}-prefix`;
    const posted = await postJson(url, '/prompt', { prompt: generate(prefix, 6), client_id: 'client-a' });
    expect(posted.status).toBe(200);
    expect(posted.json).toMatchObject({ prompt_id: expect.any(String), number: expect.any(Number), node_errors: {} });
    const id = posted.json.prompt_id as string;
    await c.done(id, 60_000);

    const types = c.messages.map((m) => m.type);
    expect(types[0]).toBe('status');
    const mine = c.messages.filter((m) => m.data.prompt_id === id);
    const kinds = mine.map((m) => m.type);
    expect(kinds.slice(0, 2)).toEqual(['execution_start', 'execution_cached']);
    expect(kinds).toContain('executing');
    expect(kinds).toContain('progress');
    expect(kinds.slice(-2)).toEqual(['execution_success', 'executing']);
    // ComfyUI's end: execution_success, then status (queue 0), then executing null.
    const success = types.lastIndexOf('execution_success');
    expect(c.messages[success + 1]).toMatchObject({ type: 'status', data: { status: { exec_info: { queue_remaining: 0 } } } });
    // The last output node as ComfyUI reports one: progress_state (running), executing, executed, progress_state
    // (finished); then execution_success, status, executing null.
    expect(c.messages.slice(-7).map((m) => [m.type, m.data.node ?? (m.data.nodes as Record<string, { state: string }> | undefined)?.['17']?.state ?? null])).toEqual([
      ['progress_state', 'running'],
      ['executing', '17'],
      ['executed', '17'],
      ['progress_state', 'finished'],
      ['execution_success', null],
      ['status', null],
      ['executing', null],
    ]);
    const progress = mine.filter((m) => m.type === 'progress');
    expect(progress.at(-1)?.data).toMatchObject({ node: '14', max: 6 });

    const executed = mine.filter((m) => m.type === 'executed');
    expect(executed.map((m) => m.data.node).sort()).toEqual(['16', '17']);
    const saved = executed.find((m) => m.data.node === '16')!.data.output as { images: Array<{ filename: string; subfolder: string; type: string }> };
    expect(saved.images).toEqual([{ filename: `${prefix}_00001_.png`, subfolder: '', type: 'output' }]);
    const preview = executed.find((m) => m.data.node === '17')!.data.output as { images: Array<{ filename: string; type: string }> };
    expect(preview.images[0]!.type).toBe('temp');
    expect(readdirSync(rig().bridge.folders.temp)).toContain(preview.images[0]!.filename);

    // /queue no longer holds it; /history has ComfyUI's entry; /view serves the file.
    expect(await getJson(url, '/queue')).toEqual({ queue_running: [], queue_pending: [] });
    const history = (await getJson(url, `/history/${id}`))[id];
    expect(history.status).toMatchObject({ status_str: 'success', completed: true });
    expect(history.outputs['16']).toEqual(saved);
    expect(history.prompt[1]).toBe(id);
    const view = await fetch(`${url}/view?filename=${encodeURIComponent(`${prefix}_00001_.png`)}&type=output`);
    expect(view.status).toBe(200);
    const bytes = Buffer.from(await view.arrayBuffer());
    expect(bytes.equals(readFileSync(path.join(rig().bridge.folders.output, `${prefix}_00001_.png`)))).toBe(true);

    const jobs = await getJson(url, '/api/jobs?status=completed,failed,cancelled&limit=64&offset=0');
    expect(jobs.jobs[0]).toMatchObject({ id, status: 'completed', outputs_count: 2, preview_output: { filename: `${prefix}_00001_.png`, type: 'output', nodeId: '16', mediaType: 'images' } });

    // The endpoint's models, as its loaders list them.
    expect(await getJson(url, '/models/checkpoints')).toEqual(['sd15.safetensors']);
    expect(await getJson(url, '/models/loras')).toEqual([]);
    expect((await fetch(`${url}/models/nonsense`)).status).toBe(404);
    expect(await getJson(url, '/object_info/KSampler')).toMatchObject({ KSampler: { output_node: false } });

    // The next run is numbered after it, never over it.
    const again = await postJson(url, '/prompt', { prompt: generate(prefix, 2), client_id: 'client-a' });
    await c.done(again.json.prompt_id, 60_000);
    expect(readdirSync(rig().bridge.folders.output).sort()).toEqual([`${prefix}_00001_.png`, `${prefix}_00002_.png`]);
    c.close();
  }, 90_000);

  it('never sends the prompt text, the file names or the prefix to the endpoint, and logs none of them', () => {
    expect(rig().sent.length).toBeGreaterThan(2);
    for (const body of rig().sent) expect(body).not.toContain(CANARY);
    for (const line of rig().lines) expect(line).not.toContain(CANARY);
    expect(rig().lines.some((l) => /done with 2 files$/.test(l))).toBe(true);
  });
});

describe('comfy-seal bridge: refusals, uploads, failures', () => {
  it('refuses a foreign Host (DNS rebinding) on HTTP and on the socket, and a foreign Origin as ComfyUI does', async () => {
    const { request } = await import('node:http');
    const WebSocket = (await import('ws')).default;
    const port = rig().bridge.port;
    const status = (headers: Record<string, string>) =>
      new Promise<number>((resolve, reject) => request({ host: '127.0.0.1', port, path: '/queue', headers }, (res) => resolve(res.statusCode ?? 0)).on('error', reject).end());
    expect(await status({ host: `127.0.0.1:${port}` })).toBe(200);
    expect(await status({ host: `localhost:${port}` })).toBe(200);
    expect(await status({ host: `evil.example:${port}` })).toBe(403);
    expect(await status({ host: `127.0.0.1:${port}`, origin: 'http://evil.example' })).toBe(403);
    const refused = await new Promise<string>((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/ws?clientId=x`, { headers: { host: `evil.example:${port}` } });
      ws.once('open', () => resolve('open'));
      ws.once('error', () => resolve('refused'));
    });
    expect(refused).toBe('refused');
  });

  it("mounts the web UI's routes (served at /x and /api/x), and without a front end says at / how to get one", async () => {
    const { startBridge, foldersUnder } = await import('../../bridge/server.js');
    const { ComfySealClient } = await import('../../client/client.js');
    const { Fernet } = await import('../../shared/fernet.js');
    const client = new ComfySealClient({ endpointId: 'x', apiUrl: 'http://127.0.0.1:9', key: Fernet.generateKey() });
    const folders = foldersUnder(path.join(rig().base, 'mounted'));
    const bridge = await startBridge({ client, folders, port: 0 });
    try {
      expect((await fetch(`${bridge.url}/api/userdata/a.json`, { method: 'POST', body: '{"a":1}' })).status).toBe(200);
      expect(await (await fetch(`${bridge.url}/userdata/a.json`)).json()).toEqual({ a: 1 });
      expect(readFileSync(path.join(folders.user, 'default', 'a.json'), 'utf8')).toBe('{"a":1}');
      // /internal is not aliased under /api (a sub-app in ComfyUI): the core's 404.
      expect((await fetch(`${bridge.url}/api/internal/folder_paths`)).status).toBe(404);
      expect((await fetch(`${bridge.url}/internal/folder_paths`)).status).toBe(200);
      const root = await fetch(`${bridge.url}/`);
      expect(root.status).toBe(404);
      expect(await root.text()).toContain('pip install comfyui-frontend-package');
      expect((await fetch(`${bridge.url}/api/nothing-here`)).status).toBe(404);
      expect(await getJson(bridge.url, '/api/queue')).toEqual({ queue_running: [], queue_pending: [] });
      // ComfyUI's answer for a model file it does not have (the bridge's folders hold none).
      const metadata = await fetch(`${bridge.url}/api/view_metadata/checkpoints?filename=sd15.safetensors`);
      expect([metadata.status, await metadata.text()]).toEqual([404, '']);
    } finally {
      await bridge.close();
    }
  });

  it("empties temp/ at start, as ComfyUI does, and keeps output/", async () => {
    const { startBridge } = await import('../../bridge/server.js');
    const { ComfySealClient } = await import('../../client/client.js');
    const { Fernet } = await import('../../shared/fernet.js');
    const folders = rig().bridge.folders;
    expect(readdirSync(folders.temp).length).toBeGreaterThan(0);
    const outputs = readdirSync(folders.output);
    const client = new ComfySealClient({ endpointId: 'x', apiUrl: 'http://127.0.0.1:9', key: Fernet.generateKey() });
    const second = await startBridge({ client, folders, port: 0 });
    await second.close();
    expect(readdirSync(folders.temp)).toEqual([]);
    expect(readdirSync(folders.output)).toEqual(outputs);
  });

  it("refuses a workflow the endpoint cannot run with ComfyUI's 400: error + node_errors, before anything is sent", async () => {
    const url = rig().bridge.url;
    const before = rig().sent.length;
    const unknown = await postJson(url, '/prompt', { prompt: { '1': { class_type: 'NoSuchNode', inputs: {} } } });
    expect(unknown.status).toBe(400);
    expect(unknown.json).toMatchObject({ error: { type: 'missing_node_type', extra_info: { node_id: '1', class_type: 'NoSuchNode' } }, node_errors: {} });
    const bad = generate('x');
    bad['14'].inputs.steps = 0;
    const low = await postJson(url, '/prompt', { prompt: bad });
    expect(low.status).toBe(400);
    expect(low.json.error.type).toBe('prompt_outputs_failed_validation');
    expect(low.json.node_errors['14']).toMatchObject({ class_type: 'KSampler', dependent_outputs: ['16', '17'], errors: [{ type: 'value_smaller_than_min', extra_info: { input_name: 'steps' } }] });
    const missingFile = await postJson(url, '/prompt', {
      prompt: { '1': { class_type: 'LoadImage', inputs: { image: 'nowhere.png' } }, '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'x' } } },
    });
    expect(missingFile.status).toBe(400);
    expect(missingFile.json.node_errors['1'].errors[0]).toMatchObject({ type: 'custom_validation_failed', extra_info: { input_name: 'image' } });
    // Only the definitions query (made once, by the first prompt) reached the endpoint: no /run for a refused prompt.
    expect(rig().sent.slice(before).filter((b) => b.startsWith('POST') && b.includes('/run'))).toEqual([]);
  });

  it('runs a LoadImage of an uploaded file named with a subfolder and an [input] annotation', async () => {
    const url = rig().bridge.url;
    const png = readFileSync(path.join(rig().bridge.folders.output, readdirSync(rig().bridge.folders.output)[0]!));
    const form = new FormData();
    form.append('image', new Blob([png], { type: 'image/png' }), `${CANARY}-upload.png`);
    form.append('subfolder', 'pasted');
    const up = await fetch(`${url}/upload/image`, { method: 'POST', body: form });
    expect(await up.json()).toEqual({ name: `${CANARY}-upload.png`, subfolder: 'pasted', type: 'input' });
    const c = await connectClient(url, 'client-up');
    const prompt = {
      '1': { class_type: 'LoadImage', inputs: { image: `pasted/${CANARY}-upload.png [input]` } },
      '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'loaded' } },
    };
    const posted = await postJson(url, '/prompt', { prompt, client_id: 'client-up' });
    expect(posted.status).toBe(200);
    await c.done(posted.json.prompt_id, 60_000);
    const executed = c.messages.find((m) => m.type === 'executed' && m.data.node === '2');
    expect(executed?.data.output).toEqual({ images: [{ filename: 'loaded_00001_.png', subfolder: '', type: 'output' }] });
    // The history keeps the prompt as the client queued it.
    const history = (await getJson(url, `/history/${posted.json.prompt_id}`))[posted.json.prompt_id];
    expect(history.prompt[2]['1'].inputs.image).toBe(`pasted/${CANARY}-upload.png [input]`);
    for (const body of rig().sent) expect(body).not.toContain(CANARY);
    c.close();
  }, 60_000);

  it("lists the bridge's own input/ images in LoadImage's combo (uploads appear there), and reports the endpoint's ComfyUI version", async () => {
    const url = rig().bridge.url;
    const png = readFileSync(path.join(rig().bridge.folders.output, readdirSync(rig().bridge.folders.output)[0]!));
    const form = new FormData();
    form.append('image', new Blob([png], { type: 'image/png' }), 'listed.png');
    expect((await fetch(`${url}/upload/image`, { method: 'POST', body: form })).status).toBe(200);
    const images = (info: Record<string, { input: { required: Record<string, [unknown]> } }>) => info.LoadImage!.input.required.image![0];
    // Top level only, images only, sorted: as ComfyUI lists its input dir (the subfolder upload above is not listed).
    expect(images(await getJson(url, '/object_info'))).toEqual(expect.arrayContaining(['listed.png']));
    expect(images(await getJson(url, '/object_info/LoadImage'))).toEqual(images(await getJson(url, '/object_info')));
    expect(images(await getJson(url, '/object_info/LoadImage'))).not.toContain(`pasted/${CANARY}-upload.png`);
    // Other combos are the endpoint's own.
    expect((await getJson(url, '/object_info/CheckpointLoaderSimple')).CheckpointLoaderSimple.input.required.ckpt_name[0]).toEqual(['sd15.safetensors']);
    // The definitions came with a ping: the endpoint's ComfyUI (here the simulator's) is the version reported.
    expect((await getJson(url, '/system_stats')).system.comfyui_version).toMatch(/-simulator$/);
  }, 60_000);

  it('runs only the outputs that passed validation (200 with node_errors), subfolders of filename_prefix kept', async () => {
    const url = rig().bridge.url;
    const c = await connectClient(url, 'client-part');
    const prompt = {
      '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 0 } },
      '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'album/good' } },
      '3': { class_type: 'EmptyImage', inputs: { width: 0, height: 8, batch_size: 1, color: 0 } },
      '4': { class_type: 'SaveImage', inputs: { images: ['3', 0], filename_prefix: 'bad' } },
    };
    const posted = await postJson(url, '/prompt', { prompt, client_id: 'client-part' });
    expect(posted.status).toBe(200);
    expect(Object.keys(posted.json.node_errors)).toEqual(['3']);
    expect(posted.json.node_errors['3'].dependent_outputs).toEqual(['4']);
    await c.done(posted.json.prompt_id, 60_000);
    const executed = c.messages.filter((m) => m.type === 'executed');
    expect(executed.map((m) => [m.data.node, m.data.output])).toEqual([['2', { images: [{ filename: 'good_00001_.png', subfolder: 'album', type: 'output' }] }]]);
    expect(readdirSync(path.join(rig().bridge.folders.output, 'album'))).toEqual(['good_00001_.png']);
    c.close();
  }, 60_000);

  it("an endpoint that cannot be reached is a 400 saying so and what to do, not a hang or a 500", async () => {
    const { startBridge, foldersUnder } = await import('../../bridge/server.js');
    const { ComfySealClient } = await import('../../client/client.js');
    const { Fernet } = await import('../../shared/fernet.js');
    const client = new ComfySealClient({ endpointId: 'x', apiUrl: 'http://127.0.0.1:9', key: Fernet.generateKey(), connectRetryMs: 0, env: { HOME: rig().base } });
    const bridge = await startBridge({ client, folders: foldersUnder(path.join(rig().base, 'unreachable')), port: 0, env: { HOME: rig().base } });
    try {
      const posted = await postJson(bridge.url, '/prompt', { prompt: generate('x') });
      expect(posted.status).toBe(400);
      expect(posted.json.error.type).toBe('endpoint_unavailable');
      expect(posted.json.error.message).toMatch(/^comfy-seal bridge could not get the endpoint's node definitions \(.+\); check the endpoint and key, or pass --object-info FILE$/);
      expect(posted.json.error.message).not.toContain(CANARY);
    } finally {
      await bridge.close();
    }
  });

  it('a failing node is execution_error with the sealed details opened: node id, type, exception', async () => {
    const url = rig().bridge.url;
    rig().stack.sim.settings.faults.errorAt = 'VAEDecode';
    try {
      const c = await connectClient(url, 'client-err');
      const posted = await postJson(url, '/prompt', { prompt: generate('err', 2), client_id: 'client-err' });
      await c.done(posted.json.prompt_id, 60_000);
      const error = c.messages.find((m) => m.type === 'execution_error');
      expect(error?.data).toMatchObject({
        prompt_id: posted.json.prompt_id,
        node_id: '15',
        node_type: 'VAEDecode',
        exception_type: 'RuntimeError',
        exception_message: 'simulated failure in VAEDecode',
      });
      expect((error!.data.traceback as string[]).join('')).toContain('simulated failure in VAEDecode');
      const history = (await getJson(url, `/history/${posted.json.prompt_id}`))[posted.json.prompt_id];
      expect(history.status).toMatchObject({ status_str: 'error', completed: false });
      expect(rig().lines.some((l) => l.endsWith('failed (EXECUTION_FAILED)'))).toBe(true);
      c.close();
    } finally {
      delete rig().stack.sim.settings.faults.errorAt;
    }
  }, 60_000);
});
