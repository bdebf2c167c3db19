#!/usr/bin/env node
// The I/O limit of a conversion, for the benchmark: only the passes no conversion can avoid, one
// after the other, each on every core with the compressors and levels the conversion uses —
// read (decompress) the input once, compress the root filesystem once (the Artifact's gzip),
// compress the output disk image once (every block of it, rootfs B included).
// usage: node scripts/bench/limit.mjs INPUT ROOTFS IMAGE none|gzip|xz SCRATCH_DIR
import { spawnSync } from 'node:child_process';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
const { gzipParallel } = await import(path.join(root, 'dist/artifact/gzip.js'));
const { compressImage } = await import(path.join(root, 'dist/disk/compress.js'));
const [input, rootfs, image, compression, scratch] = process.argv.slice(2);

const read = input.endsWith('.xz') ? spawnSync('xz', ['-dc', '-T0', input], { stdio: ['ignore', 'ignore', 'inherit'] }) : spawnSync('cat', [input], { stdio: ['ignore', 'ignore', 'inherit'] });
if (read.status !== 0) throw new Error(`reading ${input} failed`);
const discard = new Writable({ write: (_chunk, _encoding, callback) => callback() });
await gzipParallel(createReadStream(rootfs, { highWaterMark: 1 << 20 }), discard, 3);
if (compression !== 'none') {
  const out = path.join(scratch, 'limit-image.out');
  await compressImage(image, out, compression);
  await fs.rm(out);
}
