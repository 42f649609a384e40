import { describe, expect, it } from 'vitest';
import { connectClient, getJson, postJson, useBridgeRig } from './helpers.js';

const hanging = (prefix: string) => ({
  '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 0 } },
  '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: prefix } },
});

const rig = useBridgeRig({ maxJobs: 2 });

describe('comfy-seal bridge --max-jobs', () => {
  it('submits up to N prompts to the endpoint at once; the rest wait here; /interrupt without an id stops them all', async () => {
    const url = rig().bridge.url;
    rig().stack.sim.settings.faults.hangAt = 'EmptyImage';
    try {
      // The definitions' query and the ping beside it (a /run each) are made before counting.
      const before = rig().sent.length;
      await getJson(url, '/object_info');
      const queries = rig().sent.slice(before).filter((b) => /^POST \S*\/run\n/.test(b)).length;
      const c = await connectClient(url, 'client-n');
      const ids: string[] = [];
      for (const p of ['a', 'b', 'c']) ids.push((await postJson(url, '/prompt', { prompt: hanging(p), client_id: 'client-n' })).json.prompt_id);
      const runs = () => rig().sent.slice(before).filter((b) => /^POST \S*\/run\n/.test(b)).length - queries;
      for (let n = 0; n < 200 && runs() < 2; n++) await new Promise((r) => setTimeout(r, 20));
      const queue = await getJson(url, '/queue');
      expect(queue.queue_running.map((i: unknown[]) => i[1])).toEqual(ids.slice(0, 2));
      expect(queue.queue_pending.map((i: unknown[]) => i[1])).toEqual(ids.slice(2));
      expect(runs()).toBe(2);
      await postJson(url, '/queue', { clear: true });
      await postJson(url, '/interrupt', {});
      await c.done(ids[0]!);
      await c.done(ids[1]!);
      for (const id of ids.slice(0, 2)) expect(c.messages.some((m) => m.type === 'execution_interrupted' && m.data.prompt_id === id)).toBe(true);
      expect(runs()).toBe(2);
      c.close();
    } finally {
      delete rig().stack.sim.settings.faults.hangAt;
    }
  }, 60_000);
});
