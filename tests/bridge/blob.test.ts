import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startS3, type S3 } from '../helpers/s3.js';
import { connectClient, postJson, startBridgeRig, type BridgeRig } from './helpers.js';

const CANARY = 'canary-bridge-blob-3d1a-teal';

/** An incompressible PNG of about `mb` MB. */
function noisePng(mb: number): Buffer {
  const side = Math.ceil(Math.sqrt((mb * 1e6) / 3));
  const png = new PNG({ width: side, height: side });
  randomBytes(png.data.length).copy(png.data);
  for (let i = 3; i < png.data.length; i += 4) png.data[i] = 255;
  return PNG.sync.write(png, { deflateLevel: 1 });
}

let s3: S3;
let rig: BridgeRig;
beforeAll(async () => {
  s3 = await startS3();
  rig = await startBridgeRig({ blobs: s3 });
}, 60_000);
afterAll(async () => {
  await rig?.close();
  await s3?.close();
});

describe('comfy-seal bridge with a blob store', () => {
  it('sends a prompt too large for /run through the blob store, sealed; the result comes back the same way', async () => {
    const url = rig.bridge.url;
    const png = noisePng(8);
    const form = new FormData();
    form.append('image', new Blob([png], { type: 'image/png' }), `${CANARY}.png`);
    expect((await fetch(`${url}/upload/image`, { method: 'POST', body: form })).status).toBe(200);
    const c = await connectClient(url, 'client-blob');
    const prompt = {
      '1': { class_type: 'LoadImage', inputs: { image: `${CANARY}.png` } },
      '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'big' } },
    };
    const posted = await postJson(url, '/prompt', { prompt, client_id: 'client-blob' });
    expect(posted.status).toBe(200);
    await c.done(posted.json.prompt_id, 120_000);
    expect(c.messages.some((m) => m.type === 'execution_success')).toBe(true);
    const out = readFileSync(path.join(rig.bridge.folders.output, 'big_00001_.png'));
    expect(PNG.sync.read(out).width).toBe(PNG.sync.read(png).width);
    // The /run request carried a sealed pointer, not the 8 MB (11 MB as base64): the bundle went to the store.
    const run = rig.sent.filter((b) => /^POST \S*\/run\n/.test(b)).at(-1)!;
    expect(run.length).toBeLessThan(100_000);
    for (const body of rig.sent) expect(body).not.toContain(CANARY);
    // The job's blobs are deleted once its files are written.
    expect([...s3.objects().keys()]).toEqual([]);
    c.close();
  }, 150_000);
});
