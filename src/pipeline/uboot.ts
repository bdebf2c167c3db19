import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { buffer } from 'node:stream/consumers';
import {
  extractUbootDefaultEnv,
  fwEnvConfig,
  menderBootState,
  menderUbootEnv,
  parseFwEnvConfig,
  ubootEnvCopies,
  ubootSavesEnvToMmc,
  ubootScriptBootEnv,
  type UbootEnvStorage,
} from '../bootloader/uboot/env.js';
import {
  bootableKernel,
  firmwareInitramfsName,
  kernelFlavour,
  kernelHookConfig,
  kernelImageVersion,
  UBOOT_KERNEL_HOOK,
  UBOOT_KERNEL_HOOK_CONFIG,
  UBOOT_KERNEL_HOOK_LINKS,
  ubootKernelHook,
} from '../bootloader/uboot/kernel.js';
import { generateUbootScript, ubootScriptImage, type UbootArch, type UbootScriptOptions } from '../bootloader/uboot/script.js';
import { partitionDevice } from '../mender/devices.js';
import { UserError } from '../util/errors.js';
import { run } from '../util/exec.js';
import type { ConversionContext, Hook } from './context.js';
import { debianSuiteFor, fetchDebianPackage } from './debian.js';
import { KERNEL_IMAGE, kernelVersion, newestKernel } from './probe.js';

/**
 * The U-Boot integration as a platform hook: U-Boot itself on the boot partition (from Debian's
 * package for the board, a file, or an upstream-style archive), its initial environment with
 * the Mender variables in the storage that U-Boot reads, /etc/fw_env.config for the client's
 * fw_printenv/fw_setenv, boot.scr (the A/B boot script), and the kernel and device trees in the
 * root filesystem's /boot, where the script loads them from.
 */

const UBOOT_ARCH: Record<string, UbootArch> = { arm64: 'arm64', armhf: 'arm', armel: 'arm' };
const SCRIPT_PATH = '/boot.scr';
const DEBIAN_SOURCE = /^debian:([a-z0-9][a-z0-9+.-]*)(?::([a-z0-9]+))?\/([A-Za-z0-9_.-]+)$/;
const ARCHIVE = /\.(tar|tar\.gz|tgz|tar\.xz|txz|tar\.zst)$/;

interface UbootBinary {
  data: Buffer;
  /** Where it came from, for the log and the summary. */
  origin: string;
  /** The storage its fw_env.config describes (archives only). */
  fwEnv?: UbootEnvStorage;
}

const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

async function fromDebian(ctx: ConversionContext, match: RegExpExecArray): Promise<UbootBinary> {
  const [, name, givenArch, target] = match as unknown as [string, string, string | undefined, string];
  const arch = givenArch ?? ctx.facts!.arch;
  const suite = ctx.config['uboot.debian_suite'] || debianSuiteFor(ctx);
  const { deb, version } = await fetchDebianPackage(ctx, name, arch, suite);
  const wanted = `/usr/lib/u-boot/${target}/u-boot.bin`;
  const targets: string[] = [];
  let data: Buffer | undefined;
  await deb.walkData(async (entry, content) => {
    const found = /^\/usr\/lib\/u-boot\/([^/]+)\/u-boot\.bin$/.exec(entry.path);
    if (!found || entry.type !== 'file') return;
    targets.push(found[1]!);
    if (entry.path !== wanted) return;
    data = await buffer(content);
  });
  if (!data) {
    throw new UserError(`Debian's ${name} ${version} (${arch}) has no U-Boot for the target '${target}'.`, {
      hint: `Its targets: ${targets.sort().join(', ') || '(none)'}. Set uboot.source to debian:${name}/<target>.`,
    });
  }
  return { data, origin: `Debian ${name} ${version} ${arch} (${suite}), ${target}` };
}

/** An archive from a URL, downloaded once into the cache (by the URL's hash). */
async function downloaded(ctx: ConversionContext, url: string): Promise<string> {
  const dir = path.join(ctx.cacheDir, 'uboot');
  const file = path.join(dir, `${sha256(Buffer.from(url)).slice(0, 16)}-${path.basename(new URL(url).pathname)}`);
  if (await fs.stat(file).catch(() => undefined)) return file;
  await fs.mkdir(dir, { recursive: true });
  let response: Response;
  try {
    response = await fetch(url);
  } catch (error) {
    throw new UserError(`Cannot download the U-Boot archive ${url}: ${(error as Error).message}.`, { hint: 'Check the URL and the network, or download it and set uboot.source to the file.' });
  }
  if (!response.ok) throw new UserError(`Downloading the U-Boot archive ${url} failed: HTTP ${response.status}.`);
  const partial = `${file}.partial-${process.pid}`;
  await fs.writeFile(partial, Buffer.from(await response.arrayBuffer()));
  await fs.rename(partial, file);
  return file;
}

async function findFile(dir: string, name: string): Promise<string | undefined> {
  for (const entry of await fs.readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && entry.name === name) return path.join(entry.parentPath, entry.name);
  }
  return undefined;
}

async function fromArchive(ctx: ConversionContext, source: string): Promise<UbootBinary> {
  const archive = /^https?:\/\//.test(source) ? await downloaded(ctx, source) : path.resolve(source);
  if (!(await fs.stat(archive).catch(() => undefined))?.isFile()) throw new UserError(`The U-Boot archive ${archive} does not exist.`, { hint: 'Check uboot.source.' });
  const scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'mender-convert-uboot-'));
  try {
    await run('tar', ['-xf', archive, '-C', scratch, '--no-same-owner', '--no-same-permissions'], { doing: `unpacking the U-Boot archive ${archive}` });
    const binary = await findFile(scratch, 'u-boot.bin');
    if (!binary) throw new UserError(`The U-Boot archive ${source} has no u-boot.bin.`);
    const config = await findFile(scratch, 'fw_env.config');
    const fwEnv = config ? parseFwEnvConfig(await fs.readFile(config, 'utf8')) : undefined;
    return { data: await fs.readFile(binary), origin: `archive ${source}`, fwEnv };
  } finally {
    await fs.rm(scratch, { recursive: true, force: true });
  }
}

async function obtainUboot(ctx: ConversionContext): Promise<UbootBinary> {
  const source = ctx.config['uboot.source'];
  const debian = DEBIAN_SOURCE.exec(source);
  if (debian) return fromDebian(ctx, debian);
  if (source.startsWith('debian:')) throw new UserError(`uboot.source '${source}' is not debian:<package>[:<architecture>]/<target>, e.g. debian:u-boot-rpi/rpi_arm64.`);
  if (ARCHIVE.test(source)) return fromArchive(ctx, source);
  const file = path.resolve(source);
  const data = await fs.readFile(file).catch(() => {
    throw new UserError(`The U-Boot binary ${file} cannot be read.`, { hint: 'Check uboot.source: debian:<package>/<target>, a u-boot.bin file, or a .tar(.gz|.xz) archive.' });
  });
  return { data, origin: `file ${file}` };
}

/** The whole storage device the partitions are on: /dev/mmcblk0p → /dev/mmcblk0, /dev/sda → /dev/sda. */
function diskDevice(deviceBase: string): string {
  return deviceBase.replace(/(\d)p$/, '$1');
}

/** Where the environment lives: an archive's fw_env.config, else the configured storage. */
function envStorage(ctx: ConversionContext, binary: UbootBinary): UbootEnvStorage {
  if (binary.fwEnv) return binary.fwEnv;
  const size = ctx.config['uboot.env_size'];
  if (ctx.config['uboot.env_storage'] === 'file') return { kind: 'file', path: path.posix.join(ctx.bootMountpoint!, ctx.config['uboot.env_file']), size };
  const alignment = ctx.config['storage.alignment'];
  return { kind: 'redundant', device: diskDevice(ctx.config['storage.device_base']), offsets: [alignment, 2 * alignment], size };
}

/**
 * Who keeps the Mender variables at boot: U-Boot's own environment (a file it reads, or raw
 * copies a build made for them reads), or boot.scr with copies it reads and writes itself.
 */
function envAccess(ctx: ConversionContext, binary: UbootBinary, storage: UbootEnvStorage): 'uboot' | 'script' {
  const configured = ctx.config['uboot.env_access'];
  if (storage.kind === 'file') {
    if (configured === 'script') throw new UserError('uboot.env_access: script needs uboot.env_storage: redundant (the boot script keeps two raw copies).');
    return 'uboot';
  }
  if (configured !== 'auto') return configured;
  return binary.fwEnv || ubootSavesEnvToMmc(binary.data) ? 'uboot' : 'script';
}

interface WrittenEnvironment {
  /** For the log and the summary. */
  description: string;
  script: UbootScriptOptions['environment'];
}

async function writeEnvironment(ctx: ConversionContext, binary: UbootBinary): Promise<WrittenEnvironment> {
  const defaultEnv = extractUbootDefaultEnv(binary.data);
  if (!defaultEnv) {
    throw new UserError(`The U-Boot binary (${binary.origin}) holds no default environment (no bootcmd=).`, { hint: 'Check that uboot.source is a U-Boot build (u-boot.bin).' });
  }
  const naming = ctx.naming!;
  const storage = envStorage(ctx, binary);
  const access = envAccess(ctx, binary, storage);
  const ownEnv = { defaultEnv, bootPartition: 1, scriptPath: SCRIPT_PATH };
  // Kept by U-Boot, the copies are its whole environment (its defaults included: a stored
  // environment replaces them); kept by the script, they hold the boot state only.
  const values = access === 'script'
    ? menderBootState(2)
    : menderUbootEnv({ ...ownEnv, parts: { a: 2, b: 3 }, rootDevices: { a: partitionDevice(2, naming), b: partitionDevice(3, naming) } });
  const copies = ubootEnvCopies(values, storage);
  const mountpoint = ctx.bootMountpoint!.replace(/\/$/, '');
  const onBootPartition = (file: string) => {
    if (!file.startsWith(`${mountpoint}/`)) {
      throw new UserError(`The U-Boot environment file ${file} is not on the boot partition (mounted at ${mountpoint}).`, { hint: 'Fix the fw_env.config of the U-Boot archive, or boot.mountpoint.' });
    }
    return file.slice(mountpoint.length);
  };
  const writeBootFile = async (file: string, data: Buffer) => {
    await ctx.boot!.mkdir(path.posix.dirname(file));
    await ctx.boot!.writeFile(file, data);
  };
  let description: string;
  if (storage.kind === 'file') {
    await writeBootFile(onBootPartition(storage.path), copies[0]!.data);
    description = `${storage.path} (${storage.size} bytes), U-Boot's own environment: one copy`;
  } else {
    // The copies live in the reserved blocks before the boot partition (3 × alignment).
    const bootStart = 3 * ctx.config['storage.alignment'];
    for (const copy of copies) {
      if (copy.offset < 1024 * 1024 || copy.offset + copy.data.length > bootStart) {
        throw new UserError(`The U-Boot environment copy at byte ${copy.offset} (${copy.data.length} bytes) is outside the reserved area before the boot partition (1 MiB to ${bootStart}).`, {
          hint: 'Use storage.alignment so that 1 and 2 × alignment hold the copies, as the U-Boot build expects.',
        });
      }
      ctx.rawWrites.push({ offset: copy.offset, data: copy.data, what: 'U-Boot environment' });
    }
    const where = `${storage.device} at ${storage.offsets.map((offset) => `0x${offset.toString(16)}`).join(' and ')} (${storage.size} bytes each, redundant)`;
    if (access === 'uboot') {
      description = `${where}, U-Boot's own environment`;
    } else {
      description = `${where}, read and written by boot.scr`;
      const file = ctx.config['uboot.env_file'];
      if (file) {
        // U-Boot's own environment starts boot.scr; it holds no Mender variable, so whatever
        // happens to it the boot state is the copies'.
        const own = ubootEnvCopies(ubootScriptBootEnv(ownEnv), { kind: 'file', path: file, size: ctx.config['uboot.env_size'] });
        await writeBootFile(file, own[0]!.data);
        description += `; U-Boot's own environment (its defaults, bootcmd running boot.scr) in ${path.posix.join(mountpoint, file)}`;
      }
    }
  }
  await ctx.rootfs!.writeFile('/etc/fw_env.config', fwEnvConfig(storage), { uid: 0, gid: 0, mode: 0o644 });
  const script = access === 'script' && storage.kind === 'redundant' ? { access, offsets: storage.offsets, size: storage.size } as const : { access: 'uboot' } as const;
  return { description, script };
}

interface InstalledKernel {
  kernelPath: string;
  bootCommand: 'booti' | 'bootz';
  /** Where the script loads the initrd from when it is there, or null for none. */
  initrdPath: string | null;
  /** The kernel's release (uname -r), when known. */
  release: string | null;
}

/**
 * The kernel the boot script loads, in the root filesystem (stored decompressed: booti cannot
 * inflate), and its initrd beside it: the root filesystem's initrd.img-<release>, else the
 * initramfs the firmware would load beside the boot partition's kernel (Raspberry Pi OS).
 */
async function installKernel(ctx: ConversionContext, arch: string): Promise<InstalledKernel> {
  const { rootfs, boot } = ctx;
  const root = { uid: 0, gid: 0 };
  const configured = ctx.config['uboot.kernel_image'];
  const kernelPath = configured === 'auto' ? (arch === 'arm64' ? '/boot/Image' : '/boot/zImage') : configured;
  if (!kernelPath.startsWith('/')) throw new UserError(`uboot.kernel_image '${kernelPath}' must be an absolute path in the root filesystem.`);
  const initrdSetting = ctx.config['uboot.initrd_image'];
  const initrdPath = initrdSetting === 'auto' ? '/boot/initrd' : initrdSetting || null;
  if (initrdPath && !initrdPath.startsWith('/')) throw new UserError(`uboot.initrd_image '${initrdPath}' must be an absolute path in the root filesystem.`);
  const mountpoint = ctx.bootMountpoint!.replace(/\/$/, '');
  for (const file of [kernelPath, initrdPath]) {
    if (file?.startsWith(`${mountpoint}/`)) {
      throw new UserError(`${file} is under ${mountpoint}, where the boot partition is mounted on the device: the kernel packages' hooks would write the boot partition, not the root filesystem boot.scr loads from.`, {
        hint: 'Mount the boot partition elsewhere (boot.mountpoint, e.g. /boot/firmware or /uboot) or move uboot.kernel_image and uboot.initrd_image.',
      });
    }
  }
  const bootCommand = arch === 'arm64' ? 'booti' : 'bootz';
  const fromBoot = ctx.config['uboot.kernel_source'];
  let data: Buffer;
  let release: string | null;
  let bootInitramfs: string | null = null;
  if (fromBoot) {
    const file = `/${fromBoot.replace(/^\/+/, '')}`;
    if (!(await boot!.exists(file))) {
      throw new UserError(`The boot partition has no ${file} (uboot.kernel_source).`, { hint: 'Check that the image is the one the board configuration is for (32/64-bit, model).' });
    }
    data = bootableKernel(await boot!.readFile(file));
    release = kernelImageVersion(data);
    const initramfs = firmwareInitramfsName(file);
    if (initramfs) bootInitramfs = path.posix.join(path.posix.dirname(file), initramfs);
  } else {
    const kernel = newestKernel(ctx.facts!.rootfsKernels.filter((k) => KERNEL_IMAGE.test(k)));
    if (!kernel) {
      ctx.notes.push('No kernel found in the root filesystem /boot (and uboot.kernel_source is not set): the image will not boot until one is installed.');
      return { kernelPath, bootCommand, initrdPath, release: null };
    }
    data = bootableKernel(await rootfs!.readFile(kernel));
    release = kernelImageVersion(data) ?? kernelVersion(kernel);
  }
  await rootfs!.mkdir(path.posix.dirname(kernelPath), { ...root, mode: 0o755 });
  await rootfs!.writeFile(kernelPath, data, { ...root, mode: 0o644 });

  if (initrdPath) {
    const own = release ? ctx.facts!.rootfsInitrds.find((file) => file === `/boot/initrd.img-${release}`) : undefined;
    const initrd = own ? await rootfs!.readFile(own) : bootInitramfs && (await boot!.exists(bootInitramfs)) ? await boot!.readFile(bootInitramfs) : null;
    if (initrd) {
      await rootfs!.mkdir(path.posix.dirname(initrdPath), { ...root, mode: 0o755 });
      await rootfs!.writeFile(initrdPath, initrd, { ...root, mode: 0o644 });
      ctx.logger.info(`uboot: initrd ${initrdPath} from ${own ?? `the boot partition's ${bootInitramfs}`}`);
    } else {
      ctx.logger.info(`uboot: no initrd for kernel ${release ?? '(release unknown)'}; it boots without one`);
    }
  }
  return { kernelPath, bootCommand, initrdPath, release };
}

/** The hooks that keep the kernel, initrd and device trees boot.scr loads in step with the kernel packages (apt upgrade). */
async function installKernelHooks(ctx: ConversionContext, kernel: InstalledKernel): Promise<string> {
  const rootfs = ctx.rootfs!;
  const root = { uid: 0, gid: 0 };
  const configured = ctx.config['uboot.kernel_flavour'];
  const flavour = configured === 'auto' ? (kernel.release ? kernelFlavour(kernel.release) : '') : configured;
  await rootfs.mkdir(path.posix.dirname(UBOOT_KERNEL_HOOK), { ...root, mode: 0o755 });
  await rootfs.writeFile(UBOOT_KERNEL_HOOK, ubootKernelHook(), { ...root, mode: 0o755 });
  await rootfs.writeFile(UBOOT_KERNEL_HOOK_CONFIG, kernelHookConfig({ kernelImage: kernel.kernelPath, initrd: kernel.initrdPath, flavour, dtbDir: '/boot' }), { ...root, mode: 0o644 });
  for (const link of UBOOT_KERNEL_HOOK_LINKS) {
    await rootfs.mkdir(path.posix.dirname(link), { ...root, mode: 0o755 });
    await rootfs.symlink(link, UBOOT_KERNEL_HOOK, root);
  }
  return flavour ? `kernels *-${flavour}` : 'any kernel';
}

/** The boot partition's device trees (and overlays) copied into the root filesystem's /boot, so that each rootfs carries its own. */
async function copyDeviceTrees(ctx: ConversionContext): Promise<number> {
  const { boot, rootfs } = ctx;
  let copied = 0;
  const copy = async (from: string, to: string, suffix: RegExp) => {
    if ((await boot!.stat(from))?.type !== 'dir') return;
    for (const entry of await boot!.list(from)) {
      if (entry.type !== 'file' || !suffix.test(entry.name)) continue;
      await rootfs!.mkdir(to, { uid: 0, gid: 0, mode: 0o755 });
      await rootfs!.writeFile(`${to}/${entry.name}`, await boot!.readFile(entry.path), { uid: 0, gid: 0, mode: 0o644 });
      copied++;
    }
  };
  await copy('/', '/boot', /\.dtb$/i);
  await copy('/overlays', '/boot/overlays', /\.(dtbo|txt)$/i);
  return copied;
}

export const ubootIntegration: Hook = {
  name: 'U-Boot integration',
  async run(ctx) {
    const arch = ctx.facts!.arch;
    const ubootArch = UBOOT_ARCH[arch];
    if (!ubootArch) throw new UserError(`The U-Boot integration supports ARM images (arm64, armhf, armel); this one is ${arch}.`, { hint: 'Use bootloader.type: grub for this image.' });
    const binary = await obtainUboot(ctx);
    const checksum = sha256(binary.data);
    ctx.logger.info(`uboot: ${binary.origin}, sha256 ${checksum}`);
    ctx.notes.push(`U-Boot: ${binary.origin} (sha256 ${checksum.slice(0, 16)}…).`);
    await ctx.boot!.writeFile(ctx.config['uboot.install_path'], binary.data);

    const environment = await writeEnvironment(ctx, binary);
    ctx.logger.info(`uboot: environment in ${environment.description}`);
    ctx.notes.push(`U-Boot environment: ${environment.description}.`);

    const kernel = await installKernel(ctx, arch);
    const trees = await copyDeviceTrees(ctx);
    ctx.logger.info(`uboot: kernel ${kernel.kernelPath} (${kernel.release ?? 'release unknown'}), ${trees} device tree files copied to the root filesystem's /boot`);
    if (ctx.config['uboot.kernel_hooks']) {
      const which = await installKernelHooks(ctx, kernel);
      ctx.notes.push(`Kernel hooks (${UBOOT_KERNEL_HOOK_LINKS.join(', ')}) keep ${kernel.kernelPath}${kernel.initrdPath ? ` and ${kernel.initrdPath}` : ''} up to date from the newest installed kernel (${which}) when packages change it.`);
    }

    const naming = ctx.naming!;
    const dtb = ctx.config['uboot.dtb'];
    const script = generateUbootScript({
      parts: { a: 2, b: 3 },
      rootDevices: { a: partitionDevice(2, naming), b: partitionDevice(3, naming) },
      kernelPath: kernel.kernelPath,
      bootCommand: kernel.bootCommand,
      initrdPath: kernel.initrdPath,
      dtb: dtb ? { path: dtb } : 'firmware',
      firmwareBootargs: ctx.config['uboot.firmware_bootargs'],
      kernelArgs: ctx.config['bootloader.kernel_args'] || undefined,
      environment: environment.script,
    });
    // The source next to the compiled script, for people reading the boot partition.
    await ctx.boot!.writeFile('/boot.cmd', script);
    await ctx.boot!.writeFile(SCRIPT_PATH, ubootScriptImage(script, { name: 'Mender A/B boot script', timestamp: ctx.epoch, arch: ubootArch }));
    await ctx.boot!.flush();
    await ctx.rootfs!.flush();
  },
};
