import fs from 'node:fs/promises';

/** Which filesystem (or container) a file holds at an offset. */

export type FilesystemType = 'ext2' | 'ext3' | 'ext4' | 'vfat' | 'btrfs' | 'xfs' | 'luks' | 'lvm' | 'swap' | 'unknown';

/** Identify a filesystem (or container) by its magic numbers; reads a few KiB, no tool. */
export async function probeFilesystem(file: string, offset: number): Promise<FilesystemType> {
  const handle = await fs.open(file, 'r');
  try {
    const buffer = Buffer.alloc(0x10000 + 0x100);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, offset);
    const b = buffer.subarray(0, bytesRead);
    const ascii = (at: number, text: string) => b.length >= at + text.length && b.toString('latin1', at, at + text.length) === text;
    if (ascii(0, 'LUKS\xba\xbe')) return 'luks';
    if (ascii(0, 'XFSB')) return 'xfs';
    if (ascii(0x10040, '_BHRfS_M')) return 'btrfs';
    for (const sector of [0, 1, 2, 3]) if (ascii(sector * 512, 'LABELONE') && ascii(sector * 512 + 24, 'LVM2')) return 'lvm';
    if (ascii(4086, 'SWAPSPACE2') || ascii(4086, 'SWAP-SPACE')) return 'swap';
    if (b.length >= 1024 + 0x64 && b.readUInt16LE(1024 + 56) === 0xef53) {
      const compat = b.readUInt32LE(1024 + 0x5c);
      const incompat = b.readUInt32LE(1024 + 0x60);
      const ext4Incompat = 0x40 | 0x80 | 0x200 | 0x2000; // extents, 64bit, flex_bg, csum_seed
      if (incompat & ext4Incompat) return 'ext4';
      return compat & 0x4 ? 'ext3' : 'ext2';
    }
    if (b.length >= 512 && b.readUInt16LE(510) === 0xaa55 && (ascii(0x36, 'FAT') || ascii(0x52, 'FAT32'))) return 'vfat';
    return 'unknown';
  } finally {
    await handle.close();
  }
}

/**
 * The bytes a filesystem says it spans, from its own superblock (ext2/3/4: block count × block
 * size) or boot sector (FAT: total sectors × sector size); undefined for other kinds or when the
 * fields are zero or impossible. Reads one sector or two, no tool.
 */
export async function filesystemBytes(file: string, offset: number, type: FilesystemType): Promise<number | undefined> {
  const handle = await fs.open(file, 'r');
  try {
    const b = Buffer.alloc(2048);
    const { bytesRead } = await handle.read(b, 0, b.length, offset);
    if (type.startsWith('ext') && bytesRead >= 2048) {
      const sb = b.subarray(1024);
      const is64 = (sb.readUInt32LE(0x60) & 0x80) !== 0;
      const blocks = sb.readUInt32LE(0x04) + (is64 ? sb.readUInt32LE(0x150) * 2 ** 32 : 0);
      const log = sb.readUInt32LE(0x18);
      return blocks > 0 && log <= 6 ? blocks * 2 ** (10 + log) : undefined;
    }
    if (type === 'vfat' && bytesRead >= 512) {
      const sectors = b.readUInt16LE(19) || b.readUInt32LE(32);
      const sectorSize = b.readUInt16LE(11);
      return sectors > 0 && sectorSize > 0 ? sectors * sectorSize : undefined;
    }
    return undefined;
  } finally {
    await handle.close();
  }
}
