import { UserError } from '../util/errors.js';

/**
 * The Mender partition layout, computed as the on-device contract (and upstream mender-convert)
 * defines it: 1 boot, 2 rootfs A, 3 rootfs B, 4 data, each aligned and contiguous.
 */

export const MiB = 1024 * 1024;

export interface LayoutInput {
  /** The partition table: an MBR addresses 2^32 sectors (2 TiB) at most. */
  scheme?: 'dos' | 'gpt';
  /** Bytes kept free before the first partition beyond its first alignment block (a bootloader's environment). */
  reservedBytes: number;
  totalSizeMb: number;
  alignment: number;
  bootSizeMb: number;
  dataSizeMb: number;
  /** Size of the input's boot filesystem; the boot partition grows to hold it. */
  inputBootBytes: number;
}

export interface PartitionExtent {
  number: number;
  start: number;
  size: number;
}

export interface Layout {
  alignment: number;
  totalBytes: number;
  overheadBytes: number;
  boot: PartitionExtent;
  rootfsA: PartitionExtent;
  rootfsB: PartitionExtent;
  data: PartitionExtent;
}

export function alignUp(bytes: number, alignment: number): number {
  return Math.ceil(bytes / alignment) * alignment;
}

const mib = (bytes: number) => `${(bytes / MiB).toFixed(bytes % MiB === 0 ? 0 : 1)} MiB`;

export function computeLayout(input: LayoutInput): Layout {
  const { alignment } = input;
  const totalBytes = input.totalSizeMb * MiB;
  // The partitioning overhead: the first alignment block (partition table), what the bootloader
  // reserves after it, and the alignment slack upstream counts for the four partitions.
  const firstStart = alignment + input.reservedBytes;
  const overheadBytes = 4 * alignment + input.reservedBytes;
  const bootSize = alignUp(Math.max(input.bootSizeMb * MiB, input.inputBootBytes), alignment);
  const dataSize = alignUp(input.dataSizeMb * MiB, alignment);
  const available = totalBytes - bootSize - dataSize - overheadBytes;
  const rootfsSize = alignUp(Math.floor(available / 2 / 512) * 512, alignment);

  const boot = { number: 1, start: firstStart, size: bootSize };
  const rootfsA = { number: 2, start: boot.start + boot.size, size: rootfsSize };
  const rootfsB = { number: 3, start: rootfsA.start + rootfsA.size, size: rootfsSize };
  const data = { number: 4, start: rootfsB.start + rootfsB.size, size: dataSize };
  const end = data.start + data.size;
  if (available <= 0 || rootfsSize <= 0 || end > totalBytes) {
    const needed = Math.max(end, totalBytes - available + 2 * alignment);
    throw new UserError(
      `The storage is too small: ${mib(totalBytes)} cannot hold a ${mib(bootSize)} boot partition, ` +
        `two root filesystem partitions and a ${mib(dataSize)} data partition (${mib(overheadBytes)} partitioning overhead).`,
      { hint: `Raise storage.total_size_mb (MENDER_STORAGE_TOTAL_SIZE_MB) above ${Math.ceil(needed / MiB)}, or lower boot.size_mb / data.size_mb.` },
    );
  }
  if (input.scheme === 'dos' && end > MBR_LIMIT_BYTES) {
    throw new UserError(`The storage of ${mib(totalBytes)} is larger than an MBR (dos) partition table can address (2 TiB).`, {
      hint: `Lower storage.total_size_mb (MENDER_STORAGE_TOTAL_SIZE_MB) to ${MBR_LIMIT_BYTES / MiB} or less, or convert to GPT (storage.partition_scheme: gpt).`,
    });
  }
  return { alignment, totalBytes, overheadBytes, boot, rootfsA, rootfsB, data };
}

/** The end of the last sector an MBR's 32-bit sector numbers reach. */
const MBR_LIMIT_BYTES = 2 ** 32 * 512;

export interface RootfsSizeInput {
  /** Bytes in use in the root filesystem (content size). */
  usedBytes: number;
  /** IMAGE_ROOTFS_SIZE in KiB; -1: the whole partition. */
  sizeKb: number;
  extraSpaceKb: number;
  overheadFactor: number;
  partitionBytes: number;
  /** The filesystem's block size: the result is a whole number of blocks. */
  blockSize: number;
}

/** Size of the root filesystem (and Artifact payload): the contract's formula, in whole blocks. */
export function computeRootfsSize(input: RootfsSizeInput): number {
  const base = input.sizeKb === -1 ? input.partitionBytes : Math.max(input.sizeKb * 1024, input.usedBytes);
  const withOverhead = Math.max(base, Math.round(input.usedBytes * input.overheadFactor));
  const wanted = withOverhead + input.extraSpaceKb * 1024;
  // Whole blocks: round up, unless only the rounding would overflow the partition.
  const size = wanted <= input.partitionBytes
    ? Math.min(alignUp(wanted, input.blockSize), Math.floor(input.partitionBytes / input.blockSize) * input.blockSize)
    : alignUp(wanted, input.blockSize);
  if (size > input.partitionBytes) {
    throw new UserError(
      `The root filesystem needs ${mib(size)} but each root partition holds ${mib(input.partitionBytes)} ` +
        `(${mib(input.usedBytes)} used × overhead factor ${input.overheadFactor}` +
        `${input.extraSpaceKb ? ` + ${input.extraSpaceKb} KiB extra space` : ''}).`,
      {
        hint:
          'Raise storage.total_size_mb (MENDER_STORAGE_TOTAL_SIZE_MB), or lower rootfs.size_kb (IMAGE_ROOTFS_SIZE), ' +
          'rootfs.extra_space_kb (IMAGE_ROOTFS_EXTRA_SPACE) or rootfs.overhead_factor (IMAGE_OVERHEAD_FACTOR).',
      },
    );
  }
  return size;
}
