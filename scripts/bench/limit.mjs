#!/usr/bin/env node
// The I/O limit of a conversion, for the benchmark: only the passes no conversion can avoid, one
// after the other, each on every core with the compressors and levels the conversion uses —
// read (decompress) the input once (a raw one where it holds data), compress the root filesystem once (the Artifact's gzip),
// compress the output disk image once (every block of it, rootfs B included).
// usage: node scripts/bench/limit.mjs INPUT ROOTFS IMAGE none|gzip|xz SCRATCH_DIR
import { spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
const { gzipParallel } = await import(path.join(root, 'dist/artifact/gzip.js'));
const { compressImage } = await import(path.join(root, 'dist/disk/compress.js'));
const { clipRanges, dataRanges } = await import(path.join(root, 'dist/util/extents.js'));
const [input, rootfs, image, compression, scratch] = process.argv.slice(2);

if (input.endsWith('.xz')) {
  const read = spawnSync('xz', ['-dc', '-T0', input], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (read.status !== 0) throw new Error(`reading ${input} failed`);
} else {
  // A raw input's holes need no reading (the conversion does not read them either).
  const handle = await fs.open(input, 'r');
  const buffer = Buffer.allocUnsafe(4 << 20);
  for (const [start, end] of await dataRanges(input)) {
    for (let at = start; at < end; at += buffer.length) await handle.read(buffer, 0, Math.min(buffer.length, end - at), at);
  }
  await handle.close();
}
const discard = new Writable({ write: (_chunk, _encoding, callback) => callback() });
// The root filesystem as the conversion reads it: its holes as zeros, not read.
async function* rootfsBytes() {
  const handle = await fs.open(rootfs, 'r');
  const { size } = await handle.stat();
  const data = await dataRanges(rootfs);
  const window = 4 << 20;
  const zeros = Buffer.alloc(window);
  for (let at = 0; at < size; at += window) {
    const length = Math.min(window, size - at);
    if (clipRanges(data, at, at + length).length === 0) yield zeros.subarray(0, length);
    else {
      const buffer = Buffer.allocUnsafe(length);
      await handle.read(buffer, 0, length, at);
      yield buffer;
    }
  }
  await handle.close();
}
await gzipParallel(rootfsBytes(), discard, 3);
if (compression !== 'none') {
  const out = path.join(scratch, 'limit-image.out');
  await compressImage(image, out, compression);
  await fs.rm(out);
}
