/**
 * The simulator held to the real ComfyUI v0.27.1 recordings (tests/fixtures/comfyui-v0.27.1/transcripts): each
 * scenario's HTTP requests are replayed in order against one simulator per recording session (the cache and the prompt
 * numbers carry over between scenarios, as they did on the real server), and the WebSocket messages are compared with
 * the recorded ones: types, node order, the states in progress_state, and the set of fields present. Values that differ
 * by nature (timestamps, sids, file counters of the recording machine, pixel bytes) are not compared.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type Simulator } from '../../simulator/index.js';
import { pngOf } from '../helpers/pipeline.js';
import { Listener, type Recorded } from './listener.js';

const DIR = fileURLToPath(new URL('../fixtures/comfyui-v0.27.1/transcripts/', import.meta.url));
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;
const transcript = (name: string): Any => JSON.parse(readFileSync(path.join(DIR, name), 'utf8'));

const keys = (o: unknown) => (o && typeof o === 'object' ? Object.keys(o).sort().join(',') : String(o));

/** One message as what must match: its type, the ids and states it names, and which fields it has. */
function signature(m: Recorded): string {
  if (m.kind === 'binary') {
    const type = m.event_type_be_u32!;
    if (type === 4) {
      const meta = m.decoded!.metadata!;
      return `binary4{${keys(meta)}} ${String(meta.image_type)}`;
    }
    return `binary${type} fmt${m.second_word_be_u32}`;
  }
  const { type, data } = m.json!;
  const fields = `{${keys(data)}}`;
  switch (type) {
    case 'status':
      return `status(${data.status.exec_info.queue_remaining})${fields}`;
    case 'executing':
      return `executing(${data.node})${fields}`;
    case 'executed':
      return `executed(${data.node}){${keys(data.output)}}${fields}`;
    case 'progress':
      return `progress(${data.node} ${data.value}/${data.max})${fields}`;
    case 'progress_state':
      return `progress_state(${Object.entries<Any>(data.nodes)
        .map(([id, n]) => `${id}:${n.state}[${n.value}/${n.max}]{${keys(n)}}`)
        .join(' ')})${fields}`;
    case 'execution_cached':
      // The real server lists them in prompt order; a JS object puts integer-like keys first, ascending, so the set is compared.
      return `execution_cached(${[...data.nodes].sort().join(',')})${fields}`;
    case 'execution_error':
    case 'execution_interrupted':
      // `executed` is a Python set on the real server: its order means nothing.
      return `${type}(${data.node_id} ${data.node_type} [${[...data.executed].sort().join(',')}]${data.exception_type ? ` ${data.exception_type}` : ''})${fields}`;
    default:
      return `${type}${fields}`;
  }
}

/** Sampler steps collapsed (each step: progress_state, progress and a preview, in some order): how many ran is timing. */
function collapseSteps(sigs: string[]): string[] {
  const norm = sigs.map((s) => s.replace(/^progress\((\S+) \d+\//, 'progress($1 n/').replace(/:running\[(?!0\/1\])\d+\//g, ':running[n/'));
  const out: string[] = [];
  for (let i = 0; i < norm.length; i++) {
    if (out.length >= 3 && norm.slice(i, i + 3).join('\n') === out.slice(-3).join('\n')) {
      i += 2;
      continue;
    }
    out.push(norm[i]!);
  }
  return out;
}

interface Hooks {
  /** Runs before a request is sent (to wait for the moment the recording sent it). */
  before?(req: Any): Promise<void> | void;
}

/** The answer's shape that must match: for /prompt and /history, what a driver reads; elsewhere the status only. */
function answerShape(req: Any, body: Any): unknown {
  if (req.path === '/prompt' && req.method === 'POST') {
    if (req.status === 200) return { keys: keys(body), number: body.number, node_errors: body.node_errors };
    return {
      error: body.error.type,
      errorKeys: keys(body.error),
      nodes: Object.fromEntries(
        Object.entries<Any>(body.node_errors).map(([id, e]) => [
          id,
          { class_type: e.class_type, dependent_outputs: e.dependent_outputs, errors: e.errors.map((x: Any) => `${x.type}{${keys(x.extra_info)}}`) },
        ]),
      ),
    };
  }
  if (req.path.startsWith('/history/') && body && typeof body === 'object') {
    return Object.fromEntries(
      Object.entries<Any>(body).map(([id, entry]) => [
        id,
        {
          keys: keys(entry),
          // outputs_to_execute is a Python set's order on the real server.
          prompt: [entry.prompt[0], entry.prompt[1], keys(entry.prompt[3]), [...entry.prompt[4]].sort()],
          // File counters are the recording machine's; the node ids and the UI shape are what must agree.
          outputs: Object.fromEntries(Object.entries<Any>(entry.outputs).map(([node, ui]) => [node, Object.fromEntries(Object.entries<Any>(ui).map(([k, v]) => [k, v.map(keys)]))])),
          status: [entry.status.status_str, entry.status.completed, entry.status.messages.map((m: Any) => `${m[0]}{${keys(m[1])}}`)],
          meta: entry.meta,
        },
      ]),
    );
  }
  if (req.path === '/history' && req.method === 'GET') return Object.keys(body);
  if (req.path === '/queue' && req.method === 'GET') return { running: body.queue_running.map((i: Any) => i[1]), pending: body.queue_pending.map((i: Any) => i[1]) };
  return undefined;
}

async function replay(sim: Simulator, listener: Listener, t: Any, hooks: Hooks = {}): Promise<string[]> {
  const from = listener.log.length;
  const posted: string[] = [];
  // Output file names carry the recording machine's counters: /view asks for ours, as a driver would from history.
  const renamed = new Map<string, string>();
  for (const req of t.http) {
    if (!req.method) continue; // a note between requests
    if (req.path.startsWith('/api/jobs')) continue; // the newer jobs API: the simulator does not serve it, no driver here reads it
    await hooks.before?.(req);
    if (req.method === 'GET' && req.path.startsWith('/history/')) {
      const id = req.path.slice('/history/'.length);
      if (Object.keys(req.response_json).length > 0) await listener.done(id);
    }
    let route: string = req.path;
    if (route.startsWith('/view?')) {
      const url = new URL(route, 'http://x');
      const ours = renamed.get(url.searchParams.get('filename') ?? '');
      if (ours) url.searchParams.set('filename', ours);
      route = `${url.pathname}${url.search}`;
    }
    const res = await fetch(`${sim.url}${route}`, { method: req.method, ...(req.request_body != null ? { body: JSON.stringify(req.request_body) } : {}) });
    const text = await res.text();
    expect(res.status, `${req.method} ${req.path}`).toBe(req.status);
    const body = res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : null;
    const listing = req.method === 'GET' && req.path === '/history';
    const expected = listing ? req.response_json.prompt_ids : answerShape(req, req.response_json);
    if (expected !== undefined) expect(answerShape(req, body), `${req.method} ${req.path}`).toEqual(expected);
    if (req.method === 'POST' && req.path === '/prompt' && req.status === 200) posted.push(req.request_body.prompt_id);
    if (req.path.startsWith('/history/')) {
      for (const [id, entry] of Object.entries<Any>(req.response_json)) {
        for (const [node, ui] of Object.entries<Any>(entry.outputs)) {
          for (const [k, refs] of Object.entries<Any>(ui)) refs.forEach((ref: Any, n: number) => renamed.set(ref.filename, body[id].outputs[node][k][n].filename));
        }
      }
    }
  }
  // Everything that ran must have ended (a prompt deleted from the queue never starts).
  for (const id of posted) if (t.http.some((r: Any) => r.path === `/history/${id}` && Object.keys(r.response_json).length > 0)) await listener.done(id);
  return listener.log.slice(from).map(signature);
}

const expectedOf = (t: Any): string[] => t.ws_messages.map(signature);

let root: string;
const sims: Simulator[] = [];
const sockets: Listener[] = [];
beforeAll(() => {
  root = mkdtempSync(path.join(os.tmpdir(), 'replay-'));
});
afterAll(async () => {
  for (const l of sockets) l.ws.terminate();
  for (const s of sims) await s.close();
  rmSync(root, { recursive: true, force: true });
});

async function session(name: string): Promise<Simulator> {
  const dirs = { inputDir: path.join(root, name, 'input'), outputDir: path.join(root, name, 'output'), tempDir: path.join(root, name, 'temp') };
  const sim = await startSimulator({ port: 0, stepMs: 10, ...dirs });
  sims.push(sim);
  // The recording's input dir held test.png (a small picture) and corrupt.png (a PNG whose header chunk is cut short).
  writeFileSync(path.join(sim.dirs.input, 'test.png'), pngOf(8, 8, (x, y) => [x * 32, y * 32, 100]));
  writeFileSync(path.join(sim.dirs.input, 'corrupt.png'), Buffer.concat([Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex'), Buffer.from([0, 0, 0])]));
  return sim;
}

async function listen(sim: Simulator, clientId?: string, firstMessage?: unknown): Promise<Listener> {
  const l = await Listener.open(sim, clientId, firstMessage);
  sockets.push(l);
  return l;
}

describe('replay of the real ComfyUI v0.27.1 recordings: LoadImage / ImageInvert / SaveImage session', () => {
  let sim: Simulator;
  let client: Listener;
  beforeAll(async () => {
    sim = await session('basic');
    client = await listen(sim, transcript('01_basic_run.json').client_id);
  });

  it('00_connect: the routes answer, and a socket is greeted as the real server greets it', async () => {
    const t = transcript('00_connect.json');
    for (const req of t.http) {
      const res = await fetch(`${sim.url}${req.path}`);
      expect(res.status, req.path).toBe(req.status);
      const body: Any = req.content_type?.includes('json') ? await res.json() : await res.text();
      if (req.path.endsWith('system_stats')) {
        expect(keys(body), req.path).toBe(keys(req.response_json));
        expect(keys(body.system)).toBe(keys(req.response_json.system));
        expect(keys(body.devices[0])).toBe(keys(req.response_json.devices[0]));
      } else if (req.path.startsWith('/object_info/')) {
        expect(Object.keys(body)).toEqual(Object.keys(req.response_json));
        for (const [name, info] of Object.entries<Any>(req.response_json)) {
          // Input files are listed as the real server lists them (the dir's images, sorted).
          if (name === 'LoadImage') expect(body[name].input.required.image[0]).toEqual(info.input.required.image[0]);
          expect(body[name].input_order, name).toEqual(info.input_order);
          expect([body[name].output, body[name].output_name, body[name].output_node], name).toEqual([info.output, info.output_name, info.output_node]);
        }
      } else if (req.path === '/object_info') {
        for (const name of ['LoadImage', 'ImageInvert', 'SaveImage', 'ImageScale', 'PreviewImage', 'SaveImageWebsocket', 'KSampler']) expect(body).toHaveProperty(name);
      } else if (req.content_type?.includes('json')) {
        expect(keys(body), req.path).toBe(keys(req.response_json));
        if (req.path === '/features') expect(body).toEqual(req.response_json);
      }
    }
    const plain = await listen(sim, t.client_id);
    const flagged = await listen(sim, undefined, { type: 'feature_flags', data: { supports_preview_metadata: true } });
    await flagged.until((m) => m.json?.type === 'feature_flags', 'feature_flags');
    expect(plain.log.map(signature)).toEqual(t.ws_messages_on_connect_with_clientId.map(signature));
    expect(flagged.log.map(signature)).toEqual(t.ws_messages_second_socket_without_clientId_sending_feature_flags_first.map(signature));
    expect(flagged.log[1]!.json!.data).toEqual(t.ws_messages_second_socket_without_clientId_sending_feature_flags_first[1].json.data);
    expect(plain.log[0]!.json!.data.sid).toBe(t.client_id);
    expect(flagged.log[0]!.json!.data.sid).toMatch(/^[0-9a-f]{32}$/);
    plain.ws.terminate();
    flagged.ws.terminate();
    // `plain` took the session client's id over (a new socket replaces the old in the server's table): connect anew.
    client = await listen(sim, t.client_id);
  });

  for (const name of ['01_basic_run.json', '02_cached_rerun.json', '03_scale_preview.json', '04_ws_binary_image.json', '05_execution_error.json', '06_validation_errors.json']) {
    it(`${name}: the same messages in the same order`, async () => {
      const t = transcript(name);
      const seen = await replay(sim, client, t);
      if (t.ws_messages.length === 0) await new Promise((r) => setTimeout(r, 100)); // rejected prompts: nothing may follow
      expect(seen).toEqual(expectedOf(t));
    });
  }

  it('07_interrupt_and_queue_delete: an interrupt lands between nodes; a deleted pending prompt never runs', async () => {
    const t = transcript('07_interrupt_and_queue_delete.json');
    // The recorded chain of 3000×3000 lanczos scales took seconds per node; here it is instant, so the node the
    // interrupt landed on (13) is made to wait for it. `status` broadcasts interleave with timing, so they are left out.
    sim.settings.faults = { hangAt: '13' };
    const seen = await replay(sim, client, t, {
      before: (req) => (req.path === '/interrupt' && req.request_body.prompt_id === t.prompt_id_A_running ? client.until((m) => m.json?.type === 'executing' && m.json.data.node === '13', 'node 13') : undefined),
    });
    sim.settings.faults = {};
    const noStatus = (s: string[]) => s.filter((x) => !x.startsWith('status('));
    expect(noStatus(seen)).toEqual(noStatus(expectedOf(t)));
  });

  it('08_history_delete: the entry goes, the others stay', async () => {
    const t = transcript('08_history_delete.json');
    expect(await replay(sim, client, t)).toEqual(expectedOf(t).slice(0, 1));
  });
});

describe('replay of the real ComfyUI v0.27.1 recordings: SD1.5 txt2img session', () => {
  let sim: Simulator;
  const clients = new Map<string, Listener>();
  const first = transcript('sd15_01_first_run.json');
  const flagged = transcript('sd15_04_vaeloader_preview_metadata.json');
  beforeAll(async () => {
    sim = await session('sd15');
    clients.set(first.client_id, await listen(sim, first.client_id));
    // This client's first message was its feature flags (the recording's note says so).
    clients.set(flagged.client_id, await listen(sim, flagged.client_id, { type: 'feature_flags', data: { supports_preview_metadata: true } }));
  });

  it('sd15_00_discovery: the routes a driver asks first answer', async () => {
    const t = transcript('sd15_00_discovery.json');
    for (const req of t.http) expect((await fetch(`${sim.url}${req.path}`)).status, req.path).toBe(req.status);
  });

  for (const name of ['sd15_01_first_run.json', 'sd15_02_cached_rerun.json', 'sd15_03_interrupt.json', 'sd15_04_vaeloader_preview_metadata.json', 'sd15_05_preview_none.json']) {
    it(`${name}: the same messages in the same order`, async () => {
      const t = transcript(name);
      const client = clients.get(t.client_id)!;
      if (name !== 'sd15_03_interrupt.json') return expect(await replay(sim, client, t)).toEqual(expectedOf(t));
      // The recording interrupted the 200-step sampler once step 5 was seen; how many steps run before the flag is
      // seen is timing, so steps are collapsed. Nothing after the sampler runs.
      const seen = await replay(sim, client, t, {
        before: (req) => (req.path === '/queue' && req.method === 'GET' && req.response_json.queue_running.length > 0 ? client.until((m) => m.json?.type === 'progress' && m.json.data.value >= 5, 'step 5') : undefined),
      });
      expect(collapseSteps(seen)).toEqual(collapseSteps(expectedOf(t)));
    });
  }
});

