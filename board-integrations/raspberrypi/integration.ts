/**
 * Raspberry Pi board integration (board.hooks: run right after the U-Boot integration): the
 * firmware starts U-Boot instead of the kernel, the kernel command line takes its root= from
 * U-Boot's environment, each root filesystem carries the firmware's device trees, and what would
 * resize or remount the root partition behind Mender's back is removed. On the device, package
 * upgrades keep it so (boot-files.sh, run by the kernel hooks and by APT; Debian's and Raspberry
 * Pi OS's raspi-firmware configured to start U-Boot), and Raspberry Pi Imager's first-boot
 * customisation runs once (imager-firstrun.sh).
 */
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { FsEditor } from '../../src/fs/editor.js';
import type { HookApi } from '../../src/pipeline/hooks.js';

const ROOT = { uid: 0, gid: 0 };
/** First-boot scripts that grow partition 2 to the end of the card: fatal for an A/B layout. */
const RESIZE_INITS = ['/usr/lib/raspi-config/init_resize.sh', '/usr/lib/raspberrypi-sys-mods/firstboot'];
/** The first line of the block config.txt ends with (boot-files.sh finds it by the same text). */
export const BLOCK_BEGIN = '# mender-convert: the firmware starts U-Boot, which boots the active root filesystem (A/B).';
const BLOCK_END = '# mender-convert: end';

const here = (name: string) => fileURLToPath(new URL(name, import.meta.url));
/** The device-side scripts, where they are installed, and what runs them. */
export const BOOT_FILES_SCRIPT = { source: here('./boot-files.sh'), path: '/usr/lib/mender-convert/raspberrypi-boot-files' };
export const IMAGER_FIRSTRUN_SCRIPT = { source: here('./imager-firstrun.sh'), path: '/usr/lib/mender-convert/imager-firstrun' };
export const BOOT_FILES_LINKS = ['/etc/kernel/postinst.d/zz-mender-raspberrypi', '/etc/kernel/postrm.d/zz-mender-raspberrypi', '/etc/initramfs/post-update.d/zz-mender-raspberrypi'];
const APT_HOOK = '/etc/apt/apt.conf.d/90mender-raspberrypi';
const IMAGER_UNIT = 'mender-imager-firstrun.service';
export const SETTINGS = '/etc/default/mender-raspberrypi';
const RASPI_FIRMWARE_DEFAULTS = '/etc/default/raspi-firmware';

function lines(text: string): string[] {
  const all = text.split('\n');
  if (all.at(-1) === '') all.pop();
  return all;
}

/**
 * config.txt with a closing [all] section that wins over earlier lines, which are all kept
 * (an earlier mender-convert block is replaced; trailing blank lines dropped). boot-files.sh
 * does the same on the device.
 */
export function menderConfigTxt(text: string, ubootFile: string, arm64: boolean): string {
  const kept: string[] = [];
  let skipping = false;
  for (const line of lines(text)) {
    if (line === BLOCK_BEGIN) skipping = true;
    else if (skipping) skipping = line !== BLOCK_END;
    else kept.push(line);
  }
  while (kept.length > 0 && /^\s*$/.test(kept.at(-1)!)) kept.pop();
  return [...kept, ...(kept.length ? [''] : []), BLOCK_BEGIN, '[all]', `kernel=${ubootFile}`, 'enable_uart=1', `arm_64bit=${arm64 ? 1 : 0}`, BLOCK_END, ''].join('\n');
}

/** cmdline.txt with root= from U-Boot's environment and no first-boot resize (as boot-files.sh). */
export function menderCmdline(text: string): string {
  const words = text.trim().split(/\s+/).filter(Boolean).filter((word) => !RESIZE_INITS.some((script) => word === `init=${script}`));
  const root = 'root=${mender_kernel_root}';
  const replaced = words.map((word) => (word.startsWith('root=') ? root : word));
  if (!replaced.includes(root)) replaced.push(root);
  return `${replaced.join(' ')}\n`;
}

/** The boot partition's device trees and overlays copied into the root filesystem's /boot, so that each rootfs carries its own. */
async function copyDeviceTrees(boot: FsEditor, rootfs: FsEditor): Promise<number> {
  let copied = 0;
  const copy = async (from: string, to: string, suffix: RegExp) => {
    if ((await boot.stat(from))?.type !== 'dir') return;
    for (const entry of await boot.list(from)) {
      if (entry.type !== 'file' || !suffix.test(entry.name)) continue;
      await rootfs.mkdir(to, { ...ROOT, mode: 0o755 });
      await rootfs.writeFile(`${to}/${entry.name}`, await boot.readFile(entry.path), { ...ROOT, mode: 0o644 });
      copied++;
    }
  };
  await copy('/', '/boot', /\.dtb$/i);
  await copy('/overlays', '/boot/overlays', /\.(dtbo|txt)$/i);
  return copied;
}

/**
 * /etc/default/raspi-firmware with a closing block that wins (the file is sourced): the
 * firmware's kernel is U-Boot, no initramfs line (boot.scr loads the root filesystem's), and
 * Debian's hook writes root=${mender_kernel_root} into cmdline.txt. Raspberry Pi OS's hook reads
 * KERNEL and INITRAMFS only: with them set it leaves kernel8.img and initramfs8 alone.
 */
export function raspiFirmwareDefaults(text: string, ubootFile: string): string {
  const begin = '# mender-convert: the firmware starts U-Boot, which loads kernel and initrd from the active root filesystem.';
  const end = '# mender-convert: end';
  const kept: string[] = [];
  let skipping = false;
  for (const line of lines(text)) {
    if (line === begin) skipping = true;
    else if (skipping) skipping = line !== end;
    else kept.push(line);
  }
  while (kept.length > 0 && /^\s*$/.test(kept.at(-1)!)) kept.pop();
  return [...kept, ...(kept.length ? [''] : []), begin, `KERNEL=${ubootFile}`, 'INITRAMFS=no', "ROOTPART='${mender_kernel_root}'", end, ''].join('\n');
}

/** /etc/default/mender-raspberrypi: what boot-files.sh and imager-firstrun.sh source. */
export function bootFilesSettings(bootMountpoint: string, ubootFile: string, arm64: boolean): string {
  return `# Written by mender-convert: the Raspberry Pi boot partition as ${BOOT_FILES_SCRIPT.path} keeps it.\nMENDER_BOOT_MOUNT=${bootMountpoint}\nMENDER_UBOOT_FILE=${ubootFile}\nMENDER_ARM_64BIT=${arm64 ? 1 : 0}\n`;
}

/** The systemd unit that prepares Imager's firstrun.sh before systemd runs it (imager-firstrun.sh). */
export function imagerFirstrunUnit(bootMountpoint: string): string {
  return `[Unit]
Description=Prepare Raspberry Pi Imager's first-boot customisation on the boot partition (mender-convert)
DefaultDependencies=no
After=local-fs.target
RequiresMountsFor=${bootMountpoint}
Before=sysinit.target kernel-command-line.service
ConditionKernelCommandLine=systemd.run=/boot/firstrun.sh
ConditionPathExists=${bootMountpoint}/firstrun.sh

[Service]
Type=oneshot
ExecStart=${IMAGER_FIRSTRUN_SCRIPT.path}

[Install]
WantedBy=sysinit.target
`;
}

export default async function raspberrypi(api: HookApi): Promise<void> {
  const { boot, rootfs, config, facts, logger } = api;
  const ubootFile = config['uboot.install_path'].replace(/^\/+/, '');
  const arm64 = facts.arch === 'arm64';
  const mountpoint = api.bootMountpoint.replace(/\/$/, '');

  const configTxt = (await boot.exists('/config.txt')) ? await boot.readText('/config.txt') : '';
  await boot.writeFile('/config.txt', menderConfigTxt(configTxt, ubootFile, arm64));

  // Ubuntu's Raspberry Pi images keep U-Boot's kernel command line in btcmd.txt.
  let cmdlines = 0;
  for (const file of ['/cmdline.txt', '/btcmd.txt']) {
    if (!(await boot.exists(file))) continue;
    await boot.writeFile(file, menderCmdline(await boot.readText(file)));
    cmdlines++;
  }
  if (cmdlines === 0) await boot.writeFile('/cmdline.txt', menderCmdline('console=serial0,115200 rootwait'));

  // udisks2 would mount the inactive root filesystem for desktop users, who could then change it.
  await rootfs.symlink('/etc/systemd/system/udisks2.service', '/dev/null', ROOT);

  // Raspberry Pi OS before bookworm grows the root filesystem on first boot with this init script.
  const removed: string[] = [];
  for (const dir of ['/etc/init.d', ...['S', '0', '1', '2', '3', '4', '5', '6'].map((level) => `/etc/rc${level}.d`)]) {
    if ((await rootfs.stat(dir))?.type !== 'dir') continue;
    for (const entry of await rootfs.list(dir)) {
      if (!entry.name.endsWith('resize2fs_once')) continue;
      await rootfs.remove(entry.path);
      removed.push(entry.path);
    }
  }

  // After package upgrades: the firmware's packages configured to start U-Boot (the file exists
  // where raspi-firmware, Debian's or Raspberry Pi OS's, is installed: it is their conffile),
  // and config.txt, cmdline.txt and the device trees checked by the kernel hooks and APT.
  const raspiFirmware = await rootfs.exists(RASPI_FIRMWARE_DEFAULTS);
  if (raspiFirmware) await rootfs.writeFile(RASPI_FIRMWARE_DEFAULTS, raspiFirmwareDefaults(await rootfs.readText(RASPI_FIRMWARE_DEFAULTS), ubootFile), { ...ROOT, mode: 0o644 });
  await rootfs.mkdir('/usr/lib/mender-convert', { ...ROOT, mode: 0o755 });
  for (const script of [BOOT_FILES_SCRIPT, IMAGER_FIRSTRUN_SCRIPT]) await rootfs.writeFile(script.path, fs.readFileSync(script.source), { ...ROOT, mode: 0o755 });
  await rootfs.writeFile(SETTINGS, bootFilesSettings(mountpoint, ubootFile, arm64), { ...ROOT, mode: 0o644 });
  for (const link of BOOT_FILES_LINKS) {
    await rootfs.mkdir(link.slice(0, link.lastIndexOf('/')), { ...ROOT, mode: 0o755 });
    await rootfs.symlink(link, BOOT_FILES_SCRIPT.path, ROOT);
  }
  await rootfs.mkdir('/etc/apt/apt.conf.d', { ...ROOT, mode: 0o755 });
  await rootfs.writeFile(APT_HOOK, `// mender-convert: config.txt and cmdline.txt keep starting U-Boot whatever a package wrote.\nDPkg::Post-Invoke { "if [ -x ${BOOT_FILES_SCRIPT.path} ]; then ${BOOT_FILES_SCRIPT.path} --config-only || true; fi"; };\n`, { ...ROOT, mode: 0o644 });

  // Raspberry Pi Imager's customisation (firstrun.sh) runs once from the boot partition.
  await rootfs.mkdir('/etc/systemd/system/sysinit.target.wants', { ...ROOT, mode: 0o755 });
  await rootfs.writeFile(`/etc/systemd/system/${IMAGER_UNIT}`, imagerFirstrunUnit(mountpoint), { ...ROOT, mode: 0o644 });
  await rootfs.symlink(`/etc/systemd/system/sysinit.target.wants/${IMAGER_UNIT}`, `/etc/systemd/system/${IMAGER_UNIT}`, ROOT);

  const trees = await copyDeviceTrees(boot, rootfs);
  logger.info(`raspberrypi: config.txt starts ${ubootFile}; ${cmdlines || 'a new'} cmdline file(s) take root= from U-Boot; ${trees} device tree files copied to the root filesystem's /boot; udisks2 masked${removed.length ? `; removed ${removed.join(' ')}` : ''}; ${raspiFirmware ? `${RASPI_FIRMWARE_DEFAULTS} starts U-Boot; ` : ''}boot files kept by ${BOOT_FILES_SCRIPT.path} after upgrades; Imager's firstrun.sh prepared by ${IMAGER_UNIT}`);
}
