/**
 * Metadata as ComfyUI embeds it: SaveImage's PNG tEXt `prompt` and `workflow` (json.dumps text), the animated WebP's
 * EXIF (0x0110 "prompt:…", 0x010F "workflow:…"), VideoHelperSuite's first-frame PNG and ffmpeg `comment`; none of it
 * under --disable-metadata, nor in VHS files with `save_metadata: false`.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startSimulator, type Simulator, type SimulatorOptions } from '../../simulator/index.js';
import { pythonJson } from '../../simulator/metadata.js';
import { listFiles } from '../helpers/pipeline.js';
import { Listener } from './listener.js';

let sim: Simulator | undefined;
let client: Listener | undefined;
afterEach(async () => {
  client?.ws.terminate();
  await sim?.close();
  sim = client = undefined;
});

const WORKFLOW = { nodes: [{ id: 1, type: 'SaveImage', title: 'café ☕' }], links: [], version: 0.4 };

async function run(saver: Record<string, unknown>, options: SimulatorOptions = {}): Promise<{ prompt: Record<string, unknown>; files: string[] }> {
  sim = await startSimulator({ port: 0, stepMs: 1, ...options });
  client = await Listener.open(sim, 'c');
  const id = randomUUID();
  const prompt = { '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 2, color: 7 } }, '2': saver };
  await fetch(`${sim.url}/prompt`, { method: 'POST', body: JSON.stringify({ prompt, client_id: 'c', prompt_id: id, extra_data: { extra_pnginfo: { workflow: WORKFLOW } } }) });
  await client.done(id);
  return { prompt, files: listFiles(sim.dirs.output).sort() };
}

/** tEXt chunks of a PNG, in file order. */
function pngText(file: string): Array<[string, string]> {
  const bytes = readFileSync(file);
  const out: Array<[string, string]> = [];
  for (let at = 8; at < bytes.length; ) {
    const length = bytes.readUInt32BE(at);
    const type = bytes.toString('latin1', at + 4, at + 8);
    if (type === 'tEXt') {
      const data = bytes.subarray(at + 8, at + 8 + length);
      const nul = data.indexOf(0);
      out.push([data.toString('latin1', 0, nul), data.toString('latin1', nul + 1)]);
    }
    if (type === 'IDAT' && out.length === 0) out.push(['(IDAT before text)', '']);
    at += 12 + length;
  }
  return out;
}

describe('metadata in saved files', () => {
  it('SaveImage writes tEXt prompt and workflow before the image data, as json.dumps text', async () => {
    const { prompt, files } = await run({ class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'meta' } });
    expect(files).toHaveLength(2);
    for (const file of files) {
      const text = pngText(file);
      expect(text.map(([k]) => k)).toEqual(['prompt', 'workflow']);
      expect(text[0]![1]).toBe(pythonJson(prompt));
      expect(text[0]![1]).toContain('{"1": {"class_type": "EmptyImage", "inputs": {"width": 8,');
      expect(text[1]![1]).toContain('"title": "caf\\u00e9 \\u2615"'); // ensure_ascii, as Python writes it
      expect(JSON.parse(text[1]![1])).toEqual(WORKFLOW);
    }
  });

  it('--disable-metadata (disableMetadata): no text chunks at all', async () => {
    const { files } = await run({ class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'bare' } }, { disableMetadata: true });
    for (const file of files) expect(pngText(file)).toEqual([['(IDAT before text)', '']]);
  });

  it('SaveAnimatedWEBP puts them in EXIF: 0x0110 "prompt:…", 0x010F "workflow:…"', async () => {
    const { prompt, files } = await run({ class_type: 'SaveAnimatedWEBP', inputs: { images: ['1', 0], filename_prefix: 'anim', fps: 6, lossless: false, quality: 80, method: 'default' } });
    const bytes = readFileSync(files[0]!);
    expect(bytes.readUInt32LE(4)).toBe(bytes.length - 8); // RIFF length still exact
    expect(bytes[20]! & 0x08).toBe(0x08); // VP8X: EXIF present
    const at = bytes.indexOf('EXIF', 12, 'latin1');
    const tiff = bytes.subarray(at + 8, at + 8 + bytes.readUInt32LE(at + 4));
    expect(tiff.subarray(0, 4).toString('hex')).toBe('49492a00');
    const ifd = tiff.readUInt32LE(4);
    const entries = Array.from({ length: tiff.readUInt16LE(ifd) }, (_, n) => {
      const e = ifd + 2 + n * 12;
      const count = tiff.readUInt32LE(e + 4);
      return [tiff.readUInt16LE(e), tiff.toString('latin1', tiff.readUInt32LE(e + 8), tiff.readUInt32LE(e + 8) + count - 1)];
    });
    expect(entries).toEqual([
      [0x010f, `workflow:${pythonJson(WORKFLOW)}`],
      [0x0110, `prompt:${pythonJson(prompt)}`],
    ]);
  });

  it('VHS_VideoCombine: a first-frame PNG with the text chunks and an MP4 comment; save_metadata false leaves both out', async () => {
    const vhs = (saveMetadata: boolean) => ({
      class_type: 'VHS_VideoCombine',
      inputs: { images: ['1', 0], frame_rate: 8, loop_count: 0, filename_prefix: 'vid', format: 'video/h264-mp4', pingpong: false, save_output: true, save_metadata: saveMetadata },
    });
    const { prompt, files } = await run(vhs(true));
    expect(files.map((f) => path.basename(f))).toEqual(['vid_00001.mp4', 'vid_00001.png']);
    expect(pngText(files[1]!).map(([k]) => k)).toEqual(['prompt', 'workflow']);
    const mp4 = readFileSync(files[0]!);
    const data = mp4.indexOf('data', mp4.indexOf('\xa9cmt', 0, 'latin1'), 'latin1');
    const comment = JSON.parse(mp4.toString('utf8', data + 12, data - 4 + mp4.readUInt32BE(data - 4)));
    expect(comment).toEqual({ prompt: pythonJson(prompt), workflow: WORKFLOW });
    await sim!.close();
    const bare = await run(vhs(false));
    expect(pngText(bare.files[1]!)).toEqual([['(IDAT before text)', '']]);
    expect(readFileSync(bare.files[0]!).includes('\xa9cmt', 0, 'latin1')).toBe(false);
  });
});
