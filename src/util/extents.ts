import fs from 'node:fs/promises';
import { run } from './exec.js';

/**
 * Where a file holds data, so reads can skip its holes: a hole reads as zeros, but the kernel
 * still fills and copies every one of those zero bytes (0.9 s of CPU per GiB here — most of a
 * sparse 16 GiB image's cost). Node has no lseek, so the map comes from xfs_io's `seek`, which
 * asks the kernel (SEEK_DATA/SEEK_HOLE) and so also sees data still waiting in the page cache.
 */

/** Sorted, disjoint [start, end) byte ranges. */
export type Ranges = [start: number, end: number][];

/**
 * The data ranges in the output of `xfs_io -c 'seek -a -r 0'` ("Whence Result" then DATA/HOLE
 * offsets in order) for a file of `size` bytes; undefined when the output does not read that way.
 */
export function parseSeekMap(text: string, size: number): Ranges | undefined {
  const lines = text.trim().split('\n').map((line) => line.trim()).filter(Boolean);
  if (lines[0]?.split(/\s+/).join(' ') !== 'Whence Result') return undefined;
  const data: Ranges = [];
  let dataStart: number | undefined;
  let last = -1;
  for (const line of lines.slice(1)) {
    const match = /^(DATA|HOLE)\s+(\d+)$/.exec(line);
    if (!match) return undefined;
    const offset = Number(match[2]);
    if (offset < last || offset > size) return undefined;
    last = offset;
    if (match[1] === 'DATA') dataStart ??= offset;
    else if (dataStart !== undefined) {
      if (offset > dataStart) data.push([dataStart, offset]);
      dataStart = undefined;
    }
  }
  if (dataStart !== undefined && size > dataStart) data.push([dataStart, size]);
  return data;
}

/**
 * The ranges of `file` that may hold data; everything else is a hole. The whole file when its
 * holes cannot be told (then nothing is skipped: slower, never wrong).
 */
export async function dataRanges(file: string): Promise<Ranges> {
  const { size } = await fs.stat(file);
  if (size === 0) return [];
  const { stdout } = await run('xfs_io', ['-r', '-c', 'seek -a -r 0', file], { doing: `mapping the holes of ${file}`, quiet: true });
  return parseSeekMap(stdout, size) ?? [[0, size]];
}

/** The parts of `ranges` inside `[start, end)`. */
export function clipRanges(ranges: Ranges, start: number, end: number): Ranges {
  const result: Ranges = [];
  for (const [from, to] of ranges) {
    if (to <= start) continue;
    if (from >= end) break;
    result.push([Math.max(from, start), Math.min(to, end)]);
  }
  return result;
}

/** The overlap of two range lists. */
export function intersectRanges(a: Ranges, b: Ranges): Ranges {
  const result: Ranges = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const start = Math.max(a[i]![0], b[j]![0]);
    const end = Math.min(a[i]![1], b[j]![1]);
    if (start < end) result.push([start, end]);
    if (a[i]![1] < b[j]![1]) i++;
    else j++;
  }
  return result;
}
