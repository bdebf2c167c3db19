import crypto from 'node:crypto';
import { Writable } from 'node:stream';
import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { gzipBuffer, gzipParallel } from '../../../src/artifact/gzip.js';

function sink() {
  const chunks: Buffer[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk);
      callback();
    },
  });
  return { stream, bytes: () => Buffer.concat(chunks) };
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

describe('parallel gzip', () => {
  it.each([0, 1, 1000, 1 << 20, (1 << 20) + 1, 5 * (1 << 20) + 12345])('%i bytes: one valid gzip member that gunzip restores', async (size) => {
    const input = sample(size);
    const out = sink();
    const written = await gzipParallel([input], out.stream, 4);
    const gz = out.bytes();
    expect(written).toBe(gz.length);
    expect(gz.subarray(0, 10).equals(Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]))).toBe(true);
    expect(zlib.gunzipSync(gz).equals(input)).toBe(true);
    expect(gz.readUInt32LE(gz.length - 4)).toBe(size);
  });

  it('gives the same bytes however the input is cut into chunks', async () => {
    const input = sample(3 * (1 << 20) + 777);
    const whole = await gzipBuffer(input, 4);
    const pieces = sink();
    const cuts = [1, 511, 70_000, 1 << 20, 5];
    const chunks: Buffer[] = [];
    let at = 0;
    for (let i = 0; at < input.length; i++) {
      const size = cuts[i % cuts.length]!;
      chunks.push(input.subarray(at, at + size));
      at += size;
    }
    await gzipParallel(chunks, pieces.stream, 4);
    expect(pieces.bytes().equals(whole)).toBe(true);
  });

  it('blocks use the previous 32 KiB as dictionary: a repeat across the block boundary costs nearly nothing', async () => {
    const block = crypto.randomBytes(1 << 20);
    const input = Buffer.concat([block, block.subarray(-16 * 1024)]);
    const gz = await gzipBuffer(input, 4);
    // Without the dictionary the second block would add its 16 KiB of random bytes again.
    expect(gz.length).toBeLessThan(zlib.deflateRawSync(block, { level: 4, memLevel: 9 }).length + 2048);
    expect(zlib.gunzipSync(gz).equals(input)).toBe(true);
  });

  it('compresses a root-filesystem-like input within 1 % of single-stream zlib at the same level', async () => {
    const input = sample(4 * (1 << 20));
    const parallel = (await gzipBuffer(input, 4)).length;
    const single = zlib.gzipSync(input, { level: 4 }).length;
    expect(parallel / single).toBeLessThan(1.01);
  });
});
