import fs from 'node:fs/promises';
import path from 'node:path';
import { writeBootstrapArtifact, writeRootfsImageArtifact } from '../artifact/index.js';
import { computeLayout, computeRootfsSize, MiB } from '../disk/layout.js';
import { compressImage } from '../disk/compress.js';
import { createImage, placeFile, readAndPlace, writeBmap, writePartitionTable, type TableSpec } from '../disk/output.js';
import { Ext4Editor } from '../fs/ext4.js';
import { checkExt4, discardFreeBlocks, ext4Info, resizeExt4, stampSuperblock } from '../fs/tools.js';
import { parseTuneOptions, tuneExt4 } from '../fs/tune.js';
import { applyDataContract } from '../mender/data.js';
import { partitionDevice } from '../mender/devices.js';
import { UserError } from '../util/errors.js';
import { dataRanges } from '../util/extents.js';
import { sha256Segments, sparseSegments } from '../util/hash.js';
import { outputBaseName, type ConversionContext } from './context.js';
import { runHooks, type Stage } from './runner.js';
import { describeRootfs, wantsSbom, writeSbom } from './sbom.js';
import { testsConfig } from './tests-config.js';

const COMPRESSED_SUFFIX = { none: '', gzip: '.gz', xz: '.xz', zstd: '.zst' } as const;

/** Outputs are written under this marker and renamed to their final names only when all are complete. */
export const PARTIAL_MARKER = '.partial-';

function partialPath(ctx: ConversionContext, finalPath: string): string {
  return `${finalPath}${PARTIAL_MARKER}${path.basename(ctx.runDir)}`;
}

function rawImagePath(ctx: ConversionContext): string {
  return path.join(ctx.outputDir, `${outputBaseName(ctx)}.img`);
}

function imageCompression(ctx: ConversionContext): keyof typeof COMPRESSED_SUFFIX {
  const configured = ctx.config['image.compression'];
  if (configured !== 'auto') return configured;
  return ctx.inputCompression ?? 'none';
}

function tableSpec(ctx: ConversionContext): TableSpec {
  const layout = ctx.layout!;
  const naming = ctx.naming!;
  const gpt = ctx.scheme === 'gpt';
  const part = (extent: { number: number; start: number; size: number }, type: string, name: string) => ({
    number: extent.number,
    start: extent.start,
    size: extent.size,
    type,
    name: gpt ? name : undefined,
    bootable: extent.number === 1 && !gpt,
    partuuid: gpt ? naming.partUuids?.[extent.number] : undefined,
  });
  const linux = gpt ? '0FC63DAF-8483-4772-8E79-3D69D8477DE4' : '83';
  return {
    label: ctx.scheme!,
    id: gpt ? naming.partUuids?.[0] : `0x${naming.diskId}`,
    partitions: [
      part(layout.boot, gpt ? 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B' : 'c', 'boot'),
      part(layout.rootfsA, linux, 'rootfsa'),
      part(layout.rootfsB, linux, 'rootfsb'),
      part(layout.data, linux, 'data'),
    ],
  };
}

/** The size the root filesystem (and Artifact payload) gets, from its content and the knobs. */
export async function rootfsTargetSize(ctx: ConversionContext): Promise<number> {
  await ctx.rootfs!.flush();
  const info = await ext4Info(ctx.files!.rootfs);
  return computeRootfsSize({
    usedBytes: info.usedBytes,
    sizeKb: ctx.config['rootfs.size_kb'],
    extraSpaceKb: ctx.config['rootfs.extra_space_kb'],
    overheadFactor: ctx.config['rootfs.overhead_factor'],
    partitionBytes: ctx.layout!.rootfsA.size,
    blockSize: info.blockSize,
  });
}

/** Blocks outside the partitions (the redundant U-Boot environment), after the boot gap they may lie in. */
async function writeRawBlocks(ctx: ConversionContext, image: string): Promise<void> {
  if (ctx.rawWrites.length === 0) return;
  const bootStart = ctx.layout!.boot.start;
  const handle = await fs.open(image, 'r+');
  try {
    for (const block of ctx.rawWrites) {
      if (block.offset + block.data.length > bootStart) {
        throw new UserError(`The ${block.what} at byte ${block.offset} would overlap the boot partition at ${bootStart}.`, { hint: 'Raise storage.alignment.' });
      }
      await handle.write(block.data, 0, block.data.length, block.offset);
    }
  } finally {
    await handle.close();
  }
}

export const packageStage: Stage = {
  title: 'Package',
  async preflight(ctx) {
    parseTuneOptions(ctx.config['rootfs.mkfs_opts'], 'rootfs.mkfs_opts');
    const key = ctx.config['artifact.signing_key'];
    if (key && !(await fs.stat(key).catch(() => undefined))?.isFile()) {
      throw new UserError(`The Artifact signing key ${key} does not exist.`, { hint: `Check artifact.signing_key (${ctx.sources['artifact.signing_key']}).` });
    }
    if (ctx.config['artifact.compression'] === 'zstd') {
      ctx.notes.push('The Artifact is zstd-compressed: Mender clients 3.x (Debian\'s mender-client) cannot install it.');
    }
    await fs.mkdir(ctx.outputDir, { recursive: true });
    await fs.access(ctx.outputDir, fs.constants.W_OK).catch(() => {
      throw new UserError(`The output directory ${ctx.outputDir} is not writable.`, { hint: 'Choose another one with --output-dir.' });
    });
  },
  steps: [
    {
      title: 'Compute the partition layout',
      async run(ctx) {
        const base = path.join(ctx.outputDir, outputBaseName(ctx));
        const outputs = ['.img', '.img.gz', '.img.xz', '.img.zst', '.ext4', '.mender', '.cfg', '.json', '.bmap'].map((suffix) => `${base}${suffix}`);
        if (outputs.includes(ctx.inputPath)) {
          throw new UserError(`The output ${ctx.inputPath} would overwrite the input image.`, { hint: 'Choose another --output-dir or image.name.' });
        }
        ctx.layout = computeLayout({
          bootloader: ctx.config['bootloader.type'],
          totalSizeMb: ctx.config['storage.total_size_mb'],
          alignment: ctx.config['storage.alignment'],
          bootSizeMb: ctx.config['boot.size_mb'],
          dataSizeMb: ctx.config['data.size_mb'],
          inputBootBytes: ctx.input!.bootBytes,
        });
        const gap = ctx.files!.bootGap;
        const gapEnd = gap ? gap.offset + (await fs.stat(gap.file)).size : 0;
        if (gap && gapEnd > ctx.layout.boot.start) {
          throw new UserError(`The input's boot gap (data up to byte ${gapEnd}) would overlap the first partition at ${ctx.layout.boot.start} bytes.`, {
            hint: 'Raise storage.alignment (MENDER_PARTITION_ALIGNMENT), or set storage.copy_boot_gap: false if the board does not need it.',
          });
        }
      },
    },
    {
      title: 'Describe the root filesystem (SBOM)',
      enabled: wantsSbom,
      run: describeRootfs,
    },
    {
      title: 'Size and check the root filesystem',
      async run(ctx, report) {
        ctx.rootfsBytes = await rootfsTargetSize(ctx);
        report(`${(ctx.rootfsBytes / MiB).toFixed(0)} MiB`);
        await resizeExt4(ctx.files!.rootfs, ctx.rootfsBytes);
        await tuneExt4(ctx.files!.rootfs, parseTuneOptions(ctx.config['rootfs.mkfs_opts'], 'rootfs.mkfs_opts'));
        // Free blocks become holes: smaller Artifact, faster sparse copies.
        await discardFreeBlocks(ctx.files!.rootfs);
        await stampSuperblock(ctx.files!.rootfs, ctx.epoch);
        await checkExt4(ctx.files!.rootfs, { repair: false });
      },
    },
    {
      title: 'Package hooks',
      enabled: (ctx) => ctx.hooks.package.length > 0,
      run: (ctx, report) => runHooks(ctx, 'package', report),
    },
    {
      title: 'Start the disk image',
      async run(ctx) {
        const image = partialPath(ctx, rawImagePath(ctx));
        await createImage(image, ctx.layout!.totalBytes);
        await writePartitionTable(image, tableSpec(ctx));
        if (ctx.files!.bootGap) await placeFile(image, ctx.files!.bootGap.file, ctx.files!.bootGap.offset);
        await writeRawBlocks(ctx, image);
        await placeFile(image, ctx.files!.boot, ctx.layout!.boot.start);
        ctx.image = image;
        // A raw image is an output to hash. Its rootfs partitions will hold the (final) root
        // filesystem followed by zeros, so they are hashed from that file while the Artifact is
        // written; only the data partition and what follows wait for the image itself. Holes of
        // the image's head and of the root filesystem are hashed as zeros, not read.
        if (imageCompression(ctx) === 'none') {
          const { rootfsA, rootfsB, data } = ctx.layout!;
          const rootfs = sparseSegments(ctx.files!.rootfs, 0, ctx.rootfsBytes!, await dataRanges(ctx.files!.rootfs));
          ctx.imageHash = sha256Segments([
            ...sparseSegments(image, 0, rootfsA.start, await dataRanges(image)),
            ...rootfs,
            { zeros: rootfsA.size - ctx.rootfsBytes! },
            ...(ctx.config['rootfs.b_content'] === 'copy' ? [...rootfs, { zeros: rootfsB.size - ctx.rootfsBytes! }] : [{ zeros: rootfsB.size }]),
            { file: image, offset: data.start, length: ctx.layout!.totalBytes - data.start },
          ], image);
          ctx.imageHash.advance(rootfsA.start);
        }
      },
    },
    {
      title: 'Write the Mender Artifact and the root filesystems',
      async run(ctx, report) {
        const layout = ctx.layout!;
        const final = path.join(ctx.outputDir, `${outputBaseName(ctx)}.mender`);
        // One read of the root filesystem feeds the Artifact and both partitions. Partition 2 must
        // start with exactly the Artifact's payload bytes: every non-zero block is copied,
        // whatever the bitmaps say about free blocks.
        const copies = ctx.config['rootfs.b_content'] === 'copy' ? [layout.rootfsA.start, layout.rootfsB.start] : [layout.rootfsA.start];
        const result = await writeRootfsImageArtifact({
          output: partialPath(ctx, final),
          payload: ctx.files!.rootfs,
          payloadBytes: readAndPlace(ctx.files!.rootfs, ctx.image!, copies),
          artifactName: ctx.config['artifact.name'],
          deviceTypes: ctx.deviceTypes!,
          compression: ctx.config['artifact.compression'],
          level: ctx.config['artifact.compression_level'] || undefined,
          signingKey: ctx.config['artifact.signing_key'] || undefined,
          mtime: ctx.epoch,
          onProgress: (done: number, total: number) => report(`${((100 * done) / total).toFixed(0)} %`),
        });
        ctx.rootfsSha256 = result.sha256;
        ctx.pendingOutputs.push({ kind: 'artifact', partial: partialPath(ctx, final), path: final });
      },
    },
    {
      title: 'Write the software bill of materials',
      enabled: wantsSbom,
      run: (ctx) => writeSbom(ctx, (finalPath) => partialPath(ctx, finalPath)),
    },
    {
      title: 'Write the data partition',
      async run(ctx) {
        const bootstrap = path.join(ctx.runDir, 'bootstrap.mender');
        await writeBootstrapArtifact({
          output: bootstrap,
          artifactName: ctx.config['artifact.name'],
          deviceTypes: ctx.deviceTypes!,
          provides: { 'rootfs-image.checksum': ctx.rootfsSha256!, 'rootfs-image.version': ctx.config['artifact.name'] },
          clearsProvides: ['rootfs-image.*'],
          compression: 'gzip',
          mtime: ctx.epoch,
        });
        const data = await Ext4Editor.open(ctx.files!.data, { logger: ctx.logger, clock: () => ctx.epoch });
        await applyDataContract({
          data,
          rootfsPartA: partitionDevice(2, ctx.naming!),
          rootfsPartB: partitionDevice(3, ctx.naming!),
          deviceTypes: ctx.deviceTypes!,
          bootstrapArtifact: bootstrap,
        });
        await stampSuperblock(ctx.files!.data, ctx.epoch);
        await checkExt4(ctx.files!.data, { repair: false, what: 'the data partition' });
        await placeFile(ctx.image!, ctx.files!.data, ctx.layout!.data.start);
      },
    },
    {
      title: 'Finish the disk image',
      async run(ctx, report) {
        const raw = rawImagePath(ctx);
        const image = ctx.image!;
        const compression = imageCompression(ctx);
        if (compression === 'none') {
          ctx.pendingOutputs.push({ kind: 'image', partial: image, path: raw, sha256: ctx.imageHash!.finish() });
        } else {
          const final = `${raw}${COMPRESSED_SUFFIX[compression]}`;
          const { boot, rootfsA, rootfsB, data } = ctx.layout!;
          // Rootfs B holds rootfs A's bytes: its compressed blocks are written again, not recomputed.
          const copies = ctx.config['rootfs.b_content'] === 'copy' ? [{ from: rootfsA.start, to: rootfsB.start, length: rootfsA.size }] : [];
          const { sha256 } = await compressImage(image, partialPath(ctx, final), compression, {
            boundaries: [boot.start, rootfsA.start, rootfsB.start, data.start],
            copies,
            onProgress: (done, total) => report(`compressing (${compression}) ${((100 * done) / total).toFixed(0)} %`),
          });
          ctx.pendingOutputs.push({ kind: 'image', partial: partialPath(ctx, final), path: final, sha256: Promise.resolve(sha256) });
        }
        if (ctx.config['image.bmap']) {
          const bmap = path.join(ctx.outputDir, `${outputBaseName(ctx)}.bmap`);
          await writeBmap(image, partialPath(ctx, bmap));
          ctx.pendingOutputs.push({ kind: 'bmap', partial: partialPath(ctx, bmap), path: bmap });
        }
        if (compression !== 'none') await fs.rm(image);
      },
    },
    {
      title: 'Write the root filesystem image and the tests config',
      async run(ctx) {
        const base = path.join(ctx.outputDir, outputBaseName(ctx));
        const rootfs = partialPath(ctx, `${base}.ext4`);
        // The working filesystem is final now: move it rather than copy it, unless the work and
        // output directories are on different filesystems.
        try {
          await fs.rename(ctx.files!.rootfs, rootfs);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw error;
          await createImage(rootfs, ctx.rootfsBytes!);
          await placeFile(rootfs, ctx.files!.rootfs, 0, { blocks: 'nonzero' });
        }
        ctx.files!.rootfs = rootfs;
        ctx.pendingOutputs.push({ kind: 'rootfs', partial: rootfs, path: `${base}.ext4`, sha256: Promise.resolve(ctx.rootfsSha256!) });
        const cfg = `${base}.cfg`;
        await fs.writeFile(partialPath(ctx, cfg), testsConfig(ctx), { mode: 0o644 });
        ctx.pendingOutputs.push({ kind: 'tests-config', partial: partialPath(ctx, cfg), path: cfg });
      },
    },
    {
      title: 'Publish the outputs',
      async run(ctx) {
        for (const output of ctx.pendingOutputs) {
          // Work files are private while the run lasts; published outputs are ordinary files.
          await fs.chmod(output.partial, 0o644);
          await fs.rename(output.partial, output.path);
          ctx.outputs.push({ kind: output.kind, path: output.path, bytes: (await fs.stat(output.path)).size, sha256: output.sha256 });
        }
        ctx.pendingOutputs.length = 0;
      },
    },
  ],
};
