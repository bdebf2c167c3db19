import { describe, expect, it } from 'vitest';
import { parseDumpe2fs } from '../../../src/disk/extblocks.js';

const DUMP = `Filesystem features:      has_journal ext_attr resize_inode dir_index filetype extent 64bit flex_bg sparse_super
Block count:              20480
Free blocks:              15761
First block:              1
Block size:               1024
Group 0: (Blocks 1-8192) csum 0xf73e
  Free blocks: 3534-8192
  Free inodes: 12-2048
Group 1: (Blocks 8193-16384) csum 0x7be2 [INODE_UNINIT]
  Free blocks: 9378-10000, 10002, 10004-16384
Group 2: (Blocks 16385-20479) csum 0x8b7f [INODE_UNINIT]
  Free blocks: 
`;

describe('parseDumpe2fs', () => {
  it('turns the free-block lists into allocated byte ranges (inclusive ends, block 0 included)', () => {
    const map = parseDumpe2fs(DUMP)!;
    expect(map.blockSize).toBe(1024);
    expect(map.blockCount).toBe(20480);
    const k = 1024;
    expect(map.used).toEqual([
      [0, 3534 * k],
      [8193 * k, 9378 * k],
      [10001 * k, 10002 * k],
      [10003 * k, 10004 * k],
      [16385 * k, 20480 * k],
    ]);
  });

  it('gives up on bitmaps it cannot take at their word: bigalloc, a journal to replay, a filesystem not clean', () => {
    expect(parseDumpe2fs(DUMP.replace('sparse_super', 'sparse_super bigalloc'))).toBeUndefined();
    expect(parseDumpe2fs(DUMP.replace('sparse_super', 'needs_recovery sparse_super'))).toBeUndefined();
    expect(parseDumpe2fs(`${DUMP}Filesystem state:         not clean\n`)).toBeUndefined();
    expect(parseDumpe2fs(`${DUMP}Filesystem state:         clean\n`)).toBeDefined();
  });

  it('fails loudly on output it does not understand', () => {
    expect(() => parseDumpe2fs('nothing here')).toThrow(/block size/);
  });
});
