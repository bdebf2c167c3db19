import crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { BlockSampler, predictedGain, SAMPLE_BYTES, SAMPLES, STORED_PIECE_BYTES, storedGzip, storedGzipSize } from '../../../src/util/stored-gzip.js';

/** The stored member of `data`, framed piece by piece as the block compressor frames it (the data read from memory). */
async function stored(data: Buffer): Promise<Buffer> {
  const pieces: Buffer[] = [];
  let read = 0;
  const readInto = async (targets: Buffer[], position: number) => {
    expect(position).toBe(read);
    for (const target of targets) read += data.copy(target, 0, read, read + target.length);
  };
  for await (const piece of storedGzip(data.length, readInto, Buffer.alloc(STORED_PIECE_BYTES))) pieces.push(Buffer.from(piece));
  expect(read).toBe(data.length);
  const gz = Buffer.concat(pieces);
  expect(gz.length).toBe(storedGzipSize(data.length));
  return gz;
}

/** The probe's verdict on a whole block, its samples spread over all of it. */
function looksIncompressible(block: Buffer): boolean {
  const sampler = new BlockSampler(Math.max(SAMPLE_BYTES, Math.floor(block.length / SAMPLES)));
  sampler.add(block, 0);
  return sampler.looksIncompressible();
}

/** Text-like bytes: words of a small vocabulary. */
function text(size: number): Buffer {
  const words = ['mender', 'artifact', 'rootfs', 'update', 'device', 'kernel', 'boot'];
  let out = '';
  while (out.length < size) out += `${words[Math.floor(Math.random() * words.length)]} `;
  return Buffer.from(out).subarray(0, size);
}

describe('stored gzip members', () => {
  it.each([0, 1, 65535, 65536, 3 * 65535 + 7, 16 * 65535, 16 * 65535 + 1, 1 << 20])('%i bytes: zlib and gzip -t read them back', async (size) => {
    const data = crypto.randomBytes(size);
    const gz = await stored(data);
    expect(zlib.gunzipSync(gz).equals(data)).toBe(true);
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'stored-gzip-')), 'x.gz');
    fs.writeFileSync(file, gz);
    execFileSync('gzip', ['-t', file]);
    expect(execFileSync('gzip', ['-dc', file]).equals(data)).toBe(true);
    fs.rmSync(path.dirname(file), { recursive: true });
  });

  it('is the data plus 5 bytes per 64 KiB and 18 of header and trailer', () => {
    expect(storedGzipSize(0)).toBe(23);
    expect(storedGzipSize(32 << 20)).toBe((32 << 20) + 5 * 513 + 18);
  });

  it('needs a framing buffer of a whole piece', async () => {
    const frames = storedGzip(100, async () => undefined, Buffer.alloc(100));
    await expect(frames.next()).rejects.toThrow(RangeError);
  });

  it('a damaged byte is caught by the CRC', async () => {
    const gz = await stored(crypto.randomBytes(1000));
    gz[500]! ^= 1;
    expect(() => zlib.gunzipSync(gz)).toThrow();
  });
});

describe('the compressibility probe', () => {
  const MiB = 1 << 20;

  it('takes random bytes and xz output for incompressible', () => {
    expect(looksIncompressible(crypto.randomBytes(4 * MiB))).toBe(true);
    const xz = execFileSync('xz', ['-c', '-1'], { input: text(8 * MiB), maxBuffer: 64 * MiB });
    const noise = Buffer.concat([xz, crypto.randomBytes(Math.max(0, MiB - xz.length))]);
    expect(predictedGain(noise)).toBeLessThan(0.005);
  });

  it('keeps text, zeros, and random data with some text in it compressed', () => {
    expect(looksIncompressible(text(4 * MiB))).toBe(false);
    expect(looksIncompressible(Buffer.alloc(4 * MiB))).toBe(false);
    const mixed = crypto.randomBytes(4 * MiB);
    text(MiB / 2).copy(mixed, MiB);
    expect(looksIncompressible(mixed)).toBe(false);
  });

  it('does not judge a block too short for eight samples', () => {
    const sampler = new BlockSampler(512 * 1024);
    sampler.add(crypto.randomBytes(3 << 20), 0);
    expect(sampler.looksIncompressible()).toBe(false);
  });

  it('samples a block fed in pieces as it samples the whole, and judges a short block by the samples it has', () => {
    const stride = 64 * 1024;
    const block = crypto.randomBytes(64 * stride);
    text(SAMPLE_BYTES).copy(block, 10 * stride);
    const cuts = [1, 4095, 70_000, 5, 1 << 20];
    const fed = new BlockSampler(stride);
    for (let at = 0, i = 0; at < block.length; i++) {
      const size = cuts[i % cuts.length]!;
      fed.add(block.subarray(at, at + size), at);
      at += size;
    }
    const whole = new BlockSampler(stride);
    whole.add(block, 0);
    // One text sample in 64 is enough to keep a block compressed.
    expect(whole.looksIncompressible()).toBe(false);
    expect(fed.looksIncompressible()).toBe(false);
    // Its first ten samples alone are random; seven samples are too few to judge.
    const short = new BlockSampler(stride);
    short.add(block.subarray(0, 10 * stride), 0);
    expect(short.looksIncompressible()).toBe(true);
    short.reset();
    short.add(block.subarray(0, 7 * stride), 0);
    expect(short.looksIncompressible()).toBe(false);
  });
});
