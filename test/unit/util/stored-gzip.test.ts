import crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { looksIncompressible, predictedGain, storedGzipSize, writeStoredGzip } from '../../../src/util/stored-gzip.js';

function stored(data: Buffer): Buffer {
  const into = Buffer.alloc(storedGzipSize(data.length));
  const length = writeStoredGzip(data, into);
  expect(length).toBe(into.length);
  return into;
}

/** Text-like bytes: words of a small vocabulary. */
function text(size: number): Buffer {
  const words = ['mender', 'artifact', 'rootfs', 'update', 'device', 'kernel', 'boot'];
  let out = '';
  while (out.length < size) out += `${words[Math.floor(Math.random() * words.length)]} `;
  return Buffer.from(out).subarray(0, size);
}

describe('stored gzip members', () => {
  it.each([0, 1, 65535, 65536, 3 * 65535 + 7, 1 << 20])('%i bytes: zlib and gzip -t read them back', (size) => {
    const data = crypto.randomBytes(size);
    const gz = stored(data);
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
    expect(() => writeStoredGzip(Buffer.alloc(100), Buffer.alloc(100))).toThrow(RangeError);
  });

  it('a damaged byte is caught by the CRC', () => {
    const gz = stored(crypto.randomBytes(1000));
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

  it('does not judge a block too small to sample', () => {
    expect(looksIncompressible(crypto.randomBytes(100_000))).toBe(false);
  });
});
