/**
 * Buffers whose memory can be given back at once, without waiting for V8's garbage collector.
 *
 * V8 frees an ArrayBuffer only when a GC finds it dead, and it lets up to ~32 MB of dead young buffers pile up before
 * it scavenges. With payloads of tens of MB that is a whole extra copy in peak RSS. A resizable ArrayBuffer can be
 * shrunk to zero, which returns its pages to the OS right away, so the big transient buffers we own are made that way.
 */

/** A zero-filled Buffer of `size` bytes whose memory `release` gives back immediately. */
export function allocReleasable(size: number): Buffer {
  return Buffer.from(new ArrayBuffer(size, { maxByteLength: Math.max(size, 1) }));
}

/**
 * Gives the memory of a buffer from allocReleasable back to the OS; it and every view of it read as empty afterwards,
 * so only for a buffer nothing else still holds. Any other buffer is left to the GC.
 */
export function release(buffer: Uint8Array): void {
  const backing = buffer.buffer;
  if (backing instanceof ArrayBuffer && backing.resizable) backing.resize(0);
}
