import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { readArtifact, type ArtifactInfo } from '../artifact/index.js';
import { extractPartitions, type ExtractedPartition } from '../disk/extract.js';
import { Ext4Editor } from '../fs/ext4.js';
import { FatEditor } from '../fs/fat.js';
import { probeFilesystem, type FilesystemType } from '../fs/identify.js';
import { isMenderRootfs } from '../mender/detect.js';
import { PARTITION_ROLES } from '../mender/identities.js';
import { MENDER_GRUBENV_DIR, parseGrubEnv } from '../bootloader/grub/env.js';
import { probeImage, type ImageFacts } from '../image/probe.js';
import { UserError } from '../util/errors.js';

/** `mender-convert inspect`: what an image or Artifact holds, read without changing it. */

/** The first copy of the GRUB environment on the boot partition (ours and grub-mender-grubenv's). */
const GRUBENV_COPY_1 = `${MENDER_GRUBENV_DIR}/mender_grubenv1/env`;

export interface ImageReport {
  kind: 'disk-image';
  path: string;
  format: string;
  sha256: string;
  bytes: number;
  table: { label: string; id?: string; partitions: (Omit<ExtractedPartition, 'file'> & { filesystem: FilesystemType })[] };
  os?: ImageFacts['os'];
  arch?: string;
  hostname?: string;
  kernels: string[];
  mender: {
    converted: boolean;
    deviceTypes?: string[];
    artifactName?: string;
    rootfsPartA?: string;
    rootfsPartB?: string;
    bootEnvironment?: Record<string, string>;
    /** Which boot chain the boot partition holds, what it reads from a root filesystem, and the include that makes our Artifacts fit it. */
    bootChain?: BootChain;
    /** The config settings that give later releases this device's identities (storage.*). */
    identityPins?: Record<string, string | boolean>;
  };
}

export interface BootChain {
  kind: 'uboot-mender' | 'mender-convert-uboot' | 'grub-mender-grubenv';
  description: string;
  /** Files it loads from the active root filesystem. */
  reads: string[];
  /** The config include our conversions of this fleet's releases need, if any. */
  include?: string;
}

export interface ArtifactReport {
  kind: 'artifact';
  path: string;
  artifact: ArtifactInfo;
}

/** A Mender Artifact (a tar whose first member is `version`), not a disk image. */
export async function isArtifact(file: string): Promise<boolean> {
  const handle = await fs.open(file, 'r');
  try {
    const header = Buffer.alloc(512);
    await handle.read(header, 0, 512, 0);
    // A plain tar whose first member is "version" and that has the ustar magic.
    return header.toString('latin1', 0, 8) === 'version\0' && header.toString('latin1', 257, 262) === 'ustar';
  } finally {
    await handle.close();
  }
}

async function firstOf(editor: Ext4Editor, files: string[]): Promise<string | undefined> {
  for (const file of files) if (await editor.exists(file)) return editor.readText(file);
  return undefined;
}

export async function inspect(file: string, options: { publicKey?: string } = {}): Promise<ImageReport | ArtifactReport> {
  const stat = await fs.stat(file).catch(() => undefined);
  if (!stat?.isFile()) throw new UserError(`${file} does not exist or is not a file.`);
  if (await isArtifact(file)) return { kind: 'artifact', path: file, artifact: await readArtifact(file, options) };

  const scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'mender-convert-inspect-'));
  try {
    const extracted = await extractPartitions(file, 'all', scratch, { sha256: true });
    const partitions = await Promise.all(extracted.files.map(async (p) => ({ ...p, filesystem: await probeFilesystem(p.file, 0) })));
    const report: ImageReport = {
      kind: 'disk-image',
      path: file,
      format: extracted.format,
      sha256: await extracted.sha256!,
      bytes: extracted.imageSize,
      table: {
        label: extracted.table.label,
        id: extracted.table.id,
        partitions: partitions.map(({ file: _file, ...rest }) => rest),
      },
      kernels: [],
      mender: { converted: false },
    };
    const roots: { partition: (typeof partitions)[number]; editor: Ext4Editor }[] = [];
    for (const partition of partitions.filter((p) => p.filesystem.startsWith('ext'))) {
      const editor = await Ext4Editor.open(partition.file);
      if (await editor.exists('/etc/os-release') || await editor.exists('/usr/lib/os-release')) roots.push({ partition, editor });
    }
    const boot = partitions.find((p) => p.filesystem === 'vfat');
    const bootEditor = boot ? await FatEditor.open(boot.file) : undefined;
    if (roots[0]) {
      const facts = await probeImage(roots[0].editor, bootEditor);
      Object.assign(report, { os: facts.os, arch: facts.arch, hostname: facts.hostname });
      report.kernels = [...facts.rootfsKernels, ...facts.bootKernels.map((k) => `boot:${k}`)];
      report.mender.converted = await isMenderRootfs(roots[0].editor);
    }
    const data = partitions.find((p) => p.number === 4 && p.filesystem.startsWith('ext'));
    if (report.mender.converted && data) {
      const editor = await Ext4Editor.open(data.file);
      const deviceType = await firstOf(editor, ['/mender/device_type']);
      report.mender.deviceTypes = deviceType?.trim().replace(/^device_type=/, '').split(/\s+/);
      const conf = await firstOf(editor, ['/mender/mender.conf']);
      if (conf) {
        const parsed = JSON.parse(conf) as { RootfsPartA?: string; RootfsPartB?: string };
        report.mender.rootfsPartA = parsed.RootfsPartA;
        report.mender.rootfsPartB = parsed.RootfsPartB;
      }
      report.mender.identityPins = identityPins(report);
      if (await editor.exists('/mender/bootstrap.mender')) {
        const bootstrap = path.join(scratch, 'bootstrap.mender');
        await fs.writeFile(bootstrap, await editor.readFile('/mender/bootstrap.mender'));
        report.mender.artifactName = (await readArtifact(bootstrap)).name;
      }
    }
    if (report.mender.converted && bootEditor) report.mender.bootChain = await bootChainOf(roots[0]!.editor, bootEditor, report.arch);
    if (bootEditor && (await bootEditor.exists(GRUBENV_COPY_1))) {
      report.mender.bootEnvironment = parseGrubEnv(await bootEditor.readFile(GRUBENV_COPY_1)).values;
    }
    return report;
  } finally {
    await fs.rm(scratch, { recursive: true, force: true });
  }
}

/**
 * The boot chain of a converted image. Its boot partition is never updated by an Artifact, so
 * every later release must carry what that chain reads: Mender's own U-Boot for the Pi (as
 * upstream mender-convert installs it: no boot script, the kernel by a fixed name, the
 * environment raw at 4 and 8 MiB), our U-Boot boot script, or grub-mender-grubenv's GRUB.
 */
async function bootChainOf(rootfs: Ext4Editor, boot: FatEditor, arch: string | undefined): Promise<BootChain | undefined> {
  if (await boot.exists(GRUBENV_COPY_1)) {
    // Our grub.cfg defines mender_rootfsa_root (src/bootloader/grub/config.ts); grub-mender-grubenv's has no such variable.
    const ours = (await boot.exists('/EFI/BOOT/grub.cfg')) && (await boot.readText('/EFI/BOOT/grub.cfg')).includes('mender_rootfsa_root');
    return {
      kind: 'grub-mender-grubenv',
      description: `GRUB with the grub-mender-grubenv environment on the boot partition${ours ? '' : ' (grub-mender-grubenv\'s grub.cfg, as upstream mender-convert installs it)'}`,
      reads: ['/boot/kernel', '/boot/initrd'],
      ...(ours ? {} : { include: 'configs/include/upstream-converted-pc.yaml' }),
    };
  }
  if (await boot.exists('/boot.scr')) {
    return { kind: 'mender-convert-uboot', description: 'U-Boot running the boot script /boot.scr this tool writes', reads: ['the kernel and initrd /boot.cmd names'] };
  }
  if ((await boot.exists('/config.txt')) && (await rootfs.exists('/etc/fw_env.config'))) {
    const kernel = arch === 'arm64' ? '/boot/vmlinux' : '/boot/zImage';
    return {
      kind: 'uboot-mender',
      description: "Mender's own U-Boot for the Raspberry Pi (converted by upstream mender-convert): no boot script, the environment raw at 4 and 8 MiB",
      reads: [kernel],
      include: 'configs/include/upstream-converted-raspberrypi.yaml',
    };
  }
  return undefined;
}

/**
 * What a config must say so that release N+1 names this device's partitions as it does:
 * the disk identifier always, and with PARTUUID names each partition's.
 */
function identityPins(report: ImageReport): Record<string, string | boolean> {
  const pins: Record<string, string | boolean> = {};
  const id = report.table.id?.toLowerCase();
  if (id) pins['storage.disk_id'] = report.table.label === 'dos' && !id.startsWith('0x') ? `0x${id}` : id;
  if (report.mender.rootfsPartA?.startsWith('/dev/disk/by-partuuid/')) {
    pins['storage.partuuid'] = true;
    for (const { number, knob } of PARTITION_ROLES) {
      const partition = report.table.partitions.find((p) => p.number === number);
      if (partition?.partuuid) pins[knob] = `/dev/disk/by-partuuid/${partition.partuuid.toLowerCase()}`;
    }
  } else if (report.mender.rootfsPartA) {
    pins['storage.device_base'] = report.mender.rootfsPartA.replace(/2$/, '');
  }
  return pins;
}

export function describeReport(report: ImageReport | ArtifactReport): string {
  if (report.kind === 'artifact') return JSON.stringify(report.artifact, null, 2);
  const mib = (bytes: number) => `${(bytes / 1048576).toFixed(1)} MiB`;
  const lines = [
    `${report.path}: ${report.format === 'raw' ? 'raw' : `${report.format}-compressed`} disk image, ${mib(report.bytes)}, sha256 ${report.sha256}`,
    `Partition table: ${report.table.label}${report.table.id ? ` (id ${report.table.id})` : ''}`,
    ...report.table.partitions.map((p) => `  ${p.number}  start ${mib(p.start).padStart(12)}  size ${mib(p.size).padStart(12)}  type ${p.type.padEnd(36)} ${p.filesystem}${p.bootable ? '  (boot)' : ''}`),
    `OS: ${report.os?.prettyName ?? 'unknown'}; architecture ${report.arch ?? 'unknown'}; hostname ${report.hostname || '(none)'}`,
    `Kernels: ${report.kernels.join(' ') || '(none found)'}`,
    `Mender-converted: ${report.mender.converted ? 'yes' : 'no'}`,
  ];
  if (report.mender.converted) {
    lines.push(`  device types: ${report.mender.deviceTypes?.join(' ') ?? '?'}`, `  artifact: ${report.mender.artifactName ?? '?'}`, `  rootfs A/B: ${report.mender.rootfsPartA} ${report.mender.rootfsPartB}`);
    const chain = report.mender.bootChain;
    if (chain) {
      lines.push(`  boot chain: ${chain.description}; it reads ${chain.reads.join(' and ')} from the active root filesystem`);
      lines.push(chain.include ? `  convert this fleet's releases with its board config and ${chain.include}` : '  the board config serves it as it is');
    }
    if (report.mender.bootEnvironment) lines.push(`  boot environment: ${Object.entries(report.mender.bootEnvironment).map(([k, v]) => `${k}=${v}`).join(' ')}`);
    const pins = Object.entries(report.mender.identityPins ?? {});
    if (pins.length) {
      lines.push('  to keep these identities in later releases, convert them with:', '    storage:', ...pins.map(([knob, value]) => `      ${knob.replace(/^storage\./, '')}: ${JSON.stringify(value)}`));
    }
  }
  return `${lines.join('\n')}\n`;
}
