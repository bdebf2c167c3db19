import fs from 'node:fs/promises';
import { run } from '../util/exec.js';
import { UserError } from '../util/errors.js';
import { writeAtomically } from '../util/atomic.js';
import { extUsedRanges, isExtFilesystem } from './extblocks.js';
import { kernelCopy } from './kernel-copy.js';
import { COPY_WINDOW, dataRuns, readChunks, readFullyAt, readWindows, writeFullyAt } from './sparse.js';
import { writeFailure } from '../util/errors.js';
import { dataRanges, intersectRanges } from '../util/extents.js';
import { parseSfdiskJson } from './table.js';

/** Assembling an output disk image: a sparse file, a partition table, filesystems placed at offsets. */

export interface TablePartitionSpec {
  number: number;
  /** Bytes, a multiple of 512. */
  start: number;
  /** Bytes, a multiple of 512. */
  size: number;
  /** MBR: type byte in hex ("c", "0c", "83"); GPT: type GUID. */
  type: string;
  /** GPT partition name. */
  name?: string;
  /** MBR boot flag; GPT: the LegacyBIOSBootable attribute. */
  bootable?: boolean;
  /** GPT partition GUID (random when absent). */
  partuuid?: string;
  /** GPT attributes in sfdisk's words ("RequiredPartition", "GUID:63"). */
  attrs?: string;
}

export interface TableSpec {
  label: 'dos' | 'gpt';
  /** MBR disk identifier ("1234abcd" or "0x1234abcd") or GPT disk GUID; random when absent. */
  id?: string;
  partitions: TablePartitionSpec[];
}

const SECTOR = 512;
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const LEGACY_BOOTABLE = 'LegacyBIOSBootable';

/** Create (or truncate) `file` as a sparse file of exactly `size` bytes. */
export async function createImage(file: string, size: number): Promise<void> {
  const handle = await fs.open(file, 'w', 0o644);
  try {
    await handle.truncate(size);
  } catch (error) {
    throw writeFailure(error, file);
  } finally {
    await handle.close();
  }
}

function checkSpec(spec: TableSpec, imageSize: number): void {
  const fail = (why: string) => {
    throw new Error(`invalid partition table spec: ${why}`);
  };
  if (spec.id !== undefined && !(spec.label === 'dos' ? /^(0x)?[0-9a-f]{1,8}$/i.test(spec.id) : GUID.test(spec.id))) fail(`bad disk id ${spec.id}`);
  const sorted = [...spec.partitions].sort((a, b) => a.start - b.start);
  sorted.forEach((p, i) => {
    if (p.start % SECTOR || p.size % SECTOR || p.size <= 0 || p.start <= 0) fail(`partition ${p.number} is not whole, positive sectors`);
    if (p.start + p.size > imageSize) fail(`partition ${p.number} ends past the image (${p.start + p.size} > ${imageSize})`);
    const next = sorted[i + 1];
    if (next && next.start < p.start + p.size) fail(`partitions ${p.number} and ${next.number} overlap`);
    if (spec.label === 'dos' && !(p.number >= 1 && p.number <= 4)) fail(`MBR partition number ${p.number} is not 1-4`);
    if (spec.label === 'dos' && !/^(0x)?[0-9a-f]{1,2}$/i.test(p.type)) fail(`MBR type ${p.type} is not a hex byte`);
    if (spec.label === 'gpt' && !GUID.test(p.type)) fail(`GPT type ${p.type} is not a GUID`);
    if (p.partuuid !== undefined && (spec.label !== 'gpt' || !GUID.test(p.partuuid))) fail(`partition ${p.number}: partuuid needs GPT and a GUID`);
    if (/["\n\\]/.test(p.name ?? '') || /["\n\\]/.test(p.attrs ?? '')) fail(`partition ${p.number}: name or attrs hold a quote, backslash or newline`);
  });
  if (new Set(spec.partitions.map((p) => p.number)).size !== spec.partitions.length) fail('partition numbers repeat');
}

/**
 * The sfdisk script for a table. Each line is named after its partition device (`<image>[p]<n>`), which
 * is how sfdisk is told the partition's number independently of the line order.
 */
export function sfdiskScript(spec: TableSpec, device: string): string {
  const lines = [`label: ${spec.label}`];
  if (spec.id) lines.push(`label-id: ${spec.label === 'dos' ? `0x${spec.id.replace(/^0x/i, '').toLowerCase()}` : spec.id.toLowerCase()}`);
  lines.push('unit: sectors', `sector-size: ${SECTOR}`);
  // sfdisk's default keeps the first MiB free on GPT; the layout decides where partitions start.
  if (spec.label === 'gpt') lines.push('first-lba: 34');
  lines.push('');
  const separator = /\d$/.test(device) ? 'p' : '';
  for (const p of [...spec.partitions].sort((a, b) => a.number - b.number)) {
    const fields = [`start=${p.start / SECTOR}`, `size=${p.size / SECTOR}`, `type=${spec.label === 'dos' ? p.type.replace(/^0x/i, '').toLowerCase() : p.type.toLowerCase()}`];
    if (spec.label === 'dos' && p.bootable) fields.push('bootable');
    if (spec.label === 'gpt') {
      if (p.partuuid) fields.push(`uuid=${p.partuuid.toLowerCase()}`);
      if (p.name !== undefined) fields.push(`name="${p.name}"`);
      const attrs = [...(p.attrs ? p.attrs.split(/\s+/) : []), ...(p.bootable ? [LEGACY_BOOTABLE] : [])];
      if (attrs.length > 0) fields.push(`attrs="${[...new Set(attrs)].join(' ')}"`);
    }
    lines.push(`${device}${separator}${p.number} : ${fields.join(', ')}`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * Write a partition table into an image file with sfdisk (nothing else in the file is touched), then
 * read it back and check it says what was asked.
 */
export async function writePartitionTable(image: string, spec: TableSpec): Promise<void> {
  const imageSize = (await fs.stat(image)).size;
  checkSpec(spec, imageSize);
  await run('sfdisk', ['--no-reread', '--no-tell-kernel', '--wipe', 'never', '--wipe-partitions', 'never', '-q', image], {
    input: sfdiskScript(spec, image),
    doing: `writing the partition table of ${image}`,
  });
  const readBack = await run('sfdisk', ['--json', image], { doing: `reading back the partition table of ${image}` });
  const table = parseSfdiskJson(readBack.stdout, readBack.stderr)?.table;
  const hexByte = (type: string) => parseInt(type.replace(/^0x/i, ''), 16);
  const problems: string[] = [];
  if (table?.label !== spec.label) problems.push(`label ${table?.label}`);
  if (table && spec.id && table.id.replace(/^0+/, '') !== spec.id.replace(/^0x/i, '').toLowerCase().replace(/^0+/, '')) problems.push(`id ${table.id}`);
  for (const want of spec.partitions) {
    const got = table?.partitions.find((p) => p.number === want.number);
    const typeOk = got && (spec.label === 'dos' ? hexByte(got.type) === hexByte(want.type) : got.type === want.type.toLowerCase());
    if (!got || got.start !== want.start || got.size !== want.size || !typeOk || got.bootable !== Boolean(want.bootable)
      || (want.partuuid && got.partuuid !== want.partuuid.toLowerCase()) || (want.name !== undefined && got.name !== want.name)) {
      problems.push(`partition ${want.number}: ${JSON.stringify(got)}`);
    }
  }
  if (table && table.partitions.length !== spec.partitions.length) problems.push(`${table.partitions.length} partitions`);
  if (problems.length > 0) throw new Error(`sfdisk wrote a different table into ${image}: ${problems.join('; ')}`);
}

export interface PlaceOptions {
  /**
   * Which source blocks to copy. 'nonzero': every block that is not all zeros (byte-exact). 'allocated':
   * only the blocks an ext2/3/4 filesystem's bitmaps mark in use (free blocks read as zeros in the
   * image, exactly like the source when its free space is zeros or holes). 'auto' (default):
   * 'allocated' for ext filesystems, 'nonzero' for anything else.
   */
  blocks?: 'auto' | 'allocated' | 'nonzero';
  /** Source bytes dealt with so far, of the source size. */
  onProgress?: (done: number, total: number) => void;
}

export interface PlaceResult {
  method: 'allocated' | 'nonzero';
  /** Bytes written into the image (the rest stays holes). */
  bytesWritten: number;
  /** The kernel copied them (copy_file_range), not this process. */
  inKernel: boolean;
}

/**
 * Copy a standalone file (a filesystem image, a boot gap) into `image` at byte `offset`, writing only
 * what matters (see PlaceOptions.blocks) so the image stays sparse. The image must already be large
 * enough; it is never truncated or extended.
 */
export async function placeFile(image: string, source: string, offset: number, options: PlaceOptions = {}): Promise<PlaceResult> {
  const size = (await fs.stat(source)).size;
  const imageSize = (await fs.stat(image)).size;
  if (offset < 0 || offset + size > imageSize) throw new Error(`${source} (${size} bytes) does not fit in ${image} (${imageSize} bytes) at offset ${offset}`);
  let method: PlaceResult['method'] = 'nonzero';
  let ranges: [number, number][] = size > 0 ? [[0, size]] : [];
  if (options.blocks !== 'nonzero' && size > 0) {
    const map = (await isExtFilesystem(source)) ? await extUsedRanges(source) : undefined;
    if (map) {
      if (map.blockCount * map.blockSize > size) {
        throw new UserError(`${source} is shorter (${size} bytes) than the ext filesystem it holds (${map.blockCount * map.blockSize} bytes).`);
      }
      method = 'allocated';
      ranges = map.used;
    } else if (options.blocks === 'allocated') {
      throw new Error(`${source} is not an ext2/3/4 filesystem whose bitmaps can be trusted (bigalloc, an unreplayed journal or not clean)`);
    }
  }
  // Holes in the source are never read: they stay holes in the image.
  ranges = intersectRanges(ranges, await dataRanges(source));
  if (method === 'allocated') {
    // Allocated blocks are data (rarely zeros): the kernel copies them as they are.
    const moves = ranges.map(([start, end]) => ({ from: start, to: offset + start, length: end - start }));
    if (await kernelCopy(source, image, moves, (done) => options.onProgress?.(done, size))) {
      options.onProgress?.(size, size);
      return { method, bytesWritten: moves.reduce((sum, move) => sum + move.length, 0), inKernel: true };
    }
  }
  const input = await fs.open(source, 'r');
  const output = await fs.open(image, 'r+');
  let bytesWritten = 0;
  let pending: Promise<Buffer> | undefined;
  try {
    const plan = readWindows(ranges);
    const buffers = [Buffer.allocUnsafe(COPY_WINDOW), Buffer.allocUnsafe(COPY_WINDOW)];
    const read = async (index: number) => {
      const { start, end } = plan[index]!;
      const buffer = buffers[index % 2]!;
      const filled = await readFullyAt(input, buffer, end - start, start);
      if (filled < end - start) throw new Error(`${source} ended early at byte ${start + filled}`);
      return buffer;
    };
    // Read the next window while the current one is written.
    pending = plan.length > 0 ? read(0) : undefined;
    for (let i = 0; i < plan.length; i++) {
      const buffer = await pending!;
      pending = i + 1 < plan.length ? read(i + 1) : undefined;
      const window = plan[i]!;
      for (const [rangeStart, rangeEnd] of window.ranges) {
        const part = buffer.subarray(rangeStart - window.start, rangeEnd - window.start);
        for (const [start, end] of dataRuns(part, rangeStart)) {
          await writeFullyAt(output, part, start, end, offset + rangeStart + start);
          bytesWritten += end - start;
        }
      }
      options.onProgress?.(window.end, size);
    }
  } catch (error) {
    await pending?.catch(() => undefined);
    throw writeFailure(error, image);
  } finally {
    await input.close();
    await output.close();
  }
  options.onProgress?.(size, size);
  return { method, bytesWritten, inKernel: false };
}

/**
 * Read `source` once, front to back, and hand every byte of it on (to a consumer that needs them
 * all, such as an Artifact writer hashing and compressing its payload) while writing its non-zero
 * blocks into `image` at each of `offsets`: one read serves the Artifact and every copy of the
 * filesystem in the image. A chunk is valid until the next one is asked for (consumers must not
 * write to it). The next chunk is read, and the current one written to the image, while the
 * consumer works on one.
 */
export async function* readAndPlace(
  source: string,
  image: string,
  offsets: readonly number[],
  options: { chunkBytes?: number } = {},
): AsyncGenerator<Buffer> {
  const size = (await fs.stat(source)).size;
  const imageSize = (await fs.stat(image)).size;
  for (const offset of offsets) {
    if (offset < 0 || offset + size > imageSize) throw new Error(`${source} (${size} bytes) does not fit in ${image} (${imageSize} bytes) at offset ${offset}`);
  }
  const output = await fs.open(image, 'r+');
  const place = async (chunk: Buffer, start: number): Promise<void> => {
    for (const [runStart, runEnd] of dataRuns(chunk, start)) {
      for (const offset of offsets) await writeFullyAt(output, chunk, runStart, runEnd, offset + start + runStart);
    }
  };
  let placing: Promise<void> | undefined;
  let start = 0;
  try {
    // Two buffers taking turns, not one per chunk (pages faulted in, garbage freed late): a
    // chunk's buffer is refilled once the one after it is asked for, so its placement ends first.
    for await (const chunk of readChunks(source, options.chunkBytes, { reuse: true })) {
      placing = place(chunk, start);
      placing.catch(() => undefined);
      yield chunk;
      start += chunk.length;
      await placing;
    }
  } catch (error) {
    throw writeFailure(error, image);
  } finally {
    await placing?.catch(() => undefined);
    await output.close();
  }
}

/**
 * A block map of an image in the bmap-tools format, so `bmaptool copy` writes only its data blocks.
 * Made by bmaptool itself from the image's allocated extents (make the bmap from the uncompressed,
 * sparse image; it serves its compressed copies too).
 */
export async function writeBmap(image: string, bmapPath: string): Promise<void> {
  await writeAtomically(bmapPath, async (partial) => {
    await run('bmaptool', ['create', '-o', partial, image], { doing: `writing the block map of ${image}` });
    await fs.chmod(partial, 0o644);
  });
}
