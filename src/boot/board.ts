/**
 * Which emulated machine boots a disk image, read from the image itself: its boot partition's
 * EFI loader (x86-64 or arm64 UEFI) or Raspberry Pi firmware files (config.txt, the file it
 * starts — U-Boot in a converted image — and a Pi 3 device tree), and how the image names its
 * root device, which tells on what bus the disk must appear.
 */
import path from 'node:path';
import { readPartitionTable, type PartitionInfo } from '../disk/table.js';
import { FatEditor } from '../fs/fat.js';
import { UserError } from '../util/errors.js';

export const BOARD_FAMILIES = {
  'x86-64': 'x86-64 PC with UEFI (QEMU q35, OVMF)',
  'arm64-virt': 'arm64 with UEFI (QEMU virt, AAVMF)',
  raspi3b: 'Raspberry Pi 3 Model B, 64-bit (QEMU raspi3b, the image\'s own U-Boot)',
} as const;
export type BoardFamily = keyof typeof BOARD_FAMILIES;

/** How the disk is attached, from the root device the image names: /dev/sda, /dev/vda, /dev/nvme0n1, /dev/mmcblk0. */
export type DiskBus = 'sata' | 'virtio' | 'nvme' | 'sd';

export interface RaspberryPiBoot {
  /** What the firmware would start (config.txt's kernel=), as stored on the boot partition. */
  kernel: string;
  /** The Pi 3 device tree the firmware would load. */
  deviceTree: string;
  /** cmdline.txt, which the firmware puts into the device tree's /chosen/bootargs. */
  cmdline: string;
}

export interface BootTarget {
  family: BoardFamily;
  bus: DiskBus;
  /** Rootfs A's root= as the image's bootloader configuration names it, when it does. */
  rootDevice?: string;
  /** The boot partition's byte offset in the image (its FAT filesystem is read there). */
  bootOffset: number;
  raspberryPi?: RaspberryPiBoot;
}

/** MBR type bytes and the GPT ESP / basic-data GUIDs of FAT partitions. */
const FAT_TYPES = new Set(['1', '4', '6', 'b', 'c', 'e', 'ef', 'c12a7328-f81f-11d2-ba4b-00a0c93ec93b', 'ebd0a0a2-b9e5-4433-87c0-68b6b72699c7']);
/** Where the Mender grub.cfg is: the standalone loader's directory, or the grub.d integration's /grub. */
const GRUB_CONFIGS = ['/EFI/BOOT/grub.cfg', '/grub/grub.cfg'];
/** Raspberry Pi 3 Model B device trees: Raspberry Pi OS's name first (the one its firmware loads), then the mainline kernel's. */
const PI3_DEVICE_TREES = ['bcm2710-rpi-3-b.dtb', 'bcm2837-rpi-3-b.dtb', 'bcm2710-rpi-3-b-plus.dtb', 'bcm2837-rpi-3-b-plus.dtb'];

export function busOfRootDevice(root: string | undefined): DiskBus {
  if (root?.startsWith('/dev/sd')) return 'sata';
  if (root?.startsWith('/dev/nvme')) return 'nvme';
  if (root?.startsWith('/dev/mmcblk')) return 'sd';
  // /dev/vd*, and PARTUUID=/UUID=/LABEL=, which any bus serves.
  return 'virtio';
}

/** The value config.txt gives `key` for a Pi 3 (the last setting outside sections for other boards). */
export function configTxtValue(text: string, key: string): string | undefined {
  let applies = true;
  let value: string | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    const section = /^\[(.+)\]$/.exec(line);
    if (section) {
      // Model filters other than the Pi 3's switch the lines after them off; other filters (gpio, EDID…) are taken as true.
      const filter = section[1]!.toLowerCase();
      applies = ['all', 'pi3', 'pi3+'].includes(filter) || !/^(pi\d.*|cm\d.*|none)$/.test(filter);
      continue;
    }
    const setting = /^([\w-]+)\s*=\s*(.*)$/.exec(line);
    if (applies && setting?.[1] === key) value = setting[2]!.trim();
  }
  return value;
}

async function grubRootDevice(fat: FatEditor): Promise<string | undefined> {
  for (const file of GRUB_CONFIGS) {
    if (!(await fat.exists(file))) continue;
    const match = /^mender_rootfsa_root=(['"]?)([^'"\n]+)\1$/m.exec(await fat.readText(file));
    if (match) return match[2];
  }
  return undefined;
}

async function raspberryPiBoot(fat: FatEditor, displayName: string): Promise<RaspberryPiBoot> {
  const config = await fat.readText('/config.txt');
  if (configTxtValue(config, 'arm_64bit') !== '1') {
    throw new UserError(`${displayName} is a 32-bit Raspberry Pi image (config.txt has no arm_64bit=1): boot emulates the 64-bit Raspberry Pi 3 only.`);
  }
  const kernel = (configTxtValue(config, 'kernel') ?? 'kernel8.img').replace(/^\/+/, '');
  if (!(await fat.exists(`/${kernel}`))) throw new UserError(`${displayName}: config.txt starts ${kernel}, which is not on the boot partition.`);
  const wanted = configTxtValue(config, 'device_tree');
  const trees = wanted ? [wanted.replace(/^\/+/, '')] : PI3_DEVICE_TREES;
  let deviceTree: string | undefined;
  for (const tree of trees) if (!deviceTree && (await fat.exists(`/${tree}`))) deviceTree = tree;
  if (!deviceTree) {
    throw new UserError(`${displayName} has no Raspberry Pi 3 device tree on its boot partition (${trees.join(', ')}).`, {
      hint: 'QEMU emulates the Raspberry Pi 3 Model B (raspi3b); images for other Raspberry Pi models do not boot in it.',
    });
  }
  const cmdline = (await fat.exists('/cmdline.txt')) ? (await fat.readText('/cmdline.txt')).trim() : '';
  return { kernel, deviceTree, cmdline };
}

function bootPartition(partitions: PartitionInfo[]): PartitionInfo | undefined {
  const fat = partitions.filter((p) => FAT_TYPES.has(p.type));
  return fat.find((p) => p.number === 1) ?? fat[0];
}

/** The machine that boots a raw disk image (`board` skips the guess, not the checks). */
export async function readBootTarget(image: string, options: { board?: BoardFamily; displayName?: string } = {}): Promise<BootTarget> {
  const displayName = options.displayName ?? path.basename(image);
  const table = await readPartitionTable(image, displayName);
  const boot = bootPartition(table.partitions);
  if (!boot) throw new UserError(`${displayName} has no FAT boot partition, so nothing tells how it boots.`, { hint: 'boot starts converted images (boot partition, rootfs A and B, data).' });
  const fat = await FatEditor.open(`${image}@@${boot.start}`);
  const has = (file: string) => fat.exists(file);
  const family =
    options.board ??
    ((await has('/EFI/BOOT/BOOTX64.EFI'))
      ? 'x86-64'
      : (await has('/EFI/BOOT/BOOTAA64.EFI'))
          ? 'arm64-virt'
          : (await has('/config.txt'))
              ? 'raspi3b'
              : undefined);
  if (!family) {
    throw new UserError(`Cannot tell which machine boots ${displayName}: its boot partition has no EFI/BOOT/BOOTX64.EFI, EFI/BOOT/BOOTAA64.EFI or Raspberry Pi config.txt.`, {
      hint: `Name it with --board ${Object.keys(BOARD_FAMILIES).join('|')}.`,
    });
  }
  if (family === 'raspi3b') {
    if (!(await has('/config.txt'))) throw new UserError(`${displayName} has no config.txt on its boot partition: it is not a Raspberry Pi image.`);
    return { family, bus: 'sd', bootOffset: boot.start, raspberryPi: await raspberryPiBoot(fat, displayName) };
  }
  const rootDevice = await grubRootDevice(fat);
  return { family, bus: busOfRootDevice(rootDevice), rootDevice, bootOffset: boot.start };
}
