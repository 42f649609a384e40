/** The run command's local checks (pure), the magic-byte sniffing they and the worker share, and the animated WebP kind. */
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkImageFile } from '../../client/cli/preflight.js';
import { collectOutputs } from '../../handler/collect.js';
import { systemClock } from '../../handler/clock.js';
import { imageFormatOf, isAnimatedWebp } from '../../shared/media.js';
import { animatedWebp } from '../../simulator/media.js';
import { pngOf } from '../helpers/pipeline.js';

describe('magic bytes', () => {
  it('knows the formats LoadImage opens, and nothing else', () => {
    expect(imageFormatOf(pngOf(1, 1, () => [0, 0, 0]))).toBe('png');
    expect(imageFormatOf(Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 0]))).toBe('jpeg');
    expect(imageFormatOf(animatedWebp(2, 100))).toBe('webp');
    expect(imageFormatOf(Buffer.from('GIF89a....'))).toBe('gif');
    expect(imageFormatOf(Buffer.from('hello world'))).toBeNull();
    expect(imageFormatOf(Buffer.alloc(0))).toBeNull();
    expect(() => checkImageFile('notes.png', Buffer.from('text'))).toThrow(/--img notes\.png is not an image/);
  });

  it('tells an animated WebP from a still one', () => {
    expect(isAnimatedWebp(animatedWebp(3, 50))).toBe(true);
    const still = Buffer.concat([Buffer.from('RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00', 'latin1'), Buffer.alloc(14)]);
    expect(isAnimatedWebp(still)).toBe(false);
  });

  it('collect gives an animated WebP the kind "animated" whichever node saved it (with or without the flag)', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'cs-webp-'));
    try {
      await mkdir(path.join(dir, 'cs-j1'));
      await writeFile(path.join(dir, 'cs-j1', 'a.webp'), animatedWebp(3, 50));
      await writeFile(path.join(dir, 'cs-j1', 'b.webp'), animatedWebp(3, 50));
      const files = await collectOutputs(
        { '1': { images: [{ filename: 'a.webp', subfolder: 'cs-j1', type: 'output' }], animated: [true] }, '2': { gifs: [{ filename: 'b.webp', subfolder: 'cs-j1', type: 'output' }] } },
        { outputDir: dir, jobFolder: 'cs-j1', maxResultBytes: 1e6, settleTimeoutMs: 1_000, quietMs: 20, clock: systemClock },
      );
      expect(files.map((f) => f.kind)).toEqual(['animated', 'animated']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
