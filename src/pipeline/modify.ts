import fs from 'node:fs/promises';
import { copyTree } from '../fs/copy.js';
import { Ext4Editor } from '../fs/ext4.js';
import { makeExt4 } from '../fs/tools.js';
import { applyRootfsContract } from '../mender/rootfs.js';
import { partitionDevice, type DeviceNaming } from '../mender/devices.js';
import { UserError } from '../util/errors.js';
import { MiB, alignUp } from '../disk/layout.js';
import type { ConversionContext } from './context.js';
import { runHooks, type Stage } from './runner.js';
import { derivedUuid } from './identity.js';
import { installClient } from './client.js';
import { configureClient } from '../mender/client-config.js';

/** Device names: decided here because fstab, mender.conf and boot configs all embed them. */
function deviceNaming(ctx: ConversionContext): DeviceNaming {
  const scheme = ctx.config['storage.partition_scheme'] === 'keep' ? ctx.input!.scheme : ctx.config['storage.partition_scheme'];
  ctx.scheme = scheme;
  const diskId = scheme === 'dos'
    ? (ctx.input!.scheme === 'dos' && ctx.input!.diskId ? ctx.input!.diskId : derivedUuid(ctx, 'disk-id').slice(0, 8))
    : undefined;
  const partUuids: Record<number, string> = {};
  // Entry 0 is the GPT disk GUID.
  for (const number of [0, 1, 2, 3, 4]) partUuids[number] = derivedUuid(ctx, number === 0 ? 'disk-guid' : `partition-${number}`);
  if (scheme === 'gpt' && ctx.input!.scheme === 'gpt' && ctx.input!.bootPartUuid) partUuids[1] = ctx.input!.bootPartUuid.toLowerCase();
  return { deviceBase: ctx.config['storage.device_base'], partuuid: ctx.config['storage.partuuid'], scheme, diskId, partUuids };
}

export const modifyStage: Stage = {
  title: 'Modify',
  async preflight(ctx) {
    for (const dir of ctx.config.overlays) {
      const stat = await fs.stat(dir).catch(() => undefined);
      if (!stat?.isDirectory()) {
        throw new UserError(`The overlay directory ${dir} does not exist.`, { hint: `Check the overlays setting (${ctx.sources.overlays}).` });
      }
    }
  },
  steps: [
    {
      title: 'Pre-modify hooks',
      enabled: (ctx) => ctx.hooks.pre_modify.length > 0,
      run: (ctx, report) => runHooks(ctx, 'pre_modify', report),
    },
    {
      title: 'Apply the Mender root filesystem layout',
      async run(ctx) {
        ctx.naming = deviceNaming(ctx);
        const result = await applyRootfsContract({
          rootfs: ctx.rootfs!,
          artifactName: ctx.config['artifact.name'],
          bootDevice: partitionDevice(1, ctx.naming),
          bootMountpoint: ctx.bootMountpoint!,
          bootOptions: ctx.config['boot.fstab_opts'],
          rootOptions: ctx.config['rootfs.fstab_opts'],
          rootPassno: ctx.config['rootfs.fstab_passno'],
          dataDevice: partitionDevice(4, ctx.naming),
          dataOptions: ctx.config['data.fstab_opts'],
          growData: ctx.config['data.growfs'],
        });
        if (result.growToolMissing) {
          ctx.notes.push('The image has neither sfdisk nor parted: the data partition will not grow on first boot (install fdisk in the image).');
        }
        ctx.logger.info(`fstab:\n${result.fstab}`);
      },
    },
    {
      title: 'Install the Mender client and packages',
      async run(ctx, report) {
        await installClient(ctx, report);
        if (ctx.clientInstalled || ctx.config['server.url']) {
          const written = await configureClient(ctx.rootfs!, {
            url: ctx.config['server.url'],
            tenantToken: ctx.config['server.tenant_token'],
            certificate: ctx.config['server.certificate'],
            updatePollSeconds: ctx.config['server.update_poll_seconds'],
            inventoryPollSeconds: ctx.config['server.inventory_poll_seconds'],
            retryPollSeconds: ctx.config['server.retry_poll_seconds'],
          });
          ctx.logger.info(`client configuration: ${written.join(', ')}`);
        }
      },
    },
    {
      title: 'Platform integration',
      enabled: (ctx) => ctx.hooks.platform_modify.length > 0,
      run: (ctx, report) => runHooks(ctx, 'platform_modify', report),
    },
    {
      title: 'Modify hooks',
      enabled: (ctx) => ctx.hooks.modify.length > 0,
      run: (ctx, report) => runHooks(ctx, 'modify', report),
    },
    {
      title: 'Apply overlays',
      enabled: (ctx) => ctx.config.overlays.length > 0 || ctx.hooks.overlay_modify.length > 0,
      async run(ctx, report) {
        for (const dir of ctx.config.overlays) {
          report(dir);
          await ctx.rootfs!.copyIn(dir, '/');
          ctx.logger.info(`overlay applied: ${dir}`);
        }
        await runHooks(ctx, 'overlay_modify', report);
      },
    },
    {
      title: 'Post-modify hooks',
      enabled: (ctx) => ctx.hooks.post_modify.length > 0,
      run: (ctx, report) => runHooks(ctx, 'post_modify', report),
    },
    {
      title: 'Move /data into the data partition',
      async run(ctx) {
        const dataBytes = alignUp(ctx.config['data.size_mb'] * MiB, ctx.config['storage.alignment']);
        const options = ctx.config['data.mkfs_opts'].split(/\s+/).filter(Boolean);
        await makeExt4(ctx.files!.data, dataBytes, {
          label: 'data',
          uuid: derivedUuid(ctx, 'data-filesystem'),
          hashSeed: derivedUuid(ctx, 'data-hash-seed'),
          extraOptions: options,
          timestamp: ctx.epoch,
        });
        const data = await Ext4Editor.open(ctx.files!.data, { logger: ctx.logger, clock: () => ctx.epoch });
        const rootfs = ctx.rootfs!;
        const moved = await copyTree(rootfs, '/data', data, '/', {
          onSpecial: (entry) => {
            throw new UserError(`/data${entry.path.slice(5)} in the root filesystem is a special file; it cannot be moved to the data partition.`);
          },
        });
        if (moved > 0) {
          for (const entry of await rootfs.list('/data')) await rootfs.remove(entry.path, { recursive: true });
          ctx.notes.push(`${moved} entries under /data moved from the root filesystem into the data partition.`);
        }
        await data.flush();
        await rootfs.flush();
      },
    },
  ],
};
