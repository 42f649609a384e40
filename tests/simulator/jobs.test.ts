/**
 * GET /api/jobs and /api/jobs/{id} (what ComfyUI's web UI 1.45.6 polls instead of /queue). The shapes are those the
 * real v0.27.1 server answered in ../shared/fixtures/comfyui-frontend-1.45.6/http.jsonl: `{jobs, pagination}`, a job
 * `{id, status, priority, create_time, outputs_count, workflow_id}` plus, once finished, execution start and end
 * times and `preview_output` `{filename, subfolder, type, nodeId, mediaType}`.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { startSimulator, type Simulator } from '../../simulator/index.js';
import { getJson } from '../helpers/http.js';
import { Listener } from './listener.js';

let sim: Simulator | undefined;
let client: Listener | undefined;
afterEach(async () => {
  client?.ws.terminate();
  await sim?.close();
  sim = client = undefined;
});

const post = (s: Simulator, route: string, body: unknown) => fetch(`${s.url}${route}`, { method: 'POST', body: JSON.stringify(body) });
const prompt = {
  '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 0 } },
  '9': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'ComfyUI' } },
};

describe('GET /api/jobs', () => {
  it('lists pending and running prompts, then the finished one with its first output, as the web UI reads them', async () => {
    sim = await startSimulator({ port: 0, stepMs: 1 });
    sim.settings.faults = { hangAt: '1' };
    client = await Listener.open(sim, 'c');
    const first = randomUUID();
    const second = randomUUID();
    const extra_data = { extra_pnginfo: { workflow: { id: '01c9496b-5c2b-4ff6-b600-b56e6992362f' } } };
    await post(sim, '/prompt', { prompt, client_id: 'c', prompt_id: first, extra_data });
    await post(sim, '/prompt', { prompt, client_id: 'c', prompt_id: second });
    await client.until((m) => m.json?.type === 'executing' && m.json.data.node === '1', 'the first prompt to run');
    const open = await getJson(`${sim.url}/api/jobs?status=in_progress,pending&limit=200&offset=0`);
    expect(open.pagination).toEqual({ offset: 0, limit: 200, total: 2, has_more: false });
    expect(open.jobs.map((j: { id: string; status: string }) => [j.id, j.status]).sort()).toEqual([[first, 'in_progress'], [second, 'pending']].sort());
    expect(open.jobs.find((j: { id: string }) => j.id === first)).toEqual({ id: first, status: 'in_progress', priority: 0, create_time: expect.any(Number), outputs_count: 0, workflow_id: '01c9496b-5c2b-4ff6-b600-b56e6992362f' });

    // Cancelled through the job routes: a batch naming an unknown job is refused whole; then the pending one is
    // dropped, the running one interrupted.
    const bogus = randomUUID();
    expect((await post(sim, '/api/jobs/cancel', { job_ids: [second, bogus] })).status).toBe(404);
    expect((await getJson(`${sim.url}/api/jobs?status=pending`)).jobs.map((j: { id: string }) => j.id)).toEqual([second]);
    expect((await post(sim, '/api/jobs/cancel', { job_ids: [second] })).status).toBe(200);
    expect((await post(sim, `/api/jobs/${first}/cancel`, {})).status).toBe(200);
    expect((await post(sim, `/api/jobs/${bogus}/cancel`, {})).status).toBe(200); // nothing to do is no error
    await client.until((m) => m.json?.type === 'executing' && m.json.data.node === null, 'the end');
    delete sim.settings.faults.hangAt;
    const third = randomUUID();
    await post(sim, '/prompt', { prompt, client_id: 'c', prompt_id: third });
    await client.until((m) => m.json?.type === 'executing' && m.json.data.node === null && m.json.data.prompt_id === third, 'the third prompt');
    const done = await getJson(`${sim.url}/api/jobs?status=completed,failed,cancelled&limit=64&offset=0`);
    expect(done.pagination).toEqual({ offset: 0, limit: 64, total: 2, has_more: false });
    expect(done.jobs.map((j: { id: string; status: string }) => [j.id, j.status])).toEqual([
      [third, 'completed'],
      [first, 'cancelled'],
    ]);
    expect(done.jobs[0]).toEqual({
      id: third,
      status: 'completed',
      priority: 2,
      create_time: expect.any(Number),
      execution_start_time: expect.any(Number),
      execution_end_time: expect.any(Number),
      outputs_count: 1,
      preview_output: { filename: 'ComfyUI_00001_.png', subfolder: '', type: 'output', nodeId: '9', mediaType: 'images' },
    });
    const one = await getJson(`${sim.url}/api/jobs/${third}`);
    expect(one).toMatchObject({ id: third, status: 'completed', outputs: { '9': { images: [{ filename: 'ComfyUI_00001_.png' }] } }, workflow: { prompt } });
    expect((await fetch(`${sim.url}/api/jobs/${randomUUID()}`)).status).toBe(404);
  });
});
