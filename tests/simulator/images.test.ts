/**
 * Pixels as ComfyUI's PIL and numpy leave them: LoadImage opens truncated PNGs (the missing rows black) and fails only
 * at execution time, with OSError, when a header chunk is cut; SaveImage truncates clip(255 * x) to uint8, so
 * ImageInvert of v can be 254 - v.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PNG } from 'pngjs';
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

function pngFrom(width: number, height: number, data: Buffer): Buffer {
  const png = new PNG({ width, height });
  data.copy(png.data);
  return PNG.sync.write(png);
}

/** LoadImage(name) → [ImageInvert] → SaveImage; the saved pixels, or the execution_error. */
async function run(name: string, bytes: Buffer, invert = false): Promise<{ status: number; saved?: PNG; error?: Record<string, unknown> }> {
  sim ??= await startSimulator({ port: 0, stepMs: 1 });
  client ??= await Listener.open(sim, 'c');
  writeFileSync(path.join(sim.dirs.input, name), bytes);
  const id = randomUUID();
  const prompt = {
    '1': { class_type: 'LoadImage', inputs: { image: name } },
    ...(invert ? { '2': { class_type: 'ImageInvert', inputs: { image: ['1', 0] } } } : {}),
    '3': { class_type: 'SaveImage', inputs: { images: [invert ? '2' : '1', 0], filename_prefix: name } },
  };
  const res = await fetch(`${sim.url}/prompt`, { method: 'POST', body: JSON.stringify({ prompt, client_id: 'c', prompt_id: id }) });
  if (res.status !== 200) return { status: res.status };
  await client.done(id);
  const error = client.log.find((m) => m.json?.type === 'execution_error' && m.json.data.prompt_id === id)?.json?.data;
  if (error) return { status: 200, error };
  const ref = (await getJson(`${sim.url}/history/${id}`))[id].outputs['3'].images[0];
  return { status: 200, saved: PNG.sync.read(readFileSync(path.join(sim.dirs.output, ref.subfolder, ref.filename))) };
}

describe('LoadImage and SaveImage, as PIL and numpy do it', () => {
  it('a PNG cut inside its image data loads: the rows that are there, the rest black', async () => {
    const pixels = randomBytes(64 * 64 * 4);
    for (let i = 3; i < pixels.length; i += 4) pixels[i] = 255;
    const whole = pngFrom(64, 64, pixels); // random pixels do not compress: the cut lands in the middle rows
    const { saved } = await run('cut.png', whole.subarray(0, Math.floor(whole.length * 0.5)));
    expect([saved!.width, saved!.height]).toEqual([64, 64]);
    expect(saved!.data.subarray(0, 64 * 4 * 8)).toEqual(pixels.subarray(0, 64 * 4 * 8)); // the first rows intact
    expect(saved!.data.subarray(-64 * 4, -64 * 4 + 12).toString('hex')).toBe('000000000000000000000000'); // the last: zeros, as PIL leaves them
  });

  it('a PNG whose header is cut passes validation and fails while executing, with OSError', async () => {
    const header = Buffer.concat([Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex'), Buffer.from([0, 0, 0])]);
    const result = await run('header.png', header);
    expect(result.status).toBe(200);
    expect(result.error).toMatchObject({ node_id: '1', node_type: 'LoadImage', exception_type: 'OSError', exception_message: 'Truncated File Read' });
  });

  it('a file that is no image at all fails at execution as PIL does (UnidentifiedImageError, an OSError)', async () => {
    const result = await run('text.png', Buffer.from('not an image'));
    expect(result.status).toBe(200);
    expect(result.error).toMatchObject({ exception_type: 'PIL.UnidentifiedImageError' });
  });

  it('a node downstream of cached nodes gets their cached outputs (the same pixels on a re-run with a new prefix)', async () => {
    const pixels = randomBytes(16 * 16 * 4);
    const first = await run('same.png', pngFrom(16, 16, pixels), true);
    const id = randomUUID();
    const prompt = {
      '1': { class_type: 'LoadImage', inputs: { image: 'same.png' } },
      '2': { class_type: 'ImageInvert', inputs: { image: ['1', 0] } },
      '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: 'again' } },
    };
    await fetch(`${sim!.url}/prompt`, { method: 'POST', body: JSON.stringify({ prompt, client_id: 'c', prompt_id: id }) });
    await client!.done(id);
    const cachedNodes = client!.log.find((m) => m.json?.type === 'execution_cached' && m.json.data.prompt_id === id)!.json!.data.nodes;
    expect(cachedNodes).toEqual(['1', '2']);
    const again = PNG.sync.read(readFileSync(path.join(sim!.dirs.output, 'again_00001_.png')));
    expect(again.data).toEqual(first.saved!.data);
  });

  it('ImageInvert then SaveImage truncates float32: 64 → 191, but 65 → 189 (254 - 65)', async () => {
    const pixels = Buffer.from([64, 65, 200, 255, 0, 255, 128, 255]);
    const { saved } = await run('inv.png', pngFrom(2, 1, pixels), true);
    expect([...saved!.data]).toEqual([191, 189, 54, 255, 255, 0, 126, 255]);
  });
});
