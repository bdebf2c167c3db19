/**
 * The disk a boot runs on, never the image itself: a raw image gets a qcow2 overlay (qemu-img)
 * that takes every write, a compressed one is decompressed into a temporary (sparse) file first —
 * QEMU cannot layer over a compressed stream. Both live in the boot's scratch directory.
 */
import fs from 'node:fs';
import path from 'node:path';
import { dataRuns, writeFully } from '../disk/sparse.js';
import { detectFormat, openImage, type InputFormat } from '../disk/input.js';
import { run } from '../util/exec.js';
import { writeFailure } from '../util/errors.js';

export interface BootDisk {
  /** What QEMU opens. */
  file: string;
  format: 'raw' | 'qcow2';
  /** A raw disk image to read the partition table and boot partition from (the image, or its decompressed copy). */
  raw: string;
  inputFormat: InputFormat;
}

/** The smallest power of two at least `bytes` (QEMU's SD cards must be one). */
export function powerOfTwoAtLeast(bytes: number): number {
  let size = 1;
  while (size < bytes) size *= 2;
  return size;
}

/** The image's bytes as a raw file in `dir` (compressed inputs), or the image itself (raw ones). */
export async function rawImageOf(image: string, dir: string): Promise<{ raw: string; format: InputFormat }> {
  const format = await detectFormat(image);
  if (format === 'raw') return { raw: image, format };
  const raw = path.join(dir, 'disk.img');
  const stream = await openImage(image);
  const fd = fs.openSync(raw, 'w', 0o600);
  try {
    let position = 0;
    for await (const chunk of stream.chunks()) {
      // Zero blocks stay holes: a decompressed 8 GiB card costs only its data.
      for (const [start, end] of dataRuns(chunk, position)) writeFully(fd, chunk, start, end, position + start);
      position += chunk.length;
    }
    fs.ftruncateSync(fd, position);
  } catch (error) {
    throw writeFailure(error, raw);
  } finally {
    fs.closeSync(fd);
  }
  return { raw, format };
}

/**
 * The disk QEMU boots: a qcow2 overlay over a raw image (the image is only read), or the
 * decompressed copy itself. `minimumSize` grows the disk the guest sees (an overlay may be
 * larger than its backing file; the copy is extended with a hole).
 */
export async function prepareBootDisk(raw: { raw: string; format: InputFormat }, dir: string, options: { size?: (bytes: number) => number } = {}): Promise<BootDisk> {
  const bytes = fs.statSync(raw.raw).size;
  const size = options.size?.(bytes) ?? bytes;
  if (raw.format !== 'raw') {
    if (size !== bytes) fs.truncateSync(raw.raw, size);
    return { file: raw.raw, format: 'raw', raw: raw.raw, inputFormat: raw.format };
  }
  const overlay = path.join(dir, 'overlay.qcow2');
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', path.resolve(raw.raw), overlay, String(size)], { doing: 'creating the copy-on-write overlay' });
  return { file: overlay, format: 'qcow2', raw: raw.raw, inputFormat: raw.format };
}
