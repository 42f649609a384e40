/**
 * Small but valid media files for the simulator's savers: animated WEBP, WebM and MP4 containers, FLAC audio, GIF.
 * Content is token (1×1 frames, silence); what matters to a worker is that the files exist, are whole, and parse.
 */

/** A 1×1 lossless VP8L bitstream (the well-known smallest lossless WEBP's image data). */
const VP8L_1X1 = Buffer.from('2f00000010071011118888fe07', 'hex');

function chunk(fourcc: string, payload: Buffer): Buffer {
  const header = Buffer.alloc(8);
  header.write(fourcc, 0, 'latin1');
  header.writeUInt32LE(payload.length, 4);
  return Buffer.concat([header, payload, payload.length % 2 ? Buffer.alloc(1) : Buffer.alloc(0)]);
}

function u24(n: number): Buffer {
  const b = Buffer.alloc(3);
  b.writeUIntLE(n, 0, 3);
  return b;
}

/** An animated WEBP (VP8X + ANIM + one ANMF per frame [+ EXIF]); RIFF length exact, so readers can tell it is whole. */
export function animatedWebp(frames: number, durationMs: number, exif?: Buffer): Buffer {
  const vp8x = Buffer.concat([Buffer.from([exif ? 0x0a : 0x02, 0, 0, 0]), u24(0), u24(0)]); // animation (+ EXIF) flag, canvas 1×1
  const anim = Buffer.from([0, 0, 0, 0, 0, 0]); // background, loop forever
  const anmf = Array.from({ length: Math.max(1, frames) }, () =>
    chunk('ANMF', Buffer.concat([u24(0), u24(0), u24(0), u24(0), u24(Math.max(1, durationMs)), Buffer.from([0]), chunk('VP8L', VP8L_1X1)])),
  );
  const body = Buffer.concat([Buffer.from('WEBP', 'latin1'), chunk('VP8X', vp8x), chunk('ANIM', anim), ...anmf, ...(exif ? [chunk('EXIF', exif)] : [])]);
  const riff = Buffer.alloc(8);
  riff.write('RIFF', 0, 'latin1');
  riff.writeUInt32LE(body.length, 4);
  return Buffer.concat([riff, body]);
}

function ebml(id: number[], payload: Buffer): Buffer {
  // Sizes as 8-byte EBML vints: simple and always valid.
  const size = Buffer.alloc(8);
  size.writeBigUInt64BE(BigInt(payload.length) | (1n << 56n));
  return Buffer.concat([Buffer.from(id), size, payload]);
}

/** A WebM document: EBML header (DocType webm) and a Segment with its Info [and a COMMENT tag, as ffmpeg writes it]. */
export function webm(durationMs: number, comment?: string): Buffer {
  const header = ebml([0x1a, 0x45, 0xdf, 0xa3], Buffer.concat([ebml([0x42, 0x82], Buffer.from('webm')), ebml([0x42, 0x87], Buffer.from([4])), ebml([0x42, 0x85], Buffer.from([2]))]));
  const duration = Buffer.alloc(8);
  duration.writeDoubleBE(durationMs);
  const info = ebml([0x15, 0x49, 0xa9, 0x66], Buffer.concat([ebml([0x2a, 0xd7, 0xb1], Buffer.from([0x0f, 0x42, 0x40])), ebml([0x44, 0x89], duration)]));
  const tags = comment
    ? [ebml([0x12, 0x54, 0xc3, 0x67], ebml([0x73, 0x73], Buffer.concat([ebml([0x63, 0xc0], Buffer.alloc(0)), ebml([0x67, 0xc8], Buffer.concat([ebml([0x45, 0xa3], Buffer.from('COMMENT')), ebml([0x44, 0x87], Buffer.from(comment))]))])))]
    : [];
  return Buffer.concat([header, ebml([0x18, 0x53, 0x80, 0x67], Buffer.concat([info, ...tags]))]);
}

function box(type: string, payload: Buffer): Buffer {
  const header = Buffer.alloc(8);
  header.writeUInt32BE(8 + payload.length, 0);
  header.write(type, 4, 'latin1');
  return Buffer.concat([header, payload]);
}

/** An MP4 file: ftyp and a free box [and moov/udta/meta/ilst/©cmt, where ffmpeg puts `-metadata comment=`]. */
export function mp4(comment?: string): Buffer {
  const fullBox = (type: string, payload: Buffer) => box(type, Buffer.concat([Buffer.alloc(4), payload])); // version 0, flags 0
  const hdlr = fullBox('hdlr', Buffer.concat([Buffer.alloc(4), Buffer.from('mdirappl', 'latin1'), Buffer.alloc(9)]));
  const data = box('data', Buffer.concat([Buffer.from([0, 0, 0, 1]), Buffer.alloc(4), Buffer.from(comment ?? '')])); // type 1: UTF-8
  const moov = comment ? [box('moov', box('udta', fullBox('meta', Buffer.concat([hdlr, box('ilst', box('\xa9cmt', data))]))))] : [];
  return Buffer.concat([box('ftyp', Buffer.concat([Buffer.from('isom', 'latin1'), Buffer.from([0, 0, 2, 0]), Buffer.from('isomiso2mp41', 'latin1')])), box('free', Buffer.alloc(8)), ...moov]);
}

/** A 1×1 GIF89a. */
export function gif(): Buffer {
  return Buffer.from('474946383961010001008000000000000000ffffff21f90401000000002c00000000010001000002024401003b', 'hex');
}

function crc8(bytes: Buffer): number {
  let crc = 0;
  for (const b of bytes) {
    crc ^= b;
    for (let i = 0; i < 8; i++) crc = crc & 0x80 ? ((crc << 1) ^ 0x07) & 0xff : (crc << 1) & 0xff;
  }
  return crc;
}

function crc16(bytes: Buffer): number {
  let crc = 0;
  for (const b of bytes) {
    crc ^= b << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x8005) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

/** FLAC: STREAMINFO + one frame of 256 silent 16-bit mono samples at 44.1 kHz (a CONSTANT subframe). */
export function flac(): Buffer {
  const blockSize = 256;
  const info = Buffer.alloc(34);
  info.writeUInt16BE(blockSize, 0);
  info.writeUInt16BE(blockSize, 2);
  // sample rate (20 bits) | channels-1 (3) | bps-1 (5) | total samples (36), packed big-endian from byte 10.
  const packed = (44100n << 44n) | (0n << 41n) | (15n << 36n) | BigInt(blockSize);
  info.writeBigUInt64BE(packed, 10);
  const header = Buffer.from([0x80, 0, 0, 34]); // last block, STREAMINFO
  const frameHeader = Buffer.from([0xff, 0xf8, 0x69, 0x08, 0x00, blockSize - 1]); // 8-bit blocksize, 44.1k, mono, 16-bit, frame 0
  const withCrc8 = Buffer.concat([frameHeader, Buffer.from([crc8(frameHeader)])]);
  const frameBody = Buffer.concat([withCrc8, Buffer.from([0x00, 0x00, 0x00])]); // CONSTANT subframe, value 0
  const crc = Buffer.alloc(2);
  crc.writeUInt16BE(crc16(frameBody));
  return Buffer.concat([Buffer.from('fLaC', 'latin1'), header, info, frameBody, crc]);
}
