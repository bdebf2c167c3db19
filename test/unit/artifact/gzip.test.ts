import crypto from 'node:crypto';
import { Writable } from 'node:stream';
import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { gzipParallel } from '../../../src/artifact/gzip.js';
import { storedGzipSize } from '../../../src/util/stored-gzip.js';

function sink() {
  const chunks: Buffer[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(Buffer.from(chunk));
      callback();
    },
  });
  return { stream, bytes: () => Buffer.concat(chunks) };
}

/** gzipParallel of one buffer. */
async function gzipBuffer(data: Buffer, level: number): Promise<Buffer> {
  const out = sink();
  await gzipParallel([data], out.stream, level);
  return out.bytes();
}

/** Compressible but not trivial: random words repeated at a distance. */
function sample(size: number): Buffer {
  const words = Array.from({ length: 500 }, () => crypto.randomBytes(6).toString('hex'));
  const parts: string[] = [];
  let length = 0;
  while (length < size) {
    const word = words[Math.floor(Math.random() * words.length)]!;
    parts.push(word);
    length += word.length + 1;
  }
  return Buffer.from(parts.join(' ')).subarray(0, size);
}

/** Offsets of the gzip members in `gz`, found by walking them with zlib (each ends where inflate stops). */
function members(gz: Buffer): number[] {
  const starts: number[] = [];
  let at = 0;
  while (at < gz.length) {
    starts.push(at);
    const inflate = zlib.inflateRawSync(gz.subarray(at + 10), { info: true }) as unknown as { engine: { bytesWritten: number } };
    at += 10 + inflate.engine.bytesWritten + 8;
  }
  return starts;
}

describe('parallel gzip', () => {
  const BLOCK = 32 << 20;

  it.each([0, 1, 1000, BLOCK, BLOCK + 1, 2 * BLOCK + 12345])('%i bytes: gzip members of 32 MiB that gunzip restores', async (size) => {
    const input = sample(size);
    const out = sink();
    const written = await gzipParallel([input], out.stream, 3);
    const gz = out.bytes();
    expect(written).toBe(gz.length);
    expect(zlib.gunzipSync(gz).equals(input)).toBe(true);
    const starts = members(gz);
    expect(starts).toHaveLength(Math.max(1, Math.ceil(size / BLOCK)));
    for (const start of starts) expect(gz.subarray(start, start + 4).equals(Buffer.from([0x1f, 0x8b, 8, 0]))).toBe(true);
    // The last member's trailer holds the length of the last block.
    expect(gz.readUInt32LE(gz.length - 4)).toBe(size === 0 ? 0 : size - (starts.length - 1) * BLOCK);
  });

  it('gives the same bytes however the input is cut into chunks', async () => {
    const input = sample(BLOCK + 777);
    const whole = await gzipBuffer(input, 3);
    const pieces = sink();
    const cuts = [1, 511, 70_000, 1 << 20, 5];
    const chunks: Buffer[] = [];
    let at = 0;
    for (let i = 0; at < input.length; i++) {
      const size = cuts[i % cuts.length]!;
      chunks.push(input.subarray(at, at + size));
      at += size;
    }
    await gzipParallel(chunks, pieces.stream, 3);
    expect(pieces.bytes().equals(whole)).toBe(true);
  });

  it('a higher level gives smaller output, and a level libdeflate does not know fails with its message', async () => {
    const input = sample(1 << 20);
    expect((await gzipBuffer(input, 9)).length).toBeLessThan((await gzipBuffer(input, 1)).length);
    await expect(gzipBuffer(input, 13)).rejects.toThrow(/libdeflate-gzip exited with status/);
  });

  it('compresses a root-filesystem-like input within 1 % of single-stream zlib at level 6', async () => {
    const input = sample(3 * BLOCK);
    const parallel = (await gzipBuffer(input, 3)).length;
    const single = zlib.gzipSync(input, { level: 6 }).length;
    expect(parallel / single).toBeLessThan(1.01);
  });

  it('stores incompressible blocks (no compressor run) and compresses the rest', async () => {
    const random = crypto.randomBytes(BLOCK + 1000);
    const mixed = Buffer.concat([random, sample(BLOCK)]);
    const gz = await gzipBuffer(mixed, 3);
    expect(zlib.gunzipSync(gz).equals(mixed)).toBe(true);
    const starts = members(gz);
    expect(starts).toHaveLength(3);
    // The first block is stored; the second (random then text) and the third are compressed.
    expect(starts[1]).toBe(storedGzipSize(BLOCK));
    expect(gz.length - starts[1]!).toBeLessThan(1000 + BLOCK / 2);
  });
});
