import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { embedWorkflow } from '../../client/embed-workflow.js';
import { readPngChunks, withPngText } from '../../client/png-text.js';
import { planStage } from '../../handler/stage.js';
import { Fernet } from '../../shared/index.js';
import { runCli } from '../helpers/cli.js';
import { pngOf } from '../helpers/pipeline.js';
import { startLocalStack, type LocalStack } from '../helpers/services.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** tEXt chunks by keyword, read straight from the bytes. */
function textChunks(png: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  for (const c of readPngChunks(png) ?? []) {
    if (c.type !== 'tEXt' && c.type !== 'iTXt' && c.type !== 'zTXt') continue;
    const nul = c.data.indexOf(0);
    out[c.data.subarray(0, nul).toString('latin1')] = c.data.subarray(nul + 1).toString('latin1');
  }
  return out;
}

describe('no prompt left inside the pictures', () => {
  it("the staged workflow turns VideoHelperSuite's save_metadata off, and any boolean save_metadata", () => {
    const plan = planStage(
      {
        workflow: {
          '1': { class_type: 'VHS_VideoCombine', inputs: { images: ['9', 0], filename_prefix: 'a', frame_rate: 8 } },
          '2': { class_type: 'VHS_VideoCombine', inputs: { images: ['9', 0], filename_prefix: 'b', save_metadata: true } },
          '3': { class_type: 'VHS_VideoCombine', inputs: { images: ['9', 0], filename_prefix: 'c', save_metadata: ['8', 0] } },
          '4': { class_type: 'SomeVideoSaver', inputs: { save_metadata: true } },
          '5': { class_type: 'SomeNode', inputs: { save_metadata: 'keep' } },
          '6': { class_type: 'SaveImage', inputs: { images: ['9', 0], filename_prefix: 'd' } },
        },
        images: [],
        options: {},
      },
      { jobTag: 'abc123' },
    );
    const value = (id: string) => plan.workflow[id]!.inputs.save_metadata;
    expect([value('1'), value('2'), value('3'), value('4')]).toEqual([false, false, false, false]);
    expect(value('5')).toBe('keep');
    expect('save_metadata' in plan.workflow['6']!.inputs).toBe(false);
  });

  it('start.sh starts ComfyUI with --disable-metadata unless told otherwise', () => {
    const script = readFileSync(path.join(ROOT, 'start.sh'), 'utf8');
    const line = script.split('\n').find((l) => l.includes('--disable-metadata'));
    expect(line).toBeDefined();
    expect(line).toMatch(/\$\{COMFY_DISABLE_METADATA:-1\}" = "1" \] && args\+=\(--disable-metadata\)/);
  });

  it('writes tEXt chunks with right CRCs that pngjs reads, any script survives, and old ones are replaced', () => {
    const png = pngOf(3, 2, (x) => [x * 80, 0, 0]);
    const prompt = { '3': { class_type: 'CLIPTextEncode', inputs: { text: 'a 灯台 at dawn 🌅, naïve "quoted"\n' } } };
    const once = withPngText(png, [['prompt', JSON.stringify({ stale: true })]])!;
    const { files } = embedWorkflow([{ nodeId: '9', filename: 'a.png', subfolder: '', kind: 'image', mime: 'image/png', data: once }], { prompt, workflow: { nodes: [] } });
    const data = files[0]!.data;
    const decoded = PNG.sync.read(data); // checks every CRC
    expect([decoded.width, decoded.height, decoded.data[4]]).toEqual([3, 2, 80]);
    expect(decoded.data.equals(PNG.sync.read(png).data)).toBe(true);
    const chunks = readPngChunks(data)!;
    expect(chunks.map((c) => c.type)).toEqual(['IHDR', 'IDAT', 'tEXt', 'tEXt', 'IEND']);
    const text = textChunks(data);
    expect(JSON.parse(text.prompt!)).toEqual(prompt);
    expect(JSON.parse(text.workflow!)).toEqual({ nodes: [] });
    expect(/^[\x20-\x7e]*$/.test(text.prompt!)).toBe(true); // Latin-1-safe: non-ASCII as \u escapes

    // Not a PNG, truncated, or a bad CRC: left alone (null), never a broken file.
    expect(withPngText(Buffer.from('not a png'), [['prompt', '{}']])).toBeNull();
    expect(withPngText(png.subarray(0, png.length - 3), [['prompt', '{}']])).toBeNull();
    const bad = Buffer.from(png);
    bad[bad.length - 20]! ^= 0xff;
    expect(withPngText(bad, [['prompt', '{}']])).toBeNull();
    const webp = { nodeId: '1', filename: 'a.webp', subfolder: '', kind: 'image', mime: 'image/webp', data: Buffer.from('RIFF') };
    expect(embedWorkflow([webp], { prompt })).toEqual({ files: [webp], skipped: 0 });
  });
});

describe('comfy-seal run --embed-workflow', () => {
  let stack: LocalStack;
  let work: string;
  const env = () => stack.env();
  beforeAll(async () => {
    stack = await startLocalStack(Fernet.generateKey(), { stepMs: 1 });
    work = stack.work;
  });
  afterAll(async () => {
    expect(await stack.close()).toBe(0);
  });

  it('writes the sent API prompt into the PNG it writes; without the flag the PNG carries none', async () => {
    const workflow = path.join(work, 'wf.json');
    writeFileSync(
      workflow,
      JSON.stringify({
        '1': { class_type: 'LoadImage', inputs: { image: 'x.png' } },
        '2': { class_type: 'ImageInvert', inputs: { image: ['1', 0] } },
        '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: 'inv' } },
      }),
    );
    const image = path.join(work, 'photo.png');
    writeFileSync(image, pngOf(4, 4, () => [10, 20, 30]));
    const run = (out: string, extra: string[]) => runCli(['run', '--workflow', workflow, '--img', image, '--out', path.join(work, out), '--json', ...extra], { env: env() });

    const withFlag = await run('with', ['--embed-workflow']);
    expect(withFlag.stderr).toBe('');
    expect(withFlag.code).toBe(0);
    const file = readFileSync(JSON.parse(withFlag.stdout.toString()).files[0].path);
    PNG.sync.read(file);
    const prompt = JSON.parse(textChunks(file).prompt!);
    expect(Object.values(prompt).map((n) => (n as { class_type: string }).class_type)).toEqual(['LoadImage', 'ImageInvert', 'SaveImage']);
    expect(prompt['1'].inputs.image).toBe('photo.png'); // the prompt as sent: the loader names the file it was given
    expect(textChunks(file).workflow).toBeUndefined(); // no UI workflow was given

    const without = await run('without', []);
    expect(without.code).toBe(0);
    expect(textChunks(readFileSync(JSON.parse(without.stdout.toString()).files[0].path))).toEqual({});

    const resumed = await runCli(['run', '--resume-id', 'x', '--embed-workflow'], { env: env() });
    expect(resumed.code).toBe(2);
    expect(resumed.stderr).toMatch(/--embed-workflow needs the workflow/);
  });
});
