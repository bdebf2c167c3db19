import path from 'node:path';
import { computeLayout, type Layout } from '../../disk/layout.js';
import { partitionTableRegion, placementProblem, regionEnd, SECTOR_BYTES, type Region } from '../../disk/placement.js';
import type { DeviceNaming } from '../../mender/devices.js';
import { decideIdentities, defaultIdentitySeed, PARTITION_ROLES, type Identities, type PartitionKnob } from '../../mender/identities.js';
import type { KnobKey } from '../../config/knobs.js';
import { sbomFormats, SUFFIX } from '../../sbom/index.js';
import { COMPRESSION_SUFFIX, type Compression } from '../../util/compression.js';
import { partialPath } from '../../util/atomic.js';
import { UserError } from '../../util/errors.js';
import { chooseBootloader } from '../integrations/index.js';
import type { BoardRawFile, Extracted, OutputNames, RunEnv, Target } from '../types.js';

/**
 * What the conversion makes of this input, decided once, before anything is changed: the device
 * types, the boot partition's mount point, device names and identities, the partition layout,
 * the output names and compression, the bootloader's own choices, where the board's raw files go.
 * Every `auto` setting is resolved here. Pure: it reads only the configuration and what extraction found.
 */
export function decideTarget(env: RunEnv, extracted: Extracted): Target {
  const { config } = env;
  const bootloader = chooseBootloader(config, extracted.facts);
  const configuredTypes = config['device.types'];
  const deviceTypes = configuredTypes.length > 0 ? configuredTypes : [extracted.facts.hostname || 'default'];
  const mountpoint = config['boot.mountpoint'];
  const bootMountpoint = mountpoint !== 'auto' ? mountpoint : (extracted.facts.bootMountpoint ?? bootloader.integration.defaultBootMountpoint);
  const imageCompression: Compression = config['image.compression'] === 'auto' ? extracted.compression : config['image.compression'];
  const { naming, identities } = deviceNaming(env, extracted, deviceTypes);
  const layout = computeLayout({
    scheme: naming.scheme,
    reservedBytes: bootloader.integration.reservedBytes(config['storage.alignment']),
    totalSizeMb: config['storage.total_size_mb'],
    alignment: config['storage.alignment'],
    bootSizeMb: config['boot.size_mb'],
    dataSizeMb: config['data.size_mb'],
    inputBootBytes: extracted.bootBytes,
  });
  checkBootGap(extracted, layout);
  const rawFiles = extracted.rawFiles ?? [];
  checkRawFiles(env, rawFiles, layout, [partitionTableRegion(naming.scheme), ...bootloader.integration.reservedRegions(config)]);
  return {
    deviceTypes,
    bootMountpoint,
    naming,
    identities,
    layout,
    imageCompression,
    outputs: outputNames(env, deviceTypes, imageCompression),
    bootloader,
    rawFiles,
  };
}

/** Device names and the fleet's identities: fstab, mender.conf and the boot configurations embed them. */
function deviceNaming(env: RunEnv, extracted: Extracted, deviceTypes: readonly string[]): { naming: DeviceNaming; identities: Identities } {
  const { config } = env;
  const scheme = config['storage.partition_scheme'] === 'keep' ? extracted.table.scheme : config['storage.partition_scheme'];
  const identities = decideIdentities({
    seed: config['storage.identity_seed'] || defaultIdentitySeed(deviceTypes),
    scheme,
    partuuid: config['storage.partuuid'],
    deviceBase: config['storage.device_base'],
    diskId: config['storage.disk_id'],
    parts: Object.fromEntries(PARTITION_ROLES.map(({ knob }) => [knob, config[knob]])) as Record<PartitionKnob, string>,
    sourceOf: (knob) => env.sources[knob as KnobKey],
  });
  const naming = { deviceBase: config['storage.device_base'], partuuid: config['storage.partuuid'], scheme, diskId: identities.diskId, partUuids: identities.partUuids };
  return { naming, identities };
}

/** The input's boot gap must end before the first partition. */
function checkBootGap(extracted: Extracted, layout: Layout): void {
  const gap = extracted.files.bootGap;
  if (!gap || gap.offset + gap.bytes <= layout.boot.start) return;
  throw new UserError(`The input's boot gap (data up to byte ${gap.offset + gap.bytes}) would overlap the first partition at ${layout.boot.start} bytes.`, {
    hint: 'Raise storage.alignment (MENDER_PARTITION_ALIGNMENT), or set storage.copy_boot_gap: false if the board does not need it.',
  });
}

/** A byte range for messages: its first byte, its sector when it starts on one, and where it ends. */
function describeRange(region: Region): string {
  const sector = region.start % SECTOR_BYTES === 0 ? `sector ${region.start / SECTOR_BYTES}, ` : '';
  return `${sector}bytes ${region.start} to ${regionEnd(region)}`;
}

/**
 * The board's raw files lie between the partition table and the first partition, clear of what
 * the bootloader keeps there and of each other; the message names the file, its byte range,
 * what it would overwrite, and the setting to change.
 */
function checkRawFiles(env: RunEnv, files: readonly BoardRawFile[], layout: Layout, kept: readonly Region[]): void {
  const placed = files.map((file) => ({ what: file.name, start: file.offset, size: file.data.length }));
  const partitions = [layout.boot, layout.rootfsA, layout.rootfsB, layout.data].map((extent) => ({
    what: `partition ${extent.number} (${PARTITION_ROLES[extent.number - 1]!.name})`,
    start: extent.start,
    size: extent.size,
  }));
  const problem = placementProblem(placed, [...kept, ...partitions], layout.boot.start, layout.totalBytes);
  if (!problem) return;
  const { region } = problem;
  const what = `The raw file ${region.what} (board.raw_files, ${describeRange(region)})`;
  const setting = `its sector or offset in board.raw_files (${env.sources['board.raw_files']})`;
  if (problem.kind === 'beyond-disk') {
    throw new UserError(`${what} ends past the end of the storage (${problem.diskBytes} bytes).`, { hint: `Check ${setting}.` });
  }
  if (problem.kind === 'beyond-gap') {
    throw new UserError(`${what} lies past the first partition (at byte ${problem.gapEnd}), after the partitions, where partition 4 grows on first boot.`, {
      hint: `Place it before the first partition: check ${setting}.`,
    });
  }
  const { other } = problem;
  const overwrites = `${what} would overlap ${other.what} (${describeRange(other)}).`;
  if (partitions.includes(other) || kept.slice(1).includes(other)) {
    const uboot = env.config['bootloader.type'] === 'uboot';
    throw new UserError(overwrites, {
      hint: `Raise storage.alignment (MENDER_PARTITION_ALIGNMENT, now ${layout.alignment}): ${uboot ? 'the U-Boot environment copies sit at 1 and 2 × alignment and the first partition at 3 ×' : 'the first partition starts at 1 × alignment'}, so a larger one moves them past the boot loader; or check ${setting}.`,
    });
  }
  throw new UserError(overwrites, { hint: other === kept[0] ? `The partition table must stay intact: check ${setting}.` : `Check the sectors or offsets of both in board.raw_files (${env.sources['board.raw_files']}).` });
}

/** The longest file name Linux filesystems hold, in bytes. */
const NAME_MAX = 255;

/** Every output is named <input name>-<device types joined by +>-mender.<suffix>, unless image.name is set. */
function outputNames(env: RunEnv, deviceTypes: readonly string[], imageCompression: Compression): OutputNames {
  const { config } = env;
  const stem = path.basename(env.inputPath).replace(/(\.(img|raw|bin|iso))?(\.(gz|xz|zst|zstd|zip|bz2))?$/i, '');
  const base = path.join(env.outputDir, config['image.name'] || `${stem}-${deviceTypes.join('+')}-mender`);
  const names: OutputNames = {
    base,
    image: `${base}.img${COMPRESSION_SUFFIX[imageCompression]}`,
    rawImage: `${base}.img`,
    rootfs: `${base}.ext4`,
    artifact: `${base}.mender`,
    testsConfig: `${base}.cfg`,
    results: `${base}.json`,
    bmap: config['image.bmap'] ? `${base}.bmap` : undefined,
    sbom: sbomFormats(config['artifact.sbom']).map((format) => ({ format, path: `${base}${SUFFIX[format]}` })),
  };
  const files = [names.image, names.rawImage, names.rootfs, names.artifact, names.testsConfig, names.results, names.bmap, ...names.sbom.map((s) => s.path)];
  // Each is written under its partial name first: that one must fit a file name too.
  const longest = Math.max(...files.filter((file) => file !== undefined).map((file) => Buffer.byteLength(path.basename(partialPath(file, path.basename(env.runDir))))));
  if (longest > NAME_MAX) {
    const name = path.basename(base);
    const shown = name.length > 60 ? `${name.slice(0, 60)}…` : name;
    throw new UserError(`The outputs' file names would be ${longest} bytes long (${shown}.img and the others, while they are written), past the ${NAME_MAX} bytes a file name may have.`, {
      hint: 'Set image.name to a shorter base name for the outputs (or give shorter device types, or a shorter input file name).',
    });
  }
  if (files.includes(env.inputPath)) {
    throw new UserError(`The output ${env.inputPath} would overwrite the input image.`, { hint: 'Choose another --output-dir or image.name.' });
  }
  return names;
}
