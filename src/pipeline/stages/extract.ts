import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { extractPartitions, type ExtractedPartition } from '../../disk/extract.js';
import { COPY_WINDOW, readChunks } from '../../disk/sparse.js';
import { checkExt4, replayJournal } from '../../fs/ext4-tools.js';
import { Ext4Editor } from '../../fs/ext4.js';
import { checkFat, FatEditor, makeFat } from '../../fs/fat.js';
import { filesystemBytes, probeFilesystem, type FilesystemType } from '../../fs/identify.js';
import { RecordingEditor } from '../../fs/recording.js';
import { isKernelOrInitrdName, probeImage, type ImageFacts } from '../../image/probe.js';
import { isMenderRootfs } from '../../mender/detect.js';
import { isZero } from '../../util/bytes.js';
import { UserError } from '../../util/errors.js';
import { readBoardRawFiles } from '../integrations/board-files.js';
import { type Report, Stage } from '../runner.js';
import type { Extracted, RunEnv } from '../types.js';
import { checkSpace } from './space.js';
import { makeDirectory } from '../../util/directories.js';

/**
 * Extract: the input taken apart in one streamed pass into standalone filesystem images (the root
 * filesystem, the boot partition, the boot gap), each filesystem checked before anything reads it
 * (its size against its partition, an ext journal replayed and e2fsck, a FAT by fsck.fat), and the
 * image probed (OS, architecture, kernels) — nothing of the input is changed;
 * then the board's raw files read (from the U-Boot source for the image's release, or the host),
 * so that where they go is decided with everything else.
 */

const MiB = 1024 * 1024;
const mib = (bytes: number) => `${Math.round(bytes / MiB)} MiB`;
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

/**
 * Each partition's filesystem kind, and its size checked against the partition before anything
 * reads it: a filesystem that says it reaches past its partition's end (a partition shrunk under
 * it, a filesystem grown past it) has blocks the partition does not hold. They would read as zeros,
 * so files stored there would change without a word.
 */
async function classify(partitions: ExtractedPartition[]): Promise<Candidate[]> {
  return Promise.all(partitions.map(async (partition) => {
    const fsType = await probeFilesystem(partition.file, 0);
    const claimed = await filesystemBytes(partition.file, 0, fsType);
    if (claimed !== undefined && claimed > partition.size) {
      throw new UserError(`Partition ${partition.number} holds an ${fsType} filesystem of ${mib(claimed)} (${claimed} bytes) in ${mib(partition.size)} (${partition.size} bytes): the filesystem reaches past the partition's end, and what it stores there is not part of the partition, so its files would change.`, {
        hint: 'The partition table and the filesystem disagree (a partition shrunk under its filesystem, or a filesystem grown past its partition): use an intact copy of the golden image, or make the partition hold the whole filesystem (or shrink the filesystem first: resize2fs) in a copy, and convert that.',
      });
    }
    return { partition, fsType };
  }));
}

/**
 * The input's filesystems are read only through here: each is checked once, before its first read
 * (an ext filesystem's journal replayed, then e2fsck -fn; a FAT by fsck.fat -n), so nothing of a
 * damaged filesystem is probed, read or copied. Partitions that are never read (left out with
 * input.root_partition) are not checked.
 */
class InputFilesystems {
  private readonly checks = new Map<Candidate, Promise<void>>();

  constructor(private readonly env: RunEnv, private readonly report: Report) {}

  check(candidate: Candidate): Promise<void> {
    let check = this.checks.get(candidate);
    if (!check) {
      check = this.run(candidate);
      this.checks.set(candidate, check);
    }
    return check;
  }

  private async run({ partition, fsType }: Candidate): Promise<void> {
    if (fsType === 'vfat') {
      this.report(`fsck.fat -n, partition ${partition.number}`);
      await checkFat(partition.file, `the FAT filesystem of partition ${partition.number}`);
      return;
    }
    const what = `the ${fsType} filesystem of partition ${partition.number}`;
    const replay = await replayJournal(partition.file);
    if (replay.replayed) {
      this.env.notes.push(`Partition ${partition.number} (${fsType}) had an unreplayed journal (a copy of a running system): it was replayed first.`);
      this.env.logger.info(`journal of partition ${partition.number} replayed: ${replay.summary}`);
    }
    this.report(`e2fsck -fn, partition ${partition.number}`);
    await checkExt4(partition.file, { repair: this.env.config['input.repair'], what });
  }

  async ext(candidate: Candidate): Promise<Ext4Editor> {
    await this.check(candidate);
    return Ext4Editor.open(candidate.partition.file, { logger: this.env.logger, clock: () => this.env.epoch });
  }

  async fat(candidate: Candidate): Promise<FatEditor> {
    await this.check(candidate);
    return FatEditor.open(candidate.partition.file, { logger: this.env.logger });
  }
}

async function isBootFilesystem(filesystems: InputFilesystems, candidate: Candidate): Promise<boolean> {
  const fat = await filesystems.fat(candidate);
  return (await fat.exists('/config.txt')) || (await fat.exists('/EFI')) || (await fat.exists('/efi'));
}

async function isRootFilesystem(env: RunEnv, filesystems: InputFilesystems, candidate: Candidate): Promise<boolean> {
  const ext = await filesystems.ext(candidate);
  const root = (await ext.exists('/etc/os-release')) || (await ext.exists('/usr/lib/os-release'));
  if (root && (await isMenderRootfs(ext))) {
    throw new UserError(`${path.basename(env.inputPath)} is already Mender-converted (its root filesystem has the Mender layout).`, {
      hint: 'Convert the original golden image instead; to update a converted device, use its .mender Artifact.',
    });
  }
  return root;
}

/** GPT type of a BIOS boot partition: GRUB's core image for legacy BIOS booting, no filesystem. */
const BIOS_BOOT_TYPE = '21686148-6449-6e6f-744e-656564454649';

/** Whether a partition's extracted copy holds anything but zeros (holes are skipped, not read). */
async function holdsData(file: string): Promise<boolean> {
  for await (const chunk of readChunks(file, COPY_WINDOW, { reuse: true })) if (!isZero(chunk)) return true;
  return false;
}

const kindOf = (c: Candidate) => (c.fsType === 'unknown' ? 'no filesystem mender-convert knows' : c.fsType);

/**
 * The output holds the input's boot and root filesystems only: any other partition with a
 * filesystem, or with data in none that is known, would be dropped, its contents lost without a
 * word, so the conversion stops and says what to do. What holds nothing to keep is left out with
 * a note: a swap area, a BIOS boot partition, a partition of zeros.
 */
async function checkNothingDropped(env: RunEnv, filesystems: InputFilesystems, candidates: Candidate[], root: Candidate, boot: Candidate | undefined): Promise<void> {
  const others: Candidate[] = [];
  for (const c of candidates.filter((candidate) => candidate !== root && candidate !== boot)) {
    const n = c.partition.number;
    if (c.fsType === 'swap') {
      env.notes.push(`Partition ${n} (swap) is not part of the Mender layout and was left out: remove its line from /etc/fstab with an overlay, or the device waits for it at boot.`);
    } else if (c.fsType === 'unknown' && c.partition.type === BIOS_BOOT_TYPE) {
      env.notes.push(`Partition ${n} (a BIOS boot partition: GRUB's core image for legacy BIOS booting) was left out: the converted image does not boot through a legacy BIOS.`);
    } else if (c.fsType === 'unknown' && !(await holdsData(c.partition.file))) {
      env.notes.push(`Partition ${n} holds only zeros and was left out.`);
    } else {
      others.push(c);
    }
  }
  if (env.config['input.root_partition'] !== 0) {
    // The user chose the root filesystem: the other partitions are left out knowingly.
    for (const other of others) env.notes.push(`Partition ${other.partition.number} (${kindOf(other)}) was left out: input.root_partition chose partition ${root.partition.number}.`);
    return;
  }
  if (others.length === 0) return;
  const first = others[0]!;
  const list = others.map((c) => `partition ${c.partition.number} (${kindOf(c)}, ${mib(c.partition.size)})`).join(', ');
  if (first.fsType.startsWith('ext')) {
    const ext = await filesystems.ext(first);
    const kernels = (await ext.list('/')).filter((entry) => isKernelOrInitrdName(entry.name));
    if (kernels.length > 0) {
      throw new UserError(`Partition ${first.partition.number} is a separate /boot (it holds ${kernels.map((k) => k.name).join(', ')}): the Mender layout keeps the kernels in each root filesystem's /boot, so that an update carries them.`, {
        hint: "Copy that partition's files into the root filesystem's /boot in the golden image (and drop its /etc/fstab line), then convert it.",
      });
    }
  }
  const one = others.length === 1;
  throw new UserError(`The input has ${one ? 'a partition' : 'partitions'} besides its boot and root filesystems: ${list}. The Mender layout has no place for ${one ? 'it' : 'them'}, so ${one ? 'its' : 'their'} contents would be lost.`, {
    hint: `Move what ${one ? 'it holds' : 'they hold'} into the root filesystem (or its /data, for what a device keeps across updates) in the golden image, or remove ${one ? 'it' : 'them'} from it${others.some((c) => c.fsType === 'unknown') ? '; a boot loader the board reads from fixed sectors is written with board.raw_files' : ''}. To leave ${one ? 'it' : 'them'} out knowingly, name the root filesystem with input.root_partition.`,
  });
}

async function chooseRoot(env: RunEnv, filesystems: InputFilesystems, candidates: Candidate[]): Promise<Candidate> {
  const wanted = env.config['input.root_partition'];
  if (wanted) {
    const chosen = candidates.find((c) => c.partition.number === wanted);
    if (!chosen) throw new UserError(`The input has no partition ${wanted} (input.root_partition).`);
    const refusal = REFUSED[chosen.fsType];
    if (refusal) throw new UserError(`Partition ${wanted} cannot be converted: ${refusal}.`);
    if (!chosen.fsType.startsWith('ext')) throw new UserError(`Partition ${wanted} holds ${chosen.fsType}, not an ext2/3/4 root filesystem.`);
    await filesystems.check(chosen);
    return chosen;
  }
  const ext = candidates.filter((c) => c.fsType.startsWith('ext'));
  const roots: Candidate[] = [];
  for (const candidate of ext) if (await isRootFilesystem(env, filesystems, candidate)) roots.push(candidate);
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

/** The configuration named like `source` for what the image is, where one was renamed to and exists. */
function siblingConfig(source: string, sibling: string): string | undefined {
  return sibling !== source && existsSync(sibling) ? sibling : undefined;
}

/** A board configuration names what it is for; an image of another architecture or release is refused. */
function checkBoard(env: RunEnv, facts: ImageFacts): void {
  const arch = env.config['board.arch'];
  if (arch && arch !== facts.arch) {
    const source = env.sources['board.arch'].replace(/:\d+$/, '');
    // Board configurations come in _32bit/_64bit pairs: name the other one when there is one.
    const sibling = siblingConfig(source, source.replace(/_(32|64)bit/, facts.arch === 'arm64' ? '_64bit' : '_32bit'));
    throw new UserError(`The configuration (${source}) is for ${BITS[arch] ?? arch} (${arch}) images, but the image is ${BITS[facts.arch] ?? facts.arch} (${facts.arch}).`, {
      hint: sibling ? `Use ${sibling}.` : `Use a configuration for ${facts.arch} images.`,
    });
  }
  const releases = env.config['board.os_codenames'];
  if (releases.length > 0 && !releases.includes(facts.os.versionCodename)) {
    const source = env.sources['board.os_codenames'].replace(/:\d+$/, '');
    // Named for the release it is for: name the one for the image's release where there is one.
    const sibling = siblingConfig(source, releases.reduce((name, release) => name.replace(release, facts.os.versionCodename || release), source));
    throw new UserError(`The configuration (${source}) is for ${releases.join(' or ')} images, but the image is ${facts.os.prettyName}${facts.os.versionCodename ? ` (${facts.os.versionCodename})` : ''}.`, {
      hint: sibling ? `Use ${sibling}.` : `Convert a ${releases.join(' or ')} image, or use a configuration for the image's release.`,
    });
  }
}

/** The input file exists, is readable and not empty; there is room for the conversion. */
export async function preflight(env: RunEnv): Promise<void> {
  const stat = await fs.stat(env.inputPath).catch(() => undefined);
  if (!stat?.isFile()) throw new UserError(`The disk image ${env.inputPath} does not exist or is not a file.`);
  if (stat.size === 0) throw new UserError(`The disk image ${env.inputPath} is empty.`);
  await fs.access(env.inputPath, fs.constants.R_OK).catch(() => {
    throw new UserError(`The disk image ${env.inputPath} is not readable.`);
  });
  await makeDirectory(env.outputDir, 'The output directory (--output-dir)');
  await checkSpace(env);
}

type InputFiles = Omit<Extracted, 'rootfs' | 'boot' | 'facts'>;

async function extractInput(env: RunEnv, report: Report): Promise<InputFiles> {
  const extracted = await extractPartitions(env.inputPath, 'all', path.join(env.runDir, 'input'), {
    bootGap: env.config['storage.copy_boot_gap'],
    sha256: true,
    onProgress: (done: number, total: number) => report(total ? `${((100 * done) / total).toFixed(0)} % of ${(total / MiB).toFixed(0)} MiB` : `${(done / MiB).toFixed(0)} MiB`),
    logger: env.logger,
  });
  const candidates = await classify(extracted.files);
  const filesystems = new InputFilesystems(env, report);
  const root = await chooseRoot(env, filesystems, candidates);
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
  for (const candidate of vfat) if (!boot && (await isBootFilesystem(filesystems, candidate))) boot = candidate;
  boot ??= vfat[0];

  await checkNothingDropped(env, filesystems, candidates, root, boot);

  const bootFile = path.join(env.runDir, 'boot.vfat');
  let bootBytes: number;
  if (boot) {
    await fs.rename(boot.partition.file, bootFile);
    bootBytes = boot.partition.size;
  } else {
    bootBytes = env.config['boot.size_mb'] * MiB;
    await makeFat(bootFile, bootBytes, { label: 'boot' });
    env.notes.push('The input had no boot partition: a FAT boot partition was created.');
  }
  const rootFile = path.join(env.runDir, 'rootfs.ext4');
  await fs.rename(root.partition.file, rootFile);
  let bootGap: InputFiles['files']['bootGap'];
  if (extracted.bootGap) {
    bootGap = { file: path.join(env.runDir, 'boot-gap.bin'), offset: extracted.bootGap.offset, bytes: extracted.bootGap.size };
    await fs.rename(extracted.bootGap.file, bootGap.file);
  }
  await fs.rm(path.join(env.runDir, 'input'), { recursive: true, force: true });

  for (const warning of extracted.table.warnings) env.notes.push(`Partition table: ${warning}`);
  env.logger.info(`input: ${extracted.table.label} table; boot partition ${boot?.partition.number ?? '(none)'}, root partition ${root.partition.number}`);
  return {
    files: { boot: bootFile, rootfs: rootFile, bootGap },
    compression: extracted.format === 'raw' || extracted.format === 'zip' ? 'none' : extracted.format,
    table: { scheme: extracted.table.label },
    sha256: extracted.sha256!,
    bootPartition: boot?.partition.number,
    rootPartition: root.partition.number,
    bootBytes,
  };
}

async function probe(env: RunEnv, input: InputFiles): Promise<Extracted> {
  const rootfsEditor = await Ext4Editor.open(input.files.rootfs, { logger: env.logger, clock: () => env.epoch });
  const bootEditor = await FatEditor.open(input.files.boot, { logger: env.logger });
  // Every change is recorded: for the plan of a dry run, and for the files the SBOM lists as added.
  const rootfs = new RecordingEditor(rootfsEditor);
  const boot = new RecordingEditor(bootEditor);
  const facts = await probeImage(rootfs, boot);
  checkBoard(env, facts);
  if (facts.hostnameInvalid && env.config['device.types'].length === 0) {
    // Its content is not repeated: it may be anything (a symlink to /etc/shadow).
    env.notes.push("The image's /etc/hostname does not hold a valid hostname, so the device type is 'default': set device.types.");
  }
  env.logger.info(`probe: ${facts.os.prettyName}, ${facts.arch}, hostname '${facts.hostname}', kernels ${[...facts.rootfsKernels, ...facts.bootKernels].join(' ') || '(none)'}`);
  return { ...input, rootfs, boot, facts };
}

export const extractStage = Stage.start<void>('Extract')
  .then('Read the partition table and extract the partitions', (env, _input, report) => extractInput(env, report))
  .then('Probe the image', (env, input) => probe(env, input))
  .maybe("Read the board's raw files", async (env, input) => ({ rawFiles: await readBoardRawFiles(env, input.facts) }), (_input, env) => env.config['board.raw_files'].length > 0);
