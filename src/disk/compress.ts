import zlib from 'node:zlib';
import { createHash } from 'node:crypto';
import fs, { type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { writeAtomically } from '../util/atomic.js';
import { BLOCK, BlockCompressor, type Submitted } from '../util/block-compress.js';
import { checkLevel, type Compression } from '../util/compression.js';
import { writeFailure } from '../util/errors.js';
import { throwIfCancelled } from '../util/exec.js';
import { clipRanges, dataRanges, type Ranges } from '../util/extents.js';
import { IO_BYTES } from '../util/streams.js';
import { readFullyAt, writeFullyAt } from './sparse.js';

/**
 * Disk image compression on every core, block by block (src/util/block-compress.ts), into one
 * file that every decompressor reads as one stream: gzip members one after the other (RFC 1952),
 * zstd frames one after the other, or one xz stream of many blocks with its index, as `xz -T0`
 * writes it (so `xz -d -T0` decompresses it in parallel too).
 *
 * Blocks start afresh at every boundary the caller names (partition starts), so a range that is a
 * copy of another (rootfs B of rootfs A) is cut into the same blocks: its compressed blocks are
 * copied from the output instead of being read and compressed again. All-zero blocks of a size
 * are compressed once. The output equals the one without the copy declared, byte for byte.
 */

export type ImageCompression = Exclude<Compression, 'none'>;

/** The disk image's levels when none is given: the tools' own defaults. */
const DEFAULT_LEVEL: Record<ImageCompression, number> = { gzip: 6, xz: 6, zstd: 3 };

/** The command compressing one block file to standard output (no names or times inside). */
export function blockCompressor(kind: ImageCompression, level?: number): [tool: string, args: string[]] {
  const chosen = level ?? DEFAULT_LEVEL[kind];
  checkLevel(kind, chosen);
  switch (kind) {
    case 'gzip':
      return ['libdeflate-gzip', ['-c', '-n', `-${chosen}`]];
    case 'xz':
      // Multi-threaded mode with one thread: the block header records its sizes (parallel decompression).
      return ['xz', ['-c', '-T+1', `--block-size=${BLOCK}`, '--check=crc64', `-${chosen}`]];
    case 'zstd':
      return ['zstd', ['-c', '-q', '-T1', ...(chosen > 19 ? ['--ultra'] : []), `-${chosen}`]];
  }
}

export interface CopiedRange {
  /** Offset of the original. */
  from: number;
  /** Offset of the copy (after the original). */
  to: number;
  length: number;
}

/** Image bytes that another file holds: the image itself holds nothing there (a hole). */
export interface OverlaidFile {
  /** Where the file's first byte lies in the image. */
  at: number;
  file: string;
}

export interface CompressImageOptions {
  level?: number;
  /**
   * Files that stand in for the image's bytes from their offset for their size (the root
   * filesystem at rootfs A): read from there, so a raw image that is only compressed and removed
   * need not have them written into it first.
   */
  overlays?: OverlaidFile[];
  /** Offsets where blocks start afresh (partition starts). */
  boundaries?: number[];
  /** Ranges holding the same bytes as an earlier range: compressed once, written twice. */
  copies?: CopiedRange[];
  /** Image bytes dealt with so far, of the image size. */
  onProgress?: (done: number, total: number) => void;
}

interface Block {
  start: number;
  length: number;
}

/** The image cut into blocks of at most BLOCK bytes, restarting at every boundary. */
export function cutBlocks(size: number, boundaries: number[]): Block[] {
  const cuts = [...new Set([0, ...boundaries.filter((b) => b > 0 && b < size), size])].sort((a, b) => a - b);
  const blocks: Block[] = [];
  for (let i = 0; i + 1 < cuts.length; i++) {
    for (let start = cuts[i]!; start < cuts[i + 1]!; start += BLOCK) blocks.push({ start, length: Math.min(BLOCK, cuts[i + 1]! - start) });
  }
  return blocks;
}

/** Where an emitted block lies in the output, and (xz) its index records. */
interface Emitted {
  offset: number;
  length: number;
  records: XzRecord[];
}

interface XzRecord {
  unpadded: number;
  uncompressed: number;
}

/** What becomes of one block: compressed bytes to come, or a copy of an earlier block's output. */
type Pending = { block: Submitted } | { copyOf: number };

/** Compress `image` into `dest` (which appears only when complete); returns the sha256 of `dest`, hashed as written. */
export async function compressImage(image: string, dest: string, kind: ImageCompression, options: CompressImageOptions = {}): Promise<{ sha256: string }> {
  const [tool, args] = blockCompressor(kind, options.level);
  const size = (await fs.stat(image)).size;
  const copies = options.copies ?? [];
  for (const copy of copies) {
    if (copy.from + copy.length > copy.to || copy.to + copy.length > size) throw new Error(`bad copied range ${JSON.stringify(copy)}`);
  }
  // A copy must be cut where its original is: every boundary inside one is mirrored in the other.
  const given = [...(options.boundaries ?? []), ...copies.flatMap((c) => [c.from, c.from + c.length, c.to, c.to + c.length])];
  const boundaries = [
    ...given,
    ...copies.flatMap((c) => given.flatMap((b) => [
      ...(b > c.from && b < c.from + c.length ? [b - c.from + c.to] : []),
      ...(b > c.to && b < c.to + c.length ? [b - c.to + c.from] : []),
    ])),
  ];
  const blocks = cutBlocks(size, boundaries);
  const indexOf = new Map(blocks.map((block, i) => [block.start, i]));

  const hash = createHash('sha256');
  await writeAtomically(dest, async (partial) => {
    const input = await ImageReader.open(image, size, options.overlays ?? []);
    // Read as well as written: copied blocks are read back from it.
    const output = await fs.open(partial, 'w+', 0o644);
    const compressor = await BlockCompressor.open(tool, args, `compressing ${path.basename(image)} (${kind})`, { storeIncompressible: kind === 'gzip' });
    // Every byte read or copied back passes through this one buffer: a buffer per block (or per
    // copied block) is memory the kernel has to fault in, and the garbage collector frees late.
    const buffer = Buffer.allocUnsafe(IO_BYTES);
    const emitted: Emitted[] = [];
    let xzStream = Buffer.alloc(0);
    const queue: Pending[] = [];
    let written = 0;

    const append = async (data: Buffer) => {
      await writeFullyAt(output, data, 0, data.length, written);
      hash.update(data);
      written += data.length;
    };
    const emitNext = async () => {
      const next = queue.shift()!;
      const offset = written;
      if ('copyOf' in next) {
        const source = emitted[next.copyOf]!;
        for (let at = 0; at < source.length; at += buffer.length) {
          const length = Math.min(buffer.length, source.length - at);
          if ((await readFullyAt(output, buffer, length, source.offset + at)) < length) throw new Error(`${partial} ended early at byte ${source.offset + at}`);
          await append(buffer.subarray(0, length));
        }
        emitted.push({ offset, length: source.length, records: source.records });
        return;
      }
      const compressed = await next.block.compressed;
      let length = compressed.size;
      let records: XzRecord[] = [];
      if (kind === 'xz') {
        // The stream's index comes at its end: the whole stream is read before its blocks are written.
        if (xzStream.length < compressed.size) xzStream = Buffer.allocUnsafeSlow(compressed.size);
        let at = 0;
        for await (const piece of compressed.pieces()) at += piece.copy(xzStream, at);
        const stream = parseXzStream(xzStream.subarray(0, at));
        if (!stream.header.equals(XZ_HEADER)) throw new Error('xz wrote a stream header other than the one asked for');
        await append(stream.blocks);
        length = stream.blocks.length;
        records = stream.records;
      } else {
        for await (const piece of compressed.pieces()) await append(piece);
      }
      next.block.release();
      emitted.push({ offset, length, records });
    };
    try {
      if (kind === 'xz') await append(XZ_HEADER);
      for (const block of blocks) {
        throwIfCancelled();
        const copy = copies.find((c) => block.start >= c.to && block.start < c.to + c.length);
        if (copy) {
          const original = indexOf.get(block.start - copy.to + copy.from);
          if (original === undefined || blocks[original]!.length !== block.length) throw new Error(`block at ${block.start} has no original of its size`);
          queue.push({ copyOf: original });
        } else {
          const filling = await compressor.begin();
          for (let at = 0; at < block.length; at += buffer.length) {
            const length = Math.min(buffer.length, block.length - at);
            await input.read(buffer, block.start + at, length);
            await filling.write(buffer.subarray(0, length));
          }
          queue.push({ block: filling.finish() });
        }
        // One block per core compressing, one more being read meanwhile.
        while (queue.length > compressor.parallel) await emitNext();
        options.onProgress?.(block.start + block.length, size);
      }
      while (queue.length > 0) await emitNext();
      if (kind === 'xz') await append(xzTrailer(emitted.flatMap((e) => e.records)));
    } catch (error) {
      throw writeFailure(error, dest);
    } finally {
      await Promise.allSettled(queue.map((p) => ('block' in p ? p.block.compressed : undefined)));
      await input.close();
      await output.close();
      await compressor.close();
    }
  });
  return { sha256: hash.digest('hex') };
}

/** One file's part of the image as read: image bytes [start, end) are that file's from start - shift. */
interface Piece {
  start: number;
  end: number;
  shift: number;
  handle: FileHandle;
  name: string;
  /** Where it holds data, in image offsets. */
  data: Ranges;
  overlay: boolean;
}

/** The image's bytes, each range read from the file that holds it (the image or an overlay), holes as zeros. */
class ImageReader {
  private constructor(private readonly pieces: Piece[], private readonly handles: FileHandle[]) {}

  static async open(image: string, size: number, overlays: readonly OverlaidFile[]): Promise<ImageReader> {
    const files = [{ at: 0, file: image }, ...overlays];
    const handles: FileHandle[] = [];
    try {
      const layers: Piece[] = [];
      for (const { at, file } of files) {
        const handle = await fs.open(file, 'r');
        handles.push(handle);
        const length = (await handle.stat()).size;
        if (at < 0 || at + length > size) throw new Error(`${file} (${length} bytes) does not fit in ${image} (${size} bytes) at byte ${at}`);
        const data = (await dataRanges(file)).map(([from, to]): [number, number] => [from + at, to + at]);
        layers.push({ start: at, end: at + length, shift: at, handle, name: file, data, overlay: layers.length > 0 });
      }
      // Cut the image's own piece around each overlay (overlays never overlap one another).
      let pieces: Piece[] = [layers[0]!];
      for (const overlay of layers.slice(1)) {
        if (pieces.some((piece) => piece.overlay && piece.start < overlay.end && overlay.start < piece.end)) throw new Error(`${overlay.name} overlaps another overlay`);
        pieces = pieces.flatMap((piece) => {
          if (piece.overlay || piece.end <= overlay.start || overlay.end <= piece.start) return [piece];
          return [{ ...piece, end: overlay.start }, { ...piece, start: overlay.end }].filter((part) => part.start < part.end);
        });
        pieces.push(overlay);
      }
      pieces.sort((a, b) => a.start - b.start);
      return new ImageReader(pieces, handles);
    } catch (error) {
      await Promise.all(handles.map((handle) => handle.close()));
      throw error;
    }
  }

  /** Fills buffer[0, length) with the image's bytes from `start`: only data ranges are read, holes are zeros without the kernel filling and copying them. */
  async read(buffer: Buffer, start: number, length: number): Promise<void> {
    const end = start + length;
    for (const piece of this.pieces) {
      if (piece.end <= start || end <= piece.start) continue;
      const from = Math.max(start, piece.start);
      const to = Math.min(end, piece.end);
      const data = clipRanges(piece.data, from, to);
      const whole = data.length === 1 && data[0]![0] === from && data[0]![1] === to;
      if (!whole) buffer.fill(0, from - start, to - start);
      for (const [dataFrom, dataTo] of data) {
        const filled = await readFullyAt(piece.handle, buffer.subarray(dataFrom - start), dataTo - dataFrom, dataFrom - piece.shift);
        if (filled < dataTo - dataFrom) throw new Error(`${piece.name} ended early at byte ${dataFrom - piece.shift + filled}`);
      }
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.handles.map((handle) => handle.close()));
  }
}

// ---- the xz container (https://tukaani.org/xz/xz-file-format.txt) --------------------------------

const XZ_MAGIC = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);
const XZ_FOOTER_MAGIC = Buffer.from('YZ');
/** Stream flags: CRC64 checks, as blockCompressor asks xz for. */
const XZ_FLAGS = Buffer.from([0x00, 0x04]);
const XZ_HEADER = (() => {
  const crc = Buffer.alloc(4);
  crc.writeUInt32LE(zlib.crc32(XZ_FLAGS));
  return Buffer.concat([XZ_MAGIC, XZ_FLAGS, crc]);
})();

function readVli(data: Buffer, at: number): [value: number, next: number] {
  let value = 0;
  for (let i = 0; i < 9; i++) {
    const byte = data[at + i]!;
    value += (byte & 0x7f) * 2 ** (7 * i);
    if ((byte & 0x80) === 0) return [value, at + i + 1];
  }
  throw new Error('xz: variable-length integer too long');
}

function vli(value: number): number[] {
  const bytes: number[] = [];
  do {
    let byte = value % 128;
    value = Math.floor(value / 128);
    if (value > 0) byte |= 0x80;
    bytes.push(byte);
  } while (value > 0);
  return bytes;
}

/** One complete xz stream split into its header, its blocks' bytes and its index records. */
export function parseXzStream(data: Buffer): { header: Buffer; blocks: Buffer; records: XzRecord[] } {
  if (data.length < 32 || !data.subarray(0, 6).equals(XZ_MAGIC) || !data.subarray(data.length - 2).equals(XZ_FOOTER_MAGIC)) {
    throw new Error('xz printed something that is not one xz stream');
  }
  const footer = data.subarray(data.length - 12);
  const indexSize = (footer.readUInt32LE(4) + 1) * 4;
  const indexStart = data.length - 12 - indexSize;
  if (data[indexStart] !== 0) throw new Error('xz stream: no index where the footer points');
  let [count, at] = readVli(data, indexStart + 1);
  const records: XzRecord[] = [];
  while (count-- > 0) {
    const [unpadded, next] = readVli(data, at);
    const [uncompressed, after] = readVli(data, next);
    records.push({ unpadded, uncompressed });
    at = after;
  }
  return { header: data.subarray(0, 12), blocks: data.subarray(12, indexStart), records };
}

/** The index and footer closing a stream of `records` blocks. */
export function xzTrailer(records: XzRecord[]): Buffer {
  const index = [0x00, ...vli(records.length), ...records.flatMap((r) => [...vli(r.unpadded), ...vli(r.uncompressed)])];
  while (index.length % 4 !== 0) index.push(0);
  const indexBytes = Buffer.from(index);
  const indexCrc = Buffer.alloc(4);
  indexCrc.writeUInt32LE(zlib.crc32(indexBytes));
  const footer = Buffer.alloc(12);
  footer.writeUInt32LE((indexBytes.length + 4) / 4 - 1, 4);
  XZ_FLAGS.copy(footer, 8);
  XZ_FOOTER_MAGIC.copy(footer, 10);
  footer.writeUInt32LE(zlib.crc32(footer.subarray(4, 10)), 0);
  return Buffer.concat([indexBytes, indexCrc, footer]);
}
