import fs from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { isZero } from '../util/bytes.js';
import { writeFailure } from '../util/errors.js';
import { spawn } from '../util/exec.js';
import { clipRanges, dataRanges } from '../util/extents.js';
import { IO_BYTES } from '../util/streams.js';

/** The granularity of sparse writes: a filesystem block on every filesystem we write to. */
export const SPARSE_BLOCK = 4096;

export const COPY_WINDOW = 4 * 1024 * 1024;
/** Free space shorter than this between two allocated ranges is read through rather than skipped. */
const READ_THROUGH_GAP = 256 * 1024;

/** Read windows over sorted ranges: nearby ranges share one read, never longer than COPY_WINDOW. */
export function readWindows(ranges: readonly [number, number][]): { start: number; end: number; ranges: [number, number][] }[] {
  const result: { start: number; end: number; ranges: [number, number][] }[] = [];
  for (const [rangeStart, rangeEnd] of ranges) {
    for (let start = rangeStart; start < rangeEnd; start += COPY_WINDOW) {
      const end = Math.min(rangeEnd, start + COPY_WINDOW);
      const last = result[result.length - 1];
      if (last && start - last.end < READ_THROUGH_GAP && end - last.start <= COPY_WINDOW) {
        last.end = end;
        last.ranges.push([start, end]);
      } else {
        result.push({ start, end, ranges: [[start, end]] });
      }
    }
  }
  return result;
}

/**
 * The non-zero runs of a buffer as [start, end) pairs, in whole blocks counted from `blockOrigin`
 * (the buffer's offset inside its file, so blocks line up with the file's blocks even when the
 * buffer does not start on a block boundary). Runs never extend past the buffer.
 */
export function* dataRuns(buffer: Buffer, blockOrigin = 0): Generator<[start: number, end: number]> {
  let runStart = -1;
  let at = 0;
  while (at < buffer.length) {
    const misalign = (blockOrigin + at) % SPARSE_BLOCK;
    const end = Math.min(buffer.length, at + SPARSE_BLOCK - misalign);
    const zero = isZero(buffer, at, end);
    if (!zero && runStart < 0) runStart = at;
    if (zero && runStart >= 0) {
      yield [runStart, at];
      runStart = -1;
    }
    at = end;
  }
  if (runStart >= 0) yield [runStart, buffer.length];
}

/** Position just after the last non-zero byte of `buffer`, or 0 when it is all zero. */
export function dataEnd(buffer: Buffer): number {
  for (let end = buffer.length; end > 0; end -= SPARSE_BLOCK) {
    const start = Math.max(0, end - SPARSE_BLOCK);
    if (!isZero(buffer, start, end)) {
      for (let at = end; at > start; at--) if (buffer[at - 1] !== 0) return at;
    }
  }
  return 0;
}

/** Write all of `buffer[start, end)` at `position` (regular files rarely write short, but may), IO_BYTES per call. */
export function writeFully(fd: number, buffer: Buffer, start: number, end: number, position: number): void {
  while (start < end) {
    const written = fs.writeSync(fd, buffer, start, Math.min(IO_BYTES, end - start), position);
    start += written;
    position += written;
  }
}

/** Written bytes after which a SparseFileWriter starts their writeback. */
const WRITEBACK_STEP = 256 * 1024 * 1024;

/**
 * A file of a fixed size written sparsely: all-zero blocks are skipped and stay holes, costing
 * no disk space or write bandwidth. Writes are synchronous: they land in the page cache, and a
 * streaming caller wants back-pressure anyway.
 *
 * Every WRITEBACK_STEP bytes it asks the kernel to start writing them to disk (sync_file_range
 * through xfs_io, not waited for). e2fsprogs' tools fsync the image they open, even only to read
 * it: the first of them would otherwise wait for the whole freshly written file (4-5 s for 2 GiB
 * here, when the page cache holds it all), while now the disk works during the copy.
 */
export class SparseFileWriter {
  private sinceWriteback = 0;
  private writeback?: Promise<unknown>;

  private constructor(readonly file: string, private fd: number | undefined) {}

  /** Create (or truncate) `file` with exactly `size` bytes, all holes. */
  static create(file: string, size: number): SparseFileWriter {
    const fd = fs.openSync(file, 'w', 0o600);
    try {
      fs.ftruncateSync(fd, size);
    } catch (error) {
      fs.closeSync(fd);
      throw writeFailure(error, file);
    }
    return new SparseFileWriter(file, fd);
  }

  /** Write the non-zero blocks of `buffer` at `position` in the file. */
  write(buffer: Buffer, position: number): void {
    if (this.fd === undefined) throw new Error(`${this.file} is closed`);
    try {
      for (const [start, end] of dataRuns(buffer, position)) {
        writeFully(this.fd, buffer, start, end, position + start);
        this.sinceWriteback += end - start;
      }
    } catch (error) {
      throw writeFailure(error, this.file);
    }
    if (this.sinceWriteback >= WRITEBACK_STEP && !this.writeback) this.startWriteback();
  }

  private startWriteback(): void {
    this.sinceWriteback = 0;
    // Only a head start for the disk: a failure (or no xfs_io) changes nothing but the timing.
    const started = Promise.resolve()
      .then(() => spawn('xfs_io', ['-r', '-c', 'sync_range -w 0 0', this.file], { stdio: 'ignore', reject: false }))
      .catch(() => undefined);
    this.writeback = started.finally(() => (this.writeback = undefined));
  }

  close(): void {
    if (this.fd === undefined) return;
    const fd = this.fd;
    this.fd = undefined;
    fs.closeSync(fd);
  }
}

/** Read `length` bytes at `position` into the start of `buffer`; fewer only where the file ends. IO_BYTES per call. */
export async function readFullyAt(handle: FileHandle, buffer: Buffer, length: number, position: number): Promise<number> {
  let filled = 0;
  while (filled < length) {
    const { bytesRead } = await handle.read(buffer, filled, Math.min(IO_BYTES, length - filled), position + filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return filled;
}

/** Write all of `buffer[start, end)` at `position` (the async twin of writeFully), IO_BYTES per call. */
export async function writeFullyAt(handle: FileHandle, buffer: Buffer, start: number, end: number, position: number): Promise<void> {
  while (start < end) {
    const { bytesWritten } = await handle.write(buffer, start, Math.min(IO_BYTES, end - start), position);
    start += bytesWritten;
    position += bytesWritten;
  }
}

/**
 * `source` front to back in chunks of `chunkBytes`, the next one read while the caller works on
 * one. Each chunk is a buffer of its own (callers may keep it, and must not write to it: a chunk
 * inside a hole of `source` is a shared zero buffer, not read at all) — or, with `reuse`, one of
 * two buffers taking turns, valid only until the next chunk is asked for: no memory is allocated
 * per chunk, so none has to be faulted in (the kernel's copy into a fresh buffer faults on every
 * page of it).
 */
export async function* readChunks(source: string, chunkBytes = COPY_WINDOW, options: { reuse?: boolean } = {}): AsyncGenerator<Buffer> {
  const data = await dataRanges(source);
  const input = await fs.promises.open(source, 'r');
  const { size } = await input.stat();
  const zeros = Buffer.alloc(Math.min(chunkBytes, size));
  const turns = options.reuse ? [Buffer.allocUnsafe(zeros.length), Buffer.allocUnsafe(zeros.length)] : undefined;
  const read = async (start: number): Promise<Buffer> => {
    const length = Math.min(chunkBytes, size - start);
    if (clipRanges(data, start, start + length).length === 0) return zeros.subarray(0, length);
    const buffer = turns ? turns[(start / chunkBytes) % 2]! : Buffer.allocUnsafe(length);
    const filled = await readFullyAt(input, buffer, length, start);
    if (filled < length) throw new Error(`${source} ended early at byte ${start + filled}`);
    return buffer.subarray(0, length);
  };
  let pending: Promise<Buffer> | undefined = size > 0 ? read(0) : undefined;
  try {
    for (let start = 0; start < size; start += chunkBytes) {
      const chunk = await pending!;
      pending = start + chunkBytes < size ? read(start + chunkBytes) : undefined;
      yield chunk;
    }
  } finally {
    await pending?.catch(() => undefined);
    await input.close();
  }
}
