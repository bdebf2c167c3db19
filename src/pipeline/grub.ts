import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { generateGrubConfig } from '../bootloader/grub/config.js';
import { buildGrubEfi, GRUB_CONFIG_DIR, GRUB_EFI_TARGETS, type GrubEfiArch } from '../bootloader/grub/efi.js';
import { menderGrubEnvFiles } from '../bootloader/grub/env.js';
import { GRUBENV_TOOL_NAMES, grubenvToolScript } from '../bootloader/grub/tools.js';
import { compareVersions } from '../deb/version.js';
import { partitionDevice } from '../mender/devices.js';
import { UserError } from '../util/errors.js';
import type { ConversionContext, Hook } from './context.js';
import { debianSuiteFor, fetchDebianPackage } from './debian.js';

/**
 * The GRUB (UEFI) integration as a platform hook: the kernel and initrd linked at /boot/kernel and
 * /boot/initrd in the root filesystem, a standalone GRUB EFI loader built from the target's
 * modules, our grub.cfg and the two-copy Mender environment on the boot partition, and the
 * environment tools for the client in /usr/bin.
 */

const CONFLICTING_LOADERS = ['/EFI/systemd', '/EFI/Linux', '/loader'];
const HOST_MODULES: Record<GrubEfiArch, string> = { amd64: '/usr/lib/grub/x86_64-efi', arm64: '/usr/lib/grub/arm64-efi' };

/** The newest of the kernels (or initrds) named <stem>-<version>, by Debian version order. */
function newest(paths: string[]): string | undefined {
  const version = (p: string) => p.slice(p.lastIndexOf('/') + 1).replace(/^[^-]+-/, '');
  return [...paths].sort((a, b) => compareVersions(version(b), version(a)))[0];
}

interface LinkedKernel {
  version: string;
  initrd: boolean;
}

async function linkKernel(ctx: ConversionContext): Promise<LinkedKernel | undefined> {
  const rootfs = ctx.rootfs!;
  const facts = ctx.facts!;
  const root = { uid: 0, gid: 0 };
  let kernel = newest(facts.rootfsKernels.filter((k) => /\/(vmlinuz|vmlinux|Image|zImage)-/.test(k)));
  if (!kernel && facts.bootKernels.length > 0) {
    // Only the boot partition has a kernel: each root filesystem needs its own copy.
    const source = facts.bootKernels[0]!;
    kernel = `/boot/${source.slice(source.lastIndexOf('/') + 1)}`;
    await rootfs.mkdir('/boot', { ...root, mode: 0o755 });
    await rootfs.writeFile(kernel, await ctx.boot!.readFile(source), { ...root, mode: 0o644 });
  }
  if (!kernel) {
    ctx.notes.push('No kernel found in the root filesystem /boot or on the boot partition: the image will not boot until one is installed.');
    return undefined;
  }
  await rootfs.symlink('/boot/kernel', kernel.slice('/boot/'.length), root);
  const kernelVersion = kernel.slice(kernel.lastIndexOf('/') + 1).replace(/^[^-]+-/, '');
  const initrd = facts.rootfsInitrds.find((i) => i.endsWith(`-${kernelVersion}`)) ?? newest(facts.rootfsInitrds);
  if (initrd) await rootfs.symlink('/boot/initrd', initrd.slice('/boot/'.length), root);
  ctx.logger.info(`grub: kernel ${kernel}${initrd ? `, initrd ${initrd}` : ' (no initrd)'}`);
  return { version: kernelVersion, initrd: initrd !== undefined };
}

/**
 * The kernel's device trees (Debian keeps them in /usr/lib/linux-image-<version>) copied to /dtb
 * on the boot partition, where UEFI firmware that needs one (U-Boot's EFI boot among them) looks.
 */
async function copyDeviceTrees(ctx: ConversionContext, kernelVersion: string): Promise<number> {
  const rootfs = ctx.rootfs!;
  const boot = ctx.boot!;
  const source = [`/usr/lib/linux-image-${kernelVersion}`, `/boot/dtbs/${kernelVersion}`];
  let copied = 0;
  const copyTree = async (from: string, to: string): Promise<void> => {
    await boot.mkdir(to);
    for (const entry of await rootfs.list(from)) {
      if (entry.type === 'dir') await copyTree(entry.path, `${to}/${entry.name}`);
      else if (entry.type === 'file' && entry.name.endsWith('.dtb')) {
        await boot.writeFile(`${to}/${entry.name}`, await rootfs.readFile(entry.path));
        copied++;
      }
    }
  };
  for (const dir of source) {
    if ((await rootfs.stat(dir))?.type !== 'dir') continue;
    await copyTree(dir, '/dtb');
    break;
  }
  return copied;
}

/** The target's GRUB modules: the host's package when it matches, else Debian's, fetched for the target. */
async function modulesDir(ctx: ConversionContext, arch: GrubEfiArch): Promise<string> {
  const hostDir = HOST_MODULES[arch];
  if (await fs.stat(path.join(hostDir, 'moddep.lst')).catch(() => undefined)) return hostDir;
  const target = GRUB_EFI_TARGETS[arch];
  const { deb, version } = await fetchDebianPackage(ctx, target.modulesPackage, arch, debianSuiteFor(ctx));
  const dir = path.join(ctx.cacheDir, 'grub', `${target.modulesPackage}_${version}`);
  if (await fs.stat(path.join(dir, 'moddep.lst')).catch(() => undefined)) return dir;
  await fs.mkdir(path.dirname(dir), { recursive: true });
  const partial = await fs.mkdtemp(`${dir}.partial-`);
  const prefix = `/usr/lib/grub/${target.format}/`;
  await deb.walkData(async (entry, content) => {
    if (entry.type !== 'file' || !entry.path.startsWith(prefix)) return;
    const chunks: Buffer[] = [];
    for await (const chunk of content) chunks.push(chunk as Buffer);
    await fs.writeFile(path.join(partial, entry.path.slice(prefix.length).replaceAll('/', '_')), Buffer.concat(chunks));
  });
  await fs.rename(partial, dir);
  return dir;
}

export const grubIntegration: Hook = {
  name: 'GRUB (UEFI) integration',
  async run(ctx) {
    const arch = ctx.facts!.arch;
    if (arch !== 'amd64' && arch !== 'arm64') {
      throw new UserError(`The GRUB integration supports amd64 and arm64 images; this one is ${arch}.`, { hint: 'Use bootloader.type: uboot for this board.' });
    }
    const kernel = await linkKernel(ctx);
    const naming = ctx.naming!;
    const boot = ctx.boot!;
    for (const loader of CONFLICTING_LOADERS) await boot.remove(loader, { recursive: true });
    if (!ctx.config['bootloader.keep_distro_loader'] && (await boot.stat('/EFI'))?.type === 'dir') {
      for (const entry of await boot.list('/EFI')) {
        if (entry.type !== 'dir' || entry.name.toUpperCase() === 'BOOT') continue;
        await boot.remove(entry.path, { recursive: true });
        ctx.notes.push(`Removed the distribution's EFI loader ${entry.path} from the boot partition (bootloader.keep_distro_loader keeps it).`);
      }
    }

    const grubCfg = generateGrubConfig({
      parts: { a: 2, b: 3 },
      rootDevices: { a: partitionDevice(2, naming), b: partitionDevice(3, naming) },
      kernelArgs: ctx.config['bootloader.kernel_args'] || undefined,
      initrd: kernel?.initrd ?? false,
    });
    await boot.mkdir(GRUB_CONFIG_DIR);
    await boot.writeFile(`${GRUB_CONFIG_DIR}/grub.cfg`, grubCfg);
    for (const file of menderGrubEnvFiles({ bootPart: 2 })) {
      await boot.mkdir(file.path.slice(0, file.path.lastIndexOf('/')));
      await boot.writeFile(file.path, file.data);
    }

    const scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'mender-convert-grub-'));
    try {
      const loader = path.join(scratch, 'loader.efi');
      await buildGrubEfi({ arch, modulesDir: await modulesDir(ctx, arch), output: loader });
      await boot.writeFile(GRUB_EFI_TARGETS[arch].loaderPath, await fs.readFile(loader));
    } finally {
      await fs.rm(scratch, { recursive: true, force: true });
    }

    if (arch === 'arm64' && kernel) {
      const trees = await copyDeviceTrees(ctx, kernel.version);
      ctx.logger.info(`grub: ${trees} device trees copied to /dtb on the boot partition`);
    }

    const tool = grubenvToolScript({ bootMountpoint: ctx.bootMountpoint! });
    for (const name of GRUBENV_TOOL_NAMES) await ctx.rootfs!.writeFile(`/usr/bin/${name}`, tool, { uid: 0, gid: 0, mode: 0o755 });
    await ctx.rootfs!.flush();
  },
};
