import { readConfigFile, regularFileAt } from '../fs/config-file.js';
import type { FsEditor } from '../fs/editor.js';
import { compareVersions } from '../deb/version.js';
import { UserError } from '../util/errors.js';

/** What we learn about the golden image by reading it (never by mounting or running it). */
export interface OsRelease {
  id: string;
  idLike: string[];
  versionId: string;
  versionCodename: string;
  prettyName: string;
}

export interface ImageFacts {
  os: OsRelease;
  /** Debian architecture name (amd64, arm64, armhf, armel, i386, riscv64). */
  arch: string;
  /** /etc/hostname's name; '' when absent or not a valid hostname (then `hostnameInvalid`). */
  hostname: string;
  hostnameInvalid?: boolean;
  /** Kernel and initrd files in the root filesystem's /boot. */
  rootfsKernels: string[];
  rootfsInitrds: string[];
  /** Kernel-like files on the boot partition (kernel*.img, vmlinuz*, Image, zImage, EFI stubs). */
  bootKernels: string[];
  /** Where the input's fstab mounts its boot partition, if it does. */
  bootMountpoint?: string;
}

/** The version of a kernel or initrd named <stem>-<version> (/boot/vmlinuz-6.1.0-18-arm64 → 6.1.0-18-arm64). */
export function kernelVersion(file: string): string {
  return file.slice(file.lastIndexOf('/') + 1).replace(/^[^-]+-/, '');
}

/** The newest of the kernels (or initrds) named <stem>-<version>, by Debian version order. */
export function newestKernel(paths: readonly string[]): string | undefined {
  return [...paths].sort((a, b) => compareVersions(kernelVersion(b), kernelVersion(a)))[0];
}

/** Kernel images among the root filesystem's kernel-like files (not configs or System.map). */
export const KERNEL_IMAGE = /\/(vmlinuz|vmlinux|Image|zImage)-/;

/** Parse /etc/os-release (shell-style KEY=value lines, quotes optional). */
export function parseOsRelease(text: string): OsRelease {
  const values = new Map<string, string>();
  for (const line of text.split('\n')) {
    const match = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (!match) continue;
    values.set(match[1]!, match[2]!.replace(/^(["'])(.*)\1$/, '$2').replace(/\\(["$`\\])/g, '$1'));
  }
  return {
    id: values.get('ID') ?? 'linux',
    idLike: (values.get('ID_LIKE') ?? '').split(/\s+/).filter(Boolean),
    versionId: values.get('VERSION_ID') ?? '',
    versionCodename: values.get('VERSION_CODENAME') ?? '',
    prettyName: values.get('PRETTY_NAME') ?? values.get('NAME') ?? 'Linux',
  };
}

const EM_386 = 0x03;
const EM_ARM = 0x28;
const EM_X86_64 = 0x3e;
const EM_AARCH64 = 0xb7;
const EM_RISCV = 0xf3;
const EF_ARM_ABI_FLOAT_HARD = 0x400;

/** Debian architecture of an ELF executable from its header. */
export function elfArchitecture(header: Uint8Array): string {
  const bytes = Buffer.from(header);
  if (bytes.length < 52 || bytes.readUInt32BE(0) !== 0x7f454c46) throw new Error('not an ELF file');
  const is64 = bytes[4] === 2;
  const little = bytes[5] === 1;
  const machine = little ? bytes.readUInt16LE(18) : bytes.readUInt16BE(18);
  const flags = is64 ? 0 : little ? bytes.readUInt32LE(36) : bytes.readUInt32BE(36);
  switch (machine) {
    case EM_X86_64:
      return 'amd64';
    case EM_AARCH64:
      return 'arm64';
    case EM_386:
      return 'i386';
    case EM_RISCV:
      return is64 ? 'riscv64' : 'riscv32';
    case EM_ARM:
      return flags & EF_ARM_ABI_FLOAT_HARD ? 'armhf' : 'armel';
    default:
      return `elf-machine-${machine}`;
  }
}

function fstabBootMountpoint(fstab: string): string | undefined {
  for (const line of fstab.split('\n')) {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 3 || cols[0]!.startsWith('#')) continue;
    const [, mountpoint, type] = cols;
    if (mountpoint!.startsWith('/boot') && (type === 'vfat' || type === 'auto' || type === 'msdos')) return mountpoint;
  }
  return undefined;
}

const KERNEL_NAME = /^(vmlinuz|vmlinux|Image|zImage|uImage|kernel[\w-]*\.img)([-.].*)?$/;
const INITRD_NAME = /^(initrd|initramfs)([-.].*)?$/;

/** A file name a kernel or an initrd goes by (vmlinuz-6.1.0-18-arm64, initrd.img-…, kernel8.img …). */
export function isKernelOrInitrdName(name: string): boolean {
  return KERNEL_NAME.test(name) || INITRD_NAME.test(name);
}

/**
 * Files in `dir` named like `pattern` that are files: a symlink counts when it leads to a regular
 * file inside the filesystem; the others (loops, dangling links) are returned apart, with why.
 */
async function namesIn(editor: FsEditor, dir: string, pattern: RegExp): Promise<{ files: string[]; broken: string[] }> {
  if (!(await editor.exists(dir))) return { files: [], broken: [] };
  const files: string[] = [];
  const broken: string[] = [];
  for (const entry of await editor.list(dir)) {
    if (entry.type === 'dir' || !pattern.test(entry.name)) continue;
    const target = await regularFileAt(editor, entry.path, { followSymlinks: true });
    if (target.found) files.push(entry.path);
    else broken.push(target.reason ?? entry.path);
  }
  return { files, broken };
}

async function readTextOrEmpty(editor: FsEditor, file: string): Promise<string> {
  const read = await readConfigFile(editor, file, { followSymlinks: true });
  return read.found ? read.text : '';
}

/**
 * The hostname, when it is one (RFC 1123 labels): it becomes the default device type and part
 * of every output's file name, so anything else ('../../x', a line of /etc/shadow through a
 * symlink) is not taken.
 */
export function validHostname(name: string): string {
  return /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/.test(name) ? name : '';
}

export async function probeImage(rootfs: FsEditor, boot: FsEditor | undefined): Promise<ImageFacts> {
  if (!(await rootfs.exists('/etc/os-release')) && !(await rootfs.exists('/usr/lib/os-release'))) {
    throw new UserError('The root filesystem has no /etc/os-release: this does not look like a Linux distribution image.');
  }
  const osRelease = await readConfigFile(rootfs, '/etc/os-release', { followSymlinks: true });
  const osText = osRelease.found ? osRelease.text : await readTextOrEmpty(rootfs, '/usr/lib/os-release');
  let arch: string;
  try {
    arch = elfArchitecture((await rootfs.readFile('/bin/sh')).subarray(0, 64));
  } catch (error) {
    throw new UserError(`Cannot tell the image's architecture: /bin/sh is missing or not an ELF executable (${(error as Error).message}).`);
  }
  const rawHostname = (await readTextOrEmpty(rootfs, '/etc/hostname')).trim().split(/\s+/)[0] ?? '';
  const hostname = validHostname(rawHostname);
  const fstab = await readTextOrEmpty(rootfs, '/etc/fstab');
  const kernels = await namesIn(rootfs, '/boot', KERNEL_NAME);
  const bootKernels = boot ? (await namesIn(boot, '/', KERNEL_NAME)).files : [];
  if (kernels.files.length === 0 && bootKernels.length === 0 && kernels.broken.length > 0) {
    throw new UserError(`The image's kernels lead nowhere: ${kernels.broken.join('; ')}. A converted image would not boot.`, {
      hint: 'Fix the links in the golden image\'s /boot (or reinstall its kernel package), then convert it.',
    });
  }
  return {
    os: parseOsRelease(osText),
    arch,
    hostname,
    ...(rawHostname && !hostname ? { hostnameInvalid: true } : {}),
    rootfsKernels: kernels.files,
    rootfsInitrds: (await namesIn(rootfs, '/boot', INITRD_NAME)).files,
    bootKernels,
    bootMountpoint: fstabBootMountpoint(fstab),
  };
}
