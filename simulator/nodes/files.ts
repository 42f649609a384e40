/** Nodes that read and write real files: loaders from the input dir, savers into the output and temp dirs. */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Dirs, RunContext } from '../context.js';
import { NodeFailure } from '../context.js';
import { channelMask, decodeImage, encodePng, generateFrame, hashOf } from '../images.js';
import { animatedWebp, flac, gif, mp4, webm } from '../media.js';
import { exifTiff, pngText, videoComment, webpExifTags } from '../metadata.js';
import { withText } from '../png.js';
import { isImage, type ImageValue, type MaskValue } from '../values.js';
import { define, SAVER_HIDDEN, type NodeDef } from './registry.js';

/** `name`, `sub/name`, `name [output]`... → the file ComfyUI would open (no `..` guard here either, as in ComfyUI). */
export function annotatedPath(value: string, dirs: Dirs, defaultDir: keyof Dirs = 'input'): string {
  const m = / \[(input|output|temp)\]$/.exec(value);
  const dir = m ? dirs[m[1] as keyof Dirs] : dirs[defaultDir];
  return path.join(dir, m ? value.slice(0, m.index) : value);
}

/** ComfyUI's VALIDATE_INPUTS for a loader: the named file must exist ("Invalid image file: x.png"). */
function fileCheck(input: string, what: string, defaultDir: keyof Dirs = 'input') {
  return (inputs: Record<string, unknown>, dirs: { inputDir: string; outputDir: string; tempDir: string }) => {
    const value = inputs[input];
    if (typeof value !== 'string') return null;
    const file = annotatedPath(value, { input: dirs.inputDir, output: dirs.outputDir, temp: dirs.tempDir }, defaultDir);
    return existsSync(file) && statSync(file).isFile() ? null : { input, message: `Invalid ${what} file: ${value}` };
  };
}

/** What a media loader yields, derived from the file's bytes so that different inputs give different outputs. */
function mediaOf(ctx: RunContext, value: unknown) {
  const bytes = readInput(annotatedPath(String(value), ctx.dirs));
  return { hash: hashOf(bytes.toString('base64')), bytes: bytes.length };
}

/** A loader's file; gone since validation → Python's FileNotFoundError. */
function readInput(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new NodeFailure('FileNotFoundError', `[Errno 2] No such file or directory: '${file}' (${(error as NodeJS.ErrnoException).code})`);
  }
}

/** Deterministic video frames for a loaded file. */
function framesFrom(hash: string, count: number) {
  return Array.from({ length: count }, (_, n) => generateFrame(64, 64, hashOf(hash, n)));
}

function loadFrames(file: string) {
  const bytes = readInput(file);
  try {
    return decodeImage(bytes);
  } catch (error) {
    if (error instanceof NodeFailure && error.exceptionType === 'PIL.UnidentifiedImageError') throw new NodeFailure(error.exceptionType, `cannot identify image file '${file}'`);
    throw error;
  }
}

/** ComfyUI's get_save_image_path: subfolder from the prefix, counter after the highest existing one. */
export function savePath(outputRoot: string, prefix: string, ext: string, trailingUnderscore = true): { full: string; filename: string; subfolder: string } {
  const normalized = prefix.replaceAll('\\', '/');
  const subfolder = path.posix.dirname(normalized) === '.' ? '' : path.posix.dirname(normalized);
  const base = path.posix.basename(normalized);
  const dir = path.resolve(outputRoot, subfolder);
  const rel = path.relative(path.resolve(outputRoot), dir);
  if (rel.startsWith('..') || path.isAbsolute(rel)) {
    throw new NodeFailure('Exception', `**** ERROR: Saving image outside the output folder is not allowed.\n full_output_folder: ${dir}\n         output_dir: ${outputRoot}`);
  }
  const pattern = new RegExp(`^${base.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}_(\\d+)`);
  let counter = 0;
  if (existsSync(dir)) {
    for (const name of readdirSync(dir)) {
      const m = pattern.exec(name);
      if (m) counter = Math.max(counter, Number(m[1]));
    }
  }
  const filename = `${base}_${String(counter + 1).padStart(5, '0')}${trailingUnderscore ? '_' : ''}.${ext}`;
  return { full: path.join(dir, filename), filename, subfolder };
}

async function saveImages(ctx: RunContext, images: ImageValue, prefix: string, root: string, type: 'output' | 'temp') {
  const results = [];
  for (const frame of images.frames) {
    const { full, filename, subfolder } = savePath(root, prefix, 'png');
    await ctx.writeOutput(full, withText(encodePng(frame), pngText(ctx.metadata)));
    results.push({ filename, subfolder, type });
  }
  return { images: results };
}

function framesOf(value: unknown): ImageValue {
  if (isImage(value)) return value;
  const v = value as { frames?: ImageValue['frames'] } | null;
  if (v && Array.isArray(v.frames)) return { kind: 'image', frames: v.frames };
  return { kind: 'image', frames: [generateFrame(64, 64, hashOf(value))] };
}

export const fileNodes: NodeDef[] = [
  define(
    'LoadImage',
    'image:COMBO',
    'IMAGE MASK',
    (ctx, i) => {
      const frame = loadFrames(annotatedPath(String(i.image), ctx.dirs));
      const image: ImageValue = { kind: 'image', frames: [frame] };
      const mask: MaskValue = { kind: 'mask', frames: [channelMask(frame, 'alpha')] };
      return { outputs: [image, mask] };
    },
    { category: 'image', check: fileCheck('image', 'image'), options: { image: { image_upload: true } } },
  ),
  define(
    'LoadImageMask',
    'image:COMBO channel:COMBO',
    'MASK',
    (ctx, i) => ({ outputs: [{ kind: 'mask', frames: [channelMask(loadFrames(annotatedPath(String(i.image), ctx.dirs)), String(i.channel))] }] }),
    { category: 'mask', check: fileCheck('image', 'image'), options: { image: { image_upload: true }, channel: { choices: ['alpha', 'red', 'green', 'blue'] } } },
  ),
  define(
    'LoadImageOutput',
    'image:COMBO',
    'IMAGE MASK',
    (ctx, i) => {
      const frame = loadFrames(annotatedPath(String(i.image), ctx.dirs, 'output'));
      return { outputs: [{ kind: 'image', frames: [frame] }, { kind: 'mask', frames: [channelMask(frame, 'alpha')] }] };
    },
    { category: 'image', check: fileCheck('image', 'image', 'output') },
  ),
  define(
    'SaveImage',
    'images:IMAGE filename_prefix:STRING',
    'IMAGE',
    async (ctx, i) => ({ outputs: [framesOf(i.images)], ui: await saveImages(ctx, framesOf(i.images), String(i.filename_prefix ?? 'ComfyUI'), ctx.dirs.output, 'output') }),
    { outputNode: true, category: 'image', names: 'images', hidden: SAVER_HIDDEN, options: { filename_prefix: { default: 'ComfyUI' } } },
  ),
  define(
    'PreviewImage',
    'images:IMAGE',
    'IMAGE',
    async (ctx, i) => ({ outputs: [framesOf(i.images)], ui: await saveImages(ctx, framesOf(i.images), `ComfyUI_temp_${hashOf(ctx.promptId).slice(0, 5)}`, ctx.dirs.temp, 'temp') }),
    { outputNode: true, category: 'image', names: 'images', hidden: SAVER_HIDDEN },
  ),
  define(
    'SaveImageWebsocket',
    'images:IMAGE',
    '',
    (ctx, i) => {
      // Each image leaves as a type-1 PNG frame through the progress hook; nothing is written, no UI output.
      const frames = framesOf(i.images).frames;
      frames.forEach((frame, n) => ctx.progress(n, frames.length, { format: 'PNG', bytes: encodePng(frame) }));
      return { outputs: [] };
    },
    { outputNode: true, category: 'image' },
  ),
  define(
    'SaveAnimatedWEBP',
    'images:IMAGE filename_prefix:STRING fps:FLOAT lossless:BOOLEAN quality:INT method:COMBO',
    'IMAGE',
    async (ctx, i) => {
      const frames = framesOf(i.images).frames;
      const { full, filename, subfolder } = savePath(ctx.dirs.output, String(i.filename_prefix ?? 'ComfyUI'), 'webp');
      const tags = webpExifTags(ctx.metadata);
      await ctx.writeOutput(full, animatedWebp(frames.length, Math.round(1000 / (Number(i.fps) || 6)), tags.length ? exifTiff(tags) : undefined));
      return { outputs: [framesOf(i.images)], ui: { images: [{ filename, subfolder, type: 'output' }], animated: [true] } };
    },
    { outputNode: true, category: 'image/animation', names: 'images', hidden: SAVER_HIDDEN, options: { method: { choices: ['default', 'fastest', 'slowest'] } } },
  ),
  ...(['SaveVideo', 'SaveWEBM'] as const).map((name) =>
    define(
      name,
      name === 'SaveVideo' ? 'video:VIDEO filename_prefix:STRING format:COMBO codec:COMBO' : 'images:IMAGE filename_prefix:STRING codec:COMBO fps:FLOAT crf:FLOAT',
      name === 'SaveVideo' ? 'VIDEO' : 'IMAGE',
      async (ctx, i) => {
        const webmOut = name === 'SaveWEBM'; // SaveVideo's formats are auto and mp4
        const { full, filename, subfolder } = savePath(ctx.dirs.output, String(i.filename_prefix ?? 'video/ComfyUI'), webmOut ? 'webm' : 'mp4');
        await ctx.writeOutput(full, webmOut ? webm(1000) : mp4());
        return { outputs: [(name === 'SaveVideo' ? i.video : i.images) as never], ui: { images: [{ filename, subfolder, type: 'output' }], animated: [true] } };
      },
      {
        outputNode: true,
        category: 'image/video',
        names: name === 'SaveVideo' ? 'video' : 'images',
        hidden: SAVER_HIDDEN,
        options: name === 'SaveVideo' ? { format: { choices: ['auto', 'mp4'] }, codec: { choices: ['auto', 'h264'] } } : { codec: { choices: ['vp9', 'av1'] } },
      },
    ),
  ),
  define(
    'SaveAudio',
    'audio:AUDIO filename_prefix:STRING',
    'AUDIO',
    async (ctx, i) => {
      const { full, filename, subfolder } = savePath(ctx.dirs.output, String(i.filename_prefix ?? 'audio/ComfyUI'), 'flac');
      await ctx.writeOutput(full, flac());
      return { outputs: [i.audio as never], ui: { audio: [{ filename, subfolder, type: 'output' }] } };
    },
    { outputNode: true, category: 'audio', names: 'audio', hidden: SAVER_HIDDEN },
  ),
  define(
    'VHS_VideoCombine',
    'images:IMAGE frame_rate:FLOAT loop_count:INT filename_prefix:STRING format:COMBO pingpong:BOOLEAN save_output:BOOLEAN audio?:AUDIO meta_batch?:VHS_BatchManager vae?:VAE',
    'VHS_FILENAMES',
    async (ctx, i) => {
      const format = String(i.format ?? 'image/gif');
      const ext = format === 'image/gif' ? 'gif' : format.includes('webm') ? 'webm' : format.includes('webp') ? 'webp' : 'mp4';
      const saveOutput = i.save_output !== false;
      const root = saveOutput ? ctx.dirs.output : ctx.dirs.temp;
      const { full, filename, subfolder } = savePath(root, String(i.filename_prefix ?? 'AnimateDiff'), ext, false);
      const frames = framesOf(i.images).frames;
      // VHS keeps the metadata in a PNG of the first frame (same counter) and, for ffmpeg formats, in the `comment` tag.
      const meta = i.save_metadata === false ? null : ctx.metadata;
      const firstFrame = full.replace(/\.[^.]+$/, '.png');
      await ctx.writeOutput(firstFrame, withText(encodePng(frames[0]!), pngText(meta)));
      const comment = videoComment(meta) ?? undefined;
      await ctx.writeOutput(full, ext === 'gif' ? gif() : ext === 'webm' ? webm(1000, comment) : ext === 'webp' ? animatedWebp(frames.length, 100) : mp4(comment));
      const entry = { filename, subfolder, type: saveOutput ? 'output' : 'temp', format, frame_rate: Number(i.frame_rate) || 8, fullpath: full };
      return { outputs: [[saveOutput, [firstFrame, full]]] as unknown as never[], ui: { gifs: [entry] } };
    },
    { outputNode: true, category: 'Video Helper Suite' },
  ),
  define('CreateVideo', 'images:IMAGE fps:FLOAT audio?:AUDIO bit_depth?:INT', 'VIDEO', (_ctx, i) => ({ outputs: [{ kind: 'video', hash: hashOf('video', i.fps), frames: framesOf(i.images).frames } as never] }), {
    category: 'image/video',
  }),
  define(
    'VHS_LoadImages',
    'directory:STRING image_load_cap?:INT skip_first_images?:INT select_every_nth?:INT',
    'IMAGE MASK INT',
    (_ctx, i) => {
      const count = Math.max(1, Math.min(4, Number(i.image_load_cap) || 4));
      const frames = Array.from({ length: count }, (_, n) => generateFrame(64, 64, hashOf(i.directory, n)));
      return { outputs: [{ kind: 'image', frames }, { kind: 'mask', frames }, count] };
    },
    { category: 'Video Helper Suite' },
  ),
  ...(
    [
      ['LoadAudio', 'audio:COMBO', 'audio'],
      ['VHS_LoadAudioUpload', 'audio:COMBO start_time?:FLOAT duration?:FLOAT', 'Video Helper Suite'],
    ] as const
  ).map(([name, inputs, category]) =>
    define(name, inputs, 'AUDIO', (ctx, i) => ({ outputs: [{ kind: 'audio', ...mediaOf(ctx, i.audio) } as never] }), { category, check: fileCheck('audio', 'audio') }),
  ),
  define(
    'LoadVideo',
    'file:COMBO',
    'VIDEO',
    (ctx, i) => {
      const { hash } = mediaOf(ctx, i.file);
      return { outputs: [{ kind: 'video', hash, frames: framesFrom(hash, 4) } as never] };
    },
    { category: 'image/video', check: fileCheck('file', 'video') },
  ),
  define(
    'VHS_LoadVideo',
    'video:COMBO force_rate?:FLOAT custom_width?:INT custom_height?:INT frame_load_cap?:INT skip_first_frames?:INT select_every_nth?:INT meta_batch?:VHS_BatchManager vae?:VAE',
    'IMAGE INT AUDIO VHS_VIDEOINFO',
    (ctx, i) => {
      const { hash } = mediaOf(ctx, i.video);
      const count = Math.max(1, Math.min(8, Number(i.frame_load_cap) || 4));
      return { outputs: [{ kind: 'image', frames: framesFrom(hash, count) }, count, { kind: 'audio', hash } as never, { frames: count } as never] };
    },
    { category: 'Video Helper Suite', names: 'IMAGE frame_count audio video_info', check: fileCheck('video', 'video') },
  ),
  // Network and parameter image sources: the simulator never fetches; it makes a deterministic picture instead.
  ...['LoadImageFromURL', 'ImageRequestParameter'].map((name) =>
    define(name, 'value:STRING', 'IMAGE MASK', (_ctx, i) => {
      const frame = generateFrame(96, 64, hashOf(name, i.value));
      return { outputs: [{ kind: 'image', frames: [frame] }, { kind: 'mask', frames: [channelMask(frame, 'alpha')] }] };
    }),
  ),
];
