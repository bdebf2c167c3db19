/**
 * Small golden images for integration tests, built with the real tools: a root filesystem tree
 * with what a Debian image has where we look (os-release, hostname, fstab, an ELF /bin/sh),
 * an ext4 made from it with mke2fs -d, a FAT boot filesystem, and a partition table by sfdisk.
 */
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';

const MiB = 1024 * 1024;
const SBIN = ['/usr/local/sbin', '/usr/sbin', '/sbin'];
export const toolEnv = { PATH: [process.env.PATH, ...SBIN].join(':') };

export function tool(name: string, args: string[], input?: string) {
  return execa(name, args, { env: toolEnv, input, stripFinalNewline: false });
}

export interface GoldenOptions {
  dir: string;
  name?: string;
  scheme?: 'dos' | 'gpt';
  /** No boot partition: the root filesystem is the only partition. */
  rootOnly?: boolean;
  /** Partition 1 is placed after partition 2 on the disk (out-of-order numbering). */
  swapNumbers?: boolean;
  hostname?: string;
  /** Extra files in the root filesystem: path → content. */
  files?: Record<string, string>;
  /** Modes of root filesystem files (default 0644), e.g. executables. */
  modes?: Record<string, number>;
  rootMiB?: number;
  /** The root filesystem's kind (default ext4) and more mke2fs arguments (block size, features). */
  rootFsType?: 'ext2' | 'ext3' | 'ext4';
  rootMkfsArgs?: string[];
  bootMiB?: number;
  /** Extra files on the boot partition: path → content. */
  bootFiles?: Record<string, string>;
  /** arm64/armhf: /bin/sh is an AArch64 / 32-bit ARM hard-float ELF header (enough for the probe), not the host's dash. */
  arch?: 'host' | 'arm64' | 'armhf';
  /** VERSION_CODENAME in os-release (default bookworm). */
  codename?: string;
  /** Last changes to the root tree before mke2fs reads it (symlinks, sparse files …). */
  editTree?: (tree: string) => void;
  /** MBR disk identifier, 8 hex digits (default c0ffee01); GPT identities are sfdisk's random ones. */
  diskId?: string;
}

export interface Golden {
  image: string;
  rootPartition: number;
  bootPartition?: number;
  diskId: string;
}

function writeTree(root: string, files: Record<string, string>): void {
  for (const [file, content] of Object.entries(files)) {
    const target = path.join(root, file);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, content);
  }
}

function osRelease(codename: string): string {
  const version = { bookworm: '12', trixie: '13' }[codename] ?? '0';
  return `PRETTY_NAME="Debian GNU/Linux ${version} (${codename})"\nNAME="Debian GNU/Linux"\nVERSION_ID="${version}"\nVERSION_CODENAME=${codename}\nID=debian\n`;
}

export async function buildRootTree(dir: string, options: GoldenOptions, diskId: string): Promise<string> {
  const tree = path.join(dir, 'tree');
  fs.rmSync(tree, { recursive: true, force: true });
  writeTree(tree, {
    'etc/os-release': osRelease(options.codename ?? 'bookworm'),
    'etc/hostname': `${options.hostname ?? 'testhost'}\n`,
    'etc/fstab': `proc /proc proc defaults 0 0\nPARTUUID=${diskId}-01 /boot/firmware vfat defaults 0 2\nPARTUUID=${diskId}-02 / ext4 defaults,noatime 0 1\n`,
    'boot/vmlinuz-6.1.0-test': 'not a real kernel\n',
    'boot/initrd.img-6.1.0-test': 'not a real initrd\n',
    'var/lib/dpkg/status': '',
    ...options.files,
  });
  for (const [file, mode] of Object.entries(options.modes ?? {})) fs.chmodSync(path.join(tree, file), mode);
  fs.mkdirSync(path.join(tree, 'usr/bin'), { recursive: true });
  if (options.arch === 'arm64' || options.arch === 'armhf') {
    const header = Buffer.alloc(64);
    header.write('\x7fELF', 0, 'latin1');
    header.writeUInt8(options.arch === 'arm64' ? 2 : 1, 4); // 64-bit / 32-bit
    header.writeUInt8(1, 5); // little-endian
    header.writeUInt8(1, 6);
    header.writeUInt16LE(options.arch === 'arm64' ? 0xb7 : 0x28, 18); // EM_AARCH64 / EM_ARM
    if (options.arch === 'armhf') header.writeUInt32LE(0x05000400, 36); // EABI 5, hard float
    fs.writeFileSync(path.join(tree, 'usr/bin/dash'), header);
  } else {
    fs.copyFileSync('/usr/bin/dash', path.join(tree, 'usr/bin/dash'));
  }
  fs.chmodSync(path.join(tree, 'usr/bin/dash'), 0o755);
  fs.symlinkSync('usr/bin', path.join(tree, 'bin'));
  fs.symlinkSync('dash', path.join(tree, 'usr/bin/sh'));
  fs.mkdirSync(path.join(tree, 'boot/firmware'), { recursive: true });
  options.editTree?.(tree);
  return tree;
}

/** A golden disk image file in `dir`. */
export async function buildGoldenImage(options: GoldenOptions): Promise<Golden> {
  const { dir } = options;
  fs.mkdirSync(dir, { recursive: true });
  const diskId = options.diskId ?? 'c0ffee01';
  const tree = await buildRootTree(dir, options, diskId);
  const rootFs = path.join(dir, 'root.ext4');
  const bootFs = path.join(dir, 'boot.vfat');
  const rootBytes = (options.rootMiB ?? 24) * MiB;
  const bootBytes = (options.bootMiB ?? 16) * MiB;
  fs.rmSync(rootFs, { force: true });
  await tool('mke2fs', ['-q', '-F', '-t', options.rootFsType ?? 'ext4', ...(options.rootMkfsArgs ?? []), '-L', 'rootfs', '-d', tree, rootFs, `${rootBytes / 1024}k`]);
  if (!options.rootOnly) {
    fs.rmSync(bootFs, { force: true });
    await tool('truncate', ['-s', String(bootBytes), bootFs]);
    await tool('mkfs.vfat', ['-n', 'BOOT', '-i', diskId, bootFs]);
    const staging = path.join(dir, 'bootfiles');
    fs.rmSync(staging, { recursive: true, force: true });
    writeTree(staging, { 'config.txt': 'arm_64bit=1\n', 'cmdline.txt': `root=PARTUUID=${diskId}-02 rootwait\n`, 'overlays/README': 'overlays\n', ...options.bootFiles });
    const top = fs.readdirSync(staging).map((name) => path.join(staging, name));
    await tool('mcopy', ['-i', bootFs, '-s', ...top, '::/']);
  }

  const image = path.join(dir, options.name ?? 'golden.img');
  const first = 4 * MiB;
  const extents: { fs: string; bytes: number; type: string; number: number }[] = options.rootOnly
    ? [{ fs: rootFs, bytes: rootBytes, type: 'linux', number: 1 }]
    : [
        { fs: bootFs, bytes: bootBytes, type: 'boot', number: 1 },
        { fs: rootFs, bytes: rootBytes, type: 'linux', number: 2 },
      ];
  if (options.swapNumbers) extents.reverse();
  let offset = first;
  const placed = extents.map((extent) => {
    const start = offset;
    offset += extent.bytes;
    return { ...extent, start };
  });
  const total = offset + (options.scheme === 'gpt' ? MiB : 0);
  fs.rmSync(image, { force: true });
  await tool('truncate', ['-s', String(total), image]);
  const gpt = options.scheme === 'gpt';
  const typeCode = (type: string) => (gpt ? (type === 'boot' ? 'U' : 'L') : type === 'boot' ? 'c' : '83');
  // sfdisk numbers partitions by line order; out-of-order numbering puts partition 1's line first
  // with the later start.
  const lines = [...placed]
    .sort((a, b) => a.number - b.number)
    .map((p) => `start=${p.start / 512}, size=${p.bytes / 512}, type=${typeCode(p.type)}`);
  const header = gpt ? ['label: gpt'] : ['label: dos', `label-id: 0x${diskId}`];
  await tool('sfdisk', ['--no-reread', '--no-tell-kernel', '-q', image], [...header, ...lines, ''].join('\n'));
  for (const p of placed) {
    await tool('dd', [`if=${p.fs}`, `of=${image}`, 'bs=1M', `seek=${p.start / MiB}`, 'conv=notrunc,sparse', 'status=none']);
  }
  fs.rmSync(rootFs, { force: true });
  fs.rmSync(bootFs, { force: true });
  const rootNumber = options.rootOnly ? 1 : 2;
  return { image, rootPartition: rootNumber, bootPartition: options.rootOnly ? undefined : 1, diskId };
}
