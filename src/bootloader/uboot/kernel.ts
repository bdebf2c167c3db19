import fs from 'node:fs';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { UserError } from '../../util/errors.js';

/**
 * The kernel U-Boot boots from a root filesystem, and the hook that keeps it in step with the
 * distribution's kernel packages on the device (kernel-hook.sh beside this file).
 */

/** The hook's text (POSIX shell, run by run-parts from the kernel and initramfs hook directories). */
export const UBOOT_KERNEL_HOOK_TEMPLATE = fileURLToPath(new URL('./kernel-hook.sh', import.meta.url));
/** Where the hook lives on the device, and the links that run it. */
export const UBOOT_KERNEL_HOOK = '/usr/lib/mender-convert/uboot-kernel-hook';
export const UBOOT_KERNEL_HOOK_LINKS = ['/etc/kernel/postinst.d/zz-mender-uboot', '/etc/kernel/postrm.d/zz-mender-uboot', '/etc/initramfs/post-update.d/zz-mender-uboot'] as const;
/** The hook's settings, written by the conversion. */
export const UBOOT_KERNEL_HOOK_CONFIG = '/etc/default/mender-uboot';

export function ubootKernelHook(): string {
  return fs.readFileSync(UBOOT_KERNEL_HOOK_TEMPLATE, 'utf8');
}

export interface KernelHookSettings {
  /** Where boot.scr loads the kernel (stored decompressed). */
  kernelImage: string;
  /** Where boot.scr loads the initrd from, or null for none. */
  initrd: string | null;
  /** Only kernels whose version ends in -<flavour> (empty: any). */
  flavour: string;
  /** Where the kernel package's device trees are copied (empty: not copied). */
  dtbDir: string;
}

const SAFE_PATH = /^(\/[A-Za-z0-9_.+-]+)+$/;

/** /etc/default/mender-uboot: shell assignments the hook sources. */
export function kernelHookConfig(settings: KernelHookSettings): string {
  for (const [what, value] of [['kernel image', settings.kernelImage], ['initrd', settings.initrd], ['device tree directory', settings.dtbDir]] as const) {
    if (value && !SAFE_PATH.test(value)) throw new UserError(`The ${what} path '${value}' must be an absolute path of letters, digits and _ . + -.`);
  }
  if (!/^[A-Za-z0-9_.+-]*$/.test(settings.flavour)) throw new UserError(`The kernel flavour '${settings.flavour}' may hold only letters, digits and _ . + -.`);
  return [
    '# Written by mender-convert: what /usr/lib/mender-convert/uboot-kernel-hook keeps up to date',
    '# from the newest installed kernel, where the U-Boot boot script loads it from.',
    `MENDER_KERNEL_IMAGE=${settings.kernelImage}`,
    `MENDER_INITRD=${settings.initrd ?? ''}`,
    `MENDER_KERNEL_FLAVOUR=${settings.flavour}`,
    `MENDER_DTB_DIR=${settings.dtbDir}`,
    '',
  ].join('\n');
}

const GZIP_MAGIC = [0x1f, 0x8b];

/** The kernel as booti/bootz take it: a gzip-compressed image decompressed, anything else as it is. */
export function bootableKernel(data: Buffer): Buffer {
  return data[0] === GZIP_MAGIC[0] && data[1] === GZIP_MAGIC[1] ? zlib.gunzipSync(data) : data;
}

/** The release a kernel image reports (uname -r), from its "Linux version <release> " banner; null if none. */
export function kernelImageVersion(image: Buffer): string | null {
  const marker = Buffer.from('Linux version ');
  for (let at = image.indexOf(marker); at >= 0; at = image.indexOf(marker, at + 1)) {
    const start = at + marker.length;
    const end = image.indexOf(0x20, start);
    if (end < 0) break;
    const release = image.toString('latin1', start, end);
    // The banner of a real kernel: "6.1.0-28-arm64 (debian-kernel@…)"; format strings hold "%s".
    if (/^[0-9]+\.[0-9]+[A-Za-z0-9._+~-]*$/.test(release)) return release;
  }
  return null;
}

/**
 * The flavour of a kernel release: what follows its last '-' (6.1.0-28-arm64 → arm64,
 * 6.6.51+rpt-rpi-v8 → v8, 6.6.51+rpt-rpi-2712 → 2712), which tells apart the kernels of one
 * image that are for different boards.
 */
export function kernelFlavour(release: string): string {
  const at = release.lastIndexOf('-');
  return at < 0 ? '' : release.slice(at + 1);
}

/**
 * Where Raspberry Pi OS keeps the initramfs the firmware loads beside a kernel file
 * (auto_initramfs=1): kernel8.img → initramfs8, kernel_2712.img → initramfs_2712,
 * kernel.img → initramfs.
 */
export function firmwareInitramfsName(kernelFile: string): string | null {
  const match = /^kernel(.*)\.img$/.exec(kernelFile.replace(/^.*\//, ''));
  return match ? `initramfs${match[1]}` : null;
}
