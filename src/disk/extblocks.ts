import fs from 'node:fs/promises';
import { run } from '../util/exec.js';

/**
 * The allocated blocks of an ext2/3/4 filesystem image, from its block bitmaps as dumpe2fs prints
 * them (per group "Free blocks: a-b, c, ..."): what a copy must carry, the rest is free space.
 */

export interface ExtBlockMap {
  blockSize: number;
  blockCount: number;
  /** Allocated byte ranges [start, end), sorted, adjacent ranges merged. */
  used: [start: number, end: number][];
}

const EXT_MAGIC_OFFSET = 1080;
const EXT_MAGIC = 0xef53;

/** Whether the file holds an ext2/3/4 superblock at `offset` (a partition's start inside a disk image). */
export async function isExtFilesystem(file: string, offset = 0): Promise<boolean> {
  const handle = await fs.open(file, 'r');
  try {
    const magic = Buffer.alloc(2);
    const { bytesRead } = await handle.read(magic, 0, 2, offset + EXT_MAGIC_OFFSET);
    return bytesRead === 2 && magic.readUInt16LE(0) === EXT_MAGIC;
  } finally {
    await handle.close();
  }
}

/**
 * The allocated ranges in `dumpe2fs` output; undefined when the bitmaps cannot be taken at their word:
 * they count clusters (bigalloc), a journal waits to be replayed (it may point at blocks the bitmaps
 * still call free), or the filesystem is not clean.
 */
export function parseDumpe2fs(text: string): ExtBlockMap | undefined {
  const field = (name: string) => new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(text)?.[1]?.trim();
  const blockSize = Number(field('Block size'));
  const blockCount = Number(field('Block count'));
  if (!(blockSize > 0) || !(blockCount > 0)) throw new Error('dumpe2fs printed no block size or count');
  const features = (field('Filesystem features') ?? '').split(/\s+/);
  if (features.includes('bigalloc') || features.includes('needs_recovery')) return undefined;
  if (field('Filesystem state') !== undefined && field('Filesystem state') !== 'clean') return undefined;
  const free: [number, number][] = [];
  for (const match of text.matchAll(/^\s+Free blocks: (.*)$/gm)) {
    for (const item of match[1]!.split(',').map((s) => s.trim()).filter(Boolean)) {
      const [from, to] = item.split('-').map(Number);
      free.push([from!, (to ?? from!) + 1]);
    }
  }
  free.sort((a, b) => a[0] - b[0]);
  const used: [number, number][] = [];
  let at = 0;
  for (const [from, to] of [...free, [blockCount, blockCount] as [number, number]]) {
    if (from > at) {
      const last = used[used.length - 1];
      if (last && last[1] === at * blockSize) last[1] = from * blockSize;
      else used.push([at * blockSize, from * blockSize]);
    }
    at = Math.max(at, to);
  }
  return { blockSize, blockCount, used };
}

/**
 * The allocated ranges of an ext filesystem image file (or of one at byte `offset` inside a disk
 * image: dumpe2fs only reads, and honours e2fsprogs' `file?offset=N`), or undefined when the
 * bitmaps cannot be trusted.
 */
export async function extUsedRanges(file: string, offset = 0): Promise<ExtBlockMap | undefined> {
  if (offset > 0 && file.includes('?')) return undefined;
  const { stdout } = await run('dumpe2fs', [offset > 0 ? `${file}?offset=${offset}` : file], { doing: `reading the block bitmaps of ${file}`, quiet: true });
  return parseDumpe2fs(stdout);
}
