import jpeg from 'jpeg-js';
import { afterEach, describe, expect, it } from 'vitest';
import { fitPreview, imageSize, mayFit, parsePreviewFrame, PREVIEW_MAX_BYTES, PreviewThrottle, type ThrottleTimer } from '../../handler/previews.js';
import type { JobOutcome } from '../../handler/job.js';
import { openProgress, openResult, sealBundle, type Bundle, type Progress } from '../../shared/index.js';
import { encodeJpeg, encodePng, generateFrame, noiseFrame } from '../../simulator/images.js';
import { pngOf, startRig, type Rig } from '../helpers/pipeline.js';

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

function sampling(steps: number, seed = 7): Bundle['workflow'] {
  return {
    '10': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'sd15.safetensors' } },
    '11': { class_type: 'CLIPTextEncode', inputs: { text: `a photo of ${CANARY}`, clip: ['10', 1] } },
    '12': { class_type: 'CLIPTextEncode', inputs: { text: 'blurry', clip: ['10', 1] } },
    '13': { class_type: 'EmptyLatentImage', inputs: { width: 16, height: 16, batch_size: 1 } },
    '14': {
      class_type: 'KSampler',
      inputs: { model: ['10', 0], seed, steps, cfg: 7, sampler_name: 'euler', scheduler: 'normal', positive: ['11', 0], negative: ['12', 0], latent_image: ['13', 0], denoise: 1 },
    },
    '15': { class_type: 'VAEDecode', inputs: { samples: ['14', 0], vae: ['10', 2] } },
    '16': { class_type: 'SaveImage', inputs: { images: ['15', 0], filename_prefix: 'gen' } },
  };
}

let rig: Rig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
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
