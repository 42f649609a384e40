/**
 * What flows along the simulator's links. Models, conditioning, noise and the like are tokens that remember where they
 * came from (a hash), so that outputs depend on prompt, seed and size the way a user expects; images carry real pixels.
 */
import { generateFrame, hashOf, type Frame } from './images.js';

export interface Token {
  kind: string;
  hash: string;
}

export interface Latent extends Token {
  kind: 'latent';
  width: number;
  height: number;
  frames: number;
  batch: number;
}

export interface ImageValue {
  kind: 'image';
  frames: Frame[];
}

export interface MaskValue {
  kind: 'mask';
  frames: Frame[];
}

export type Value = Token | Latent | ImageValue | MaskValue | number | string | boolean | null;

export function token(kind: string, ...parts: unknown[]): Token {
  return { kind, hash: hashOf(kind, parts) };
}

/** A hash standing for any value, pixels included (by size and a sample, which is all the simulator needs). */
export function valueHash(value: unknown): string {
  if (value && typeof value === 'object') {
    const v = value as { kind?: string; hash?: string; frames?: Frame[] };
    if (typeof v.hash === 'string') return v.hash;
    if (Array.isArray(v.frames)) return hashOf(v.kind, v.frames.map((f) => [f.width, f.height, f.data.subarray(0, 64).toString('hex'), f.data.length]));
  }
  return hashOf(value);
}

/** Video and batch sizes are capped: the simulator writes real pixels, and tests must stay fast. */
export const MAX_FRAMES = 8;

export function latent(width: number, height: number, frames: number, batch: number, ...parts: unknown[]): Latent {
  return {
    kind: 'latent',
    width: Math.max(8, Math.round(Number(width) || 512)),
    height: Math.max(8, Math.round(Number(height) || 512)),
    frames: Math.max(1, Math.min(MAX_FRAMES, Math.round(Number(frames) || 1))),
    batch: Math.max(1, Math.min(MAX_FRAMES, Math.round(Number(batch) || 1))),
    hash: hashOf('latent', parts),
  };
}

export function imageFromLatent(l: Latent, ...parts: unknown[]): ImageValue {
  const count = Math.max(l.frames, l.batch);
  return { kind: 'image', frames: Array.from({ length: count }, (_, i) => generateFrame(l.width, l.height, hashOf(l.hash, parts, i))) };
}

export function isImage(v: unknown): v is ImageValue {
  return !!v && typeof v === 'object' && (v as ImageValue).kind === 'image' && Array.isArray((v as ImageValue).frames);
}

export function isLatent(v: unknown): v is Latent {
  return !!v && typeof v === 'object' && (v as Latent).kind === 'latent';
}

export function isMask(v: unknown): v is MaskValue {
  return !!v && typeof v === 'object' && (v as MaskValue).kind === 'mask';
}
