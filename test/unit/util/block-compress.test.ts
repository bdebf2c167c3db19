import os from 'node:os';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { BlockCompressor, type BlockInput, type Submitted } from '../../../src/util/block-compress.js';

/** Lets every callback and promise that is ready run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

afterEach(() => {
  vi.restoreAllMocks();
});

describe('BlockCompressor', () => {
  it('holds at most one block per core plus one: the next waits until a consumer releases one', async () => {
    vi.spyOn(os, 'availableParallelism').mockReturnValue(2);
    const compressor = await BlockCompressor.open('libdeflate-gzip', ['-c', '-1'], 'compressing a test block');
    try {
      expect(compressor.parallel).toBe(2);
      const held: Submitted[] = [];
      for (let i = 0; i < compressor.parallel + 1; i++) {
        const input = await compressor.begin();
        await input.write(Buffer.from(`block ${i}`));
        held.push(input.finish());
      }
      let next: BlockInput | undefined;
      const waiting = compressor.begin().then((input) => (next = input));
      // Every held block compressed and the slow consumer still holding them: no fourth block.
      await Promise.all(held.map((block) => block.compressed));
      await settle();
      expect(next).toBeUndefined();
      held[0]!.release();
      await waiting;
      expect(next).toBeDefined();
      const last = next!.finish();
      // Closed only once every block has settled.
      await last.compressed;
      last.release();
      for (const block of held) block.release();
    } finally {
      await compressor.close();
    }
  });
});
