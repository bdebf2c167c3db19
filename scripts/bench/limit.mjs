#!/usr/bin/env node
// The I/O limit of a conversion, for the benchmark: what its outputs cost at the least, pass
// after pass, each on every core with the compressors and levels the conversion uses —
// read (decompress) the input once (a raw one where it holds data); compress the root filesystem
// once into the Artifact's payload (gzip), written to a file; compress the output disk image once
// where it is compressed (written and hashed as it goes); write every other output byte once
// (the raw image's and the root filesystem's data, their real sizes, ordinary writes without
// fsync as the conversion's); sha256 of every output once (the results file promises them),
// parallel across outputs up to the core count, holes hashed as zeros without reading.
// usage: node scripts/bench/limit.mjs INPUT ROOTFS IMAGE none|gzip|xz SCRATCH_DIR
import { spawnSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { finished } from 'node:stream/promises';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
const { gzipParallel } = await import(path.join(root, 'dist/artifact/gzip.js'));
const { compressImage } = await import(path.join(root, 'dist/disk/compress.js'));
const { readChunks } = await import(path.join(root, 'dist/disk/sparse.js'));
const { sha256File } = await import(path.join(root, 'dist/util/hash.js'));
const [input, rootfs, image, compression, scratch] = process.argv.slice(2);
const cores = Math.max(1, os.availableParallelism());

if (input.endsWith('.xz')) {
  const read = spawnSync('xz', ['-dc', '-T0', input], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (read.status !== 0) throw new Error(`reading ${input} failed`);
} else {
  // A raw input's holes need no reading (the conversion does not read them either).
  for await (const chunk of readChunks(input, undefined, { reuse: true })) void chunk;
}

// The Artifact: its payload is (nearly all of) its bytes.
const artifact = path.join(scratch, 'limit.mender');
const artifactOut = createWriteStream(artifact);
// The root filesystem as the conversion reads it: its holes as zeros, not read.
await gzipParallel(readChunks(rootfs), artifactOut, 3);
artifactOut.end();
await finished(artifactOut);

/** Write `bytes` to a new file in the scratch dir, 1 MiB per call as the conversion does. */
async function writeBytes(name, bytes) {
  const buffer = randomFillSync(Buffer.allocUnsafe(1 << 20));
  const handle = await fs.open(path.join(scratch, name), 'w');
  try {
    for (let left = bytes; left > 0; left -= buffer.length) await handle.write(buffer, 0, Math.min(left, buffer.length));
  } finally {
    await handle.close();
  }
}
const allocated = async (file) => (await fs.stat(file)).blocks * 512;

// What is hashed at the end: the raw outputs as the conversion left them (their holes unread).
const toHash = [artifact, rootfs];
if (compression === 'none') toHash.push(image);
// compressImage hashes what it writes.
else await compressImage(image, path.join(scratch, 'limit-image.out'), compression);
await Promise.all([
  writeBytes('limit-rootfs.out', await allocated(rootfs)),
  ...(compression === 'none' ? [writeBytes('limit-image.out', await allocated(image))] : []),
]);

const queue = [...toHash];
await Promise.all(Array.from({ length: Math.min(cores, queue.length) }, async () => {
  while (queue.length > 0) await sha256File(queue.shift());
}));
