import { describe, expect, it } from 'vitest';
import { connectClient, getJson, postJson, useBridgeRig, type BridgeRig, type ComfyClient } from './helpers.js';

function sampler(prefix: string, steps: number) {
  return {
    '10': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'sd15.safetensors' } },
    '11': { class_type: 'CLIPTextEncode', inputs: { text: 'a lighthouse', clip: ['10', 1] } },
    '13': { class_type: 'EmptyLatentImage', inputs: { width: 16, height: 16, batch_size: 1 } },
    '14': {
      class_type: 'KSampler',
      inputs: { model: ['10', 0], seed: 1, steps, cfg: 7, sampler_name: 'euler', scheduler: 'normal', positive: ['11', 0], negative: ['11', 0], latent_image: ['13', 0], denoise: 1 },
    },
    '15': { class_type: 'VAEDecode', inputs: { samples: ['14', 0], vae: ['10', 2] } },
    '16': { class_type: 'SaveImage', inputs: { images: ['15', 0], filename_prefix: prefix } },
  };
}

async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const runs = (r: BridgeRig) => r.sent.filter((b) => b.startsWith('POST') && /\/run\n/.test(b)).length;
const executingSampler = (c: ComfyClient, id: string) => c.messages.some((m) => m.type === 'executing' && m.data.node === '14' && m.data.prompt_id === id);

const rig = useBridgeRig();

describe('comfy-seal bridge: interrupt, queue delete, previews', () => {
  it('/interrupt cancels the job on the endpoint: execution_interrupted, then the end; the endpoint runs nothing more', async () => {
    const url = rig().bridge.url;
    rig().stack.sim.settings.faults.hangAt = 'KSampler';
    try {
      const c = await connectClient(url, 'client-int');
      const posted = await postJson(url, '/prompt', { prompt: sampler('int', 3), client_id: 'client-int' });
      const id = posted.json.prompt_id as string;
      await until(() => executingSampler(c, id), 'the sampler to run');
      expect((await postJson(url, '/interrupt', {})).status).toBe(200);
      await c.done(id);
      const mine = c.messages.filter((m) => m.data.prompt_id === id).map((m) => m.type);
      expect(mine.slice(-2)).toEqual(['execution_interrupted', 'executing']);
      expect(c.messages.find((m) => m.type === 'execution_interrupted')?.data).toMatchObject({ node_id: '14', node_type: 'KSampler' });
      const history = (await getJson(url, `/history/${id}`))[id];
      expect(history.status).toMatchObject({ status_str: 'error', completed: false });
      // The endpoint's ComfyUI was interrupted too: its queue empties.
      await until(async () => JSON.stringify(await getJson(rig().stack.sim.url, '/queue')) === '{"queue_running":[],"queue_pending":[]}', 'the endpoint to stop');
      c.close();
    } finally {
      delete rig().stack.sim.settings.faults.hangAt;
    }
  }, 60_000);

  it('POST /queue {"delete"} drops a pending prompt never submitted, and cancels a running one on the endpoint', async () => {
    const url = rig().bridge.url;
    rig().stack.sim.settings.faults.hangAt = 'KSampler';
    try {
      const c = await connectClient(url, 'client-del');
      const before = runs(rig());
      const a = (await postJson(url, '/prompt', { prompt: sampler('a', 3), client_id: 'client-del' })).json.prompt_id as string;
      const b = (await postJson(url, '/prompt', { prompt: sampler('b', 3), client_id: 'client-del' })).json.prompt_id as string;
      await until(() => executingSampler(c, a), 'the first prompt to run');
      const queue = await getJson(url, '/queue');
      expect(queue.queue_running.map((i: unknown[]) => i[1])).toEqual([a]);
      expect(queue.queue_pending.map((i: unknown[]) => i[1])).toEqual([b]);
      await postJson(url, '/queue', { delete: [b] });
      expect((await getJson(url, '/queue')).queue_pending).toEqual([]);
      await postJson(url, '/queue', { delete: [a] });
      await c.done(a);
      expect(c.messages.some((m) => m.type === 'execution_interrupted' && m.data.prompt_id === a)).toBe(true);
      expect(c.messages.some((m) => m.data.prompt_id === b)).toBe(false);
      expect(runs(rig()) - before).toBe(1); // b never left the machine
      c.close();
    } finally {
      delete rig().stack.sim.settings.faults.hangAt;
    }
  }, 60_000);

  it('POST /api/jobs/{id}/cancel cancels a running prompt on the endpoint', async () => {
    const url = rig().bridge.url;
    rig().stack.sim.settings.faults.hangAt = 'KSampler';
    try {
      const c = await connectClient(url, 'client-job');
      const id = (await postJson(url, '/prompt', { prompt: sampler('j', 3), client_id: 'client-job' })).json.prompt_id as string;
      await until(() => executingSampler(c, id), 'the sampler to run');
      expect((await postJson(url, `/api/jobs/${id}/cancel`, {})).status).toBe(200);
      await c.done(id);
      expect((await getJson(url, `/api/jobs/${id}`)).status).toBe('cancelled');
      await until(async () => JSON.stringify(await getJson(rig().stack.sim.url, '/queue')) === '{"queue_running":[],"queue_pending":[]}', 'the endpoint to stop');
      c.close();
    } finally {
      delete rig().stack.sim.settings.faults.hangAt;
    }
  }, 60_000);

  it("passes the endpoint's live previews on as ComfyUI's binary frames (type 4 with metadata, type 1 otherwise)", async () => {
    const url = rig().bridge.url;
    rig().stack.sim.settings.stepMs = 40;
    try {
      const legacy = await connectClient(url, 'client-legacy');
      const first = (await postJson(url, '/prompt', { prompt: sampler('p1', 30), client_id: 'client-legacy' })).json.prompt_id as string;
      await legacy.done(first);
      expect(legacy.frames.length).toBeGreaterThan(0);
      const frame = legacy.frames[0]!;
      expect([frame.readUInt32BE(0), frame.readUInt32BE(4)]).toEqual([1, 1]); // PREVIEW_IMAGE, JPEG
      expect(frame.subarray(8, 10).toString('hex')).toBe('ffd8');

      const modern = await connectClient(url, 'client-meta', true);
      const second = (await postJson(url, '/prompt', { prompt: sampler('p2', 30), client_id: 'client-meta' })).json.prompt_id as string;
      await modern.done(second);
      expect(modern.frames.length).toBeGreaterThan(0);
      const f4 = modern.frames[0]!;
      expect(f4.readUInt32BE(0)).toBe(4);
      const meta = JSON.parse(f4.subarray(8, 8 + f4.readUInt32BE(4)).toString()) as Record<string, unknown>;
      expect(meta).toMatchObject({ node_id: '14', prompt_id: second, image_type: 'image/jpeg' });
      // extra_data.preview_method "none" turns them off for the prompt, as in ComfyUI.
      const quiet = (await postJson(url, '/prompt', { prompt: sampler('p3', 30), client_id: 'client-meta', extra_data: { preview_method: 'none' } })).json.prompt_id as string;
      const seen = modern.frames.length;
      await modern.done(quiet);
      expect(modern.frames.length).toBe(seen);
      legacy.close();
      modern.close();
    } finally {
      rig().stack.sim.settings.stepMs = 20;
    }
  }, 60_000);
});
