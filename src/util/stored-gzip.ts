import zlib from 'node:zlib';

/**
 * Data that will not compress (compressed files, random bytes) is stored rather than compressed at
 * full cost, as zlib's and Go's encoders fall back to stored blocks: a cheap probe on samples of
 * the block, taken as its bytes stream past, then a gzip member of stored deflate blocks framed
 * around the block's bytes (RFC 1951 3.2.4, RFC 1952).
 */

/** Samples a block is judged by: one every 1/64 of a whole block. */
export const SAMPLES = 64;
export const SAMPLE_BYTES = 4096;
/** Fewer complete samples than this (a block shorter than 1/8 of a whole one): not judged, compressed. */
const MIN_SAMPLES = 8;
/**
 * The byte entropy (bits per byte, counted) that 4 KiB of random bytes shows: 7.942-7.964 here,
 * short of 8 because a small sample cannot show every value equally often.
 */
const RANDOM_BITS = 7.955;
/**
 * Stored when the samples' mean shortfall from random predicts less than this gain. Measured
 * on 8 MB of each (predicted / libdeflate's real gain at level 3): random bytes and xz data
 * 0.02-0.03 % / none, zstd data 0.38 % / 0.18 %, gzip data 0.50 % / 0.22 %, a .jar 0.59 % /
 * 0.67 %, PNG images 3.1 % / 10 %, an executable 36 % / 61 %. A sample's shortfall is a lower bound of what deflate gains there
 * (it sees only byte frequencies, not repeats).
 */
const MAX_GAIN = 0.005;

function entropy(counts: Uint32Array, total: number): number {
  let bits = 0;
  for (const count of counts) {
    if (count === 0) continue;
    const p = count / total;
    bits -= p * Math.log2(p);
  }
  return bits;
}

/** The gain deflate's coding could at least make, predicted from consecutive 4 KiB samples (a fraction; 1 for none). */
export function predictedGain(samples: Uint8Array): number {
  const counts = new Uint32Array(256);
  const count = Math.floor(samples.length / SAMPLE_BYTES);
  if (count === 0) return 1;
  let shortfall = 0;
  for (let sample = 0; sample < count; sample++) {
    counts.fill(0);
    const start = sample * SAMPLE_BYTES;
    for (let at = start; at < start + SAMPLE_BYTES; at++) counts[samples[at]!]!++;
    shortfall += Math.max(0, RANDOM_BITS - entropy(counts, SAMPLE_BYTES));
  }
  return shortfall / count / 8;
}

/**
 * The probe of one block, fed the block's bytes in order as they pass: it copies out the 4 KiB
 * that start every `stride` bytes (at most SAMPLES of them), so the block itself need not be kept.
 */
export class BlockSampler {
  private readonly samples = Buffer.allocUnsafe(SAMPLES * SAMPLE_BYTES);
  private complete = 0;

  constructor(private readonly stride: number) {
    if (stride < SAMPLE_BYTES) throw new RangeError(`samples every ${stride} bytes would overlap`);
  }

  /** Start over for another block. */
  reset(): void {
    this.complete = 0;
  }

  /** `bytes` lie at `offset` in the block (offsets only grow from call to call). */
  add(bytes: Uint8Array, offset: number): void {
    const end = offset + bytes.length;
    for (let sample = Math.floor(offset / this.stride); sample < SAMPLES && sample * this.stride < end; sample++) {
      const start = sample * this.stride;
      const from = Math.max(start, offset);
      const to = Math.min(start + SAMPLE_BYTES, end);
      if (from >= to) continue;
      this.samples.set(bytes.subarray(from - offset, to - offset), sample * SAMPLE_BYTES + from - start);
      if (to === start + SAMPLE_BYTES) this.complete = sample + 1;
    }
  }

  /** Whether deflate would gain next to nothing on the block fed so far (too few samples to judge: no). */
  looksIncompressible(): boolean {
    return this.complete >= MIN_SAMPLES && predictedGain(this.samples.subarray(0, this.complete * SAMPLE_BYTES)) < MAX_GAIN;
  }
}

/** The most a stored deflate block holds. */
const STORED_MAX = 65535;
/** Stored deflate blocks framed per piece. */
const PIECE_BLOCKS = 16;
/** The size of the buffer a stored member is framed in: PIECE_BLOCKS blocks of the largest, each with its 5-byte header. */
export const STORED_PIECE_BYTES = PIECE_BLOCKS * (5 + STORED_MAX);
/** gzip header: deflate, no flags, no time, no extra flags, OS unknown (as libdeflate writes it). */
const GZIP_HEADER = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);

/** Bytes of the stored gzip member of `length` bytes of data. */
export function storedGzipSize(length: number): number {
  return GZIP_HEADER.length + 5 * Math.max(1, Math.ceil(length / STORED_MAX)) + length + 8;
}

/** Fills each target buffer with the data's bytes from `position` on, the targets one after the other. */
export type ReadInto = (targets: Buffer[], position: number) => Promise<void>;

/**
 * The gzip member of stored deflate blocks holding `length` bytes that `read` supplies, framed in
 * `piece` (at least STORED_PIECE_BYTES): pieces of the member front to back, each valid until the
 * next is asked for. The data is read straight into place between the block headers (each a byte
 * with BFINAL and BTYPE 00 — the rest of the byte is the padding to the boundary — then LEN and its
 * complement NLEN, little-endian); its CRC-32 is taken on the way.
 */
export async function* storedGzip(length: number, read: ReadInto, piece: Buffer): AsyncGenerator<Buffer> {
  if (piece.length < STORED_PIECE_BYTES) throw new RangeError(`stored gzip is framed in ${STORED_PIECE_BYTES} bytes, not ${piece.length}`);
  yield GZIP_HEADER;
  let crc = 0;
  let start = 0;
  do {
    const targets: Buffer[] = [];
    let at = 0;
    while (targets.length < PIECE_BLOCKS && (start < length || (length === 0 && targets.length === 0))) {
      const size = Math.min(STORED_MAX, length - start);
      start += size;
      piece[at] = start === length ? 1 : 0;
      piece.writeUInt16LE(size, at + 1);
      piece.writeUInt16LE(~size & 0xffff, at + 3);
      targets.push(piece.subarray(at + 5, at + 5 + size));
      at += 5 + size;
    }
    await read(targets, start - targets.reduce((sum, target) => sum + target.length, 0));
    for (const target of targets) crc = zlib.crc32(target, crc);
    yield piece.subarray(0, at);
  } while (start < length);
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(crc, 0);
  trailer.writeUInt32LE(length % 2 ** 32, 4);
  yield trailer;
}
