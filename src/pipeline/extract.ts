import fs from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../config/knobs.js';
import { extractPartitions, type ExtractedPartition } from '../disk/extract.js';
import { detectFormat, type InputFormat } from '../disk/input.js';
import { Ext4Editor } from '../fs/ext4.js';
import { FatEditor } from '../fs/fat.js';
import { RecordingEditor } from '../fs/recording.js';
import { checkExt4, makeFat, probeFilesystem, replayJournal, type FilesystemType } from '../fs/tools.js';
import { UserError } from '../util/errors.js';
import { requireTools } from '../util/tools.js';
import type { ConversionContext } from './context.js';
import { probeImage, type ImageFacts } from './probe.js';
import { checkSpace } from './space.js';
import { isMenderRootfs } from '../mender/detect.js';
import type { Stage } from './runner.js';

const MiB = 1024 * 1024;
/** MBR type bytes and the GPT ESP / basic-data GUIDs of FAT partitions. */
const FAT_TYPES = new Set(['1', '4', '6', 'b', 'c', 'e', 'ef', 'c12a7328-f81f-11d2-ba4b-00a0c93ec93b']);
const REFUSED: Partial<Record<FilesystemType, string>> = {
  lvm: 'it is an LVM physical volume; convert an image whose root filesystem is a plain ext4 partition',
  luks: 'it is LUKS-encrypted; convert the unencrypted golden image',
  btrfs: 'its root filesystem is btrfs; mender-convert supports ext2/3/4 root filesystems',
  xfs: 'its root filesystem is XFS; mender-convert supports ext2/3/4 root filesystems',
};

interface Candidate {
  partition: ExtractedPartition;
  fsType: FilesystemType;
}

async function classify(partitions: ExtractedPartition[]): Promise<Candidate[]> {
  return Promise.all(partitions.map(async (partition) => ({ partition, fsType: await probeFilesystem(partition.file, 0) })));
}

async function isBootFilesystem(ctx: ConversionContext, file: string): Promise<boolean> {
  const fat = await FatEditor.open(file, { logger: ctx.logger });
  return (await fat.exists('/config.txt')) || (await fat.exists('/EFI')) || (await fat.exists('/efi'));
}

async function isRootFilesystem(ctx: ConversionContext, file: string): Promise<boolean> {
  const ext = await Ext4Editor.open(file, { logger: ctx.logger, clock: () => ctx.epoch });
  const root = (await ext.exists('/etc/os-release')) || (await ext.exists('/usr/lib/os-release'));
  if (root && (await isMenderRootfs(ext))) {
    throw new UserError(`${path.basename(ctx.inputPath)} is already Mender-converted (its root filesystem has the Mender layout).`, {
      hint: 'Convert the original golden image instead; to update a converted device, use its .mender Artifact.',
    });
  }
  return root;
}

async function chooseRoot(ctx: ConversionContext, candidates: Candidate[]): Promise<Candidate> {
  const wanted = ctx.config['input.root_partition'];
  if (wanted) {
    const chosen = candidates.find((c) => c.partition.number === wanted);
    if (!chosen) throw new UserError(`The input has no partition ${wanted} (input.root_partition).`);
    const refusal = REFUSED[chosen.fsType];
    if (refusal) throw new UserError(`Partition ${wanted} cannot be converted: ${refusal}.`);
    if (!chosen.fsType.startsWith('ext')) throw new UserError(`Partition ${wanted} holds ${chosen.fsType}, not an ext2/3/4 root filesystem.`);
    return chosen;
  }
  const ext = candidates.filter((c) => c.fsType.startsWith('ext'));
  const roots: Candidate[] = [];
  for (const candidate of ext) if (await isRootFilesystem(ctx, candidate.partition.file)) roots.push(candidate);
  if (roots.length === 1) return roots[0]!;
  if (roots.length > 1) {
    throw new UserError(`The input has ${roots.length} root filesystems (partitions ${roots.map((r) => r.partition.number).join(' and ')}).`, {
      hint: 'Choose one with input.root_partition: <number> in a config file.',
    });
  }
  const refused = candidates.find((c) => REFUSED[c.fsType]);
  if (refused) throw new UserError(`Partition ${refused.partition.number} cannot be converted: ${REFUSED[refused.fsType]}.`);
  throw new UserError('The input has no Linux root filesystem (no ext2/3/4 partition with /etc/os-release).', {
    hint: 'Check that the image is a Debian, Ubuntu or Raspberry Pi OS disk image.',
  });
}

const BITS: Record<string, string> = { arm64: '64-bit ARM', armhf: '32-bit ARM', armel: '32-bit ARM', amd64: '64-bit x86', i386: '32-bit x86', riscv64: '64-bit RISC-V' };

/** A board configuration names what it is for; an image of another architecture or release is refused. */
function checkBoard(ctx: ConversionContext, facts: ImageFacts): void {
  const arch = ctx.config['board.arch'];
  if (arch && arch !== facts.arch) {
    const source = ctx.sources['board.arch'].replace(/:\d+$/, '');
    // Board configurations come in _32bit/_64bit pairs: name the other one when there is one.
    const sibling = source.replace(/_(32|64)bit/, facts.arch === 'arm64' ? '_64bit' : '_32bit');
    throw new UserError(`The configuration (${source}) is for ${BITS[arch] ?? arch} (${arch}) images, but the image is ${BITS[facts.arch] ?? facts.arch} (${facts.arch}).`, {
      hint: sibling !== source ? `Use ${sibling}.` : `Use a configuration for ${facts.arch} images.`,
    });
  }
  const releases = ctx.config['board.os_codenames'];
  if (releases.length > 0 && !releases.includes(facts.os.versionCodename)) {
    const source = ctx.sources['board.os_codenames'].replace(/:\d+$/, '');
    const sibling = releases.reduce((name, release) => name.replace(release, facts.os.versionCodename || release), source);
    throw new UserError(`The configuration (${source}) is for ${releases.join(' or ')} images, but the image is ${facts.os.prettyName}${facts.os.versionCodename ? ` (${facts.os.versionCodename})` : ''}.`, {
      hint: sibling !== source ? `Use ${sibling}.` : 'Use a configuration for the image\'s release.',
    });
  }
}

/**
 * Every host tool a conversion with this config runs on an input of this format (the README's
 * apt-get line and scripts/host-packages/conversion.txt are their Debian packages).
 */
export function conversionTools(config: Config, inputFormat: InputFormat): string[] {
  const compressor = { gzip: ['libdeflate-gzip'], xz: ['xz'], zstd: ['zstd'], none: [], auto: [] };
  return [
    'debugfs', 'mke2fs', 'e2fsck', 'resize2fs', 'dumpe2fs', 'tune2fs', 'xfs_io', 'sfdisk', 'mkfs.vfat', 'mcopy', 'mdir', 'mmd', 'mdel', 'mdeltree', 'minfo',
    ...{ raw: [], gzip: ['gzip'], xz: ['xz'], zstd: ['zstd'], zip: ['unzip'] }[inputFormat],
    // The standalone GRUB loader is built with grub-mkimage; the boot partition's UUID read with blkid.
    ...(config['bootloader.type'] === 'grub' ? ['grub-mkimage', 'blkid'] : []),
    ...(config['client.install'] || config['client.extra_packages'].length > 0 ? ['gpgv', 'gpg', 'xz'] : []),
    ...(config['image.bmap'] ? ['bmaptool'] : []),
    ...compressor[config['artifact.compression']],
    ...compressor[config['image.compression']],
  ];
}

export const extractStage: Stage = {
  title: 'Extract',
  async preflight(ctx) {
    const stat = await fs.stat(ctx.inputPath).catch(() => undefined);
    if (!stat?.isFile()) throw new UserError(`The disk image ${ctx.inputPath} does not exist or is not a file.`);
    if (stat.size === 0) throw new UserError(`The disk image ${ctx.inputPath} is empty.`);
    await fs.access(ctx.inputPath, fs.constants.R_OK).catch(() => {
      throw new UserError(`The disk image ${ctx.inputPath} is not readable.`);
    });
    // Every tool the conversion will run, checked before any work: one message for all missing.
    requireTools(conversionTools(ctx.config, await detectFormat(ctx.inputPath)));
    await fs.mkdir(ctx.outputDir, { recursive: true });
    await checkSpace(ctx);
  },
  steps: [
    {
      title: 'Read the partition table and extract the partitions',
      async run(ctx, report) {
        const extracted = await extractPartitions(ctx.inputPath, 'all', path.join(ctx.runDir, 'input'), {
          bootGap: ctx.config['storage.copy_boot_gap'],
          sha256: true,
          onProgress: (done: number, total: number) => report(total ? `${((100 * done) / total).toFixed(0)} % of ${(total / MiB).toFixed(0)} MiB` : `${(done / MiB).toFixed(0)} MiB`),
          logger: ctx.logger,
        });
        const candidates = await classify(extracted.files);
        const root = await chooseRoot(ctx, candidates);
        // A partition typed as FAT/ESP that holds no readable FAT filesystem is a damaged boot partition:
        // converting without it would silently drop the board's boot files.
        const damaged = candidates.find((c) => FAT_TYPES.has(c.partition.type) && c.fsType !== 'vfat');
        if (damaged) {
          throw new UserError(`Partition ${damaged.partition.number} is a FAT boot partition (type ${damaged.partition.type}) but holds no readable FAT filesystem: it is corrupt.`, {
            hint: 'Repair it (fsck.vfat) or use an intact copy of the golden image.',
          });
        }
        const vfat = candidates.filter((c) => c.fsType === 'vfat' && c !== root);
        let boot: Candidate | undefined;
        for (const candidate of vfat) if (!boot && (await isBootFilesystem(ctx, candidate.partition.file))) boot = candidate;
        boot ??= vfat[0];

        const bootFile = path.join(ctx.runDir, 'boot.vfat');
        let bootBytes: number;
        if (boot) {
          await fs.rename(boot.partition.file, bootFile);
          bootBytes = boot.partition.size;
        } else {
          bootBytes = ctx.config['boot.size_mb'] * MiB;
          await makeFat(bootFile, bootBytes, { label: 'boot' });
          ctx.notes.push('The input had no boot partition: a FAT boot partition was created.');
        }
        const rootFile = path.join(ctx.runDir, 'rootfs.ext4');
        await fs.rename(root.partition.file, rootFile);
        let bootGap: { file: string; offset: number } | undefined;
        if (extracted.bootGap) {
          bootGap = { file: path.join(ctx.runDir, 'boot-gap.bin'), offset: extracted.bootGap.offset };
          await fs.rename(extracted.bootGap.file, bootGap.file);
        }
        await fs.rm(path.join(ctx.runDir, 'input'), { recursive: true, force: true });

        ctx.files = { boot: bootFile, rootfs: rootFile, data: path.join(ctx.runDir, 'data.ext4'), bootGap };
        ctx.inputCompression = extracted.format === 'raw' || extracted.format === 'zip' ? 'none' : extracted.format;
        for (const warning of extracted.table.warnings) ctx.notes.push(`Partition table: ${warning}`);
        ctx.input = {
          scheme: extracted.table.label,
          sha256: extracted.sha256!,
          bootPartition: boot?.partition.number,
          rootPartition: root.partition.number,
          bootPartUuid: boot?.partition.partuuid,
          diskId: extracted.table.id,
          bootBytes,
        };
        ctx.logger.info(`input: ${extracted.table.label} table; boot partition ${boot?.partition.number ?? '(none)'}, root partition ${root.partition.number}`);
      },
    },
    {
      title: 'Replay the journal and check the root filesystem',
      async run(ctx, report) {
        const rootfs = ctx.files!.rootfs;
        const replay = await replayJournal(rootfs);
        if (replay.replayed) {
          ctx.notes.push('The root filesystem had an unreplayed journal (a copy of a running system): it was replayed first.');
          ctx.logger.info(`journal replayed: ${replay.summary}`);
        }
        report('e2fsck -fn');
        await checkExt4(rootfs, { repair: ctx.config['input.repair'] });
      },
    },
    {
      title: 'Probe the image',
      async run(ctx) {
        const rootfs = await Ext4Editor.open(ctx.files!.rootfs, { logger: ctx.logger, clock: () => ctx.epoch });
        const boot = await FatEditor.open(ctx.files!.boot, { logger: ctx.logger });
        ctx.rootfs = ctx.dryRun ? new RecordingEditor(rootfs) : rootfs;
        ctx.boot = ctx.dryRun ? new RecordingEditor(boot) : boot;
        const facts = await probeImage(ctx.rootfs, ctx.boot);
        ctx.facts = facts;
        checkBoard(ctx, facts);
        const configured = ctx.config['device.types'];
        ctx.deviceTypes = configured.length > 0 ? configured : [facts.hostname || 'default'];
        const mountpoint = ctx.config['boot.mountpoint'];
        ctx.bootMountpoint = mountpoint !== 'auto'
          ? mountpoint
          : facts.bootMountpoint ?? (ctx.config['bootloader.type'] === 'grub' ? '/boot/efi' : '/uboot');
        ctx.logger.info(`probe: ${facts.os.prettyName}, ${facts.arch}, hostname '${facts.hostname}', kernels ${[...facts.rootfsKernels, ...facts.bootKernels].join(' ') || '(none)'}`);
      },
    },
  ],
};
