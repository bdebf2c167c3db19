import { describe, expect, it } from 'vitest';
import { dataEnd, dataRuns, SPARSE_BLOCK } from '../../../src/disk/sparse.js';
import { isZero } from '../../../src/util/bytes.js';

const B = SPARSE_BLOCK;

function buffer(length: number, nonZero: number[]): Buffer {
  const b = Buffer.alloc(length);
  for (const at of nonZero) b[at] = 1;
  return b;
}

describe('isZero', () => {
  it('tells zero ranges, also longer than its shared zero buffer', () => {
    const big = Buffer.alloc(3 * 1024 * 1024);
    expect(isZero(big)).toBe(true);
    big[2 * 1024 * 1024 + 5] = 7;
    expect(isZero(big)).toBe(false);
    expect(isZero(big, 0, 2 * 1024 * 1024)).toBe(true);
    expect(isZero(big, 2 * 1024 * 1024 + 5, 2 * 1024 * 1024 + 6)).toBe(false);
  });
});

describe('dataRuns', () => {
  it('yields whole non-zero blocks, merging neighbours', () => {
    const b = buffer(8 * B, [0, B + 3, 4 * B + 100, 7 * B + B - 1]);
    expect([...dataRuns(b)]).toEqual([[0, 2 * B], [4 * B, 5 * B], [7 * B, 8 * B]]);
  });

  it('nothing for an all-zero buffer; a short tail block counts', () => {
    expect([...dataRuns(Buffer.alloc(5 * B))]).toEqual([]);
    expect([...dataRuns(buffer(2 * B + 10, [2 * B + 9]))]).toEqual([[2 * B, 2 * B + 10]]);
  });

  it('lines blocks up with the file when the buffer starts mid-block', () => {
    // The buffer starts 100 bytes before a block boundary of its file.
    const b = buffer(100 + 2 * B, [50, 100 + B + 1]);
    expect([...dataRuns(b, B - 100)]).toEqual([[0, 100], [100 + B, 100 + 2 * B]]);
  });
});

describe('dataEnd', () => {
  it('is just after the last non-zero byte', () => {
    expect(dataEnd(Buffer.alloc(3 * B))).toBe(0);
    expect(dataEnd(buffer(3 * B, [10]))).toBe(11);
    expect(dataEnd(buffer(3 * B, [10, 2 * B + 7]))).toBe(2 * B + 8);
    expect(dataEnd(buffer(B + 1, [B]))).toBe(B + 1);
  });
});
