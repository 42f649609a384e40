/**
 * Blobs (contract §9): the sealed pointer that stands for a request or result too large for RunPod, the bundle's
 * `reply` URLs, and the size arithmetic both sides state their limits in.
 */
import { z } from 'zod';
import { parseWith } from './schema.js';

/** A sealed token of n bytes of plaintext is ~4/3 n; base64 of a file is 4/3 of it: a file costs 16/9 of itself inline. */
const SEALED_PER_BYTE = 16 / 9;

/** How many MB of images fit inline in a sealed message of at most `limitBytes`, each image sent `copies` times. */
export function inlineImageMb(limitBytes: number, copies = 1): number {
  return Math.floor(limitBytes / SEALED_PER_BYTE / copies / 1e5) / 10;
}

/** The words a size error ends with: what fits, and what lifts the limit. */
export function inlineAdvice(limitBytes: number, copies = 1): string {
  return `about ${inlineImageMb(limitBytes, copies)} MB of images fit inline; a blob store (--blob-url s3://BUCKET/PREFIX) lifts the limit`;
}
