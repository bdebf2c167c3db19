#!/usr/bin/env node
// The I/O limit of a conversion, for the benchmark: what its outputs cost at the least, with the
// compressors and levels the conversion uses, every pass started at once so that they share
// every core as a perfectly overlapped conversion would (a lower bound: no pass waits for the
// one it would depend on):
// - read the input's used bytes once and write them once (the kernel copies a raw input's data
//   ranges; an .xz input is decompressed on every core and written sparsely);
// - read the root filesystem once, hashing it and compressing it into the Artifact's payload
//   (gzip), which is hashed as it is written;
// - compress the disk image once where it is compressed (rootfs B's blocks are rootfs A's,
//   compressed once and written twice, as any block-parallel compressor can), hashed as it is
//   written; an uncompressed image's allocated bytes are copied once and it is hashed once, its
//   holes as zeros without reading them.
// usage: node scripts/bench/limit.mjs INPUT ROOTFS IMAGE none|gzip|xz SCRATCH_DIR
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
const { gzipParallel } = await import(path.join(root, 'dist/artifact/gzip.js'));
const { compressImage } = await import(path.join(root, 'dist/disk/compress.js'));
const { kernelCopy } = await import(path.join(root, 'dist/disk/kernel-copy.js'));
const { readChunks } = await import(path.join(root, 'dist/disk/sparse.js'));
const { dataRanges } = await import(path.join(root, 'dist/util/extents.js'));
const { sha256File } = await import(path.join(root, 'dist/util/hash.js'));
const [input, rootfs, image, compression, scratch] = process.argv.slice(2);

/** A new file of `size` bytes in the scratch dir holding `source`'s data ranges, copied by the kernel. */
async function copyData(source, name) {
  const dest = path.join(scratch, name);
  const handle = await fs.open(dest, 'w');
  await handle.truncate((await fs.stat(source)).size);
  await handle.close();
  const moves = (await dataRanges(source)).map(([start, end]) => ({ from: start, to: start, length: end - start }));
  if (!(await kernelCopy(source, dest, moves))) throw new Error(`the kernel could not copy ${source}`);
}

/** Decompress the .xz input on every core into a sparse file (its zero blocks not written). */
async function decompressInput() {
  const dest = path.join(scratch, 'limit-input.img');
  const xz = spawn('xz', ['-dc', '-T0', input], { stdio: ['ignore', 'pipe', 'inherit'] });
  const dd = spawn('dd', [`of=${dest}`, 'bs=1M', 'iflag=fullblock', 'conv=sparse', 'status=none'], { stdio: [xz.stdout, 'ignore', 'inherit'] });
  const exited = (child) => new Promise((resolve, reject) => child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${child.spawnfile} exited ${code}`)))));
  await Promise.all([exited(xz), exited(dd)]);
}

/** A file written in order and hashed as it is written. */
function hashingFile(file) {
  const hash = createHash('sha256');
  let handle;
  const stream = new Writable({
    async construct(callback) {
      handle = await fs.open(file, 'w').catch(callback);
      if (handle) callback();
    },
    write(chunk, _encoding, callback) {
      hash.update(chunk);
      handle.write(chunk).then(() => callback(), callback);
    },
    final(callback) {
      handle.close().then(() => callback(), callback);
    },
  });
  return { stream, digest: () => hash.digest('hex') };
}

/** The Artifact's payload: the root filesystem read once (its holes as zeros, not read), hashed and compressed. */
async function artifact() {
  const rootfsHash = createHash('sha256');
  async function* hashed() {
    for await (const chunk of readChunks(rootfs)) {
      rootfsHash.update(chunk);
      yield chunk;
    }
  }
  const out = hashingFile(path.join(scratch, 'limit.mender'));
  await gzipParallel(hashed(), out.stream, 3);
  return [rootfsHash.digest('hex'), out.digest()];
}

/** The image's partition starts, and rootfs B as the copy of rootfs A it is. */
function imageLayout() {
  const read = spawnSync('sfdisk', ['--json', image], { encoding: 'utf8' });
  if (read.status !== 0) throw new Error(`sfdisk cannot read ${image}: ${read.stderr}`);
  const { partitiontable } = JSON.parse(read.stdout);
  const sector = partitiontable.sectorsize ?? 512;
  const [boot, rootfsA, rootfsB, data] = partitiontable.partitions.map((p) => ({ start: p.start * sector, size: p.size * sector }));
  return {
    boundaries: [boot.start, rootfsA.start, rootfsB.start, data.start],
    copies: [{ from: rootfsA.start, to: rootfsB.start, length: rootfsA.size }],
  };
}

async function diskImage() {
  if (compression !== 'none') return (await compressImage(image, path.join(scratch, 'limit-image.out'), compression, imageLayout())).sha256;
  const [, sha256] = await Promise.all([copyData(image, 'limit-image.out'), sha256File(image)]);
  return sha256;
}

const readInput = input.endsWith('.xz') ? decompressInput() : copyData(input, 'limit-input.img');
await Promise.all([readInput, artifact(), diskImage()]);
