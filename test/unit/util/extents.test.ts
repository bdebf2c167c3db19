import { describe, expect, it } from 'vitest';
import { clipRanges, intersectRanges, parseSeekMap } from '../../../src/util/extents.js';

describe('parseSeekMap', () => {
  it('reads the data ranges between DATA and HOLE offsets', () => {
    const text = 'Whence\tResult\nHOLE\t0\nDATA\t598016\nHOLE\t602112\nDATA\t1048576\nHOLE\t2097152\n';
    expect(parseSeekMap(text, 2097152)).toEqual([[598016, 602112], [1048576, 2097152]]);
  });

  it('a file that ends in data, one that is all hole, one that is all data', () => {
    expect(parseSeekMap('Whence\tResult\nDATA\t0\nHOLE\t4096\nDATA\t8192\n', 10000)).toEqual([[0, 4096], [8192, 10000]]);
    expect(parseSeekMap('Whence\tResult\nHOLE\t0\n', 1 << 20)).toEqual([]);
    expect(parseSeekMap('Whence\tResult\nDATA\t0\nHOLE\t1\n', 1)).toEqual([[0, 1]]);
  });

  it('refuses what does not read as a seek map (the caller then reads everything)', () => {
    expect(parseSeekMap('', 100)).toBeUndefined();
    expect(parseSeekMap('xfs_io: command "seek" not found\n', 100)).toBeUndefined();
    expect(parseSeekMap('Whence\tResult\nDATA\t0\nsomething else\n', 100)).toBeUndefined();
    // Offsets must grow and stay inside the file.
    expect(parseSeekMap('Whence\tResult\nDATA\t4096\nHOLE\t0\n', 8192)).toBeUndefined();
    expect(parseSeekMap('Whence\tResult\nDATA\t0\nHOLE\t9000\n', 8192)).toBeUndefined();
  });
});

describe('range lists', () => {
  it('clipRanges keeps the parts inside a window', () => {
    expect(clipRanges([[0, 10], [20, 30], [40, 50]], 5, 45)).toEqual([[5, 10], [20, 30], [40, 45]]);
    expect(clipRanges([[0, 10], [20, 30]], 10, 20)).toEqual([]);
  });

  it('intersectRanges keeps what both lists cover', () => {
    expect(intersectRanges([[0, 100]], [[10, 20], [50, 150]])).toEqual([[10, 20], [50, 100]]);
    expect(intersectRanges([[0, 10], [20, 30]], [[5, 25]])).toEqual([[5, 10], [20, 25]]);
    expect(intersectRanges([[0, 10]], [])).toEqual([]);
    expect(intersectRanges([[0, 10]], [[10, 20]])).toEqual([]);
  });
});
