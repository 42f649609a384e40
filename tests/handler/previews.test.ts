import { randomUUID } from 'node:crypto';
import jpeg from 'jpeg-js';
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../handler/clock.js';
import { ComfyHttp } from '../../handler/comfy/http.js';
import { ComfySocket } from '../../handler/comfy/ws.js';
import { runPrompt } from '../../handler/run.js';
import { fitPreview, imageSize, mayFit, parsePreviewFrame, PREVIEW_MAX_BYTES, previewSettings, PreviewThrottle, type ThrottleTimer } from '../../handler/previews.js';
import type { JobOutcome } from '../../handler/job.js';
import { buildResultPayload, Fernet, openProgress, openResult, resultBytes, sealBundle, sealResult, type Bundle, type Progress } from '../../shared/index.js';
import { encodeJpeg, encodePng, generateFrame, noiseFrame } from '../../simulator/images.js';
import { pngOf, startRig, type Rig } from '../helpers/pipeline.js';
import { loadTranscript, recordedPrompt, startReplay, type Replay } from '../helpers/replay.js';
import { samplingWorkflow } from '../helpers/workflows.js';

const CANARY = 'canary-preview-5b1d-heron';

function frame1(format: 1 | 2, image: Buffer): Buffer {
  const header = Buffer.alloc(8);
  header.writeUInt32BE(1, 0);
  header.writeUInt32BE(format, 4);
  return Buffer.concat([header, image]);
}

function frame4(meta: Record<string, unknown>, image: Buffer): Buffer {
  const json = Buffer.from(JSON.stringify(meta));
  const header = Buffer.alloc(8);
  header.writeUInt32BE(4, 0);
  header.writeUInt32BE(json.length, 4);
  return Buffer.concat([header, json, image]);
}

/** A timer the test moves by hand. */
function manualTimer(): ThrottleTimer & { advance(ms: number): void } {
  let now = 0;
  let timers: Array<{ at: number; fn: () => void }> = [];
  return {
    now: () => now,
    after(ms, fn) {
      const t = { at: now + ms, fn };
      timers.push(t);
      return () => (timers = timers.filter((x) => x !== t));
    },
    advance(ms) {
      now += ms;
      for (const t of timers.filter((x) => x.at <= now)) {
        timers = timers.filter((x) => x !== t);
        t.fn();
      }
    },
  };
}

describe('preview frames (ComfyUI binary messages)', () => {
  const jpg = encodeJpeg(generateFrame(40, 24, 'a'));
  const png = encodePng(generateFrame(10, 30, 'b'));

  it('reads type 1 (JPEG, PNG) and type 4 (metadata names prompt and node); anything else is not a preview', () => {
    expect(parsePreviewFrame(frame1(1, jpg))).toEqual({ mime: 'image/jpeg', image: jpg });
    expect(parsePreviewFrame(frame1(2, png))).toEqual({ mime: 'image/png', image: png });
    const meta = { node_id: '3', prompt_id: 'p', display_node_id: '3', parent_node_id: null, real_node_id: '3', image_type: 'image/jpeg' };
    expect(parsePreviewFrame(frame4(meta, jpg))).toEqual({ mime: 'image/jpeg', image: jpg, nodeId: '3', promptId: 'p' });
    const text = Buffer.concat([Buffer.from([0, 0, 0, 3, 0, 0, 0, 1]), Buffer.from('9hello')]);
    expect(parsePreviewFrame(text)).toBeNull();
    expect(parsePreviewFrame(frame1(3 as 1, jpg))).toBeNull();
    expect(parsePreviewFrame(Buffer.from([0, 0, 0, 4, 0, 0, 0, 99, 1]))).toBeNull(); // metadata longer than the frame
    expect(parsePreviewFrame(Buffer.from([0, 0, 0, 1]))).toBeNull();
  });

  it('knows an image size from its header', () => {
    expect(imageSize(jpg, 'image/jpeg')).toEqual({ width: 40, height: 24 });
    expect(imageSize(png, 'image/png')).toEqual({ width: 10, height: 30 });
    expect(imageSize(Buffer.from('nope'), 'image/jpeg')).toBeNull();
  });

  it('scales a frame over max_px down to a JPEG within it, leaves a small one as it is, refuses one over 96 KiB', () => {
    const big = encodePng(generateFrame(300, 150, 'c'));
    const fitted = fitPreview({ mime: 'image/png', image: big }, 64)!;
    expect(fitted.mime).toBe('image/jpeg');
    const decoded = jpeg.decode(fitted.image);
    expect([decoded.width, decoded.height]).toEqual([64, 32]);
    expect(fitPreview({ mime: 'image/jpeg', image: jpg }, 512)).toEqual({ mime: 'image/jpeg', image: jpg });
    const noise = encodeJpeg(noiseFrame(300, 'n'));
    expect(noise.length).toBeGreaterThan(PREVIEW_MAX_BYTES);
    expect(mayFit({ mime: 'image/jpeg', image: noise }, 512)).toBe(false);
    expect(fitPreview({ mime: 'image/jpeg', image: noise }, 512)).toBeNull();
    // Scaling may bring it under the limit: then it is worth keeping.
    expect(mayFit({ mime: 'image/jpeg', image: noise }, 128)).toBe(true);
    expect(fitPreview({ mime: 'image/jpeg', image: noise }, 128)!.image.length).toBeLessThanOrEqual(PREVIEW_MAX_BYTES);
  });
});

describe('the previews option', () => {
  it('takes the contract defaults for what it does not say; false or absent is off', () => {
    expect(previewSettings(true)).toEqual({ everyMs: 1000, maxPx: 512 });
    expect(previewSettings({ every_ms: 50 })).toEqual({ everyMs: 50, maxPx: 512 });
    expect(previewSettings({ max_px: 64 })).toEqual({ everyMs: 1000, maxPx: 64 });
    expect(previewSettings(false)).toBeNull();
    expect(previewSettings(undefined)).toBeNull();
  });
});

describe('PreviewThrottle', () => {
  it('sends at most one per interval, the newest waiting one when the interval ends, nothing after close', () => {
    const timer = manualTimer();
    const sent: Array<[number, string]> = [];
    const t = new PreviewThrottle<string>(100, (s) => sent.push([timer.now(), s]), timer);
    t.offer('a'); // the first goes at once
    timer.advance(10);
    t.offer('b');
    timer.advance(10);
    t.offer('c'); // replaces b
    timer.advance(79);
    expect(sent).toEqual([[0, 'a']]);
    timer.advance(1);
    expect(sent).toEqual([[0, 'a'], [100, 'c']]);
    timer.advance(150); // quiet: the next goes at once
    t.offer('d');
    expect(sent.at(-1)).toEqual([250, 'd']);
    t.offer('e');
    t.close();
    timer.advance(1000);
    t.offer('f');
    expect(sent.map(([, s]) => s)).toEqual(['a', 'c', 'd']);
  });
});

const sampling = (steps: number, seed = 7) => samplingWorkflow(`a photo of ${CANARY}`, { steps, seed });

let rig: Rig | undefined;
let replay: Replay | undefined;
const closers: Array<() => void> = [];
afterEach(async () => {
  for (const close of closers.splice(0)) close();
  await replay?.close();
  await rig?.close();
  rig = replay = undefined;
});

describe("the worker's socket", () => {
  it('announces supports_preview_metadata first on every connection, so previews come as type 4 (naming their prompt)', async () => {
    const { WebSocketServer } = await import('ws');
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    const firsts: string[] = [];
    wss.on('connection', (ws) => {
      ws.once('message', (data) => {
        firsts.push(data.toString());
        if (firsts.length === 1) ws.terminate(); // and again after a reconnect
      });
    });
    await new Promise((r) => wss.once('listening', r));
    const socket = new ComfySocket({ url: `http://127.0.0.1:${(wss.address() as { port: number }).port}`, clientId: 'c1' });
    closers.push(() => socket.close(), () => wss.close());
    const deadline = Date.now() + 5_000;
    while (firsts.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(firsts.map((f) => JSON.parse(f))).toEqual(Array(2).fill({ type: 'feature_flags', data: { supports_preview_metadata: true } }));
  });
});

describe('preview frames of the real ComfyUI v0.27.1 (recorded headers and sizes)', () => {
  async function framesOf(name: string) {
    const t = loadTranscript(name);
    replay = await startReplay(t);
    const http = new ComfyHttp({ url: replay.url });
    const socket = new ComfySocket({ url: replay.url, clientId: randomUUID() });
    closers.push(() => socket.close(), () => void http.close());
    await new Promise<void>((r) => socket.once('up', r));
    const frames: Array<{ mime: string; nodeId: string; size: unknown }> = [];
    await runPrompt(recordedPrompt(t), { http, socket, clock: systemClock }, {
      promptId: t.prompt_id,
      deadline: systemClock.now() + 20_000,
      onPreview: (f) => frames.push({ mime: f.mime, nodeId: f.nodeId, size: imageSize(f.image, f.mime) }),
    });
    return frames;
  }

  it('type 1 JPEG frames (a client without metadata) belong to the sampler whose step came last', async () => {
    expect(await framesOf('sd15_01_first_run')).toEqual(Array(3).fill({ mime: 'image/jpeg', nodeId: '3', size: { width: 512, height: 512 } }));
  });

  it('type 4 frames name their node and prompt', async () => {
    const frames = await framesOf('sd15_04_vaeloader_preview_metadata');
    expect(frames.length).toBeGreaterThan(0);
    expect(frames.every((f) => f.nodeId === '3' && f.mime === 'image/jpeg')).toBe(true);
  });

  it("extra_data.preview_method none: no frames at all", async () => {
    expect(await framesOf('sd15_05_preview_none')).toEqual([]);
  });
});

async function runTimed(r: Rig, bundle: Bundle): Promise<{ outcome: JobOutcome; updates: Array<{ at: number; raw: unknown; progress: Progress }> }> {
  const updates: Array<{ at: number; raw: unknown; progress: Progress }> = [];
  const outcome = await r.pipeline.run(
    { id: `job-${Math.random().toString(16).slice(2)}-u1`, input: { encrypted_input: sealBundle(bundle, r.fernet) } },
    { onProgress: (raw) => updates.push({ at: performance.now(), raw, progress: openProgress(raw, r.fernet)! }) },
  );
  return { outcome, updates };
}

/** Each distinct preview with the time it first went out. */
function distinctPreviews(updates: Array<{ at: number; progress: Progress }>) {
  const seen: Array<{ at: number; preview: NonNullable<Progress['preview']> }> = [];
  for (const u of updates) {
    const p = u.progress.preview;
    if (p && seen.at(-1)?.preview.data !== p.data) seen.push({ at: u.at, preview: p });
  }
  return seen;
}

describe('previews in sealed progress (contract §13), worker against the simulator', () => {
  it('passes sampler frames at most one per every_ms, newest winning, sealed, with their node; nothing in the logs', async () => {
    rig = await startRig({ sim: { stepMs: 8 } });
    const { outcome, updates } = await runTimed(rig, { workflow: sampling(40), images: [], options: { previews: { every_ms: 50 } } });
    expect(outcome.kind).toBe('success');
    const previews = distinctPreviews(updates);
    // 40 steps of 8 ms or more: 320 ms and up of frames, so several intervals.
    expect(previews.length).toBeGreaterThanOrEqual(3);
    // (a timer may fire up to a millisecond early: Node rounds its delays)
    for (let i = 1; i < previews.length; i++) expect(previews[i]!.at - previews[i - 1]!.at).toBeGreaterThanOrEqual(48);
    // Frames came every step: far more than went out.
    expect(previews.length).toBeLessThan(40);
    for (const { preview } of previews) {
      expect(preview.mime).toBe('image/jpeg');
      expect(preview.node_id).toBe('14');
      const image = jpeg.decode(Buffer.from(preview.data, 'base64'));
      expect([image.width, image.height]).toEqual([32, 32]);
    }
    // Sealed only: the updates as they leave the worker hold nothing readable.
    for (const u of updates) expect(Object.keys(u.raw as object)).toEqual(['encrypted_progress']);
    const logs = rig.logs.join('\n');
    expect(logs).not.toContain(CANARY);
    expect(logs).not.toContain(previews[0]!.preview.data.slice(0, 40));
    // The preview stops with sampling: collecting carries none.
    expect(updates.at(-1)!.progress).toMatchObject({ state: 'collecting' });
    expect(updates.at(-1)!.progress.preview).toBeUndefined();
  });

  it('without the option: progress exactly as before, no preview', async () => {
    rig = await startRig({ sim: { stepMs: 2 } });
    const { outcome, updates } = await runTimed(rig, { workflow: sampling(10), images: [], options: {} });
    expect(outcome.kind).toBe('success');
    expect(updates.length).toBeGreaterThan(5);
    for (const u of updates) expect(u.progress.preview).toBeUndefined();
  });

  it('skips frames over 96 KiB, and scales big frames to max_px', async () => {
    rig = await startRig({ sim: { stepMs: 5, faults: { largePreviews: { px: 300 } } } });
    const skipped = await runTimed(rig, { workflow: sampling(8), images: [], options: { previews: { every_ms: 1, max_px: 1024 } } });
    expect(skipped.outcome.kind).toBe('success');
    expect(distinctPreviews(skipped.updates)).toEqual([]);

    // Another seed: ComfyUI's cache would answer the same sampler without a step.
    const scaled = await runTimed(rig, { workflow: sampling(8, 8), images: [], options: { previews: { every_ms: 1, max_px: 100 } } });
    const previews = distinctPreviews(scaled.updates);
    expect(previews.length).toBeGreaterThan(0);
    for (const { preview } of previews) {
      const data = Buffer.from(preview.data, 'base64');
      expect(data.length).toBeLessThanOrEqual(96 * 1024);
      const image = jpeg.decode(data);
      expect([image.width, image.height]).toEqual([100, 100]);
    }
  });
});

describe('temp_outputs and ui (contract §14)', () => {
  const workflow = {
    '1': { class_type: 'LoadImage', inputs: { image: `${CANARY}.png` } },
    '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'keep/me' } },
    '3': { class_type: 'PreviewImage', inputs: { images: ['1', 0] } },
    '4': { class_type: 'PrimitiveString', inputs: { value: `said ${CANARY}` } },
    '5': { class_type: 'PreviewAny', inputs: { source: ['4', 0] } },
  };
  const images = [{ name: `${CANARY}.png`, data: pngOf(6, 4, () => [1, 2, 3]) }];

  it('adds temp files with type temp, and each output node’s history entry, named as in outputs; all wiped', async () => {
    rig = await startRig();
    const { outcome } = await runTimed(rig, { workflow, images, options: { temp_outputs: true, ui: true } });
    expect(outcome.kind).toBe('success');
    if (outcome.kind !== 'success') return;
    const result = openResult(outcome.output, rig.fernet);
    const files = result.files.map((f) => ({ nodeId: f.nodeId, subfolder: f.subfolder, type: f.type, kind: f.kind }));
    expect(files).toEqual([
      { nodeId: '2', subfolder: 'keep', type: 'output', kind: 'image' },
      { nodeId: '3', subfolder: '', type: 'temp', kind: 'image' },
    ]);
    const saved = result.files[0]!;
    const temp = result.files[1]!;
    expect(temp.data.subarray(1, 4).toString('latin1')).toBe('PNG');
    expect(result.ui).toEqual({
      '2': { images: [{ filename: saved.filename, subfolder: 'keep', type: 'output' }] },
      '3': { images: [{ filename: temp.filename, subfolder: '', type: 'temp' }] },
      '5': { text: [`said ${CANARY}`] },
    });
    expect(JSON.stringify(result.ui)).not.toMatch(/cs-[0-9a-f]/);
    expect(rig.leftovers()).toEqual([]);
    expect(rig.logs.join('\n')).not.toContain(CANARY);
  });

  it('writes type and ui the same streamed as in the object form, and the SDK reads them back', () => {
    const files = [
      { nodeId: '2', filename: 'a.png', subfolder: 'keep', kind: 'image', mime: 'image/png', data: Buffer.from([1, 2]), type: 'output' },
      { nodeId: '3', filename: 'ComfyUI_temp_x_00001_.png', subfolder: '', kind: 'image', mime: 'image/png', data: Buffer.from([3]), type: 'temp' },
    ];
    const ui = { '5': { text: ['ünï "q"'] }, '3': { images: [{ filename: 'ComfyUI_temp_x_00001_.png', subfolder: '', type: 'temp' }] } };
    const timings = { total: 1 };
    expect(resultBytes({ files, timingsMs: timings, ui }).toString('utf8')).toBe(JSON.stringify(buildResultPayload(files, timings, { ui })));
    const fernet = new Fernet(Fernet.generateKey());
    const opened = openResult(sealResult({ files, timingsMs: timings, ui }, fernet), fernet);
    expect(opened.files.map((f) => f.type)).toEqual(['output', 'temp']);
    expect(opened.ui).toEqual(ui);
  });

  it('a temp file ComfyUI names from its cache (wiped with the last job) is left out, not a failure', async () => {
    // Only with the cache kept (COMFY_SEAL_KEEP_CACHE=1) can ComfyUI answer from it: by default it is cleared (§12).
    rig = await startRig({ job: { clearCache: false } });
    const cached = {
      '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 0 } },
      '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'out' } },
      '3': { class_type: 'PreviewImage', inputs: { images: ['1', 0] } },
    };
    const first = await runTimed(rig, { workflow: cached, images: [], options: { temp_outputs: true, ui: true } });
    if (first.outcome.kind !== 'success') throw new Error(first.outcome.kind);
    expect(openResult(first.outcome.output, rig.fernet).files.map((f) => f.type)).toEqual(['output', 'temp']);
    const again = await runTimed(rig, { workflow: cached, images: [], options: { temp_outputs: true, ui: true } });
    if (again.outcome.kind !== 'success') throw new Error(again.outcome.kind);
    const result = openResult(again.outcome.output, rig.fernet);
    expect(result.files.map((f) => f.type)).toEqual(['output']);
    expect(result.ui?.['3']).toEqual({ images: [] });
  });

  it('without them: no temp file, no type, no ui — the result as before', async () => {
    rig = await startRig();
    const { outcome } = await runTimed(rig, { workflow, images, options: {} });
    if (outcome.kind !== 'success') throw new Error(outcome.kind);
    const result = openResult(outcome.output, rig.fernet);
    expect(result.files.map((f) => [f.nodeId, f.type])).toEqual([['2', undefined]]);
    expect(result.ui).toBeUndefined();
  });

  it('refuses option values of the wrong shape with BAD_INPUT naming the option', async () => {
    rig = await startRig();
    const { outcome } = await runTimed(rig, { workflow, images, options: { previews: { every: 5 } } as never });
    expect(outcome).toMatchObject({ kind: 'failure', code: 'BAD_INPUT' });
    if (outcome.kind === 'failure') expect(JSON.parse(outcome.error).code).toBe('BAD_INPUT');
  });
});
