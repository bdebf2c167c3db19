import { describe, expect, it } from 'vitest';
import { computeLayout, computeRootfsSize, MiB } from '../../../src/disk/layout.js';

describe('partition layout (contract numbers)', () => {
  it('GRUB defaults: first partition at 1 × alignment, 4 × alignment overhead', () => {
    const layout = computeLayout({ reservedBytes: 0, totalSizeMb: 8192, alignment: 8 * MiB, bootSizeMb: 40, dataSizeMb: 128, inputBootBytes: 0 });
    expect(layout.boot).toEqual({ number: 1, start: 8 * MiB, size: 40 * MiB });
    // (8192 - 40 - 128 - 32) / 2 = 3996 MiB, rounded up to 4000 (a multiple of 8 MiB)
    expect(layout.rootfsA).toEqual({ number: 2, start: 48 * MiB, size: 4000 * MiB });
    expect(layout.rootfsB).toEqual({ number: 3, start: 4048 * MiB, size: 4000 * MiB });
    expect(layout.data).toEqual({ number: 4, start: 8048 * MiB, size: 128 * MiB });
    expect(layout.overheadBytes).toBe(32 * MiB);
  });

  it('U-Boot: first partition at 3 × alignment, 6 × alignment overhead, boot grown to the input', () => {
    const layout = computeLayout({ reservedBytes: 8 * MiB, totalSizeMb: 4096, alignment: 4 * MiB, bootSizeMb: 40, dataSizeMb: 128, inputBootBytes: 510 * MiB });
    expect(layout.boot).toEqual({ number: 1, start: 12 * MiB, size: 512 * MiB });
    // (4096 - 512 - 128 - 24) / 2 = 1716 MiB, rounded up to 4 MiB
    expect(layout.rootfsA.size).toBe(1716 * MiB);
    expect(layout.rootfsA.start).toBe(524 * MiB);
    expect(layout.data.start + layout.data.size).toBeLessThanOrEqual(4096 * MiB);
  });

  it('rounds an odd rootfs share up to the alignment', () => {
    const layout = computeLayout({ reservedBytes: 0, totalSizeMb: 1001, alignment: 8 * MiB, bootSizeMb: 40, dataSizeMb: 100, inputBootBytes: 0 });
    expect(layout.data.size).toBe(104 * MiB);
    expect(layout.rootfsA.size % (8 * MiB)).toBe(0);
    expect(layout.rootfsB.start).toBe(layout.rootfsA.start + layout.rootfsA.size);
  });

  it('refuses a storage that is too small, naming the knob and a size that fits', () => {
    expect(() => computeLayout({ reservedBytes: 0, totalSizeMb: 200, alignment: 8 * MiB, bootSizeMb: 40, dataSizeMb: 128, inputBootBytes: 0 }))
      .toThrow(/storage is too small.*200 MiB/);
    try {
      computeLayout({ reservedBytes: 0, totalSizeMb: 200, alignment: 8 * MiB, bootSizeMb: 40, dataSizeMb: 128, inputBootBytes: 0 });
    } catch (error) {
      expect((error as { hint: string }).hint).toMatch(/storage\.total_size_mb \(MENDER_STORAGE_TOTAL_SIZE_MB\) above \d+/);
    }
  });

  it('refuses more storage than an MBR addresses, and takes it on GPT', () => {
    const big = { reservedBytes: 0, totalSizeMb: 100_000_000, alignment: 8 * MiB, bootSizeMb: 40, dataSizeMb: 128, inputBootBytes: 0 };
    expect(() => computeLayout({ ...big, scheme: 'dos' })).toThrow('The storage of 100000000 MiB is larger than an MBR (dos) partition table can address (2 TiB).');
    expect(() => computeLayout({ ...big, scheme: 'dos', totalSizeMb: 2 * 1024 * 1024 })).not.toThrow();
    expect(computeLayout({ ...big, scheme: 'gpt' }).data.start + 128 * MiB).toBeLessThanOrEqual(100_000_000 * MiB);
  });
});

describe('root filesystem size', () => {
  const base = { usedBytes: 600 * MiB, sizeKb: -1, extraSpaceKb: 0, overheadFactor: 1.5, partitionBytes: 3992 * MiB, blockSize: 4096 };
  it('fills the partition when IMAGE_ROOTFS_SIZE is -1', () => {
    expect(computeRootfsSize(base)).toBe(3992 * MiB);
  });
  it('uses max(IMAGE_ROOTFS_SIZE, used × factor) + extra space', () => {
    expect(computeRootfsSize({ ...base, sizeKb: 500 * 1024 })).toBe(900 * MiB);
    expect(computeRootfsSize({ ...base, sizeKb: 1000 * 1024, extraSpaceKb: 1024 })).toBe(1001 * MiB);
  });
  it('rounds to whole filesystem blocks', () => {
    expect(computeRootfsSize({ ...base, usedBytes: 1000, sizeKb: 0, overheadFactor: 1.5 })).toBe(4096);
  });
  it('refuses a filesystem larger than its partition with the knobs to turn', () => {
    expect(() => computeRootfsSize({ ...base, usedBytes: 3000 * MiB, sizeKb: 0 })).toThrow(/needs 4500 MiB but each root partition holds 3992 MiB/);
  });
});
