/**
 * A small A/B disk image and GRUB run in user space (grub-emu) on it, to execute our grub.cfg
 * with GRUB's real script engine, load_env/save_env on a real FAT filesystem, and partition
 * lookup on a real partition table. grub-emu cannot start a kernel: `linux` and `initrd` are
 * replaced by functions that print their arguments and end the run (halt).
 */
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { menderGrubEnvFiles } from '../../../src/bootloader/grub/env.js';

const MiB = 1024 * 1024;
const SBIN = ['/usr/local/sbin', '/usr/sbin', '/sbin'];
export const toolEnv = { PATH: [process.env.PATH, ...SBIN].join(':') };

export function tool(name: string, args: string[], options: { input?: string | Buffer; env?: Record<string, string> } = {}) {
  return execa(name, args, { env: { ...toolEnv, ...options.env }, input: options.input, stripFinalNewline: false });
}

const BOOT_START = MiB;
const BOOT_SIZE = 8 * MiB;
const ROOT_PARTITION = 4 * MiB;

export interface AbDisk {
  image: string;
  /** mtools image spec of the boot partition (file@@offset). */
  bootFat: string;
  scheme: 'gpt' | 'dos';
}

/** Disk: 1 FAT boot partition with the initial Mender environment, 2 and 3 ext4 rootfs A and B. */
export async function buildAbDisk(
  dir: string,
  scheme: 'gpt' | 'dos',
  options: { initrd?: boolean; rootfsFiles?: Record<string, string>; /** each root partition's size */ rootfsSize?: number; /** the kernels' size (text, padded) */ kernelBytes?: number } = {},
): Promise<AbDisk> {
  const ROOT_SIZE = options.rootfsSize ?? ROOT_PARTITION;
  fs.mkdirSync(dir, { recursive: true });
  const image = path.join(dir, `disk-${scheme}.img`);
  const total = BOOT_START + BOOT_SIZE + 2 * ROOT_SIZE + MiB;
  fs.rmSync(image, { force: true });
  await tool('truncate', ['-s', String(total), image]);
  const sectors = (bytes: number) => bytes / 512;
  const types = scheme === 'gpt' ? ['U', 'L', 'L'] : ['c', '83', '83'];
  const lines = [
    scheme === 'gpt' ? 'label: gpt' : 'label: dos',
    `start=${sectors(BOOT_START)}, size=${sectors(BOOT_SIZE)}, type=${types[0]}`,
    `start=${sectors(BOOT_START + BOOT_SIZE)}, size=${sectors(ROOT_SIZE)}, type=${types[1]}`,
    `start=${sectors(BOOT_START + BOOT_SIZE + ROOT_SIZE)}, size=${sectors(ROOT_SIZE)}, type=${types[2]}`,
    '',
  ];
  await tool('sfdisk', ['--no-reread', '--no-tell-kernel', '-q', image], { input: lines.join('\n') });

  const boot = path.join(dir, 'boot.vfat');
  fs.rmSync(boot, { force: true });
  await tool('truncate', ['-s', String(BOOT_SIZE), boot]);
  await tool('mkfs.vfat', ['-s', '1', '-F', '16', '-n', 'BOOT', boot]);
  await tool('dd', [`if=${boot}`, `of=${image}`, 'bs=1M', `seek=${BOOT_START / MiB}`, 'conv=notrunc', 'status=none']);
  fs.rmSync(boot);

  for (const [index, label] of [[2, 'a'], [3, 'b']] as const) {
    const tree = path.join(dir, `tree-${label}`);
    fs.rmSync(tree, { recursive: true, force: true });
    fs.mkdirSync(path.join(tree, 'boot'), { recursive: true });
    const kernel = `kernel ${label}\n`;
    fs.writeFileSync(path.join(tree, 'boot', `vmlinuz-${label}`), options.kernelBytes ? kernel.padEnd(options.kernelBytes, '.') : kernel);
    fs.symlinkSync(`vmlinuz-${label}`, path.join(tree, 'boot/kernel'));
    if (options.initrd !== false) {
      fs.writeFileSync(path.join(tree, 'boot', `initrd.img-${label}`), `initrd ${label}\n`);
      fs.symlinkSync(`initrd.img-${label}`, path.join(tree, 'boot/initrd'));
    }
    for (const [file, content] of Object.entries(options.rootfsFiles ?? {})) fs.writeFileSync(path.join(tree, file), content);
    const rootfs = path.join(dir, `root-${label}.ext4`);
    fs.rmSync(rootfs, { force: true });
    await tool('mke2fs', ['-q', '-F', '-t', 'ext4', '-d', tree, rootfs, `${ROOT_SIZE / 1024}k`]);
    const start = BOOT_START + BOOT_SIZE + (index - 2) * ROOT_SIZE;
    await tool('dd', [`if=${rootfs}`, `of=${image}`, 'bs=1M', `seek=${start / MiB}`, 'conv=notrunc', 'status=none']);
    fs.rmSync(rootfs);
    fs.rmSync(tree, { recursive: true });
  }
  const disk = { image, bootFat: `${image}@@${BOOT_START}`, scheme };
  await tool('mmd', ['-i', disk.bootFat, '::/grub-mender-grubenv', '::/grub-mender-grubenv/mender_grubenv1', '::/grub-mender-grubenv/mender_grubenv2', '::/EFI', '::/EFI/BOOT']);
  await putEnvFiles(disk, dir, Object.fromEntries(menderGrubEnvFiles({ bootPart: 2 }).map((file) => [file.path, file.data])));
  return disk;
}

/** Replace files on the boot partition: path on the partition → content. */
export async function putEnvFiles(disk: AbDisk, dir: string, files: Record<string, Buffer | string>): Promise<void> {
  for (const [target, data] of Object.entries(files)) {
    const staging = path.join(dir, 'staging-file');
    fs.writeFileSync(staging, data);
    await tool('mcopy', ['-o', '-i', disk.bootFat, staging, `::${target}`]);
  }
}

export async function getBootFile(disk: AbDisk, dir: string, source: string): Promise<Buffer> {
  const staging = path.join(dir, 'staging-read');
  fs.rmSync(staging, { force: true });
  await tool('mcopy', ['-o', '-i', disk.bootFat, `::${source}`, staging]);
  return fs.readFileSync(staging);
}

export interface EmuRun {
  output: string;
  /** Arguments `linux` was called with (the kernel path first), if it was. */
  linux?: string[];
  initrd?: string[];
}

/**
 * Run `config` as grub.cfg in grub-emu with (hd0) = the disk and $root = its boot partition.
 * `linux` fails for a missing kernel file; when `stopAfter` is reached the run halts.
 */
export async function runGrubEmu(dir: string, disk: AbDisk, config: string, stopAfter: 'linux' | 'initrd'): Promise<EmuRun> {
  const grubDir = path.join(dir, 'grub-emu');
  fs.rmSync(grubDir, { recursive: true, force: true });
  fs.mkdirSync(grubDir, { recursive: true });
  fs.cpSync('/usr/lib/grub/x86_64-emu', path.join(grubDir, 'x86_64-emu'), { recursive: true });
  const stubs = [
    'function linux {',
    '    if [ -f "$1" ]; then echo "LINUX $@"; else echo "NOKERNEL $1"; return 1; fi',
    ...(stopAfter === 'linux' ? ['    halt'] : []),
    '}',
    'function initrd {',
    '    if [ -f "$1" ]; then echo "INITRD $@"; else echo "NOINITRD $1"; return 1; fi',
    '    halt',
    '}',
    `set root=hd0,${disk.scheme === 'gpt' ? 'gpt' : 'msdos'}1`,
    '',
  ].join('\n');
  fs.writeFileSync(path.join(grubDir, 'grub.cfg'), `${stubs}${config}\nhalt\n`);
  fs.writeFileSync(path.join(dir, 'device.map'), `(hd0) ${disk.image}\n`);
  const result = await execa('grub-emu', ['-d', grubDir, '-m', path.join(dir, 'device.map')], {
    input: '',
    reject: false,
    timeout: 60_000,
    env: { TERM: 'dumb' },
  });
  // Drop terminal escapes and the progress lines grub-emu draws while reading files.
  const output = `${result.stdout}\n${result.stderr}`
    .replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '')
    .replace(/\r/g, '\n')
    .split('\n')
    .map((line) => line.replace(/\s*\[ [^\]]*% [^\]]*\]\s*/g, '').trimEnd())
    .filter(Boolean)
    .join('\n');
  const pick = (tag: string) => output.split('\n').find((line) => line.startsWith(`${tag} `))?.slice(tag.length + 1).split(' ');
  return { output, linux: pick('LINUX'), initrd: pick('INITRD') };
}

/**
 * The host's grub-mkconfig reading `tree` instead of /etc, with a grub-probe stand-in that answers
 * without devices (run it with EUID=0 in the environment: it checks for root).
 */
export function preparedGrubMkconfig(dir: string, tree: string): string {
  const probe = path.join(dir, 'grub-probe');
  fs.writeFileSync(probe, '#!/bin/sh\nfor a; do case "$a" in --target=device) echo /dev/sda2;; --target=fs) echo ext2;; --target=fs_uuid) echo 0a0b0c0d-0000-4000-8000-000000000002;; --target=partuuid) echo 00000000-0000-4000-8000-000000000002;; esac; done\n', { mode: 0o755 });
  const mkconfig = path.join(dir, 'bin', 'grub-mkconfig');
  fs.mkdirSync(path.dirname(mkconfig), { recursive: true });
  const original = fs.readFileSync('/usr/sbin/grub-mkconfig', 'utf8');
  if (!original.includes('sysconfdir="/etc"') || !original.includes('grub_probe="${sbindir}/grub-probe"')) throw new Error('grub-mkconfig changed: the test cannot point it at a tree');
  fs.writeFileSync(mkconfig, original.replace('sysconfdir="/etc"', `sysconfdir="${tree}/etc"`).replace('grub_probe="${sbindir}/grub-probe"', `grub_probe="${probe}"`), { mode: 0o755 });
  return mkconfig;
}
