/**
 * Damage done to filesystems inside a disk image, byte by byte, the way bad copies and broken tools
 * leave them: what the hostile-input tests feed the conversion. Offsets are bytes into the image.
 */
import fs from 'node:fs';
import path from 'node:path';
import { tool } from './images.js';

const MiB = 1024 * 1024;

/** Bytes written over the image at `at`. */
export function writeAt(image: string, at: number, bytes: Buffer): void {
  edit(image, at, bytes.length, (old) => bytes.copy(old));
}

/** debugfs commands (one a line) run read-write on the ext filesystem at byte `offset` of the image. */
export async function debugfsAt(image: string, offset: number, commands: string): Promise<void> {
  const result = await tool('debugfs', ['-w', '-f', '-', `${image}?offset=${offset}`], `${commands}\n`);
  const errors = result.stderr.split('\n').filter((line) => line.trim() && !/^debugfs \d/.test(line));
  if (errors.length > 0) throw new Error(`debugfs: ${errors.join('; ')}`);
}

/**
 * More partitions after the image's last, 4 MiB each: an ext4 (with files at its root), a swap
 * area, a FAT, bytes of no filesystem, or zeros; `type` overrides the partition type sfdisk is
 * given. A GPT's backup header is moved to the new end first.
 */
export async function appendPartitions(image: string, dir: string, parts: { kind: 'ext4' | 'swap' | 'vfat' | 'raw' | 'zeros'; files?: Record<string, string>; type?: string }[]): Promise<void> {
  let offset = fs.statSync(image).size;
  const lines: string[] = [];
  for (const [index, part] of parts.entries()) {
    const file = path.join(dir, `extra-${index}.img`);
    fs.writeFileSync(file, part.kind === 'raw' ? Buffer.alloc(4 * MiB, 0xa5) : Buffer.alloc(0));
    if (part.kind !== 'raw') fs.truncateSync(file, 4 * MiB);
    if (part.kind === 'swap') await tool('mkswap', [file]);
    if (part.kind === 'vfat') await tool('mkfs.vfat', [file]);
    if (part.kind === 'ext4') {
      const tree = path.join(dir, `extra-${index}`);
      for (const [name, content] of Object.entries(part.files ?? { 'note.txt': 'data\n' })) {
        fs.mkdirSync(path.dirname(path.join(tree, name)), { recursive: true });
        fs.writeFileSync(path.join(tree, name), content);
      }
      await tool('mke2fs', ['-q', '-F', '-t', 'ext4', '-d', tree, file, '4M']);
    }
    const type = part.type ?? { ext4: 'L', swap: 'S', vfat: 'U', raw: 'L', zeros: 'L' }[part.kind];
    lines.push(`start=${offset / 512}, size=${(4 * MiB) / 512}, type=${type}`);
    await tool('dd', [`if=${file}`, `of=${image}`, 'bs=1M', `seek=${offset / MiB}`, 'conv=notrunc', 'status=none']);
    fs.rmSync(file);
    offset += 4 * MiB;
  }
  // Room for a GPT's backup header after the new partitions, moved there before they are added.
  fs.truncateSync(image, offset + MiB);
  const gpt = JSON.parse((await tool('sfdisk', ['--json', image])).stdout).partitiontable.label === 'gpt';
  if (gpt) await tool('sfdisk', ['--relocate', 'gpt-bak-std', image]);
  await tool('sfdisk', ['--append', '--no-reread', '--no-tell-kernel', '-q', image], `${lines.join('\n')}\n`);
}

/** Partition `number` of a disk image: where it starts and how long it is, in bytes. */
export async function partitionOf(image: string, number: number): Promise<{ start: number; size: number }> {
  const table = JSON.parse((await tool('sfdisk', ['--json', image])).stdout).partitiontable;
  const entry = table.partitions.find((p: { node: string }) => p.node.endsWith(String(number)));
  if (!entry) throw new Error(`${image} has no partition ${number}`);
  return { start: entry.start * 512, size: entry.size * 512 };
}

/** Give partition `number` a new size in bytes (its start and type kept); its filesystem is not touched. */
export async function resizePartitionEntry(image: string, number: number, bytes: number): Promise<void> {
  await tool('sfdisk', ['--no-reread', '--no-tell-kernel', '-q', '-N', String(number), image], `, ${bytes / 512}\n`);
}

/**
 * An ext filesystem larger than its partition, with file data past the partition's end: a file of
 * `fileBytes` written into partition `number`'s filesystem (its last blocks near the end), then the
 * partition entry cut `cutBytes` short, as a partition shrunk under its filesystem is.
 */
export async function extPastPartitionEnd(image: string, number: number, scratch: string, fileBytes: number, cutBytes: number): Promise<void> {
  const { start, size } = await partitionOf(image, number);
  const part = path.join(scratch, `partition-${number}.img`);
  const data = path.join(scratch, 'filler.bin');
  fs.mkdirSync(scratch, { recursive: true });
  await tool('dd', [`if=${image}`, `of=${part}`, 'bs=512', `skip=${start / 512}`, `count=${size / 512}`, 'status=none']);
  fs.writeFileSync(data, Buffer.alloc(fileBytes, 0x5a));
  await tool('debugfs', ['-w', '-R', `write ${data} /filler.bin`, part]);
  await tool('dd', [`if=${part}`, `of=${image}`, 'bs=512', `seek=${start / 512}`, 'conv=notrunc', 'status=none']);
  fs.rmSync(part);
  fs.rmSync(data);
  await resizePartitionEntry(image, number, size - cutBytes);
}

function edit(image: string, at: number, length: number, change: (bytes: Buffer) => void): void {
  const fd = fs.openSync(image, 'r+');
  try {
    const bytes = Buffer.alloc(length);
    fs.readSync(fd, bytes, 0, length, at);
    change(bytes);
    fs.writeSync(fd, bytes, 0, length, at);
  } finally {
    fs.closeSync(fd);
  }
}

function read(image: string, at: number, length: number): Buffer {
  const fd = fs.openSync(image, 'r');
  try {
    const bytes = Buffer.alloc(length);
    fs.readSync(fd, bytes, 0, length, at);
    return bytes;
  } finally {
    fs.closeSync(fd);
  }
}

/** The FAT layout of a FAT12/16/32 boot sector. */
function fatLayout(image: string, offset: number) {
  const bpb = read(image, offset, 512);
  const sector = bpb.readUInt16LE(11);
  const reserved = bpb.readUInt16LE(14);
  const fats = bpb[16]!;
  const rootEntries = bpb.readUInt16LE(17);
  const fatSectors = bpb.readUInt16LE(22) || bpb.readUInt32LE(36);
  const clusterSectors = bpb[13]!;
  const bits = bpb.toString('latin1', 0x52, 0x57) === 'FAT32' ? 32 : bpb.toString('latin1', 0x36, 0x3b) === 'FAT12' ? 12 : 16;
  const fatStart = offset + reserved * sector;
  const rootStart = fatStart + fats * fatSectors * sector;
  const dataStart = rootStart + Math.ceil((rootEntries * 32) / sector) * sector;
  return { sector, fats, fatSectors, bits, fatStart, rootStart, rootEntries, dataStart, clusterBytes: clusterSectors * sector };
}

function fatEntry(image: string, layout: ReturnType<typeof fatLayout>, copy: number, cluster: number, value?: number): number {
  const base = layout.fatStart + copy * layout.fatSectors * layout.sector;
  if (layout.bits === 12) {
    const at = base + Math.floor((cluster * 3) / 2);
    let old = 0;
    edit(image, at, 2, (b) => {
      const word = b.readUInt16LE(0);
      old = cluster % 2 ? word >> 4 : word & 0xfff;
      if (value !== undefined) b.writeUInt16LE(cluster % 2 ? (word & 0x000f) | (value << 4) : (word & 0xf000) | value, 0);
    });
    return old;
  }
  const width = layout.bits / 8;
  let old = 0;
  edit(image, base + cluster * width, width, (b) => {
    old = width === 2 ? b.readUInt16LE(0) : b.readUInt32LE(0) & 0x0fffffff;
    if (value === undefined) return;
    if (width === 2) b.writeUInt16LE(value, 0);
    else b.writeUInt32LE(value, 0);
  });
  return old;
}

/** The first cluster of an 8.3 name ("BIG     TXT") in a FAT12/16 root directory. */
function rootEntryCluster(image: string, layout: ReturnType<typeof fatLayout>, name83: string): number {
  const root = read(image, layout.rootStart, layout.rootEntries * 32);
  for (let at = 0; at < root.length; at += 32) {
    if (root.toString('latin1', at, at + 11) === name83) return root.readUInt16LE(at + 26);
  }
  throw new Error(`no ${name83} in the root directory`);
}

/** Make a root-directory file's cluster chain circular: its last cluster points back at its first, in every FAT copy. */
export function fatCircularChain(image: string, offset: number, name83: string): void {
  const layout = fatLayout(image, offset);
  if (layout.bits === 32) throw new Error('FAT32 root directories are not handled here');
  const first = rootEntryCluster(image, layout, name83);
  const end = layout.bits === 12 ? 0xff8 : 0xfff8;
  let last = first;
  for (let next = fatEntry(image, layout, 0, last); next < end; next = fatEntry(image, layout, 0, last)) last = next;
  if (last === first) throw new Error(`${name83} has one cluster: no chain to close`);
  for (let copy = 0; copy < layout.fats; copy++) fatEntry(image, layout, copy, last, first);
}

/** Make the second file's chain run into the first's: its first cluster points at the other's second (a cross-link). */
export function fatCrossLinked(image: string, offset: number, first83: string, second83: string): void {
  const layout = fatLayout(image, offset);
  if (layout.bits === 32) throw new Error('FAT32 root directories are not handled here');
  const target = fatEntry(image, layout, 0, rootEntryCluster(image, layout, first83));
  const from = rootEntryCluster(image, layout, second83);
  for (let copy = 0; copy < layout.fats; copy++) fatEntry(image, layout, copy, from, target);
}

/** Set the boot sector's dirty bit, as the kernel does while a FAT is mounted (a copy of a running device keeps it). */
export function fatSetDirty(image: string, offset: number): void {
  const layout = fatLayout(image, offset);
  edit(image, offset + (layout.bits === 32 ? 0x41 : 0x25), 1, (b) => {
    b[0] = b[0]! | 1;
  });
}

/** An ext2/3/4 superblock's facts that locate the group descriptors. */
function extLayout(image: string, offset: number) {
  const sb = read(image, offset + 1024, 1024);
  if (sb.readUInt16LE(56) !== 0xef53) throw new Error('no ext superblock');
  const blockSize = 1024 << sb.readUInt32LE(24);
  const firstDataBlock = sb.readUInt32LE(20);
  const is64 = (sb.readUInt32LE(0x60) & 0x80) !== 0;
  const descSize = is64 ? sb.readUInt16LE(0xfe) : 32;
  return { blockSize, descriptors: offset + (firstDataBlock + 1) * blockSize, descSize };
}

/** Flip the checksum of block group 0's descriptor (bg_checksum), nothing else. */
export function extBadGroupChecksum(image: string, offset: number): void {
  const { descriptors } = extLayout(image, offset);
  edit(image, descriptors + 0x1e, 2, (b) => {
    b[0] = b[0]! ^ 0xff;
  });
}
