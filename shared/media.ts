/**
 * What a file's first bytes say it is (its magic number), for checks that must not trust a file name: an --img that is
 * not an image, an animated WebP whichever node saved it.
 */

export type ImageFormat = 'png' | 'jpeg' | 'webp' | 'gif' | 'bmp' | 'tiff';

const ascii = (data: Uint8Array, at: number, text: string) => Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('latin1', at, at + text.length) === text;

/** The image format the bytes start with, or null when they are none of the formats ComfyUI's LoadImage opens. */
export function imageFormatOf(data: Uint8Array): ImageFormat | null {
  if (data.length >= 8 && data[0] === 0x89 && ascii(data, 1, 'PNG\r\n\x1a\n')) return 'png';
  if (data.length >= 3 && data[0] === 0xff && data[1] === 0xd8 && data[2] === 0xff) return 'jpeg';
  if (data.length >= 12 && ascii(data, 0, 'RIFF') && ascii(data, 8, 'WEBP')) return 'webp';
  if (data.length >= 6 && (ascii(data, 0, 'GIF87a') || ascii(data, 0, 'GIF89a'))) return 'gif';
  if (data.length >= 2 && ascii(data, 0, 'BM')) return 'bmp';
  if (data.length >= 4 && (ascii(data, 0, 'II*\0') || ascii(data, 0, 'MM\0*'))) return 'tiff';
  return null;
}

/** A WebP with several frames: its VP8X header has the animation flag (bit 1), or it holds an ANIM chunk. */
export function isAnimatedWebp(data: Uint8Array): boolean {
  if (imageFormatOf(data) !== 'webp' || data.length < 21) return false;
  if (ascii(data, 12, 'VP8X') && (data[20]! & 0x02) !== 0) return true;
  return ascii(data, 30, 'ANIM');
}
