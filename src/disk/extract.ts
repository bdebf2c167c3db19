import fs from 'node:fs/promises';
import path from 'node:path';
import { UserError } from '../util/errors.js';
import { silentLogger, type Logger } from '../util/log.js';
import { openImage, type ImageStream, type InputFormat } from './input.js';
import { COPY_WINDOW, dataEnd, readFullyAt, readWindows, SparseFileWriter } from './sparse.js';
import { extUsedRanges, isExtFilesystem } from './extblocks.js';
import { kernelCopy } from './kernel-copy.js';
import { clipRanges, dataRanges, intersectRanges } from '../util/extents.js';
import { sha256File } from '../util/hash.js';
import { throwIfCancelled } from '../util/exec.js';
import {
  checkPartitionsFit,
  noGptError,
  readPartitionTable,
  readTableFromHead,
  tableHeadFacts,
  TABLE_HEAD_BYTES,
  type PartitionInfo,
  type PartitionTable,
} from './table.js';

/**
 * One pass over an input image, raw or compressed: the partition table is read from the head, then
 * each wanted partition's bytes go into a standalone file of its own as the stream passes, written
 * sparsely. No decompressed copy of the whole image is ever made, and memory stays at a few MiB.
 */

/** Which partitions to extract: all, some numbers, or a choice made once the table is known. */
export type WantedPartitions = 'all' | readonly number[] | ((table: PartitionTable) => readonly number[]);

export interface ExtractOptions {
  /** Also save the bytes between the partition table and the first partition (some boards keep their loader there). */
  bootGap?: boolean;
  /** Hash the input file (as given, compressed or not) on the way. */
  sha256?: boolean;
  /** Bytes of the input file read so far, of its size (zip inputs: bytes of the image inside, of its size). */
  onProgress?: (done: number, total: number) => void;
  logger?: Logger;
  /** How messages name the input; default: its file name. */
  displayName?: string;
}

export interface ExtractedPartition extends PartitionInfo {
  /** A standalone file holding exactly the partition's bytes (sparse). */
  file: string;
}

export interface ExtractResult {
  format: InputFormat;
  table: PartitionTable;
  /** The wanted partitions in disk order, each in `<outDir>/partition-<number>.img`. */
  files: ExtractedPartition[];
  /**
   * With `bootGap`: the gap bytes in `<outDir>/boot-gap.bin`, to be written back at `offset`; `size` ends at
   * the last non-zero sector. Undefined when the gap is empty or all zeros.
   */
  bootGap?: { file: string; offset: number; size: number };
  /** Size of the input file as given. */
  inputSize: number;
  /** Size of the disk image (decompressed). */
  imageSize: number;
  /** With `sha256`: the input file's checksum (for a raw input, computed alongside: it may still be running). */
  sha256?: Promise<string>;
  /** 2 when a compressed image with a damaged primary GPT had to be read once more (see table.warnings). */
  passes: 1 | 2;
}

const TAIL_BYTES = 1024 * 1024;
const PROGRESS_INTERVAL_MS = 200;
const SECTOR = 512;

interface Target {
  start: number;
  end: number;
  writer: SparseFileWriter;
}

interface PassResult {
  /** Undefined when the head held only a protective MBR: the backup GPT must be read from `tail`. */
  table?: PartitionTable;
  head: Buffer;
  tail: Buffer;
  imageSize: number;
}

/** What to read of a target in a raw image: an ext filesystem's allocated blocks, else everything. */
async function neededRanges(file: string, target: Target): Promise<{ ranges: [number, number][]; allocated: boolean }> {
  const size = target.end - target.start;
  if (await isExtFilesystem(file, target.start)) {
    // Unreadable bitmaps (a damaged filesystem) are no reason to fail here: e2fsck judges later.
    const map = await extUsedRanges(file, target.start).catch(() => undefined);
    if (map) return { ranges: map.used.map(([start, end]): [number, number] => [start, Math.min(end, size)]).filter(([start, end]) => end > start), allocated: true };
  }
  return { ranges: [[0, size]], allocated: false };
}

function truncatedRaw(displayName: string, at: number): UserError {
  return new UserError(`${displayName} ends at byte ${at}, inside a partition: the image is truncated.`, { hint: 'Get a complete copy of the image.' });
}

function chooseWanted(table: PartitionTable, wanted: WantedPartitions, displayName: string): PartitionInfo[] {
  if (wanted === 'all') return table.partitions;
  const numbers = typeof wanted === 'function' ? wanted(table) : wanted;
  const missing = numbers.filter((n) => !table.partitions.some((p) => p.number === n));
  if (missing.length > 0) {
    throw new UserError(`${displayName} has no partition ${missing.join(', ')}; it has partitions ${table.partitions.map((p) => p.number).join(', ')}.`);
  }
  return table.partitions.filter((p) => numbers.includes(p.number));
}

/** The last `limit` bytes of a stream, kept as references to its chunks. */
class Tail {
  private chunks: Buffer[] = [];
  private length = 0;

  constructor(private readonly limit: number) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.length += chunk.length;
    while (this.chunks.length > 1 && this.length - this.chunks[0]!.length >= this.limit) this.length -= this.chunks.shift()!.length;
  }

  bytes(): Buffer {
    const all = Buffer.concat(this.chunks);
    return all.subarray(Math.max(0, all.length - this.limit));
  }
}

class Extraction {
  readonly created: string[] = [];
  private targets: Target[] = [];
  private gap?: { writer: SparseFileWriter; start: number; end: number };
  files: ExtractedPartition[] = [];

  constructor(
    private readonly wanted: WantedPartitions,
    private readonly outDir: string,
    private readonly options: ExtractOptions,
    readonly displayName: string,
  ) {}

  /** Open one sparse file per wanted partition (and the gap) once the table is known. */
  prepare(table: PartitionTable): void {
    for (const partition of chooseWanted(table, this.wanted, this.displayName)) {
      const file = path.join(this.outDir, `partition-${partition.number}.img`);
      this.created.push(file);
      const writer = SparseFileWriter.create(file, partition.size);
      this.targets.push({ start: partition.start, end: partition.start + partition.size, writer });
      this.files.push({ ...partition, file });
    }
    const { start, end } = table.bootGap;
    if (this.options.bootGap && end > start) {
      const file = path.join(this.outDir, 'boot-gap.bin');
      this.created.push(file);
      this.gap = { writer: SparseFileWriter.create(file, end - start), start, end };
      this.targets.push(this.gap);
    }
  }

  dispatch(chunk: Buffer, at: number): void {
    const end = at + chunk.length;
    for (const target of this.targets) {
      if (target.end <= at || target.start >= end) continue;
      const from = Math.max(at, target.start);
      const to = Math.min(end, target.end);
      target.writer.write(chunk.subarray(from - at, to - at), from - target.start);
    }
  }

  closeAll(): void {
    for (const target of this.targets) target.writer.close();
  }

  /**
   * A raw input, its table known: read only what each target needs. An ext2/3/4 partition whose
   * bitmaps can be trusted gives its allocated blocks only (free blocks read as zeros in the copy);
   * anything else is read whole. Cost follows the used bytes, not the image's nominal size.
   * Allocated blocks are copied by the kernel where it can (kernel-copy.ts).
   */
  async copyFromRaw(file: string, table: PartitionTable): Promise<void> {
    this.prepare(table);
    const plans: { target: Target; ranges: [number, number][]; allocated: boolean }[] = [];
    // What the partitions need, less the input's holes (zeros without reading them).
    const inputData = await dataRanges(file);
    for (const target of this.targets) {
      const data = clipRanges(inputData, target.start, Infinity).map(([start, end]): [number, number] => [start - target.start, end - target.start]);
      const needed = await neededRanges(file, target);
      plans.push({ target, ranges: intersectRanges(needed.ranges, data), allocated: needed.allocated });
    }
    const total = plans.reduce((sum, { ranges }) => sum + ranges.reduce((n, [start, end]) => n + end - start, 0), 0);
    const input = await fs.open(file, 'r');
    const buffer = Buffer.allocUnsafe(COPY_WINDOW);
    let done = 0;
    let lastReport = 0;
    try {
      for (const { target, ranges, allocated } of plans) {
        // A filesystem's allocated blocks are data (rarely zeros): the kernel copies them as they
        // are. Anything else is read here, so that its zero blocks become holes.
        const moves = ranges.map(([start, end]) => ({ from: target.start + start, to: start, length: end - start }));
        const before = done;
        if (allocated && (await kernelCopy(file, target.writer.file, moves, (copied) => this.options.onProgress?.(before + copied, total)))) {
          done += moves.reduce((n, move) => n + move.length, 0);
          continue;
        }
        for (const window of readWindows(ranges)) {
          throwIfCancelled();
          const length = window.end - window.start;
          const filled = await readFullyAt(input, buffer, length, target.start + window.start);
          if (filled < length) throw truncatedRaw(this.displayName, target.start + window.start + filled);
          for (const [start, end] of window.ranges) target.writer.write(buffer.subarray(start - window.start, end - window.start), start);
          done += window.ranges.reduce((n, [start, end]) => n + end - start, 0);
          const now = Date.now();
          if (this.options.onProgress && now - lastReport >= PROGRESS_INTERVAL_MS) {
            lastReport = now;
            this.options.onProgress(done, total);
          }
        }
      }
    } finally {
      await input.close();
    }
    this.options.onProgress?.(total, total);
  }

  /** The gap file cut after its last non-zero sector; removed when nothing is in it. */
  async finishGap(): Promise<ExtractResult['bootGap']> {
    if (!this.gap) return undefined;
    const file = this.gap.writer.file;
    const used = Math.ceil(dataEnd(await fs.readFile(file)) / SECTOR) * SECTOR;
    if (used === 0) {
      await fs.rm(file, { force: true });
      return undefined;
    }
    await fs.truncate(file, used);
    return { file, offset: this.gap.start, size: used };
  }

  /**
   * Read the stream once. With a known table (raw input, or a second pass) every chunk is dispatched;
   * otherwise the head is gathered until the table can be read from it.
   */
  async pass(stream: ImageStream, known: PartitionTable | undefined, scratchDir: string): Promise<PassResult> {
    let table = known;
    let scanning = false;
    let head: Buffer[] = [];
    let headLength = 0;
    let headBuffer = Buffer.alloc(0);
    let headNeeded = TABLE_HEAD_BYTES;
    let sized = false;
    const tail = new Tail(TAIL_BYTES);
    let position = 0;
    let lastReport = 0;
    if (table) this.prepare(table);

    const resolveFromHead = async (end?: { tail: Buffer; imageSize: number }) => {
      headBuffer = Buffer.concat(head);
      head = [];
      table = await readTableFromHead(headBuffer, scratchDir, this.displayName, end);
      if (table) {
        this.prepare(table);
        this.dispatch(headBuffer.subarray(0, end ? end.imageSize : headBuffer.length), 0);
      } else {
        scanning = true;
      }
    };

    for await (const chunk of stream.chunks()) {
      if (table) {
        this.dispatch(chunk, position);
      } else if (!scanning) {
        head.push(chunk);
        headLength += chunk.length;
        if (!sized && headLength >= headNeeded) {
          // The first sectors say how far the table reaches (a GPT's entries may lie further).
          sized = true;
          headNeeded = tableHeadFacts(Buffer.concat(head)).bytesNeeded;
        }
        if (sized && headLength >= headNeeded) await resolveFromHead();
      }
      position += chunk.length;
      if (!known) tail.push(chunk);
      const now = Date.now();
      if (this.options.onProgress && now - lastReport >= PROGRESS_INTERVAL_MS) {
        lastReport = now;
        const { done, total } = stream.progress();
        this.options.onProgress(done, total);
      }
    }
    // An image smaller than the head: all of it is in hand.
    if (!table && !scanning) {
      await resolveFromHead({ tail: Buffer.alloc(0), imageSize: position });
      if (!table) throw noGptError(this.displayName);
    }
    if (this.options.onProgress) {
      const { done, total } = stream.progress();
      this.options.onProgress(done, total);
    }
    return { table, head: headBuffer, tail: tail.bytes(), imageSize: position };
  }
}

/**
 * Extract the wanted partitions of `inputPath` (raw, gzip, xz, zstd or zip) into standalone files in
 * `outDir`, reading the input once. Refuses (UserError) what cannot be converted: no or an unusable
 * partition table, overlapping or extended partitions, a truncated or corrupt input.
 */
export async function extractPartitions(inputPath: string, wanted: WantedPartitions, outDir: string, options: ExtractOptions = {}): Promise<ExtractResult> {
  const logger = options.logger ?? silentLogger;
  const displayName = options.displayName ?? path.basename(inputPath);
  await fs.mkdir(outDir, { recursive: true, mode: 0o700 });
  const stream = await openImage(inputPath, { sha256: options.sha256, displayName });
  logger.info(`input ${displayName}: ${stream.format}${stream.zipMember ? ` (${stream.zipMember})` : ''}, ${stream.inputSize} bytes`);
  const extraction = new Extraction(wanted, outDir, options, displayName);
  try {
    let known: PartitionTable | undefined;
    let result: PassResult;
    let sha256: Promise<string> | undefined;
    if (stream.format === 'raw') {
      known = await readPartitionTable(inputPath, displayName);
      checkPartitionsFit(known, stream.inputSize, displayName);
      // Hashing needs every byte, the copy only the used ones: the hash runs on another core and
      // may finish after this returns.
      if (options.sha256) {
        sha256 = sha256File(inputPath);
        sha256.catch(() => undefined);
      }
      await extraction.copyFromRaw(inputPath, known);
      result = { table: known, head: Buffer.alloc(0), tail: Buffer.alloc(0), imageSize: stream.inputSize };
    } else {
      result = await extraction.pass(stream, undefined, outDir);
    }
    let passes: 1 | 2 = 1;
    let table = result.table;
    if (!table) {
      // Only a protective MBR in the head: the primary GPT is damaged. The backup GPT was at the end.
      table = await readTableFromHead(result.head, outDir, displayName, { tail: result.tail, imageSize: result.imageSize });
      if (!table) throw noGptError(displayName);
      logger.warn(`${displayName}: the primary GPT is damaged; reading the image again with the backup GPT's table`);
      passes = 2;
      result = await extraction.pass(await openImage(inputPath, { displayName }), table, outDir);
    } else if (!known && table.label === 'gpt') {
      table = await confirmGpt(table, result, outDir, displayName);
    }
    extraction.closeAll();
    checkPartitionsFit(table, result.imageSize, displayName);
    const bootGap = await extraction.finishGap();
    for (const warning of table.warnings) logger.warn(`${displayName}: ${warning}`);
    logger.info(
      `${displayName}: ${table.label} table, partitions ${table.partitions.map((p) => `${p.number}@${p.start}+${p.size}`).join(' ')}; ` +
        `extracted ${extraction.files.map((f) => f.number).join(', ') || 'none'}${bootGap ? `, boot gap ${bootGap.size} bytes at ${bootGap.offset}` : ''}`,
    );
    return {
      format: stream.format,
      table,
      files: extraction.files,
      bootGap,
      inputSize: stream.inputSize,
      imageSize: result.imageSize,
      sha256: sha256 ?? (options.sha256 ? Promise.resolve(stream.sha256()!) : undefined),
      passes,
    };
  } catch (error) {
    extraction.closeAll();
    await Promise.all(extraction.created.map((file) => fs.rm(file, { force: true })));
    throw error;
  }
}

/**
 * A GPT read from the head of a compressed image, checked again now that its end has passed: the
 * warnings are then sfdisk's real ones (a bad backup, an image cut after its last partition).
 */
async function confirmGpt(table: PartitionTable, pass: PassResult, scratchDir: string, displayName: string): Promise<PartitionTable> {
  const whole = await readTableFromHead(pass.head, scratchDir, displayName, { tail: pass.tail, imageSize: pass.imageSize });
  if (!whole) {
    return {
      ...table,
      warnings: [...table.warnings, `The image (${pass.imageSize} bytes) is shorter than the disk its GPT describes: the backup GPT is missing.`],
    };
  }
  const same = (a: PartitionInfo, b: PartitionInfo) => a.number === b.number && a.start === b.start && a.size === b.size;
  if (whole.partitions.length !== table.partitions.length || whole.partitions.some((p, i) => !same(p, table.partitions[i]!))) {
    throw new UserError(`${displayName}: its primary and backup GPT describe different partitions; the table is inconsistent.`, {
      hint: 'Repair the table (for example with sgdisk or gdisk) or get a good copy of the image.',
    });
  }
  return { ...table, warnings: whole.warnings };
}
