/**
 * Raspberry Pi board integration (board.hooks: run right after the U-Boot integration): the
 * firmware starts U-Boot instead of the kernel, the kernel command line takes its root= from
 * U-Boot's environment, each root filesystem carries the firmware's device trees, and what would
 * resize or remount the root partition behind Mender's back is removed.
 */
import type { FsEditor } from '../../src/fs/editor.js';
import type { HookApi } from '../../src/pipeline/hooks.js';

const ROOT = { uid: 0, gid: 0 };
/** First-boot scripts that grow partition 2 to the end of the card: fatal for an A/B layout. */
const RESIZE_INITS = ['/usr/lib/raspi-config/init_resize.sh', '/usr/lib/raspberrypi-sys-mods/firstboot'];

/** config.txt with a closing [all] section that wins over earlier lines, which are all kept. */
export function menderConfigTxt(text: string, ubootFile: string, arm64: boolean): string {
  const body = text.replace(/\s*$/, '');
  return [
    ...(body ? [body, ''] : []),
    '# mender-convert: the firmware starts U-Boot, which boots the active root filesystem (A/B).',
    '[all]',
    `kernel=${ubootFile}`,
    'enable_uart=1',
    `arm_64bit=${arm64 ? 1 : 0}`,
    '',
  ].join('\n');
}

/** cmdline.txt with root= from U-Boot's environment and no first-boot resize. */
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

export default async function raspberrypi(api: HookApi): Promise<void> {
  const { boot, rootfs, config, facts, logger } = api;
  const ubootFile = config['uboot.install_path'].replace(/^\/+/, '');

  const configTxt = (await boot.exists('/config.txt')) ? await boot.readText('/config.txt') : '';
  await boot.writeFile('/config.txt', menderConfigTxt(configTxt, ubootFile, facts.arch === 'arm64'));

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
  const trees = await copyDeviceTrees(boot, rootfs);
  logger.info(`raspberrypi: config.txt starts ${ubootFile}; ${cmdlines || 'a new'} cmdline file(s) take root= from U-Boot; ${trees} device tree files copied to the root filesystem's /boot; udisks2 masked${removed.length ? `; removed ${removed.join(' ')}` : ''}`);
}
