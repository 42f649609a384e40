/**
 * Buffers whose memory can be given back at once, without waiting for V8's garbage collector.
 *
 * V8 frees an ArrayBuffer only when a GC finds it dead, and it lets up to ~32 MB of dead young buffers pile up before
 * it scavenges. With payloads of tens of MB that is a whole extra copy in peak RSS. A resizable ArrayBuffer can be
 * shrunk to zero, which returns its pages to the OS right away, so the big transient buffers we own are made that way.
 */

/** Below this, an ordinary buffer: mapping pages of its own would cost more than waiting for the GC saves. */
const MIN_RELEASABLE = 1 << 20;

/**
 * A zero-filled Buffer of `size` bytes whose memory `release` gives back immediately. Some web APIs (fetch, Response)
 * refuse a buffer over a resizable ArrayBuffer, so callers outside the package get one only where they ask for it
 * (decrypt's `releasable`, `Encrypter.finalBytes`, `sealResultBytes`).
 */
export function allocReleasable(size: number): Buffer {
  if (size < MIN_RELEASABLE) return Buffer.alloc(size);
  return Buffer.from(new ArrayBuffer(size, { maxByteLength: size }));
}

/**
 * Gives the memory of a buffer from allocReleasable back to the OS. Only for a buffer nothing else still holds: its
 * length (and every view's) reads 0 afterwards, and writing into it throws. An ordinary buffer is left to the GC.
 */
export function release(buffer: Uint8Array): void {
  const backing = buffer.buffer;
  if (backing instanceof ArrayBuffer && backing.resizable) backing.resize(0);
}
