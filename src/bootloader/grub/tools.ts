import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from '../../util/errors.js';
import { MENDER_GRUBENV_DIR } from './env.js';

/** One POSIX sh script; it prints or sets depending on the name it is called by. */
export const GRUBENV_TOOL_TEMPLATE = fileURLToPath(new URL('./grub-mender-grubenv', import.meta.url));

/** Where the Mender client looks for them (install both into /usr/bin, mode 0755). */
export const GRUBENV_TOOL_NAMES = ['grub-mender-grubenv-print', 'grub-mender-grubenv-set'] as const;

export interface GrubenvToolOptions {
  /** Where the boot partition is mounted on the device, e.g. /boot/efi. */
  bootMountpoint: string;
  /** Environment directory on the boot partition. */
  envDir?: string;
}

/** The device tool's text with the environment directory (mount point + envDir) filled in. */
export function grubenvToolScript(options: GrubenvToolOptions): string {
  const dir = path.posix.join(options.bootMountpoint, options.envDir ?? MENDER_GRUBENV_DIR);
  if (!dir.startsWith('/') || /["$`\\\s]/.test(dir)) {
    throw new UserError(`The boot environment directory '${dir}' must be an absolute path without spaces, quotes, '$' or backslashes.`, {
      hint: 'Check the boot partition mount point (boot.mountpoint).',
    });
  }
  const template = fs.readFileSync(GRUBENV_TOOL_TEMPLATE, 'utf8');
  if (!template.includes('@@MENDER_GRUBENV_DIR@@')) throw new Error(`${GRUBENV_TOOL_TEMPLATE} lacks its @@MENDER_GRUBENV_DIR@@ placeholder`);
  return template.replaceAll('@@MENDER_GRUBENV_DIR@@', dir);
}
