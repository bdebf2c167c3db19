import fs from 'node:fs/promises';
import path from 'node:path';
import { writeBootstrapArtifact, writeRootfsImageArtifact } from '../../artifact/index.js';
import { compressImage, type ImageCompression } from '../../disk/compress.js';
import { computeRootfsSize, MiB } from '../../disk/layout.js';
import { createImage, placeFile, readAndPlace, writeBmap, writePartitionTable, type TableSpec } from '../../disk/output.js';
import { overlaps } from '../../disk/placement.js';
import { writeFullyAt } from '../../disk/sparse.js';
import { checkExt4, discardFreeBlocks, ext4Info, resizeExt4, stampSuperblock } from '../../fs/ext4-tools.js';
import { parseTuneOptions, tuneExt4 } from '../../fs/tune.js';
import { Ext4Editor } from '../../fs/ext4.js';
import { applyDataContract } from '../../mender/data.js';
import { diskIdentifier, partitionDevice } from '../../mender/devices.js';
import { UserError, writeFailure } from '../../util/errors.js';
import { dataRanges } from '../../util/extents.js';
import { sha256Segments, sparseSegments, type FollowingHash } from '../../util/hash.js';
import { runHooks, type Hooks } from '../hooks.js';
import { testsConfig } from '../report/tests-config.js';
import { artifactSettings, checkArtifactSettings } from './artifact-settings.js';
import { describeRootfs, wantsSbom, writeSbom, type SbomScan } from './sbom.js';
import { type Report, Stage } from '../runner.js';
import type { Extracted, Modified, ModifyInput, Outputs, RunEnv, Target } from '../types.js';
import { makeDirectory } from '../../util/directories.js';

/**
 * Package: the root filesystem sized and checked, then the outputs — the disk image (partition
 * table, boot gap, the board's raw files, raw blocks, boot, rootfs A and B, data), the Artifact, the root filesystem
 * image, the tests config — each under a partial name, published together at the end.
 */

export interface PackageInput extends ModifyInput {
  readonly hooks: Hooks;
  readonly modified: Modified;
  /** The root filesystem as the SBOM describes it, read before it is sized (when artifact.sbom asks for one). */
  readonly sbom?: SbomScan;
}

/** The settings only packaging reads are valid; the output directory is writable. */
export async function preflight(env: RunEnv): Promise<void> {
  const { config, sources } = env;
  parseTuneOptions(config['rootfs.mkfs_opts'], 'rootfs.mkfs_opts');
  const key = config['artifact.signing_key'];
  if (key && !(await fs.stat(key).catch(() => undefined))?.isFile()) {
    throw new UserError(`The Artifact signing key ${key} does not exist.`, { hint: `Check artifact.signing_key (${sources['artifact.signing_key']}).` });
  }
  await checkArtifactSettings(env);
  if (config['artifact.compression'] === 'zstd') {
    env.notes.push('The Artifact is zstd-compressed: Mender clients 3.x (Debian\'s mender-client) cannot install it.');
  }
  await makeDirectory(env.outputDir, 'The output directory (--output-dir)');
  await fs.access(env.outputDir, fs.constants.W_OK).catch(() => {
    throw new UserError(`The output directory ${env.outputDir} is not writable.`, { hint: 'Choose another one with --output-dir.' });
  });
}

function tableSpec(target: Target): TableSpec {
  const { layout, naming } = target;
  const gpt = naming.scheme === 'gpt';
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
    label: naming.scheme,
    id: diskIdentifier(naming),
    partitions: [
      part(layout.boot, gpt ? 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B' : 'c', 'boot'),
      part(layout.rootfsA, linux, 'rootfsa'),
      part(layout.rootfsB, linux, 'rootfsb'),
      part(layout.data, linux, 'data'),
    ],
  };
}

/** The size the root filesystem (and Artifact payload) gets, from its content and the knobs. */
export async function rootfsTargetSize(env: RunEnv, extracted: Extracted, target: Target): Promise<number> {
  await extracted.rootfs.flush();
  const info = await ext4Info(extracted.files.rootfs);
  return computeRootfsSize({
    usedBytes: info.usedBytes,
    sizeKb: env.config['rootfs.size_kb'],
    extraSpaceKb: env.config['rootfs.extra_space_kb'],
    overheadFactor: env.config['rootfs.overhead_factor'],
    partitionBytes: target.layout.rootfsA.size,
    blockSize: info.blockSize,
  });
}

async function finishRootfs(env: RunEnv, { extracted, target }: PackageInput, report: Report): Promise<number> {
  const rootfsBytes = await rootfsTargetSize(env, extracted, target);
  const file = extracted.files.rootfs;
  report(`${(rootfsBytes / MiB).toFixed(0)} MiB`);
  await resizeExt4(file, rootfsBytes);
  await tuneExt4(file, parseTuneOptions(env.config['rootfs.mkfs_opts'], 'rootfs.mkfs_opts'));
  // Free blocks become holes: smaller Artifact, faster sparse copies.
  await discardFreeBlocks(file);
  await stampSuperblock(file, env.epoch);
  await checkExt4(file, { repair: false });
  return rootfsBytes;
}

interface Sized extends PackageInput {
  readonly rootfsBytes: number;
}

/** The disk image being assembled (under its partial name in the output directory). */
type ImageInProgress =
  /** Published as it is: its sha256 is hashed as its parts become final. */
  | { readonly file: string; readonly compression: 'none'; readonly hash: FollowingHash }
  | { readonly file: string; readonly compression: ImageCompression };

interface Started extends Sized {
  readonly image: ImageInProgress;
}

interface Written extends Started {
  readonly rootfsSha256: string;
  /** What the Artifact provides: the bootstrap Artifact records them as installed. */
  readonly provides: Record<string, string>;
}

/**
 * Bytes outside the partitions, after the boot gap they may lie in: the board's raw files (its
 * boot loader), then the bootloader integration's blocks (a raw U-Boot environment), which must
 * not overlap them: an archive's fw_env.config may place the environment where the
 * configuration alone did not say.
 */
async function writeRawBlocks({ modified, target }: PackageInput, image: string): Promise<void> {
  if (modified.rawWrites.length === 0 && target.rawFiles.length === 0) return;
  const bootStart = target.layout.boot.start;
  const rawFiles = target.rawFiles.map((file) => ({ what: `the raw file ${file.name} (board.raw_files)`, start: file.offset, size: file.data.length }));
  const handle = await fs.open(image, 'r+');
  try {
    for (const file of target.rawFiles) await writeFullyAt(handle, file.data, 0, file.data.length, file.offset);
    for (const block of modified.rawWrites) {
      if (block.offset + block.data.length > bootStart) {
        throw new UserError(`The ${block.what} at byte ${block.offset} would overlap the boot partition at ${bootStart}.`, { hint: 'Raise storage.alignment.' });
      }
      const other = rawFiles.find((file) => overlaps(file, { what: block.what, start: block.offset, size: block.data.length }));
      if (other) {
        throw new UserError(`The ${block.what} at byte ${block.offset} (${block.data.length} bytes) would overlap ${other.what} at byte ${other.start} (${other.size} bytes).`, {
          hint: 'Raise storage.alignment (the environment copies sit at 1 and 2 × alignment), or move the raw file.',
        });
      }
      await handle.write(block.data, 0, block.data.length, block.offset);
    }
  } catch (error) {
    throw writeFailure(error, image);
  } finally {
    await handle.close();
  }
}

async function startImage(env: RunEnv, s: Sized): Promise<Started> {
  const { extracted, target, rootfsBytes } = s;
  const { layout } = target;
  const image = env.outputs.partial(target.outputs.rawImage);
  await createImage(image, layout.totalBytes);
  await writePartitionTable(image, tableSpec(target));
  const gap = extracted.files.bootGap;
  if (gap) await placeFile(image, gap.file, gap.offset);
  await writeRawBlocks(s, image);
  await placeFile(image, extracted.files.boot, layout.boot.start);
  const compression = target.imageCompression;
  if (compression !== 'none') return { ...s, image: { file: image, compression } };
  // A raw image is an output to hash. Its rootfs partitions will hold the (final) root
  // filesystem followed by zeros, so they are hashed from that file while the Artifact is
  // written; only the data partition and what follows wait for the image itself. Holes of
  // the image's head and of the root filesystem are hashed as zeros, not read.
  const { rootfsA, rootfsB, data } = layout;
  const rootfs = sparseSegments(extracted.files.rootfs, 0, rootfsBytes, await dataRanges(extracted.files.rootfs));
  const imageHash = sha256Segments([
    ...sparseSegments(image, 0, rootfsA.start, await dataRanges(image)),
    ...rootfs,
    { zeros: rootfsA.size - rootfsBytes },
    ...(env.config['rootfs.b_content'] === 'copy' ? [...rootfs, { zeros: rootfsB.size - rootfsBytes }] : [{ zeros: rootfsB.size }]),
    { file: image, offset: data.start, length: layout.totalBytes - data.start },
  ], image);
  env.defer(() => imageHash.stop());
  imageHash.advance(rootfsA.start);
  return { ...s, image: { file: image, compression, hash: imageHash } };
}

async function writeArtifact(env: RunEnv, s: Started, report: Report): Promise<Written> {
  const { extracted, target, image } = s;
  const { layout } = target;
  const final = target.outputs.artifact;
  // One read of the root filesystem feeds the Artifact and both partitions. Partition 2 must
  // start with exactly the Artifact's payload bytes: every non-zero block is copied,
  // whatever the bitmaps say about free blocks. A raw image that is only compressed (and
  // removed) does not get them: the compression reads them from the root filesystem itself.
  const rawImageKept = image.compression === 'none' || target.outputs.bmap !== undefined;
  const partitions = env.config['rootfs.b_content'] === 'copy' ? [layout.rootfsA.start, layout.rootfsB.start] : [layout.rootfsA.start];
  const copies = rawImageKept ? partitions : [];
  const result = await writeRootfsImageArtifact({
    output: env.outputs.partial(final),
    payload: extracted.files.rootfs,
    payloadBytes: readAndPlace(extracted.files.rootfs, image.file, copies),
    artifactName: env.config['artifact.name'],
    deviceTypes: [...target.deviceTypes],
    compression: env.config['artifact.compression'],
    level: env.config['artifact.compression_level'] || undefined,
    signingKey: env.config['artifact.signing_key'] || undefined,
    ...(await artifactSettings(env)),
    mtime: env.epoch,
    onProgress: (done: number, total: number) => report(`${((100 * done) / total).toFixed(0)} %`),
  });
  env.outputs.add('artifact', final);
  return { ...s, rootfsSha256: result.sha256, provides: result.provides };
}

async function writeDataPartition(env: RunEnv, { modified, target, image, provides }: Written): Promise<void> {
  const bootstrap = path.join(env.runDir, 'bootstrap.mender');
  // As meta-mender writes it: the image is the Artifact installed, so it provides what the
  // Artifact does (checksum, software version, artifact.provides). Not its depends: a device
  // being set up provides nothing they could match. Not its scripts: bootstrap Artifacts take none.
  await writeBootstrapArtifact({
    output: bootstrap,
    artifactName: env.config['artifact.name'],
    deviceTypes: [...target.deviceTypes],
    provides,
    clearsProvides: ['rootfs-image.*'],
    compression: 'gzip',
    mtime: env.epoch,
  });
  const data = await Ext4Editor.open(modified.dataFile, { logger: env.logger, clock: () => env.epoch });
  await applyDataContract({
    data,
    rootfsPartA: partitionDevice(2, target.naming),
    rootfsPartB: partitionDevice(3, target.naming),
    deviceTypes: [...target.deviceTypes],
    bootstrapArtifact: bootstrap,
  });
  await stampSuperblock(modified.dataFile, env.epoch);
  await checkExt4(modified.dataFile, { repair: false, what: 'the data partition' });
  await placeFile(image.file, modified.dataFile, target.layout.data.start);
}

async function finishImage(env: RunEnv, { extracted, target, image }: Written, report: Report): Promise<void> {
  const { layout, outputs } = target;
  if (image.compression === 'none') {
    env.outputs.add('image', outputs.image, image.hash.finish());
  } else {
    const { boot, rootfsA, rootfsB, data } = layout;
    // Rootfs B holds rootfs A's bytes: its compressed blocks are written again, not recomputed.
    const copies = env.config['rootfs.b_content'] === 'copy' ? [{ from: rootfsA.start, to: rootfsB.start, length: rootfsA.size }] : [];
    const { sha256 } = await compressImage(image.file, env.outputs.partial(outputs.image), image.compression, {
      boundaries: [boot.start, rootfsA.start, rootfsB.start, data.start],
      overlays: [{ at: rootfsA.start, file: extracted.files.rootfs }],
      copies,
      onProgress: (done, total) => report(`compressing (${image.compression}) ${((100 * done) / total).toFixed(0)} %`),
    });
    env.outputs.add('image', outputs.image, Promise.resolve(sha256));
  }
  if (outputs.bmap) {
    await writeBmap(image.file, env.outputs.partial(outputs.bmap));
    env.outputs.add('bmap', outputs.bmap);
  }
  if (image.compression !== 'none') await fs.rm(image.file);
}

async function writeRootfsAndTestsConfig(env: RunEnv, s: Written): Promise<void> {
  const { extracted, target, rootfsBytes, rootfsSha256 } = s;
  const rootfs = env.outputs.partial(target.outputs.rootfs);
  // The working filesystem is final now: move it rather than copy it, unless the work and
  // output directories are on different filesystems.
  try {
    await fs.rename(extracted.files.rootfs, rootfs);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw error;
    await createImage(rootfs, rootfsBytes);
    await placeFile(rootfs, extracted.files.rootfs, 0, { blocks: 'nonzero' });
  }
  env.outputs.add('rootfs', target.outputs.rootfs, Promise.resolve(rootfsSha256));
  await fs.writeFile(env.outputs.partial(target.outputs.testsConfig), testsConfig(env, target, s.modified), { mode: 0o644 });
  env.outputs.add('tests-config', target.outputs.testsConfig);
}

export const packageStage = Stage.start<PackageInput>('Package')
  .maybe('Describe the root filesystem (SBOM)', (_env, s, report) => describeRootfs(s, report), (s) => wantsSbom(s.env.config))
  .then('Size and check the root filesystem', async (env, s, report): Promise<Sized> => ({ ...s, rootfsBytes: await finishRootfs(env, s, report) }))
  .also('Package hooks', (_env, s, report) => runHooks(s, s.hooks, 'package', report), (s) => s.hooks.package.length > 0)
  .then('Start the disk image', startImage)
  .then('Write the Mender Artifact and the root filesystems', writeArtifact)
  .also('Write the software bill of materials', (_env, s) => writeSbom(s), (s) => wantsSbom(s.env.config))
  .also('Write the data partition', writeDataPartition)
  .also('Finish the disk image', finishImage)
  .also('Write the root filesystem image and the tests config', writeRootfsAndTestsConfig)
  .then('Publish the outputs', async (env, s): Promise<Outputs> => ({ files: await env.outputs.publish(), rootfsBytes: s.rootfsBytes, rootfsSha256: s.rootfsSha256 }));
