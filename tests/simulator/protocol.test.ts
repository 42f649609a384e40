import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { PNG } from 'pngjs';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startSimulator, type Simulator, type SimulatorOptions } from '../../simulator/index.js';
import { getJson } from '../helpers/http.js';
import { listFiles, pngOf } from '../helpers/pipeline.js';

let sim: Simulator | undefined;
const sockets: WebSocket[] = [];
afterEach(async () => {
  for (const ws of sockets.splice(0)) ws.terminate();
  await sim?.close();
  sim = undefined;
});

interface Client {
  ws: WebSocket;
  messages: Array<{ type: string; data: Record<string, unknown> }>;
  binary: Buffer[];
  waitFor(pred: (m: { type: string; data: Record<string, unknown> }) => boolean, ms?: number): Promise<void>;
}

async function connect(s: Simulator, clientId: string, featureFlags = false): Promise<Client> {
  const ws = new WebSocket(`${s.url.replace('http', 'ws')}/ws?clientId=${clientId}`);
  sockets.push(ws);
  const client: Client = {
    ws,
    messages: [],
    binary: [],
    waitFor: (pred, ms = 10_000) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out; saw ${client.messages.map((m) => m.type).join(',')}`)), ms);
        const check = () => {
          if (client.messages.some(pred)) {
            clearTimeout(timer);
            ws.off('message', check);
            resolve();
          }
        };
        ws.on('message', check);
        check();
      }),
  };
  ws.on('message', (data, isBinary) => {
    if (isBinary) client.binary.push(data as Buffer);
    else client.messages.push(JSON.parse(data.toString()));
  });
  await new Promise((r) => ws.once('open', r));
  if (featureFlags) ws.send(JSON.stringify({ type: 'feature_flags', data: { supports_preview_metadata: true } }));
  return client;
}

async function post(s: Simulator, route: string, body: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`${s.url}${route}`, { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null };
}

async function upload(s: Simulator, name: string, data: Buffer, extra: Record<string, string> = {}) {
  const form = new FormData();
  form.append('image', new Blob([data]), name);
  for (const [k, v] of Object.entries(extra)) form.append(k, v);
  return (await fetch(`${s.url}/upload/image`, { method: 'POST', body: form })).json() as Promise<Record<string, unknown>>;
}

const simple = (prefix = 'ComfyUI') => ({
  '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 0xff0000 } },
  '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: prefix } },
});

const start = async (options: SimulatorOptions = {}) => (sim = await startSimulator({ port: 0, stepMs: 1, ...options }));
const ours = (id: string) => (m: { data: Record<string, unknown> }) => m.data.prompt_id === id;
const done = (id: string) => (m: { type: string; data: Record<string, unknown> }) => m.type === 'executing' && m.data.node === null && m.data.prompt_id === id;

describe('ComfyUI simulator: protocol', () => {
  it('sends status with sid on connect, then the documented order for a normal run', async () => {
    const s = await start();
    const c = await connect(s, 'alice');
    expect(c.messages[0]).toEqual({ type: 'status', data: { status: { exec_info: { queue_remaining: 0 } }, sid: 'alice' } });
    const id = randomUUID();
    const res = await post(s, '/prompt', { prompt: simple(), client_id: 'alice', prompt_id: id });
    expect(res).toEqual({ status: 200, json: { prompt_id: id, number: 0, node_errors: {} } }); // server.py numbers from 0
    await c.waitFor(done(id));
    const seq = c.messages.slice(1).map((m) => (m.type === 'executing' ? `executing:${m.data.node}` : m.type === 'progress_state' ? `ps:${Object.values(m.data.nodes as object).at(-1).state}` : m.type));
    expect(seq).toEqual([
      'status', 'status', 'execution_start', 'execution_cached',
      'ps:running', 'executing:1', 'ps:finished',
      'ps:running', 'executing:2', 'executed', 'ps:finished',
      'execution_success', 'status', 'executing:null',
    ]);
    const executed = c.messages.find((m) => m.type === 'executed')!;
    expect(executed.data).toEqual({ node: '2', display_node: '2', output: { images: [{ filename: 'ComfyUI_00001_.png', subfolder: '', type: 'output' }] }, prompt_id: id });
    const png = PNG.sync.read(readFileSync(path.join(s.dirs.output, 'ComfyUI_00001_.png')));
    expect([png.width, png.height, png.data[0], png.data[1], png.data[2]]).toEqual([8, 8, 255, 0, 0]);
    const history = await getJson(`${s.url}/history/${id}`);
    expect(history[id].status).toMatchObject({ status_str: 'success', completed: true });
    expect(history[id].status.messages.map((m: [string]) => m[0])).toEqual(['execution_start', 'execution_cached', 'execution_success']);
    expect(history[id].prompt[1]).toBe(id);
    expect(history[id].prompt[3]).toMatchObject({ client_id: 'alice' });
  });

  it('a fully cached re-run executes nothing and names the old files; a new prefix re-runs only the saver', async () => {
    const s = await start();
    const c = await connect(s, 'c');
    const first = randomUUID();
    await post(s, '/prompt', { prompt: simple(), client_id: 'c', prompt_id: first });
    await c.waitFor(done(first));
    const second = randomUUID();
    await post(s, '/prompt', { prompt: simple(), client_id: 'c', prompt_id: second });
    await c.waitFor(done(second));
    const run2 = c.messages.filter(ours(second));
    expect(run2.find((m) => m.type === 'execution_cached')!.data.nodes).toEqual(['1', '2']);
    expect(run2.filter((m) => m.type === 'executing' && m.data.node !== null)).toEqual([]);
    expect((run2.find((m) => m.type === 'executed')!.data.output as any).images[0].filename).toBe('ComfyUI_00001_.png');
    expect(listFiles(s.dirs.output)).toHaveLength(1);

    const third = randomUUID();
    await post(s, '/prompt', { prompt: simple('other'), client_id: 'c', prompt_id: third });
    await c.waitFor(done(third));
    const run3 = c.messages.filter(ours(third));
    expect(run3.find((m) => m.type === 'execution_cached')!.data.nodes).toEqual(['1']);
    expect(run3.filter((m) => m.type === 'executing' && m.data.node !== null).map((m) => m.data.node)).toEqual(['2']);
  });

  it('reports execution_error in order, with history status error', async () => {
    const s = await start({ faults: { errorAt: '2' } });
    const c = await connect(s, 'c');
    const id = randomUUID();
    await post(s, '/prompt', { prompt: simple(), client_id: 'c', prompt_id: id });
    await c.waitFor(done(id));
    const types = c.messages.filter(ours(id)).map((m) => m.type);
    expect(types.slice(-3)).toEqual(['executing', 'execution_error', 'executing']);
    const error = c.messages.find((m) => m.type === 'execution_error')!.data;
    expect(error).toMatchObject({ prompt_id: id, node_id: '2', node_type: 'SaveImage', exception_type: 'RuntimeError', executed: ['1'] });
    expect(Array.isArray(error.traceback)).toBe(true);
    const history = (await getJson(`${s.url}/history/${id}`))[id];
    expect(history.status).toMatchObject({ status_str: 'error', completed: false });
    expect(history.status.messages.at(-1)[0]).toBe('execution_error');
  });

  it('answers 400 in ComfyUI shapes', async () => {
    const s = await start();
    expect((await post(s, '/prompt', {})).json).toEqual({
      error: { type: 'no_prompt', message: 'No prompt provided', details: 'No prompt provided', extra_info: {} },
      node_errors: {},
    });
    const unknown = await post(s, '/prompt', { prompt: { '1': { class_type: 'NoSuchNode', inputs: {} } } });
    expect(unknown.status).toBe(400);
    expect(unknown.json.error).toMatchObject({ type: 'missing_node_type', extra_info: { node_id: '1', class_type: 'NoSuchNode' } });
    const noOutputs = await post(s, '/prompt', { prompt: { '1': simple()['1'] } });
    expect(noOutputs.json.error.type).toBe('prompt_no_outputs');
    const missing = await post(s, '/prompt', { prompt: { ...simple(), '2': { class_type: 'SaveImage', inputs: { filename_prefix: 'x' } } } });
    expect(missing.status).toBe(400);
    expect(missing.json.error.type).toBe('prompt_outputs_failed_validation');
    expect(missing.json.node_errors['2']).toEqual({
      errors: [{ type: 'required_input_missing', message: 'Required input is missing', details: 'images', extra_info: { input_name: 'images' } }],
      dependent_outputs: ['2'],
      class_type: 'SaveImage',
    });
    const badLink = await post(s, '/prompt', { prompt: { ...simple(), '2': { class_type: 'SaveImage', inputs: { images: ['9', 0], filename_prefix: 'x' } } } });
    // A link to a node that is not in the prompt is a KeyError inside execution.py, reported against the output.
    expect(badLink.json.node_errors['2'].errors[0]).toMatchObject({ type: 'exception_during_validation', details: "'9'", extra_info: { exception_type: 'KeyError' } });
    const badSlot = await post(s, '/prompt', { prompt: { ...simple(), '2': { class_type: 'SaveImage', inputs: { images: ['1', 5], filename_prefix: 'x' } } } });
    expect(badSlot.json.node_errors['2'].errors[0].type).toBe('bad_linked_input');
    const mismatch = await post(s, '/prompt', {
      prompt: { '1': { class_type: 'EmptyLatentImage', inputs: { width: 8, height: 8, batch_size: 1 } }, '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'x' } } },
    });
    expect(mismatch.json.node_errors['2'].errors[0].type).toBe('return_type_mismatch');
    const noFile = await post(s, '/prompt', {
      prompt: { '1': { class_type: 'LoadImage', inputs: { image: 'missing.png' } }, '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'x' } } },
    });
    expect(noFile.json.node_errors['1'].errors[0]).toMatchObject({ type: 'custom_validation_failed', details: 'image - Invalid image file: missing.png' });
    const noAudio = await post(s, '/prompt', {
      prompt: { '1': { class_type: 'LoadAudio', inputs: { audio: 'gone.wav' } }, '2': { class_type: 'SaveAudio', inputs: { audio: ['1', 0], filename_prefix: 'x' } } },
    });
    expect(noAudio.json.node_errors['1'].errors[0]).toMatchObject({
      type: 'custom_validation_failed',
      details: 'audio - Invalid audio file: gone.wav',
      extra_info: { input_name: 'audio' }, // as the real server words it: the input's name only
    });
    expect((await post(s, '/prompt', { prompt: simple(), prompt_id: 'NOT-A-UUID' })).json.error.type).toBe('invalid_prompt_id');
    expect((await post(s, '/prompt', '{"prompt": ')).status).toBe(500);
  });

  it('answers 200 with node_errors when some outputs are valid, and runs only those', async () => {
    const s = await start();
    const c = await connect(s, 'c');
    const id = randomUUID();
    const prompt = { ...simple(), '3': { class_type: 'SaveImage', inputs: { images: ['9', 0], filename_prefix: 'bad' } } };
    const res = await post(s, '/prompt', { prompt, client_id: 'c', prompt_id: id });
    expect(res.status).toBe(200);
    expect(Object.keys(res.json.node_errors)).toEqual(['3']);
    await c.waitFor(done(id));
    expect(listFiles(s.dirs.output).map((f) => path.basename(f))).toEqual(['ComfyUI_00001_.png']);
  });

  it('routes events to the submitter only, broadcasts status, and drops messages for a disconnected client', async () => {
    const s = await start({ stepMs: 20 });
    const a = await connect(s, 'a');
    const b = await connect(s, 'b');
    const id = randomUUID();
    await post(s, '/prompt', { prompt: simple(), client_id: 'a', prompt_id: id });
    await a.waitFor(done(id));
    expect(b.messages.filter(ours(id))).toEqual([]);
    expect(b.messages.filter((m) => m.type === 'status').length).toBeGreaterThan(1);

    // Disconnected: nothing is buffered for later.
    a.ws.terminate();
    await new Promise((r) => setTimeout(r, 50));
    const id2 = randomUUID();
    await post(s, '/prompt', { prompt: simple('again'), client_id: 'a', prompt_id: id2 });
    await new Promise((r) => setTimeout(r, 200));
    const again = await connect(s, 'a');
    await new Promise((r) => setTimeout(r, 50));
    expect(again.messages.filter(ours(id2))).toEqual([]);
    expect((await getJson(`${s.url}/history/${id2}`))[id2].status.status_str).toBe('success');
  });

  it('a new socket with the same clientId takes over; the old one stays open but hears nothing', async () => {
    const s = await start();
    const old = await connect(s, 'same');
    const fresh = await connect(s, 'same');
    const id = randomUUID();
    await post(s, '/prompt', { prompt: simple(), client_id: 'same', prompt_id: id });
    await fresh.waitFor(done(id));
    expect(old.ws.readyState).toBe(WebSocket.OPEN);
    expect(old.messages.filter(ours(id))).toEqual([]);
  });

  it('makes the history race observable: empty at execution_success, written before executing null', async () => {
    const s = await start({ historyDelayMs: 150 });
    const c = await connect(s, 'c');
    const id = randomUUID();
    let atSuccess: unknown;
    c.ws.on('message', (data, bin) => {
      if (!bin && JSON.parse(data.toString()).type === 'execution_success') atSuccess = fetch(`${s.url}/history/${id}`).then((r) => r.json());
    });
    await post(s, '/prompt', { prompt: simple(), client_id: 'c', prompt_id: id });
    await c.waitFor(done(id));
    expect(await atSuccess).toEqual({});
    expect(Object.keys(await getJson(`${s.url}/history/${id}`))).toEqual([id]);
  });

  it('sends JPEG previews: type 1 after progress by default, type 4 before it after feature_flags (answered with the server flags)', async () => {
    const s = await start();
    const plain = await connect(s, 'p');
    const rich = await connect(s, 'r', true);
    await new Promise((r) => setTimeout(r, 30));
    const prompt = {
      '1': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'x.safetensors' } },
      '2': { class_type: 'EmptyLatentImage', inputs: { width: 16, height: 16, batch_size: 1 } },
      '3': { class_type: 'CLIPTextEncode', inputs: { text: 'a', clip: ['1', 1] } },
      '4': { class_type: 'KSampler', inputs: { model: ['1', 0], seed: 1, steps: 3, cfg: 1, sampler_name: 'euler', scheduler: 'normal', positive: ['3', 0], negative: ['3', 0], latent_image: ['2', 0], denoise: 1 } },
      '5': { class_type: 'VAEDecode', inputs: { samples: ['4', 0], vae: ['1', 2] } },
      '6': { class_type: 'PreviewImage', inputs: { images: ['5', 0] } },
    };
    for (const client of ['p', 'r']) {
      const id = randomUUID();
      expect((await post(s, '/prompt', { prompt: { ...prompt, '3': { ...prompt['3'], inputs: { text: client, clip: ['1', 1] } } }, client_id: client, prompt_id: id })).status).toBe(200);
      await (client === 'p' ? plain : rich).waitFor(done(id));
    }
    const kinds = (c: Client) => c.binary.map((b) => `${b.readUInt32BE(0)}`);
    expect(kinds(plain)).toEqual(['1', '1', '1']);
    expect(kinds(rich)).toEqual(['4', '4', '4']);
    expect(plain.binary[0]!.readUInt32BE(4)).toBe(1); // JPEG
    expect(plain.binary[0]!.subarray(8, 10).toString('hex')).toBe('ffd8');
    const type4 = rich.binary[0]!;
    const metaLength = type4.readUInt32BE(4);
    expect(JSON.parse(type4.subarray(8, 8 + metaLength).toString())).toEqual({ node_id: '4', prompt_id: expect.any(String), display_node_id: '4', parent_node_id: null, real_node_id: '4', image_type: 'image/jpeg' });
    expect(type4.subarray(8 + metaLength, 8 + metaLength + 2).toString('hex')).toBe('ffd8');
    expect(rich.messages.find((m) => m.type === 'feature_flags')?.data).toMatchObject({ supports_preview_metadata: true, max_upload_size: 100 * 1024 * 1024 });
    expect(plain.messages.some((m) => m.type === 'feature_flags')).toBe(false);
    // Progress per step, and previews go to temp with type temp.
    expect(plain.messages.filter((m) => m.type === 'progress').map((m) => `${m.data.value}/${m.data.max}`)).toEqual(['1/3', '2/3', '3/3']);
    expect(listFiles(s.dirs.temp).length).toBeGreaterThan(0);
    expect(listFiles(s.dirs.output)).toEqual([]);
  });
});

describe('ComfyUI simulator: routes', () => {
  it('serves queue, prompt, interrupt, history delete, system_stats, object_info, /api aliases', async () => {
    const s = await start({ faults: { hangAt: '2' } });
    const c = await connect(s, 'c');
    const id = randomUUID();
    await post(s, '/prompt', { prompt: simple(), client_id: 'c', prompt_id: id });
    const queued = randomUUID();
    await post(s, '/api/prompt', { prompt: simple('q'), client_id: 'c', prompt_id: queued });
    await c.waitFor((m) => m.type === 'executing' && m.data.node === '2');
    const queue = await getJson(`${s.url}/queue`);
    expect(queue.queue_running.map((i: unknown[]) => i[1])).toEqual([id]);
    expect(queue.queue_pending.map((i: unknown[]) => i[1])).toEqual([queued]);
    expect(await getJson(`${s.url}/api/prompt`)).toEqual({ exec_info: { queue_remaining: 2 } });
    await post(s, '/queue', { delete: [queued] });
    expect((await getJson(`${s.url}/queue`)).queue_pending).toEqual([]);
    // An interrupt for another prompt id does nothing; for ours it stops the hang.
    await post(s, '/interrupt', { prompt_id: randomUUID() });
    await new Promise((r) => setTimeout(r, 50));
    expect(c.messages.some((m) => m.type === 'execution_interrupted')).toBe(false);
    await post(s, '/interrupt', { prompt_id: id });
    await c.waitFor(done(id));
    const interrupted = c.messages.find((m) => m.type === 'execution_interrupted')!;
    expect(interrupted.data).toMatchObject({ prompt_id: id, node_id: '2', node_type: 'SaveImage' });
    const history = (await getJson(`${s.url}/history/${id}`))[id];
    expect(history.status).toMatchObject({ status_str: 'error', completed: false });
    await post(s, '/history', { delete: [id] });
    expect(await getJson(`${s.url}/history/${id}`)).toEqual({});

    const stats = await getJson(`${s.url}/system_stats`);
    expect(stats.system.comfyui_version).toMatch(/simulator/);
    expect(stats.devices[0]).toHaveProperty('vram_total');
    const info = await getJson(`${s.url}/object_info/KSampler`);
    expect(info.KSampler.input.required).toHaveProperty('positive', ['CONDITIONING', {}]);
    expect(info.KSampler.output).toEqual(['LATENT']);
    expect(await getJson(`${s.url}/object_info/Nope`)).toEqual({});
    const all = await getJson(`${s.url}/api/object_info`);
    expect(Object.keys(all).length).toBeGreaterThan(90);
    expect(s.calls.some((call) => call.path === '/object_info')).toBe(true);
  });

  it('guards /view and renames uploads instead of overwriting', async () => {
    const s = await start();
    const img = pngOf(2, 2, () => [1, 2, 3]);
    expect(await upload(s, 'in.png', img)).toEqual({ name: 'in.png', subfolder: '', type: 'input' });
    expect(await upload(s, 'in.png', img)).toEqual({ name: 'in (1).png', subfolder: '', type: 'input' });
    expect(await upload(s, 'in.png', img, { overwrite: 'true' })).toEqual({ name: 'in.png', subfolder: '', type: 'input' });
    expect(await upload(s, 'x.png', img, { subfolder: 'sub' })).toEqual({ name: 'x.png', subfolder: 'sub', type: 'input' });
    const view = await fetch(`${s.url}/view?filename=in.png&type=input`);
    expect(view.status).toBe(200);
    expect(Buffer.from(await view.arrayBuffer()).equals(img)).toBe(true);
    expect((await fetch(`${s.url}/view?filename=x.png&subfolder=sub&type=input`)).status).toBe(200);
    expect((await fetch(`${s.url}/view?filename=in.png%20%5Binput%5D`)).status).toBe(200);
    expect((await fetch(`${s.url}/view?filename=../etc/passwd`)).status).toBe(400);
    expect((await fetch(`${s.url}/view?filename=/etc/passwd`)).status).toBe(400);
    expect((await fetch(`${s.url}/view?filename=passwd&subfolder=../../etc`)).status).toBe(403);
    expect((await fetch(`${s.url}/view?filename=nope.png&type=input`)).status).toBe(404);
    expect((await fetch(`${s.url}/prompt`, { headers: { origin: 'http://evil.example' } })).status).toBe(403);
  });

  it('loads PNG and JPEG from input subfolders and [input]/[output] annotations', async () => {
    const s = await start();
    const c = await connect(s, 'c');
    await upload(s, 'a.png', pngOf(4, 3, () => [10, 20, 30]), { subfolder: 'sub' });
    const id = randomUUID();
    const prompt = {
      '1': { class_type: 'LoadImage', inputs: { image: 'sub/a.png [input]' } },
      '2': { class_type: 'ImageScale', inputs: { image: ['1', 0], upscale_method: 'nearest-exact', width: 8, height: 6, crop: 'disabled' } },
      '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: 'scaled/s' } },
    };
    await post(s, '/prompt', { prompt, client_id: 'c', prompt_id: id });
    await c.waitFor(done(id));
    const out = PNG.sync.read(readFileSync(path.join(s.dirs.output, 'scaled', 's_00001_.png')));
    expect([out.width, out.height, out.data[0]]).toEqual([8, 6, 10]);
    // And read back from the output dir with an annotation.
    const id2 = randomUUID();
    await post(s, '/prompt', {
      prompt: { '1': { class_type: 'LoadImageOutput', inputs: { image: 'scaled/s_00001_.png [output]' } }, '2': { class_type: 'ImageInvert', inputs: { image: ['1', 0] } }, '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: 'inv' } } },
      client_id: 'c',
      prompt_id: id2,
    });
    await c.waitFor(done(id2));
    expect(PNG.sync.read(readFileSync(path.join(s.dirs.output, 'inv_00001_.png'))).data[0]).toBe(245);
  });
});

describe('ComfyUI simulator: fault knobs', () => {
  it('slow start refuses connections, then serves', async () => {
    const s = await start({ slowStartMs: 300 });
    await expect(fetch(`${s.url}/system_stats`)).rejects.toThrow();
    await new Promise((r) => setTimeout(r, 400));
    expect((await fetch(`${s.url}/system_stats`)).status).toBe(200);
  });

  it("puts other clients' prompts ahead of ours", async () => {
    const s = await start({ foreignPrompts: 2 });
    const c = await connect(s, 'c');
    const id = randomUUID();
    await post(s, '/prompt', { prompt: simple(), client_id: 'c', prompt_id: id });
    await c.waitFor(done(id));
    const history = await getJson(`${s.url}/history`);
    expect(Object.keys(history)).toHaveLength(3);
    expect(Object.keys(history).indexOf(id)).toBe(2);
    expect(c.messages.filter((m) => m.data.prompt_id && m.data.prompt_id !== id && m.type !== 'progress' && m.type !== 'progress_state')).toEqual([]);
  });

  it('drops the socket after N messages', async () => {
    const s = await start({ dropAfterMessages: 5 });
    const c = await connect(s, 'c');
    const closed = new Promise((r) => c.ws.once('close', r));
    await post(s, '/prompt', { prompt: simple(), client_id: 'c', prompt_id: randomUUID() });
    await closed;
    expect(c.messages).toHaveLength(5);
  });

  it('crashes: sockets cut and the port closed', async () => {
    let crashed = false;
    const s = await start({ faults: { crashAt: 'SaveImage' }, onCrash: () => (crashed = true) });
    const c = await connect(s, 'c');
    const closed = new Promise((r) => c.ws.once('close', r));
    await post(s, '/prompt', { prompt: simple(), client_id: 'c', prompt_id: randomUUID() });
    await closed;
    expect(crashed).toBe(true);
    await expect(fetch(`${s.url}/system_stats`)).rejects.toThrow();
  });

  it('writes outputs late and in chunks after executed', async () => {
    const s = await start({ faults: { lateOutputs: { delayMs: 100, chunks: 4, chunkDelayMs: 30 } } });
    const c = await connect(s, 'c');
    const id = randomUUID();
    await post(s, '/prompt', { prompt: { ...simple(), '1': { class_type: 'EmptyImage', inputs: { width: 64, height: 64, batch_size: 1, color: 5 } } }, client_id: 'c', prompt_id: id });
    await c.waitFor((m) => m.type === 'executed');
    const file = path.join(s.dirs.output, 'ComfyUI_00001_.png');
    expect(listFiles(s.dirs.output)).toEqual([]);
    await new Promise((r) => setTimeout(r, 130));
    const partial = readFileSync(file).length;
    await new Promise((r) => setTimeout(r, 200));
    const whole = readFileSync(file);
    expect(partial).toBeLessThan(whole.length);
    expect(() => PNG.sync.read(whole)).not.toThrow();
  });
});
