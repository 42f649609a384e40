/**
 * The simulator runs each of the 16 public API-format workflows (../shared/fixtures/workflows) to success and writes
 * their outputs: what ComfyUI accepts from these graphs, the simulator accepts too.
 */
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startSimulator, type Simulator } from '../../../simulator/index.js';
import { getJson } from '../../helpers/http.js';
import { pngOf } from '../../helpers/pipeline.js';
import { WORKFLOWS } from '../../helpers/reference.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;

let sim: Simulator | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

async function upload(s: Simulator, name: string, subfolder: string): Promise<void> {
  const form = new FormData();
  form.append('image', new Blob([pngOf(16, 16, (x, y) => [x * 16, y * 16, 128])]), name);
  form.append('subfolder', subfolder);
  form.append('overwrite', 'true');
  expect((await fetch(`${s.url}/upload/image`, { method: 'POST', body: form })).status).toBe(200);
}

/** The prompt's history entry once ComfyUI has finished it (the history is the record a client reads). */
async function finished(s: Simulator, id: string): Promise<Any> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const entry = (await getJson(`${s.url}/history/${id}`))[id];
    if (entry?.status?.completed !== undefined && entry.status.status_str !== undefined) return entry;
    if (Date.now() > deadline) throw new Error(`prompt ${id} did not finish`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('ComfyUI simulator: the real-world fixture workflows', () => {
  const files = readdirSync(WORKFLOWS).filter((f) => f.endsWith('.json')).sort();
  it('has all 16', () => expect(files).toHaveLength(16));

  it.each(files)('%s runs to success and writes its outputs', async (file) => {
    const s = (sim = await startSimulator({ port: 0, stepMs: 1 }));
    const prompt = JSON.parse(readFileSync(path.join(WORKFLOWS, file), 'utf8'));
    // Saved by older ComfyUI versions: inputs v0.27.1 requires (and the simulator, held to its dump, too) are filled
    // with their defaults, as the UI does when it loads such a workflow.
    const defaults: Record<string, Record<string, unknown>> = { LTXVImgToVideo: { strength: 1 }, DualCFGGuider: { style: 'regular' } };
    for (const node of Object.values<Any>(prompt)) node.inputs = { ...defaults[node.class_type], ...node.inputs };
    for (const node of Object.values<Any>(prompt)) {
      if (['LoadImage', 'LoadImageMask'].includes(node.class_type) && typeof node.inputs.image === 'string') {
        const name = node.inputs.image.replace(/ \[input\]$/, '');
        await upload(s, path.basename(name), path.dirname(name) === '.' ? '' : path.dirname(name));
      }
    }
    const id = randomUUID();
    const res = await fetch(`${s.url}/prompt`, { method: 'POST', body: JSON.stringify({ prompt, client_id: 'c', prompt_id: id }) });
    const json = (await res.json()) as Any;
    expect(res.status, JSON.stringify(json).slice(0, 500)).toBe(200);
    expect(json.node_errors).toEqual({});
    const history = await finished(s, id);
    expect(history.status.status_str).toBe('success');
    for (const ui of Object.values<Any>(history.outputs)) {
      for (const ref of [...(ui.images ?? []), ...(ui.gifs ?? []), ...(ui.audio ?? [])]) {
        const root = ref.type === 'temp' ? s.dirs.temp : s.dirs.output;
        expect(readFileSync(path.join(root, ref.subfolder, ref.filename)).length).toBeGreaterThan(0);
      }
    }
  });
});
