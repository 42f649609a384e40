import { mkdtemp, mkdir, readFile, rm, stat, symlink, writeFile, appendFile } from 'node:fs/promises';
import * as nodeFs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Fernet, SealError, sealBundle, type Bundle } from '../../shared/index.js';
import { systemClock } from '../../handler/clock.js';
import { collectOutputs, listOutputFiles, looksComplete, readSettled } from '../../handler/collect.js';
import { compareNodeIds } from '../../shared/node-ids.js';
import { createLogger } from '../../handler/log.js';
import { openJobInput } from '../../handler/open.js';
import { planStage, writeStage } from '../../handler/stage.js';
import { readReleasable, scrubFile, wipeTree, type FileSystem } from '../../handler/storage.js';
import { release } from '../../shared/releasable.js';
import { sealErrorOf } from '../helpers/errors.js';

const CANARY = 'canary-2b7e-amber-heron';
const fernet = new Fernet(Fernet.generateKey());
const png = (extra = 0) => Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), Buffer.alloc(extra, 7), Buffer.from('0000000049454e44ae426082', 'hex')]);

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'cs-steps-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});


describe('open', () => {
  const bundle: Bundle = { workflow: { '1': { class_type: 'EmptyImage', inputs: {} } }, images: [], options: {} };
  const opts = { fernet, allowPlaintext: false, ttlSeconds: 86_400 };

  it('opens a sealed job and keeps its key for the answer', async () => {
    const opened = await openJobInput({ encrypted_input: sealBundle(bundle, fernet), is_encrypted: true, debug: true }, opts);
    expect(opened.bundle.workflow).toEqual(bundle.workflow);
    expect(opened.fernet).toBe(fernet);
    expect(opened.olderShape).toBe(true); // is_encrypted: the older endpoint's client, which reads `images` (§3)
    expect((await openJobInput({ encrypted_input: sealBundle(bundle, fernet) }, opts)).olderShape).toBe(false);
  });

  it('refuses plaintext unless allowed, then ignores is_encrypted/debug', async () => {
    const plain = { workflow: bundle.workflow, debug: true, is_encrypted: false };
    await expect(openJobInput(plain, opts)).rejects.toMatchObject({ code: 'PLAINTEXT_REFUSED' });
    const opened = await openJobInput(plain, { ...opts, allowPlaintext: true });
    expect(opened.fernet).toBeNull();
    expect(opened.bundle.workflow).toEqual(bundle.workflow);
  });

  it.each([
    ['a string', 'x', 'BAD_INPUT'],
    ['an array', [], 'BAD_INPUT'],
    ['neither form', { prompt: 1 }, 'BAD_INPUT'],
    ['a non-string token', { encrypted_input: 5 }, 'BAD_INPUT'],
    ['a tampered token', { encrypted_input: 'gAAAAA' + 'A'.repeat(90) }, 'DECRYPT_FAILED'],
    ['a wrong-key token', { encrypted_input: new Fernet(Fernet.generateKey()).encrypt('{}') }, 'DECRYPT_FAILED'],
  ])('%s → %s', async (_what, input, code) => {
    await expect(openJobInput(input, opts)).rejects.toMatchObject({ code });
  });

  it('honours the ttl, and 0 means no limit', async () => {
    const old = fernet.encrypt(JSON.stringify({ workflow: bundle.workflow }), { nowSeconds: Math.floor(Date.now() / 1000) - 100_000 });
    await expect(openJobInput({ encrypted_input: old }, opts)).rejects.toMatchObject({ code: 'TOKEN_EXPIRED' });
    expect((await openJobInput({ encrypted_input: old }, { ...opts, ttlSeconds: 0 })).bundle.workflow).toEqual(bundle.workflow);
  });

  it('says DECRYPT_FAILED when the worker has no key', async () => {
    await expect(openJobInput({ encrypted_input: sealBundle(bundle, fernet) }, { ...opts, fernet: null })).rejects.toMatchObject({ code: 'DECRYPT_FAILED' });
  });
});

describe('stage', () => {
  const workflow = {
    '10': { class_type: 'LoadImage', inputs: { image: `${CANARY}.png` } },
    '11': { class_type: 'LoadImageMask', inputs: { image: `sub/${CANARY}-mask.png [input]`, channel: 'alpha' } },
    '12': { class_type: 'LoadImageOutput', inputs: { image: `${CANARY}.png [output]` } },
    '20': { class_type: 'SaveImage', inputs: { filename_prefix: 'portraits/me', images: ['8', 0] } },
    '21': { class_type: 'SaveVideo', inputs: { filename_prefix: 'video/ComfyUI', video: ['9', 0] } },
    '30': { class_type: 'CLIPTextEncode', inputs: { text: `${CANARY}.png` } },
  };
  const bundle: Bundle = {
    workflow,
    images: [
      { name: `${CANARY}.png`, data: png() },
      { name: `${CANARY}-mask.png`, data: png(3) },
      { name: 'unused.jpg', data: Buffer.from([1]) },
    ],
    options: {},
  };

  it('rewrites loaders to staged names and prefixes into a per-job folder, without touching the bundle', () => {
    const plan = planStage(bundle, { jobTag: 'abc123' });
    expect(plan.workflow['10']!.inputs.image).toBe('cs-abc123-0.png');
    expect(plan.workflow['11']!.inputs.image).toBe('cs-abc123-1.png');
    expect(plan.workflow['12']!.inputs.image).toBe('cs-abc123-0.png [input]');
    expect(plan.workflow['20']!.inputs.filename_prefix).toBe('cs-abc123/portraits/me');
    expect(plan.workflow['21']!.inputs.filename_prefix).toBe('cs-abc123/video/ComfyUI');
    expect(plan.workflow['30']!.inputs.text).toBe(`${CANARY}.png`); // only loaders are rewritten
    expect([...plan.files.keys()]).toEqual(['cs-abc123-0.png', 'cs-abc123-1.png']);
    expect(workflow['10'].inputs.image).toBe(`${CANARY}.png`);
  });

  it('refuses a workflow that loads a file the bundle lacks, with the name only in the details', () => {
    const e = sealErrorOf(() => planStage({ ...bundle, images: [] }, { jobTag: 'x' }));
    expect(e.code).toBe('WORKFLOW_INVALID');
    expect(e.message).not.toContain(CANARY);
    expect(e.details.file).toBe(`${CANARY}.png`);
  });

  it.each(['../escape', '/abs/path', 'a/../../b'])('refuses filename_prefix %j', (prefix) => {
    const wf = { '1': { class_type: 'SaveImage', inputs: { filename_prefix: prefix } } };
    expect(sealErrorOf(() => planStage({ workflow: wf, images: [], options: {} }, { jobTag: 'x' })).code).toBe('BAD_INPUT');
  });

  it('writes each file durably under the input dir and never replaces one', async () => {
    const plan = planStage(bundle, { jobTag: 'abc123' });
    expect(await writeStage(plan, dir)).toBe(png().length + png(3).length);
    expect(await readFile(path.join(dir, 'cs-abc123-1.png'))).toEqual(png(3));
    expect((await stat(path.join(dir, 'cs-abc123-0.png'))).mode & 0o777).toBe(0o640); // the group: ComfyUI's user (start.sh)
    await expect(writeStage(plan, dir)).rejects.toMatchObject({ code: 'INTERNAL', message: expect.stringContaining('EEXIST') });
  });

  it('turns an unwritable dir into a clear storage error', async () => {
    const plan = planStage(bundle, { jobTag: 'q' });
    await expect(writeStage(plan, path.join(dir, 'missing'))).rejects.toMatchObject({ code: 'INTERNAL', message: expect.stringContaining('ENOENT') });
  });
});

describe('collect', () => {
  it('orders node ids with subgraph parts numerically', () => {
    expect(['12:3', '10', '9', '10:2', 'b', 'a', '2'].sort(compareNodeIds)).toEqual(['2', '9', '10', '10:2', '12:3', 'a', 'b']);
  });

  it('knows when a file is whole', () => {
    expect(looksComplete(png())).toBe(true);
    expect(looksComplete(png().subarray(0, -1))).toBe(false);
    expect(looksComplete(Buffer.from([0xff, 0xd8, 0xff, 0, 0xff, 0xd9]))).toBe(true);
    expect(looksComplete(Buffer.from([0xff, 0xd8, 0xff, 0, 0xff]))).toBe(false);
    const riff = Buffer.alloc(20);
    riff.write('RIFF', 0, 'latin1');
    riff.writeUInt32LE(12, 4);
    expect(looksComplete(riff)).toBe(true);
    riff.writeUInt32LE(40, 4);
    expect(looksComplete(riff)).toBe(false);
    expect(looksComplete(Buffer.from('\x1aE\xdf\xa3webm'))).toBeNull();
  });

  it('lists output files but never temp previews or text', () => {
    const listed = listOutputFiles({
      '9': { images: [{ filename: 'a.png', subfolder: '', type: 'output' }] },
      '10': { images: [{ filename: 'p.png', subfolder: '', type: 'temp' }] },
      '11': { gifs: [{ filename: 'v.mp4', subfolder: '', type: 'output', format: 'video/h264-mp4' }] },
      '12': { text: ['hello'] },
      '13': { images: [{ filename: 'w.webp', subfolder: '', type: 'output' }], animated: [true] },
      '14': { audio: [{ filename: 's.flac', subfolder: 'audio', type: 'output' }] },
    });
    expect(listed.map((w) => w.ref.filename)).toEqual(['a.png', 'v.mp4', 'w.webp', 's.flac']);
  });

  it('waits for a file written late and in chunks, then reads all of it', async () => {
    const file = path.join(dir, 'late.png');
    const whole = png(50_000);
    await writeFile(file, whole.subarray(0, 10_000)); // ComfyUI has created it by the time it reports it
    const writer = (async () => {
      for (let i = 10_000; i < whole.length; i += 10_000) {
        await new Promise((r) => setTimeout(r, 15));
        await appendFile(file, whole.subarray(i, i + 10_000));
      }
    })();
    const data = await readSettled(file, { outputDir: dir, jobFolder: 'x', maxResultBytes: 1e9, settleTimeoutMs: 5_000, quietMs: 5_000, clock: systemClock });
    await writer;
    expect(data).toEqual(whole);
  });

  it('fails at once, never after the settle timeout, on a reported file that is not on disk', async () => {
    const started = Date.now();
    await expect(
      readSettled(path.join(dir, 'never.png'), { outputDir: dir, jobFolder: 'x', maxResultBytes: 1e9, settleTimeoutMs: 30_000, quietMs: 10, clock: systemClock }),
    ).rejects.toMatchObject({ code: 'EXECUTION_FAILED', message: expect.stringContaining('not on disk'), details: { file: 'never.png' } });
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('gives up on a file that never finishes, with EXECUTION_FAILED', async () => {
    const file = path.join(dir, 'cut.png');
    await writeFile(file, png().subarray(0, -3));
    await expect(
      readSettled(file, { outputDir: dir, jobFolder: 'x', maxResultBytes: 1e9, settleTimeoutMs: 150, quietMs: 10, clock: systemClock }),
    ).rejects.toMatchObject({ code: 'EXECUTION_FAILED', message: expect.stringContaining('never finished') });
  });

  it('watches a growing file with stat and its end mark, and reads it whole only once', async () => {
    for (const [name, whole] of [
      ['grow.png', png(200_000)],
      ['grow.webm', Buffer.concat([Buffer.from('\x1aE\xdf\xa3'), Buffer.alloc(300_000, 7)])],
    ] as const) {
      const file = path.join(dir, name);
      await writeFile(file, whole.subarray(0, 50_000));
      let bytesRead = 0;
      const counting: typeof nodeFs = {
        ...nodeFs,
        open: (async (...args: Parameters<typeof nodeFs.open>) => {
          const handle = await nodeFs.open(...args);
          const read = handle.read.bind(handle) as (...a: unknown[]) => Promise<{ bytesRead: number }>;
          (handle as unknown as { read: unknown }).read = async (...a: unknown[]) => {
            const r = await read(...a);
            bytesRead += r.bytesRead;
            return r;
          };
          return handle;
        }) as typeof nodeFs.open,
      };
      const writer = (async () => {
        for (let i = 50_000; i < whole.length; i += 50_000) {
          await new Promise((r) => setTimeout(r, 20));
          await appendFile(file, whole.subarray(i, i + 50_000));
        }
      })();
      const data = await readSettled(file, { outputDir: dir, jobFolder: 'x', maxResultBytes: 1e9, settleTimeoutMs: 5_000, quietMs: 150, clock: systemClock, fs: counting });
      await writer;
      expect(data.equals(whole)).toBe(true);
      // One whole read, plus a few dozen bytes per look at the end mark; re-reading on every poll would be many times the size.
      expect(bytesRead).toBeGreaterThanOrEqual(whole.length);
      expect(bytesRead).toBeLessThan(whole.length + 5_000);
    }
  });

  const options = () => ({ outputDir: dir, jobFolder: 'cs-j1', maxResultBytes: 1e6, settleTimeoutMs: 1_000, quietMs: 20, clock: systemClock });

  it('collects with kinds and mimes, strips the per-job folder, and refuses escapes and symlinks out', async () => {
    await mkdir(path.join(dir, 'cs-j1', 'video'), { recursive: true });
    await writeFile(path.join(dir, 'cs-j1', 'me_00001_.png'), png());
    await writeFile(path.join(dir, 'cs-j1', 'video', 'clip_00001.webm'), Buffer.from('\x1aE\xdf\xa3webm'));
    const files = await collectOutputs(
      {
        '9': { images: [{ filename: 'me_00001_.png', subfolder: 'cs-j1', type: 'output' }] },
        '21': { images: [{ filename: 'clip_00001.webm', subfolder: 'cs-j1/video', type: 'output' }], animated: [true] },
      },
      options(),
    );
    expect(files.map((f) => [f.nodeId, f.filename, f.subfolder, f.kind, f.mime])).toEqual([
      ['9', 'me_00001_.png', '', 'image', 'image/png'],
      ['21', 'clip_00001.webm', 'video', 'video', 'video/webm'],
    ]);

    await expect(collectOutputs({ '1': { images: [{ filename: 'passwd', subfolder: '../../etc', type: 'output' }] } }, options())).rejects.toMatchObject({ code: 'EXECUTION_FAILED' });
    const outside = path.join(os.tmpdir(), `cs-outside-${process.pid}.png`);
    await writeFile(outside, png());
    await symlink(outside, path.join(dir, 'link.png'));
    await expect(collectOutputs({ '1': { images: [{ filename: 'link.png', subfolder: '', type: 'output' }] } }, options())).rejects.toMatchObject({ code: 'EXECUTION_FAILED' });
    await rm(outside);
  });

  it('fails with OUTPUT_TOO_LARGE before reading past the limit', async () => {
    await writeFile(path.join(dir, 'big.png'), png(600_000));
    const e = await collectOutputs({ '1': { images: [{ filename: 'big.png', subfolder: '', type: 'output' }] } }, options()).catch((x) => x);
    expect(e).toBeInstanceOf(SealError);
    expect(e.code).toBe('OUTPUT_TOO_LARGE');
    expect(e.message).not.toContain('big.png');
    expect(e.message).toMatch(/about 0\.5 MB of images fit inline; a blob store \(--blob-url/);
    // An older-shape request carries each image twice: 400 kB no longer fits.
    await writeFile(path.join(dir, 'big.png'), png(400_000));
    expect(await collectOutputs({ '1': { images: [{ filename: 'big.png', subfolder: '', type: 'output' }] } }, options()).then((f) => f.length)).toBe(1);
    const older = await collectOutputs({ '1': { images: [{ filename: 'big.png', subfolder: '', type: 'output' }] } }, { ...options(), olderImages: true }).catch((x) => x);
    expect([older.code, older.message]).toEqual(['OUTPUT_TOO_LARGE', expect.stringContaining('about 0.2 MB of images fit inline')]);
  });
});

describe('releasable reads', () => {
  it('reads a whole file into a buffer whose memory can be given back', async () => {
    const file = path.join(dir, 'out.png');
    const data = png(1_200_000);
    await writeFile(file, data);
    const read = await readReleasable(file);
    expect(read.equals(data)).toBe(true);
    release(read);
    expect(read.length).toBe(0);
    // A small one is an ordinary buffer (mapping pages for it would cost more than the GC): release leaves it.
    await writeFile(file, png(10));
    const small = await readReleasable(file);
    release(small);
    expect(small.equals(png(10))).toBe(true);
    await writeFile(file, Buffer.alloc(0));
    expect((await readReleasable(file)).length).toBe(0);
  });
});

describe('wipe', () => {
  it('zeroes every byte, fsyncs, then unlinks — recursively — and keeps the root', async () => {
    await mkdir(path.join(dir, 'a', 'b'), { recursive: true });
    await writeFile(path.join(dir, 'top.bin'), Buffer.alloc(3_000_000, 0xab));
    await writeFile(path.join(dir, 'a', 'b', `${CANARY}.png`), Buffer.from(CANARY));
    await writeFile(path.join(dir, 'a', 'empty'), '');
    const outside = path.join(os.tmpdir(), `cs-keep-${process.pid}`);
    await writeFile(outside, 'keep me');
    await symlink(outside, path.join(dir, 'link'));

    const seenAtUnlink: Array<{ file: string; allZero: boolean; size: number }> = [];
    const fs: FileSystem = {
      ...nodeFs,
      unlink: async (file) => {
        const st = await nodeFs.lstat(file);
        if (st.isFile()) {
          const bytes = await nodeFs.readFile(file);
          seenAtUnlink.push({ file: String(file), allZero: bytes.every((b) => b === 0), size: bytes.length });
        }
        return nodeFs.unlink(file);
      },
    };
    const report = await wipeTree(dir, fs);
    expect(report.failures).toEqual([]);
    expect(report.files).toBe(4);
    expect(report.bytes).toBe(3_000_000 + CANARY.length);
    expect(seenAtUnlink).toHaveLength(3);
    for (const s of seenAtUnlink) expect(s.allZero).toBe(true);
    expect(seenAtUnlink.find((s) => s.file.endsWith('top.bin'))!.size).toBe(3_000_000);
    expect(await nodeFs.readdir(dir)).toEqual([]);
    expect(await readFile(outside, 'utf8')).toBe('keep me'); // the symlink was not followed
    await rm(outside);
  });

  it('reports failures by errno and goes on', async () => {
    await writeFile(path.join(dir, 'one'), 'x');
    await writeFile(path.join(dir, 'two'), 'y');
    let calls = 0;
    const fs: FileSystem = {
      ...nodeFs,
      unlink: async (file) => {
        if (calls++ === 0) throw Object.assign(new Error('nope'), { code: 'EPERM' });
        return nodeFs.unlink(file);
      },
    };
    const report = await wipeTree(dir, fs);
    expect(report.failures).toEqual(['EPERM']);
    expect(report.files).toBe(1);
  });
});

describe('scrub (ComfyUI log kept open by ComfyUI)', () => {
  it('zeroes and truncates in place, so an appending writer keeps writing to a clean file', async () => {
    const file = path.join(dir, 'comfyui.log');
    const writer = await nodeFs.open(file, 'a');
    await writer.write(`prompt: ${CANARY}\n`);
    const seen: Buffer[] = [];
    const fs: FileSystem = {
      ...nodeFs,
      open: (async (p: string, flags: string) => {
        const h = await nodeFs.open(p, flags);
        const truncate = h.truncate.bind(h);
        h.truncate = async (len?: number) => {
          seen.push(await nodeFs.readFile(p));
          return truncate(len);
        };
        return h;
      }) as FileSystem['open'],
    };
    const report = await scrubFile(file, fs);
    expect(report.failures).toEqual([]);
    expect(seen[0]!.every((b) => b === 0)).toBe(true);
    await writer.write('after\n');
    await writer.close();
    expect(await readFile(file, 'utf8')).toBe('after\n');
    expect((await scrubFile(path.join(dir, 'missing.log'))).failures).toEqual([]);
  });
});

describe('logger', () => {
  it('can only print allowed fields of allowed shapes', () => {
    const lines: string[] = [];
    const log = createLogger({ json: true, write: (l) => lines.push(l) });
    log.log('info', 'job.failed', { job_id: 'abc-123-u1', code: 'BAD_INPUT', ms: 12.345, reason: `${CANARY} with spaces`, ...({ prompt: CANARY } as object) });
    const parsed = JSON.parse(lines[0]!);
    expect(parsed).toEqual({ requestId: 'abc-123-u1', message: 'job.failed', level: 'INFO', job_id: 'abc-123-u1', code: 'BAD_INPUT', ms: 12.3 });
    expect(lines.join('')).not.toContain(CANARY);
    const human: string[] = [];
    createLogger({ json: false, write: (l) => human.push(l) }).log('warn', 'job.done', { job_id: 'j', files: 2 });
    expect(human[0]).toMatch(/warn  job\.done job_id=j files=2\n$/);
  });
});
