import jpeg from 'jpeg-js';
import { afterEach, describe, expect, it } from 'vitest';
import { ComfySealClient, type LivePreview } from '../../client/index.js';
import { systemClock } from '../../handler/clock.js';
import { startLocalApi, type LocalApi } from '../../handler/local/server.js';
import { createLogger } from '../../handler/log.js';
import { Platform } from '../../handler/runpod/platform.js';
import { runWorkerLoop } from '../../handler/runpod/worker.js';
import { openProgress, openResult, sealBundle, type Progress, type Workflow } from '../../shared/index.js';
import { getJson } from '../helpers/http.js';
import { startRig, type Rig } from '../helpers/pipeline.js';
import { API_KEY, POD_ID, startPlatform, type PlatformEmulator } from '../helpers/runpod-platform.js';

const CANARY = 'canary-bridge-91c2-plover';

function workflow(seed: number): Workflow {
  return {
    '10': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'sd15.safetensors' } },
    '11': { class_type: 'CLIPTextEncode', inputs: { text: `a photo of ${CANARY}`, clip: ['10', 1] } },
    '12': { class_type: 'CLIPTextEncode', inputs: { text: 'blurry', clip: ['10', 1] } },
    '13': { class_type: 'EmptyLatentImage', inputs: { width: 16, height: 16, batch_size: 1 } },
    '14': {
      class_type: 'KSampler',
      inputs: { model: ['10', 0], seed, steps: 40, cfg: 7, sampler_name: 'euler', scheduler: 'normal', positive: ['11', 0], negative: ['12', 0], latent_image: ['13', 0], denoise: 1 },
    },
    '15': { class_type: 'VAEDecode', inputs: { samples: ['14', 0], vae: ['10', 2] } },
    '16': { class_type: 'SaveImage', inputs: { images: ['15', 0], filename_prefix: 'gen' } },
    '17': { class_type: 'PreviewImage', inputs: { images: ['15', 0] } },
  };
}

let rig: Rig | undefined;
let api: LocalApi | undefined;
let platform: PlatformEmulator | undefined;
afterEach(async () => {
  await api?.close();
  await rig?.close();
  await platform?.close();
  rig = api = platform = undefined;
});

describe('previews and the bridge options through the endpoints (contract §13, §14)', () => {
  it('local endpoint: /status carries sealed previews; the SDK hands each to onProgress once, and the result its types and ui', async () => {
    rig = await startRig({ sim: { stepMs: 8 } });
    api = await startLocalApi({ runner: rig.pipeline, port: 0 });
    const client = new ComfySealClient({ apiUrl: api.url, endpointId: 'ep', apiKey: 'k', key: rig.key, pollMinMs: 10, pollMaxMs: 10, env: {} });
    const jobId = await client.submit({ workflow: workflow(1), options: { previews: { every_ms: 50 }, temp_outputs: true, ui: true } });

    // What /status shows while it runs: one sealed field, nothing readable.
    const raw: unknown[] = [];
    const watch = (async () => {
      for (;;) {
        const s = await getJson(`${api!.url}/ep/status/${jobId}`);
        if (s.status !== 'IN_PROGRESS' && s.status !== 'IN_QUEUE') return;
        if (s.output) raw.push(s.output);
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    const previews: LivePreview[] = [];
    const result = await client.wait(jobId, { onProgress: (e) => e.preview && previews.push(e.preview) });
    await watch;

    expect(previews.length).toBeGreaterThanOrEqual(2);
    expect(new Set(previews.map((p) => p.data.toString('base64'))).size).toBe(previews.length); // each once
    for (const p of previews) {
      expect(p).toMatchObject({ mime: 'image/jpeg', nodeId: '14' });
      expect(jpeg.decode(p.data).width).toBe(32);
    }
    const opened = raw.map((o) => openProgress(o, rig!.fernet)).filter((p): p is Progress => p !== null);
    expect(opened.some((p) => p.preview)).toBe(true);
    for (const o of raw) {
      expect(Object.keys(o as object)).toEqual(['encrypted_progress']);
      expect(JSON.stringify(o)).not.toContain(CANARY);
    }
    expect(result.files.map((f) => [f.nodeId, f.type])).toEqual([
      ['16', 'output'],
      ['17', 'temp'],
    ]);
    expect(Object.keys(result.ui ?? {}).sort()).toEqual(['16', '17']);
    expect(rig.leftovers()).toEqual([]);
    expect(rig.logs.join('\n')).not.toContain(CANARY);
  });

  it('RunPod platform: previews go out sealed in IN_PROGRESS posts, none over 96 KiB, none without the option', async () => {
    rig = await startRig({ sim: { stepMs: 8 } });
    platform = await startPlatform();
    const env = platform.env;
    const p = new Platform({ takeUrl: env.RUNPOD_WEBHOOK_GET_JOB!, doneUrl: env.RUNPOD_WEBHOOK_POST_OUTPUT!, pingUrl: env.RUNPOD_WEBHOOK_PING!, apiKey: API_KEY, podId: POD_ID, pingIntervalMs: 10_000 });
    const shutdown = new AbortController();
    const loopLogs: string[] = [];
    const loop = runWorkerLoop({ platform: p, runner: rig.pipeline, log: createLogger({ json: true, write: (l) => loopLogs.push(l) }), clock: systemClock, pingIntervalMs: 10_000 }, shutdown.signal).finally(() => p.close());
    try {
      platform.queueJob({ id: 'with-previews-u1', input: { encrypted_input: sealBundle({ workflow: workflow(2), images: [], options: { previews: { every_ms: 50 } } }, rig.fernet) } });
      platform.queueJob({ id: 'without-u1', input: { encrypted_input: sealBundle({ workflow: workflow(3), images: [], options: {} }, rig.fernet) } });
      const isResult = (id: string) => (q: { path: string; body: string }) => q.path.includes(id) && !q.body.includes('IN_PROGRESS');
      await platform.waitFor(isResult('with-previews-u1'), 20_000);
      await platform.waitFor(isResult('without-u1'), 20_000);
      const progressOf = (id: string) =>
        platform!
          .done()
          .filter((q) => q.path.includes(id) && q.body.includes('IN_PROGRESS'))
          .map((q) => JSON.parse(q.body) as { output: unknown });
      const sent = progressOf('with-previews-u1');
      for (const post of sent) expect(Object.keys(post.output as object)).toEqual(['encrypted_progress']);
      const previews = sent.map((post) => openProgress(post.output, rig!.fernet)?.preview).filter((x) => x !== undefined);
      expect(previews.length).toBeGreaterThan(0);
      for (const preview of previews) expect(Buffer.from(preview.data, 'base64').length).toBeLessThanOrEqual(96 * 1024);
      const plain = progressOf('without-u1');
      expect(plain.length).toBeGreaterThan(0);
      for (const post of plain) expect(openProgress(post.output, rig.fernet)?.preview).toBeUndefined();
      const finals = platform.done().filter(isResult('with-previews-u1'));
      expect(openResult(JSON.parse(finals[0]!.body).output, rig.fernet).files.map((f) => f.type)).toEqual([undefined]);
      expect(loopLogs.join('') + rig.logs.join('')).not.toContain(CANARY);
    } finally {
      shutdown.abort();
      await loop;
    }
  });
});
