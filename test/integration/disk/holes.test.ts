import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createImage, readAndPlace } from '../../../src/disk/output.js';
import { dataRanges } from '../../../src/util/extents.js';
import { sha256File } from '../../../src/util/hash.js';
import { MiB } from './images.js';

// A file with holes, data, and data that is all zeros (allocated, not a hole).
const SIZE = 12 * MiB + 5000;
const PIECES: [offset: number, bytes: Buffer][] = [
  [0, randomBytes(4096)],
  [3 * MiB + 123, randomBytes(100_000)],
  [6 * MiB, Buffer.alloc(2 * MiB)],
  [SIZE - 5000, randomBytes(5000)],
];

let dir: string;
let sparse: string;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'holes-'));
  sparse = path.join(dir, 'sparse.bin');
  const fd = fs.openSync(sparse, 'w');
  fs.ftruncateSync(fd, SIZE);
  for (const [offset, bytes] of PIECES) fs.writeSync(fd, bytes, 0, bytes.length, offset);
  fs.closeSync(fd);
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function covered(ranges: [number, number][], start: number, end: number): boolean {
  return ranges.some(([from, to]) => from <= start && end <= to);
}

describe('dataRanges', () => {
  it('finds the holes of a file and keeps every byte written', async () => {
    const ranges = await dataRanges(sparse);
    for (const [offset, bytes] of PIECES.filter(([, bytes]) => bytes.some((b) => b !== 0))) {
      expect(covered(ranges, offset, offset + bytes.length)).toBe(true);
    }
    const total = ranges.reduce((sum, [from, to]) => sum + to - from, 0);
    expect(total).toBeLessThan(SIZE / 2);
    expect(ranges.every(([from, to], i) => from < to && to <= SIZE && (i === 0 || ranges[i - 1]![1] <= from))).toBe(true);
  });

  it('a file without holes is one range; an empty file none', async () => {
    const full = path.join(dir, 'full.bin');
    fs.writeFileSync(full, randomBytes(300_000));
    expect(await dataRanges(full)).toEqual([[0, 300_000]]);
    const empty = path.join(dir, 'empty.bin');
    fs.writeFileSync(empty, '');
    expect(await dataRanges(empty)).toEqual([]);
  });
});

describe('hashing and copying a file with holes', () => {
  it('sha256File hashes the holes as zeros without reading them', async () => {
    expect(await sha256File(sparse)).toBe(createHash('sha256').update(fs.readFileSync(sparse)).digest('hex'));
  });

  it('readAndPlace hands on every byte and writes the data into each copy, leaving holes as holes', async () => {
    const image = path.join(dir, 'image.bin');
    const offsets = [MiB, 16 * MiB];
    await createImage(image, 32 * MiB);
    const chunks: Buffer[] = [];
    for await (const chunk of readAndPlace(sparse, image, offsets, { chunkBytes: MiB })) chunks.push(Buffer.from(chunk));
    const source = fs.readFileSync(sparse);
    expect(Buffer.concat(chunks).equals(source)).toBe(true);
    const written = fs.readFileSync(image);
    for (const offset of offsets) expect(written.subarray(offset, offset + SIZE).equals(source)).toBe(true);
    // The source's holes (here 1-3 MiB and 9-12 MiB) were neither read nor written.
    const imageData = await dataRanges(image);
    for (const offset of offsets) {
      expect(imageData.some(([from, to]) => from < offset + 3 * MiB && to > offset + MiB)).toBe(false);
      expect(imageData.some(([from, to]) => from < offset + 12 * MiB && to > offset + 9 * MiB)).toBe(false);
    }
  });
});
