import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kernelCopy } from '../../../src/disk/kernel-copy.js';
import { dataRanges } from '../../../src/util/extents.js';

const KiB = 1024;
const MiB = 1024 * KiB;
/** A filesystem other than the temporary directory's: copy_file_range refuses to cross into it. */
const OTHER_FS = '/dev/shm';

let dir: string;
let source: string;

function sparseFile(file: string, size: number, pieces: [number, Buffer][]): void {
  const fd = fs.openSync(file, 'w');
  fs.ftruncateSync(fd, size);
  for (const [at, bytes] of pieces) fs.writeSync(fd, bytes, 0, bytes.length, at);
  fs.closeSync(fd);
}

beforeAll(() => {
  // The name has a space: xfs_io's command parser would split a path given in a command.
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kernel copy-'));
  source = path.join(dir, 'source img');
  sparseFile(source, 8 * MiB, [[0, randomBytes(64 * KiB)], [3 * MiB, randomBytes(1 * MiB)], [7 * MiB, randomBytes(4 * KiB)]]);
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('kernelCopy', () => {
  it('copies the ranges named, to other offsets, leaving the rest of the destination holes', async () => {
    const dest = path.join(dir, 'dest img');
    sparseFile(dest, 16 * MiB, []);
    const moves = [
      { from: 0, to: 4 * MiB, length: 64 * KiB },
      { from: 3 * MiB, to: 9 * MiB, length: 1 * MiB },
      { from: 7 * MiB, to: 15 * MiB, length: 4 * KiB },
    ];
    const progress: number[] = [];
    expect(await kernelCopy(source, dest, moves, (done) => progress.push(done))).toBe(true);
    const from = fs.readFileSync(source);
    const to = fs.readFileSync(dest);
    for (const { from: at, to: where, length } of moves) expect(to.subarray(where, where + length).equals(from.subarray(at, at + length))).toBe(true);
    expect(await dataRanges(dest)).toEqual(moves.map(({ to: where, length }) => [where, where + length]));
    expect(progress[progress.length - 1]).toBe(64 * KiB + 1 * MiB + 4 * KiB);
  });

  it('tells when the kernel cannot copy (onto another filesystem), so the caller copies itself', async (context) => {
    if (!fs.existsSync(OTHER_FS) || fs.statSync(OTHER_FS).dev === fs.statSync(dir).dev) return context.skip();
    const otherDir = fs.mkdtempSync(path.join(OTHER_FS, 'kernel-copy-'));
    try {
      const dest = path.join(otherDir, 'dest');
      sparseFile(dest, 8 * MiB, []);
      expect(await kernelCopy(source, dest, [{ from: 3 * MiB, to: 0, length: 1 * MiB }])).toBe(false);
    } finally {
      fs.rmSync(otherDir, { recursive: true, force: true });
    }
  });
});
