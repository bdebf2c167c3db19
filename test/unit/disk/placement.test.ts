import { describe, expect, it } from 'vitest';
import { overlaps, partitionTableRegion, placementProblem, type Region } from '../../../src/disk/placement.js';

const MiB = 1024 * 1024;
const disk = 64 * MiB;
const partitions: Region[] = [
  { what: 'partition 1', start: 12 * MiB, size: 8 * MiB },
  { what: 'partition 2', start: 20 * MiB, size: 16 * MiB },
];
const occupied = [partitionTableRegion('gpt'), ...partitions, { what: 'the environment copy at 0x400000', start: 4 * MiB, size: 16384 }];
const file = (what: string, start: number, size: number): Region => ({ what, start, size });

describe('raw placements before the first partition', () => {
  it('accepts files between the table, the environment copies and the first partition', () => {
    expect(placementProblem([file('idbloader.img', 32768, 172032), file('u-boot.itb', 8 * MiB, 1049680)], occupied, 12 * MiB, disk)).toBeUndefined();
    // Ending exactly where the next region starts is no overlap.
    expect(placementProblem([file('a', 34 * 512, 4 * MiB - 34 * 512), file('b', 4 * MiB + 16384, 8 * MiB - 4 * MiB - 16384)], occupied, 12 * MiB, disk)).toBeUndefined();
  });

  it('names the partition a file reaches into', () => {
    expect(placementProblem([file('u-boot.itb', 11 * MiB, 2 * MiB)], occupied, 12 * MiB, disk)).toEqual({ kind: 'overlap', region: file('u-boot.itb', 11 * MiB, 2 * MiB), other: partitions[0] });
    expect(placementProblem([file('big', 19 * MiB, 2 * MiB)], occupied, 12 * MiB, disk)).toMatchObject({ kind: 'overlap', other: { what: 'partition 1' } });
  });

  it('names the environment copy and the partition table it would overwrite', () => {
    expect(placementProblem([file('u-boot.itb', 4 * MiB - 512, 1024)], occupied, 12 * MiB, disk)).toMatchObject({ kind: 'overlap', other: { what: 'the environment copy at 0x400000' } });
    expect(placementProblem([file('spl', 8192, 4096)], occupied, 12 * MiB, disk)).toMatchObject({ kind: 'overlap', other: { what: 'the GPT partition table (sectors 0-33)' } });
    // An MBR is one sector: sector 16 (Allwinner's SPL at 8 KiB) is free there.
    expect(placementProblem([file('spl', 8192, 4096)], [partitionTableRegion('dos')], 12 * MiB, disk)).toBeUndefined();
    expect(placementProblem([file('spl', 256, 4096)], [partitionTableRegion('dos')], 12 * MiB, disk)).toMatchObject({ kind: 'overlap', other: { what: 'the MBR partition table (sector 0)' } });
  });

  it('refuses two files over each other, naming the earlier one', () => {
    const first = file('idbloader.img', 32768, 4 * MiB);
    expect(placementProblem([first, file('u-boot.itb', 2 * MiB, MiB)], [], 12 * MiB, disk)).toEqual({ kind: 'overlap', region: file('u-boot.itb', 2 * MiB, MiB), other: first });
  });

  it('refuses a file past the end of the disk or past the gap before the first partition', () => {
    expect(placementProblem([file('far', disk - 512, 1024)], occupied, 12 * MiB, disk)).toMatchObject({ kind: 'beyond-disk', diskBytes: disk });
    // After every partition, where partition 4 would grow: not in the gap.
    expect(placementProblem([file('tail', 40 * MiB, MiB)], occupied, 12 * MiB, disk)).toEqual({ kind: 'beyond-gap', region: file('tail', 40 * MiB, MiB), gapEnd: 12 * MiB });
  });

  it('empty ranges overlap nothing', () => {
    expect(overlaps(file('a', 0, 0), file('b', 0, 10))).toBe(false);
    expect(overlaps(file('a', 0, 11), file('b', 10, 10))).toBe(true);
    expect(overlaps(file('a', 0, 10), file('b', 10, 10))).toBe(false);
  });
});
