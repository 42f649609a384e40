/** Image and mask nodes that really transform pixels (invert, scale, composite) or pass them on. */
import { generateFrame, hashOf, invert, scale, type Frame } from '../images.js';
import { isImage, type ImageValue, type MaskValue } from '../values.js';
import { UPSCALE_METHODS } from './combos.js';
import { define, type NodeDef } from './registry.js';

function frames(value: unknown): Frame[] {
  return isImage(value) ? value.frames : (value as { frames?: Frame[] } | null)?.frames ?? [generateFrame(64, 64, hashOf(value))];
}

const image = (f: Frame[]): ImageValue => ({ kind: 'image', frames: f });
const mask = (f: Frame[]): MaskValue => ({ kind: 'mask', frames: f });

function scaleAll(value: unknown, size: (f: Frame) => [number, number]): ImageValue {
  return image(frames(value).map((f) => scale(f, ...size(f))));
}

function fitPixels(f: Frame, megapixels: number): [number, number] {
  const factor = Math.sqrt((megapixels * 1024 * 1024) / (f.width * f.height));
  return [Math.round(f.width * factor), Math.round(f.height * factor)];
}

export const imageNodes: NodeDef[] = [
  define('EmptyImage', 'width:INT height:INT batch_size:INT color:INT', 'IMAGE', (_ctx, i) => {
    const batch = Math.max(1, Math.min(8, Number(i.batch_size) || 1));
    const color = Number(i.color) || 0;
    return {
      outputs: [
        image(
          Array.from({ length: batch }, () => {
            const f = generateFrame(Number(i.width), Number(i.height), 'empty');
            for (let p = 0; p < f.data.length; p += 4) {
              f.data[p] = (color >> 16) & 255;
              f.data[p + 1] = (color >> 8) & 255;
              f.data[p + 2] = color & 255;
            }
            return f;
          }),
        ),
      ],
    };
  }, { options: { width: { default: 512, min: 1, max: 16384 }, height: { default: 512, min: 1, max: 16384 }, batch_size: { default: 1, min: 1, max: 4096 }, color: { default: 0, min: 0, max: 0xffffff } } }),
  define('ImageInvert', 'image:IMAGE', 'IMAGE', (_ctx, i) => ({ outputs: [image(frames(i.image).map(invert))] })),
  define('ImageScale', 'image:IMAGE upscale_method:COMBO width:INT height:INT crop:COMBO', 'IMAGE', (_ctx, i) => ({
    outputs: [scaleAll(i.image, (f) => [Number(i.width) || f.width, Number(i.height) || f.height])],
  }), {
    category: 'image/upscaling',
    options: {
      upscale_method: { choices: UPSCALE_METHODS },
      width: { default: 512, min: 0, max: 16384 },
      height: { default: 512, min: 0, max: 16384 },
      crop: { choices: ['disabled', 'center'] },
    },
  }),
  define('ImageScaleBy', 'image:IMAGE upscale_method:COMBO scale_by:FLOAT', 'IMAGE', (_ctx, i) => ({
    outputs: [scaleAll(i.image, (f) => [f.width * Number(i.scale_by), f.height * Number(i.scale_by)])],
  }), { options: { upscale_method: { choices: UPSCALE_METHODS } } }),
  define('ImageScaleToTotalPixels', 'image:IMAGE upscale_method:COMBO megapixels:FLOAT resolution_steps?:INT', 'IMAGE', (_ctx, i) => ({
    // Kept small: the simulator's pictures stand in for real ones, and tests must stay fast.
    outputs: [scaleAll(i.image, (f) => fitPixels(f, Math.min(0.05, Number(i.megapixels) || 0.05)))],
  }), { options: { upscale_method: { choices: UPSCALE_METHODS } } }),
  define('ImageResize', 'image:IMAGE resize_mode?:COMBO resolutions?:COMBO interpolation?:COMBO aspect_ratio_tolerance?:FLOAT', 'IMAGE', (_ctx, i) => ({
    outputs: [scaleAll(i.image, (f) => [f.width, f.height])],
  })),
  define(
    'ImageResizeKJv2',
    'image:IMAGE width:INT height:INT upscale_method:COMBO keep_proportion:COMBO pad_color:STRING crop_position:COMBO divisible_by:INT device?:COMBO per_batch?:INT mask?:MASK',
    'IMAGE INT INT MASK',
    (_ctx, i) => {
      const out = scaleAll(i.image, () => [Math.min(256, Number(i.width) || 64), Math.min(256, Number(i.height) || 64)]);
      return { outputs: [out, out.frames[0]!.width, out.frames[0]!.height, mask(out.frames)] };
    },
    { names: 'IMAGE width height mask' },
  ),
  define('GetImageSize', 'image:IMAGE', 'INT INT INT', (_ctx, i) => {
    const f = frames(i.image);
    return { outputs: [f[0]!.width, f[0]!.height, f.length] };
  }, { names: 'width height batch_size', hidden: { unique_id: 'UNIQUE_ID' } }),
  define('ImageCompositeMasked', 'destination:IMAGE source:IMAGE x:INT y:INT resize_source:BOOLEAN mask?:MASK', 'IMAGE', (_ctx, i) => {
    const dest = frames(i.destination);
    const src = frames(i.source);
    return { outputs: [image(dest.map((d, n) => scale(src[n % src.length]!, d.width, d.height)))] };
  }),
  define('Canny', 'image:IMAGE low_threshold:FLOAT high_threshold:FLOAT', 'IMAGE', (_ctx, i) => ({ outputs: [image(frames(i.image).map(invert))] })),
  define('GrowMask', 'mask:MASK expand:INT tapered_corners:BOOLEAN', 'MASK', (_ctx, i) => ({ outputs: [mask(frames(i.mask))] })),
  define('ImpactGaussianBlurMask', 'mask:MASK kernel_size:INT sigma:FLOAT', 'MASK', (_ctx, i) => ({ outputs: [mask(frames(i.mask))] })),
];
