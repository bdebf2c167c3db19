import { readConfigFile } from '../fs/config-file.js';
import type { FsEditor } from '../fs/editor.js';
import { clearCloudInitState } from './cloud-init.js';
import { rewriteFstab, type FstabInput } from './fstab.js';
import {
  CLIENT_SERVICES,
  DATA_DIR_UNIT,
  DATA_DIR_UNIT_PATH,
  GROW_DATA_SCRIPT,
  GROW_DATA_SCRIPT_PATH,
  GROW_DATA_UNIT_PATH,
  growDataUnit,
} from './units.js';

/** Directories under /data that Mender components keep their state in, linked from /var/lib. */
export const DATA_STATE_DIRS = ['mender', 'mender-configure', 'mender-monitor', 'mender-orchestrator'];

/** State-script API version of Mender clients ≥ 2. */
export const STATE_SCRIPT_VERSION = '3';

export interface RootfsContractInput extends Omit<FstabInput, 'original'> {
  /** The editor of the root filesystem that becomes rootfs A (and B). */
  rootfs: FsEditor;
  /** Written to /etc/mender/artifact_info. */
  artifactName: string;
}

export interface RootfsContractResult {
  fstab: string;
  /** Tools the grow unit can use that the image lacks (reported to the user). */
  growToolMissing: boolean;
  /** What was found in the image's way and replaced, for the user (a symlinked /data or /etc/fstab). */
  replaced: string[];
}

function dirname(path: string): string {
  return path.slice(0, path.lastIndexOf('/')) || '/';
}

/** The root filesystem half of the on-device contract (mount points, links, units, fstab). */
export async function applyRootfsContract(input: RootfsContractInput): Promise<RootfsContractResult> {
  const { rootfs } = input;
  const root = { uid: 0, gid: 0 };
  const replaced: string[] = [];
  // /data becomes the data partition's mount point. A symlink there (/data -> /etc) is never
  // followed: what it points at stays where it is, and the link makes way for the directory.
  const data = await rootfs.stat('/data');
  if (data && data.type !== 'dir') {
    replaced.push(`/data was a ${data.type === 'symlink' ? `symlink to ${data.target}` : 'file'}; it is now the data partition's mount point and nothing was moved from it.`);
    await rootfs.remove('/data');
  }
  await rootfs.mkdir('/data', { ...root, mode: 0o755 });
  await rootfs.mkdir(input.bootMountpoint, { ...root, mode: 0o755 });
  await rootfs.mkdir('/var/lib', { ...root, mode: 0o755 });
  for (const dir of DATA_STATE_DIRS) {
    // State in the golden image is the state of the device it was made from (its keys among it):
    // never cloned onto every device, but never dropped without a word either.
    const state = await rootfs.stat(`/var/lib/${dir}`);
    if (state?.type === 'symlink') replaced.push(`/var/lib/${dir} was a symlink to ${state.target}; it now links to /data/${dir}.`);
    else if (state?.type === 'dir') {
      const entries = (await rootfs.list(`/var/lib/${dir}`)).length;
      if (entries > 0) replaced.push(`/var/lib/${dir} held ${entries} ${entries === 1 ? 'entry' : 'entries'}: the state of the device the image was made from (keys, database), which each device keeps of its own in /data/${dir}; left out.`);
    } else if (state) replaced.push(`/var/lib/${dir} was a ${state.type === 'file' ? 'file' : 'special file'}; it now links to /data/${dir}.`);
    await rootfs.remove(`/var/lib/${dir}`, { recursive: true });
    await rootfs.symlink(`/var/lib/${dir}`, `/data/${dir}`, root);
  }
  replaced.push(...(await clearCloudInitState(rootfs)));

  await rootfs.mkdir('/etc/mender/scripts', { ...root, mode: 0o755 });
  await rootfs.writeFile('/etc/mender/scripts/version', STATE_SCRIPT_VERSION, { ...root, mode: 0o644 });
  // Clients 3.x that do not read the bootstrap Artifact (Debian's 3.4) learn the installed
  // Artifact's name from here until their first update; each Artifact's rootfs carries its own.
  await rootfs.writeFile('/etc/mender/artifact_info', `artifact_name=${input.artifactName}\n`, { ...root, mode: 0o644 });

  await rootfs.mkdir(dirname(DATA_DIR_UNIT_PATH), { ...root, mode: 0o755 });
  await rootfs.writeFile(DATA_DIR_UNIT_PATH, DATA_DIR_UNIT, { ...root, mode: 0o644 });
  for (const service of CLIENT_SERVICES) {
    const wants = `/etc/systemd/system/${service}.wants`;
    await rootfs.mkdir(wants, { ...root, mode: 0o755 });
    await rootfs.symlink(`${wants}/mender-data-dir.service`, DATA_DIR_UNIT_PATH, root);
  }

  let growToolMissing = false;
  if (input.growData) {
    await rootfs.mkdir(dirname(GROW_DATA_SCRIPT_PATH), { ...root, mode: 0o755 });
    await rootfs.writeFile(GROW_DATA_SCRIPT_PATH, GROW_DATA_SCRIPT, { ...root, mode: 0o755 });
    await rootfs.mkdir('/etc/systemd/system/data.mount.wants', { ...root, mode: 0o755 });
    await rootfs.writeFile(GROW_DATA_UNIT_PATH, growDataUnit(input.dataDevice), { ...root, mode: 0o644 });
    await rootfs.symlink('/etc/systemd/system/data.mount.wants/mender-grow-data.service', GROW_DATA_UNIT_PATH, root);
    growToolMissing = true;
    for (const tool of ['/usr/sbin/sfdisk', '/sbin/sfdisk', '/usr/sbin/parted', '/sbin/parted']) {
      if (await rootfs.exists(tool)) growToolMissing = false;
    }
  }

  // The rewritten fstab is world-readable: only a regular /etc/fstab's own lines are kept in it.
  const original = await readConfigFile(rootfs, '/etc/fstab', { followSymlinks: false });
  if (!original.found && original.reason) {
    replaced.push(`${original.reason}: replaced by a regular file; none of its lines were kept.`);
    await rootfs.remove('/etc/fstab', { recursive: true });
  }
  const fstab = rewriteFstab({ ...input, original: original.found ? original.text : '' });
  await rootfs.writeFile('/etc/fstab', fstab, { ...root, mode: 0o644 });
  return { fstab, growToolMissing, replaced };
}
