import type { FsEditor } from '../fs/editor.js';

/** Signs that a root filesystem already follows the Mender layout (a converted image). */
export async function isMenderRootfs(rootfs: FsEditor): Promise<boolean> {
  const link = await rootfs.stat('/var/lib/mender');
  if (link?.type !== 'symlink' || link.target !== '/data/mender') return false;
  return rootfs.exists('/etc/mender/scripts/version');
}

/** GRUB environment block (grub-editenv format): name=value lines after the header. */
export function parseGrubEnv(block: string): Record<string, string> {
  const values: Record<string, string> = {};
  for (const line of block.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const at = line.indexOf('=');
    if (at > 0) values[line.slice(0, at)] = line.slice(at + 1);
  }
  return values;
}
