import type { FsEditor } from '../fs/editor.js';

/** cloud-init's state directory; its seed/ is configuration (a local datasource), not state. */
const CLOUD_DIR = '/var/lib/cloud';
const KEPT = new Set(['seed']);
const LOGS = ['/var/log/cloud-init.log', '/var/log/cloud-init-output.log'];

/**
 * The golden image's cloud-init state left out, as `cloud-init clean --logs` does when an image
 * is prepared for cloning: the instances it ran as, their semaphores and cached data, its logs.
 * With that state kept, every device (and every release installed on one) would take itself for
 * the machine the image was made on, and cloud-init would skip what it runs once per instance or
 * once ever — Raspberry Pi Imager's user-data among it. Without it, each root filesystem applies
 * the boot partition's seed once at its first boot: the device's first boot, and the first boot
 * of each release Mender installs, which does not carry what the first one configured in the
 * other root filesystem. Returns a note for the user per thing left out.
 */
export async function clearCloudInitState(rootfs: FsEditor): Promise<string[]> {
  const notes: string[] = [];
  if ((await rootfs.stat(CLOUD_DIR))?.type === 'dir') {
    const entries = await rootfs.list(CLOUD_DIR);
    const state = entries.filter((entry) => !KEPT.has(entry.name));
    for (const entry of state) await rootfs.remove(entry.path, { recursive: true });
    if (state.length > 0) {
      const seed = entries.some((entry) => KEPT.has(entry.name)) ? `; ${CLOUD_DIR}/seed kept` : '';
      notes.push(`${CLOUD_DIR} held cloud-init's state of the machine the image was made on (${state.map((entry) => entry.name).sort().join(', ')}): left out, as cloud-init clean does, so that each device and each release has its own first boot${seed}.`);
    }
  }
  const logs: string[] = [];
  for (const log of LOGS) {
    if ((await rootfs.stat(log))?.type !== 'file') continue;
    await rootfs.remove(log);
    logs.push(log);
  }
  if (logs.length > 0) notes.push(`cloud-init's logs of the machine the image was made on left out: ${logs.join(', ')}.`);
  return notes;
}
