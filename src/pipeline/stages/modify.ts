import fs from 'node:fs/promises';
import { alignUp, MiB } from '../../disk/layout.js';
import { copyTree } from '../../fs/copy.js';
import { makeExt4 } from '../../fs/ext4-tools.js';
import { Ext4Editor } from '../../fs/ext4.js';
import type { RecordingEditor } from '../../fs/recording.js';
import { partitionDevice } from '../../mender/devices.js';
import { applyRootfsContract } from '../../mender/rootfs.js';
import { UserError } from '../../util/errors.js';
import { runHooks, type Hooks } from '../hooks.js';
import { clientIntegration } from '../integrations/client/index.js';
import { Stage } from '../runner.js';
import type { BootloaderResult, Modified, ModifyInput, RunEnv } from '../types.js';

/**
 * Modify: the Mender layout applied to the root filesystem, then, in this order, the client
 * install, the bootloader integration, the board integration (board.hooks), the user's hooks and
 * overlays, and /data moved into the new data partition.
 */

export interface ModifyStageInput extends ModifyInput {
  readonly hooks: Hooks;
}

/** The overlay directories exist. */
export async function preflight(env: RunEnv): Promise<void> {
  for (const dir of env.config.overlays) {
    const stat = await fs.stat(dir).catch(() => undefined);
    if (!stat?.isDirectory()) {
      throw new UserError(`The overlay directory ${dir} does not exist.`, { hint: `Check the overlays setting (${env.sources.overlays}).` });
    }
  }
}

async function applyLayout({ env, extracted, target }: ModifyInput): Promise<void> {
  const { config } = env;
  const result = await applyRootfsContract({
    rootfs: extracted.rootfs,
    artifactName: config['artifact.name'],
    bootDevice: partitionDevice(1, target.naming),
    bootMountpoint: target.bootMountpoint,
    bootOptions: config['boot.fstab_opts'],
    rootOptions: config['rootfs.fstab_opts'],
    rootPassno: config['rootfs.fstab_passno'],
    dataDevice: partitionDevice(4, target.naming),
    dataOptions: config['data.fstab_opts'],
    growData: config['data.growfs'],
  });
  env.notes.push(...result.replaced);
  if (result.growToolMissing) {
    env.notes.push('The image has neither sfdisk nor parted: the data partition will not grow on first boot (install fdisk in the image).');
  }
  env.logger.info(`fstab:\n${result.fstab}`);
}

async function applyOverlays({ env, extracted }: ModifyInput, report: (status: string) => void): Promise<void> {
  for (const dir of env.config.overlays) {
    report(dir);
    await extracted.rootfs.copyIn(dir, '/');
    env.logger.info(`overlay applied: ${dir}`);
  }
}

const underData = (p: string) => p === '/data' || p.startsWith('/data/');

/**
 * What the conversion (or a hook or overlay) wrote into the root filesystem must stay there: a
 * path whose directories the image links into /data (/etc/mender → /data/etc-mender) would be
 * written under /data and moved to the data partition with it — the Artifact's identity in
 * /etc/mender/artifact_info then sits on the data partition, where no update changes it.
 * What was written to /data itself goes there on purpose.
 */
async function checkNothingWrittenIntoData(rootfs: RecordingEditor): Promise<void> {
  for (const change of rootfs.changes) {
    if (change.action === 'remove' || underData(change.path)) continue;
    const landed = (await rootfs.stat(change.path))?.path;
    if (!landed || !underData(landed)) continue;
    let link = '';
    for (const dir of ancestors(change.path)) {
      const entry = await rootfs.stat(dir);
      if (entry?.type === 'symlink') {
        link = ` (${dir} is a symlink to ${entry.target})`;
        break;
      }
    }
    throw new UserError(`${change.path}, which the conversion writes into the root filesystem, would land at ${landed}${link}: /data goes to the data partition, so it would be neither part of the root filesystem nor changed by an update.`, {
      hint: 'Make that directory a real directory in the golden image (link single files to /data instead, where they must persist).',
    });
  }
}

/** /a, /a/b … of /a/b/c: the directories on the way to a path. */
function ancestors(p: string): string[] {
  const parts = p.split('/').filter(Boolean);
  return parts.slice(0, -1).map((_, index) => `/${parts.slice(0, index + 1).join('/')}`);
}

/** The data partition's filesystem, with the root filesystem's /data moved into it. */
async function moveData({ env, extracted, target }: ModifyInput): Promise<string> {
  const { config } = env;
  const file = `${env.runDir}/data.ext4`;
  const dataBytes = alignUp(config['data.size_mb'] * MiB, config['storage.alignment']);
  await makeExt4(file, dataBytes, {
    label: 'data',
    uuid: target.identities.dataFsUuid,
    hashSeed: target.identities.dataHashSeed,
    extraOptions: config['data.mkfs_opts'].split(/\s+/).filter(Boolean),
    timestamp: env.epoch,
  });
  const data = await Ext4Editor.open(file, { logger: env.logger, clock: () => env.epoch });
  const { rootfs } = extracted;
  const mountpoint = await rootfs.stat('/data');
  if (mountpoint?.type !== 'dir') {
    throw new UserError(`/data in the root filesystem is ${mountpoint ? `a ${mountpoint.type}${mountpoint.target ? ` to ${mountpoint.target}` : ''}` : 'missing'} after the hooks and overlays ran; it must stay the data partition's mount point.`, {
      hint: 'Leave /data a directory in hooks and overlays: what a device keeps there goes into the overlay\'s data/ directory.',
    });
  }
  await checkNothingWrittenIntoData(rootfs);
  let moved: number;
  try {
    moved = await copyTree(rootfs, '/data', data, '/', {
      onSpecial: (entry) => {
        throw new UserError(`/data${entry.path.slice(5)} in the root filesystem is a special file; it cannot be moved to the data partition.`);
      },
    });
    await data.flush();
  } catch (error) {
    // debugfs's word for a full filesystem: the data partition is smaller than what /data holds.
    if (error instanceof UserError && /Could not allocate (block|inode)/.test(error.message)) {
      throw new UserError(`/data in the root filesystem holds more than the data partition of ${config['data.size_mb']} MiB (data.size_mb) can take.`, {
        hint: 'Raise data.size_mb (on the device the partition grows to fill the storage at first boot), or keep less under /data in the golden image.',
      });
    }
    throw error;
  }
  if (moved > 0) {
    for (const entry of await rootfs.list('/data')) await rootfs.remove(entry.path, { recursive: true });
    env.notes.push(`${moved} entries under /data moved from the root filesystem into the data partition.`);
  }
  await rootfs.flush();
  return file;
}

interface Installed extends ModifyStageInput {
  readonly client: { packages: Modified['packages']; clientInstalled: boolean };
}

interface Integrated extends Installed {
  readonly bootloader: BootloaderResult;
}

export const modifyStage = Stage.start<ModifyStageInput>('Modify')
  .also('Pre-modify hooks', (_env, s, report) => runHooks(s, s.hooks, 'pre_modify', report), (s) => s.hooks.pre_modify.length > 0)
  .also('Apply the Mender root filesystem layout', (_env, s) => applyLayout(s))
  .then('Install the Mender client and packages', async (env, s, report): Promise<Installed> => ({
    ...s,
    client: await clientIntegration.apply(s, s.target.bootloader.integration.packages(env.config), report),
  }))
  .then('Bootloader integration', async (_env, s): Promise<Integrated> => ({ ...s, bootloader: await s.target.bootloader.apply(s) }))
  .also('Board integration', (_env, s, report) => runHooks(s, s.hooks, 'platform_modify', report), (s) => s.hooks.platform_modify.length > 0)
  .also('Modify hooks', (_env, s, report) => runHooks(s, s.hooks, 'modify', report), (s) => s.hooks.modify.length > 0)
  .also('Apply overlays', (_env, s, report) => applyOverlays(s, report), (s) => s.env.config.overlays.length > 0)
  .also('Post-modify hooks', (_env, s, report) => runHooks(s, s.hooks, 'post_modify', report), (s) => s.hooks.post_modify.length > 0)
  .then('Move /data into the data partition', async (_env, s): Promise<Modified> => ({
    dataFile: await moveData(s),
    packages: s.client.packages,
    clientInstalled: s.client.clientInstalled,
    rawWrites: s.bootloader.rawWrites,
  }));
