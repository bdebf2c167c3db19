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
const { readChunks } = await import(path.join(root, 'dist/disk/sparse.js'));
const [input, rootfs, image, compression, scratch] = process.argv.slice(2);

if (input.endsWith('.xz')) {
  const read = spawnSync('xz', ['-dc', '-T0', input], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (read.status !== 0) throw new Error(`reading ${input} failed`);
} else {
  // A raw input's holes need no reading (the conversion does not read them either).
  for await (const chunk of readChunks(input)) void chunk;
}
const discard = new Writable({ write: (_chunk, _encoding, callback) => callback() });
// The root filesystem as the conversion reads it: its holes as zeros, not read.
await gzipParallel(readChunks(rootfs), discard, 3);
if (compression !== 'none') {
  const out = path.join(scratch, 'limit-image.out');
  await compressImage(image, out, compression);
  await fs.rm(out);
}
