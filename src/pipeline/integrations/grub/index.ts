import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { buffer } from 'node:stream/consumers';
import { generateGrubConfig } from '../../../bootloader/grub/config.js';
import { buildGrubEfi, GRUB_CONFIG_DIR, GRUB_EFI_TARGETS, type GrubEfiArch } from '../../../bootloader/grub/efi.js';
import { menderGrubEnvFiles } from '../../../bootloader/grub/env.js';
import { GRUB_D_SCRIPT, grubDOutput, grubDScript, grubMkconfigFile, grubStubConfig, parseGrubDefaults } from '../../../bootloader/grub/grubd.js';
import { GRUBENV_TOOL_NAMES, grubenvToolScript } from '../../../bootloader/grub/tools.js';
import { DpkgDatabase } from '../../../deb/install.js';
import { copyTree } from '../../../fs/copy.js';
import { KERNEL_IMAGE, kernelVersion, newestKernel } from '../../../image/probe.js';
import { partitionDevice } from '../../../mender/devices.js';
import { writeAtomically } from '../../../util/atomic.js';
import { UserError } from '../../../util/errors.js';
import { run } from '../../../util/exec.js';
import type { ModifyInput } from '../../types.js';
import { debianSuiteFor, fetchDebianPackage } from '../debian.js';
import type { BootloaderIntegration } from '../integration.js';
import { makeDirectory } from '../../../util/directories.js';

/**
 * The GRUB (UEFI) integration (bootloader.type: grub), one of two ways:
 * - with the distribution's GRUB (x86-64 images that have one; bootloader.grub_d_integration):
 *   its loaders stay, /boot/grub moves to the boot partition, /etc/grub.d/05_mender makes
 *   update-grub write the Mender boot logic, and the first grub.cfg is what it would write;
 * - else a standalone GRUB EFI loader built from the target's modules, with our grub.cfg, and the
 *   kernel and initrd linked at /boot/kernel and /boot/initrd in the root filesystem.
 * Both get the two-copy Mender environment on the boot partition and the environment tools
 * for the client in /usr/bin.
 */

/** A distribution GRUB for x86-64 UEFI is one of these (with grub-common). */
const DISTRO_GRUB_PACKAGES = ['grub-efi-amd64', 'grub-efi-amd64-signed', 'grub-efi-amd64-bin'];
/** Where the distribution GRUB's configuration directory (/boot/grub) goes on the boot partition. */
const DISTRO_GRUB_DIR = '/grub';
const CONFLICTING_LOADERS = ['/EFI/systemd', '/EFI/Linux', '/loader'];
const HOST_MODULES: Record<GrubEfiArch, string> = { amd64: '/usr/lib/grub/x86_64-efi', arm64: '/usr/lib/grub/arm64-efi' };

interface LinkedKernel {
  version: string;
  initrd: boolean;
}

/**
 * /boot/kernel and /boot/initrd of the root filesystem, which the standalone grub.cfg boots (as
 * upstream's grub-mender-grubenv does on the devices it converted). Where the kernels are
 * Debian's packages, they point at the links those packages keep on the newest kernel
 * (/vmlinuz, /initrd.img: linux-update-symlinks moves them on every install and removal), so an
 * apt upgrade, or the removal of the kernel the image was converted with, keeps the device
 * booting; otherwise at the newest kernel found.
 */
async function linkKernel(input: ModifyInput): Promise<LinkedKernel | undefined> {
  const { env, extracted } = input;
  const { rootfs, facts } = extracted;
  const root = { uid: 0, gid: 0 };
  let kernel = newestKernel(facts.rootfsKernels.filter((k) => KERNEL_IMAGE.test(k)));
  if (!kernel && facts.bootKernels.length > 0) {
    // Only the boot partition has a kernel: each root filesystem needs its own copy.
    const source = facts.bootKernels[0]!;
    kernel = `/boot/${source.slice(source.lastIndexOf('/') + 1)}`;
    await rootfs.mkdir('/boot', { ...root, mode: 0o755 });
    await rootfs.writeFile(kernel, await extracted.boot.readFile(source), { ...root, mode: 0o644 });
  }
  if (!kernel) {
    env.notes.push('No kernel found in the root filesystem /boot or on the boot partition: the image will not boot until one is installed.');
    return undefined;
  }
  const version = kernelVersion(kernel);
  const distro = facts.rootfsKernels.some((k) => /^\/boot\/vmlinuz-/.test(k)) ? await distroKernelLinks(input) : undefined;
  // Relative from /boot: GRUB and the device resolve /boot/kernel → /vmlinuz → boot/vmlinuz-<version>.
  const fromBoot = (link: string) => (link.startsWith('/boot/') ? link.slice('/boot/'.length) : `..${link}`);
  const initrd = facts.rootfsInitrds.find((i) => i.endsWith(`-${version}`)) ?? newestKernel(facts.rootfsInitrds);
  const kernelTarget = distro ? fromBoot(distro.kernel) : kernel.slice('/boot/'.length);
  const initrdTarget = distro ? (distro.initrd ? fromBoot(distro.initrd) : undefined) : initrd?.slice('/boot/'.length);
  await rootfs.symlink('/boot/kernel', kernelTarget, root);
  if (initrdTarget) await rootfs.symlink('/boot/initrd', initrdTarget, root);
  env.logger.info(`grub: /boot/kernel → ${kernelTarget}${initrdTarget ? `, /boot/initrd → ${initrdTarget}` : ' (no initrd)'} (${kernel})`);
  if (distro) env.notes.push(`GRUB boots /boot/kernel → ${distro.kernel}, the link Debian's kernel packages keep on the newest kernel: kernel upgrades and removals on the device keep it booting.`);
  return { version, initrd: initrdTarget !== undefined };
}

/**
 * The kernel's device trees (Debian keeps them in /usr/lib/linux-image-<version>) copied to /dtb
 * on the boot partition, where UEFI firmware that needs one (U-Boot's EFI boot among them) looks.
 */
async function copyDeviceTrees(input: ModifyInput, version: string): Promise<number> {
  const { rootfs, boot } = input.extracted;
  for (const dir of [`/usr/lib/linux-image-${version}`, `/boot/dtbs/${version}`]) {
    if ((await rootfs.stat(dir))?.type !== 'dir') continue;
    await boot.mkdir('/dtb');
    return copyTree(rootfs, dir, boot, '/dtb', { include: (entry) => entry.type === 'dir' || (entry.type === 'file' && entry.name.endsWith('.dtb')) });
  }
  return 0;
}

/** The target's GRUB modules: the host's package when it matches, else Debian's, fetched for the target. */
async function modulesDir(input: ModifyInput, arch: GrubEfiArch): Promise<string> {
  const { env, extracted } = input;
  const hostDir = HOST_MODULES[arch];
  if (await fs.stat(path.join(hostDir, 'moddep.lst')).catch(() => undefined)) return hostDir;
  const target = GRUB_EFI_TARGETS[arch];
  const { deb, version } = await fetchDebianPackage(env, target.modulesPackage, arch, debianSuiteFor(extracted.facts));
  const dir = path.join(env.cacheDir, 'grub', `${target.modulesPackage}_${version}`);
  if (await fs.stat(path.join(dir, 'moddep.lst')).catch(() => undefined)) return dir;
  await makeDirectory(path.dirname(dir), 'The cache directory');
  const prefix = `/usr/lib/grub/${target.format}/`;
  await writeAtomically(dir, async (partial) => {
    await fs.mkdir(partial);
    await deb.walkData(async (entry, content) => {
      if (entry.type !== 'file' || !entry.path.startsWith(prefix)) return;
      await fs.writeFile(path.join(partial, entry.path.slice(prefix.length).replaceAll('/', '_')), await buffer(content));
    });
  });
  return dir;
}

/** The distribution's GRUB, when the image has one to integrate with; else why not. */
async function findDistroGrub(input: ModifyInput): Promise<{ stubs: string[]; packages: string[] } | { missing: string }> {
  const { rootfs, boot, facts } = input.extracted;
  if (facts.arch !== 'amd64') return { missing: `the image is ${facts.arch}, not x86-64` };
  if ((await rootfs.stat('/etc/grub.d'))?.type !== 'dir') return { missing: 'the image has no /etc/grub.d' };
  const installed = (await DpkgDatabase.open(rootfs)).installed().map((p) => p.name);
  const packages = DISTRO_GRUB_PACKAGES.filter((name) => installed.includes(name));
  if (!installed.includes('grub-common') || packages.length === 0) return { missing: 'the image has no grub-common and grub-efi-amd64 packages installed' };
  const stubs: string[] = [];
  if ((await boot.stat('/EFI'))?.type === 'dir') {
    for (const dir of await boot.list('/EFI')) {
      if (dir.type !== 'dir') continue;
      const files = await boot.list(dir.path);
      const stub = files.find((f) => f.type === 'file' && f.name.toLowerCase() === 'grub.cfg');
      if (stub && files.some((f) => f.type === 'file' && /^grub\w*\.efi$/i.test(f.name))) stubs.push(stub.path);
    }
  }
  if (stubs.length === 0) return { missing: 'the boot partition has no GRUB EFI binary with its stub grub.cfg (EFI/<id>/grub*.efi + grub.cfg)' };
  return { stubs, packages };
}

/** The kernel and initrd links Debian's kernel packages keep (linux-update-symlinks), created when missing. */
async function distroKernelLinks(input: ModifyInput): Promise<{ kernel: string; initrd?: string } | undefined> {
  const { rootfs, facts } = input.extracted;
  const kernels = facts.rootfsKernels.filter((k) => /\/vmlinuz-/.test(k));
  const found = async (...candidates: string[]) => {
    for (const candidate of candidates) if (await rootfs.exists(candidate)) return candidate;
    return undefined;
  };
  let kernel = await found('/vmlinuz', '/boot/vmlinuz');
  if (!kernel) {
    const newest = newestKernel(kernels);
    if (!newest) return undefined;
    kernel = '/vmlinuz';
    await rootfs.symlink(kernel, newest.slice(1), { uid: 0, gid: 0 });
  }
  let initrd = await found('/initrd.img', '/boot/initrd.img');
  if (!initrd && facts.rootfsInitrds.length > 0) {
    initrd = '/initrd.img';
    await rootfs.symlink(initrd, newestKernel(facts.rootfsInitrds)!.slice(1), { uid: 0, gid: 0 });
  }
  return { kernel, initrd };
}

/** /boot/grub of the root filesystem moved to the boot partition's /grub, and a link to it left in its place. */
async function moveGrubDir(input: ModifyInput): Promise<number> {
  const { rootfs, boot } = input.extracted;
  let moved = 0;
  await boot.mkdir(DISTRO_GRUB_DIR);
  if ((await rootfs.stat('/boot/grub'))?.type === 'dir') {
    // FAT holds no symlinks or special files; grub.cfg is written anew.
    moved = await copyTree(rootfs, '/boot/grub', boot, DISTRO_GRUB_DIR, {
      include: (entry) => (entry.type === 'dir' || entry.type === 'file') && entry.path !== '/boot/grub/grub.cfg',
    });
    await rootfs.remove('/boot/grub', { recursive: true });
  }
  await rootfs.symlink('/boot/grub', path.posix.join(input.target.bootMountpoint, DISTRO_GRUB_DIR), { uid: 0, gid: 0 });
  return moved;
}

/**
 * Integration with the distribution's GRUB: its signed loader chain stays; its configuration
 * directory moves to the boot partition (shared by A and B) and its EFI stub configs point there;
 * /etc/grub.d/05_mender makes every update-grub write the Mender boot logic, and the first
 * grub.cfg is what that update-grub would write.
 */
async function integrateDistroGrub(input: ModifyInput, stubs: string[]): Promise<void> {
  const { env, extracted, target } = input;
  const { rootfs, boot } = extracted;
  const root = { uid: 0, gid: 0 };
  const links = await distroKernelLinks(input);
  if (!links) env.notes.push('No kernel found in the root filesystem: the image will not boot until one is installed.');
  const moved = await moveGrubDir(input);
  const { stdout } = await run('blkid', ['-p', '-o', 'value', '-s', 'UUID', extracted.files.boot], { doing: 'reading the boot partition\'s UUID' });
  const bootUuid = stdout.trim();
  for (const stub of stubs) await boot.writeFile(stub, grubStubConfig(bootUuid, DISTRO_GRUB_DIR));

  const disabled: string[] = [];
  if (!env.config['bootloader.grub_d_distro_entries']) {
    for (const entry of await rootfs.list('/etc/grub.d')) {
      if (entry.type !== 'file' || (entry.mode & 0o111) === 0 || entry.name === GRUB_D_SCRIPT) continue;
      await rootfs.writeFile(entry.path, await rootfs.readFile(entry.path), { uid: entry.uid, gid: entry.gid, mode: entry.mode & 0o7666 });
      disabled.push(entry.name);
    }
  }
  const config = generateGrubConfig({
    parts: { a: 2, b: 3 },
    rootDevices: { a: partitionDevice(2, target.naming), b: partitionDevice(3, target.naming) },
    kernelArgs: env.config['bootloader.kernel_args'] || undefined,
    initrd: Boolean(links?.initrd),
    kernelPath: links?.kernel ?? '/vmlinuz',
    initrdPath: links?.initrd,
  });
  await rootfs.writeFile(`/etc/grub.d/${GRUB_D_SCRIPT}`, grubDScript(config), { ...root, mode: 0o755 });

  const defaultsFiles = ['/etc/default/grub'];
  if ((await rootfs.stat('/etc/default/grub.d'))?.type === 'dir') {
    defaultsFiles.push(...(await rootfs.list('/etc/default/grub.d')).filter((e) => e.name.endsWith('.cfg')).map((e) => e.path));
  }
  const texts = await Promise.all(defaultsFiles.map(async (file) => ((await rootfs.exists(file)) ? rootfs.readText(file) : '')));
  const defaults = parseGrubDefaults(texts);
  const unread = defaults.ignored.filter((line) => /GRUB_CMDLINE_LINUX/.test(line));
  if (unread.length > 0) env.notes.push(`/etc/default/grub sets kernel arguments in a way only a shell can read (${unread.join('; ')}): they are in grub.cfg from the first update-grub on the device.`);
  await boot.writeFile(`${DISTRO_GRUB_DIR}/grub.cfg`, grubMkconfigFile([{ name: GRUB_D_SCRIPT, output: grubDOutput(config, defaults.values) }]));
  env.logger.info(`grub.d: /boot/grub moved to the boot partition (${moved} entries), stubs ${stubs.join(' ')} → UUID ${bootUuid}, disabled ${disabled.join(' ') || '(none)'}`);
  if (env.config['bootloader.grub_d_distro_entries']) {
    env.notes.push('The distribution\'s /etc/grub.d entries stay enabled: they follow the Mender boot in grub.cfg from the first update-grub on the device.');
  }
}

async function installStandaloneGrub(input: ModifyInput, arch: GrubEfiArch): Promise<void> {
  const { env, extracted, target } = input;
  const { boot } = extracted;
  const kernel = await linkKernel(input);
  for (const loader of CONFLICTING_LOADERS) await boot.remove(loader, { recursive: true });
  if (!env.config['bootloader.keep_distro_loader'] && (await boot.stat('/EFI'))?.type === 'dir') {
    for (const entry of await boot.list('/EFI')) {
      if (entry.type !== 'dir' || entry.name.toUpperCase() === 'BOOT') continue;
      await boot.remove(entry.path, { recursive: true });
      env.notes.push(`Removed the distribution's EFI loader ${entry.path} from the boot partition (bootloader.keep_distro_loader keeps it).`);
    }
  }

  const grubCfg = generateGrubConfig({
    parts: { a: 2, b: 3 },
    rootDevices: { a: partitionDevice(2, target.naming), b: partitionDevice(3, target.naming) },
    kernelArgs: env.config['bootloader.kernel_args'] || undefined,
    initrd: kernel?.initrd ?? false,
  });
  await boot.mkdir(GRUB_CONFIG_DIR);
  await boot.writeFile(`${GRUB_CONFIG_DIR}/grub.cfg`, grubCfg);

  const scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'mender-convert-grub-'));
  try {
    const loader = path.join(scratch, 'loader.efi');
    await buildGrubEfi({ arch, modulesDir: await modulesDir(input, arch), output: loader });
    await boot.writeFile(GRUB_EFI_TARGETS[arch].loaderPath, await fs.readFile(loader));
  } finally {
    await fs.rm(scratch, { recursive: true, force: true });
  }

  if (arch === 'arm64' && kernel) {
    const trees = await copyDeviceTrees(input, kernel.version);
    env.logger.info(`grub: ${trees} device trees and their directories copied to /dtb on the boot partition`);
  }
}

export const grubIntegration: BootloaderIntegration<{ arch: GrubEfiArch }> = {
  type: 'grub',
  title: 'GRUB (UEFI) integration',
  defaultBootMountpoint: '/boot/efi',
  // GRUB's environment is on the boot partition: nothing before it.
  reservedBytes: () => 0,
  reservedRegions: () => [],
  // Its environment tools are shell scripts of ours (grub-mender-grubenv-print/-set).
  packages: () => [],
  testsConfig: { feature: 'mender-grub', imageType: 'uefiimg' },
  // The standalone loader is built with grub-mkimage; the boot partition's UUID read with blkid.
  tools: () => ['grub-mkimage', 'blkid'],
  verify: async () => undefined,

  decide(_config, facts) {
    const arch = facts.arch;
    if (arch !== 'amd64' && arch !== 'arm64') {
      throw new UserError(`The GRUB integration supports amd64 and arm64 images; this one is ${arch}.`, { hint: 'Use bootloader.type: uboot for this board.' });
    }
    return { arch };
  },

  async apply(input, { arch }) {
    const { env, extracted, target } = input;
    const mode = env.config['bootloader.grub_d_integration'];
    const distro = mode === 'off' ? { missing: 'bootloader.grub_d_integration is off' } : await findDistroGrub(input);
    if ('stubs' in distro) {
      await integrateDistroGrub(input, distro.stubs);
      env.notes.push(`GRUB: the distribution's (${distro.packages.join(', ')}), integrated through /etc/grub.d/${GRUB_D_SCRIPT}; its configuration is on the boot partition (${DISTRO_GRUB_DIR}), so update-grub on the device keeps the A/B boot.`);
    } else {
      if (mode === 'on') {
        throw new UserError(`bootloader.grub_d_integration is on, but ${distro.missing}.`, { hint: 'Set it to auto or off to install the standalone GRUB loader instead.' });
      }
      await installStandaloneGrub(input, arch);
      env.notes.push(`GRUB: standalone loader ${GRUB_EFI_TARGETS[arch].loaderPath} (no grub.d integration: ${distro.missing}).`);
    }
    for (const file of menderGrubEnvFiles({ bootPart: 2 })) {
      await extracted.boot.mkdir(file.path.slice(0, file.path.lastIndexOf('/')));
      await extracted.boot.writeFile(file.path, file.data);
    }
    const tool = grubenvToolScript({ bootMountpoint: target.bootMountpoint });
    for (const name of GRUBENV_TOOL_NAMES) await extracted.rootfs.writeFile(`/usr/bin/${name}`, tool, { uid: 0, gid: 0, mode: 0o755 });
    await extracted.rootfs.flush();
    return { rawWrites: [] };
  },
};
