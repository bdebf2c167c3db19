import type { FsEditor } from '../fs/editor.js';

/** Signs that a root filesystem already follows the Mender layout (a converted image). */
export async function isMenderRootfs(rootfs: FsEditor): Promise<boolean> {
  const link = await rootfs.stat('/var/lib/mender');
  if (link?.type !== 'symlink' || link.target !== '/data/mender') return false;
  return rootfs.exists('/etc/mender/scripts/version');
}
