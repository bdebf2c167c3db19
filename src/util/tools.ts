import fs from 'node:fs';
import path from 'node:path';
import { UserError } from './errors.js';

/** Host tools we call, with the Debian package that provides each. */
export const TOOL_PACKAGES: Record<string, string> = {
  debugfs: 'e2fsprogs',
  mke2fs: 'e2fsprogs',
  e2fsck: 'e2fsprogs',
  resize2fs: 'e2fsprogs',
  dumpe2fs: 'e2fsprogs',
  tune2fs: 'e2fsprogs',
  e2image: 'e2fsprogs',
  xfs_io: 'xfsprogs',
  sfdisk: 'fdisk',
  mcopy: 'mtools',
  mdir: 'mtools',
  mmd: 'mtools',
  mdel: 'mtools',
  mdeltree: 'mtools',
  mattrib: 'mtools',
  mtype: 'mtools',
  mlabel: 'mtools',
  minfo: 'mtools',
  'mkfs.vfat': 'dosfstools',
  'fsck.vfat': 'dosfstools',
  blkid: 'util-linux',
  flock: 'util-linux',
  xz: 'xz-utils',
  zstd: 'zstd',
  gzip: 'gzip',
  pigz: 'pigz',
  'libdeflate-gzip': 'libdeflate-tools',
  sh: 'dash',
  unzip: 'unzip',
  tar: 'tar',
  gpgv: 'gpgv',
  gpg: 'gpg',
  'grub-mkimage': 'grub-common',
  'grub-editenv': 'grub-common',
  'grub-script-check': 'grub-common',
  mkimage: 'u-boot-tools',
  dumpimage: 'u-boot-tools',
  fw_printenv: 'libubootenv-tool',
  'mender-artifact': 'mender-artifact',
  debootstrap: 'debootstrap',
  bmaptool: 'bmap-tools',
  openssl: 'openssl',
  'qemu-system-x86_64': 'qemu-system-x86',
  'qemu-system-aarch64': 'qemu-system-arm',
  'qemu-img': 'qemu-utils',
};

// An ordinary user's PATH on Debian lacks the sbin directories where e2fsprogs and fdisk live.
const EXTRA_DIRS = ['/usr/local/sbin', '/usr/sbin', '/sbin'];

const cache = new Map<string, string | null>();

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** Absolute path of a host tool, or null when it is not installed. */
export function findTool(name: string): string | null {
  if (cache.has(name)) return cache.get(name) ?? null;
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter).filter(Boolean), ...EXTRA_DIRS];
  const found = dirs.map((dir) => path.join(dir, name)).find(isExecutable) ?? null;
  cache.set(name, found);
  return found;
}

/** Absolute path of a host tool; a UserError naming the Debian package when it is missing. */
export function requireTool(name: string): string {
  const found = findTool(name);
  if (found) return found;
  const pkg = TOOL_PACKAGES[name];
  throw new UserError(`The host tool '${name}' is not installed.`, {
    hint: pkg ? `Install it with: sudo apt-get install ${pkg}` : `Install '${name}' and make sure it is on PATH.`,
  });
}

/** Check several tools at once (preflight): one UserError naming every missing tool and its package. */
export function requireTools(names: readonly string[]): void {
  const missing = [...new Set(names)].filter((name) => !findTool(name));
  if (missing.length === 0) return;
  const packages = [...new Set(missing.map((name) => TOOL_PACKAGES[name] ?? name))];
  throw new UserError(`Missing host tools: ${missing.join(', ')}.`, {
    hint: `Install them with: sudo apt-get install ${packages.join(' ')}`,
  });
}
