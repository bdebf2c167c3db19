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
} from '../../../bootloader/uboot/env.js';
import {
  bootableKernel,
  firmwareInitramfsName,
  kernelFlavour,
  kernelHookConfig,
  kernelImageVersion,
  type KernelHookSettings,
  UBOOT_KERNEL_HOOK,
  UBOOT_KERNEL_HOOK_CONFIG,
  UBOOT_KERNEL_HOOK_LINKS,
  ubootKernelHook,
} from '../../../bootloader/uboot/kernel.js';
import { generateUbootScript, ubootScriptImage, type UbootArch, type UbootScriptOptions } from '../../../bootloader/uboot/script.js';
import type { Config } from '../../../config/knobs.js';
import { KERNEL_IMAGE, kernelVersion, newestKernel, type ImageFacts } from '../../../image/probe.js';
import { partitionDevice } from '../../../mender/devices.js';
import { writeAtomically } from '../../../util/atomic.js';
import { UserError } from '../../../util/errors.js';
import { run } from '../../../util/exec.js';
import type { ModifyInput, RawWrite, RunEnv } from '../../types.js';
import { debianSuiteFor, fetchDebianPackage } from '../debian.js';
import type { BootloaderIntegration } from '../integration.js';
import { makeDirectory } from '../../../util/directories.js';

/**
 * The U-Boot integration (bootloader.type: uboot): U-Boot itself on the boot partition (from
 * Debian's package for the board, a file, or an upstream-style archive), its initial environment
 * with the Mender variables in the storage that U-Boot reads, /etc/fw_env.config for the client's
 * fw_printenv/fw_setenv, boot.scr (the A/B boot script), and the kernel in the root filesystem's
 * /boot, where the script loads it from. Board specifics (the Raspberry Pi's firmware files) are
 * the board integration's.
 */

const UBOOT_ARCH: Record<string, UbootArch> = { arm64: 'arm64', armhf: 'arm', armel: 'arm' };
const SCRIPT_PATH = '/boot.scr';
const DEBIAN_SOURCE = /^debian:([a-z0-9][a-z0-9+.-]*)(?::([a-z0-9]+))?\/([A-Za-z0-9_.-]+)$/;
const ARCHIVE = /\.(tar|tar\.gz|tgz|tar\.xz|txz|tar\.zst)$/;
const URL_SOURCE = /^https?:\/\//;

/** What the integration decided for the image before anything is changed. */
interface UbootDecision {
  ubootArch: UbootArch;
  /** Where the boot script loads the kernel (and its initrd, null: none) from in the root filesystem, and how it boots it. */
  kernelPath: string;
  initrdPath: string | null;
  bootCommand: 'booti' | 'bootz';
}

interface UbootBinary {
  data: Buffer;
  /** Where it came from, for the log and the summary. */
  origin: string;
  /** The storage its fw_env.config describes (archives only). */
  fwEnv?: UbootEnvStorage;
}

const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

/** Files of the U-Boot source, by name, and where they came from. */
export interface UbootSourceFiles {
  files: Map<string, Buffer>;
  /** Where they came from, for the log and the summary. */
  origin: string;
}

/** Named files of a Debian package's /usr/lib/u-boot/<target>/. */
async function fromDebian(env: RunEnv, facts: ImageFacts, match: RegExpExecArray, names: readonly string[]): Promise<UbootSourceFiles> {
  const [, name, givenArch, target] = match as unknown as [string, string, string | undefined, string];
  const arch = givenArch ?? facts.arch;
  const suite = env.config['uboot.debian_suite'] || debianSuiteFor(facts);
  const { deb, version } = await fetchDebianPackage(env, name, arch, suite);
  const dir = `/usr/lib/u-boot/${target}/`;
  const targets = new Set<string>();
  const inTarget: string[] = [];
  const files = new Map<string, Buffer>();
  await deb.walkData(async (entry, content) => {
    const found = /^\/usr\/lib\/u-boot\/([^/]+)\/([^/]+)$/.exec(entry.path);
    if (!found || entry.type !== 'file') return;
    if (found[2] === 'u-boot.bin') targets.add(found[1]!);
    if (!entry.path.startsWith(dir)) return;
    inTarget.push(found[2]!);
    if (names.includes(found[2]!)) files.set(found[2]!, await buffer(content));
  });
  const origin = `Debian ${name} ${version} ${arch} (${suite}), ${target}`;
  if (inTarget.length === 0) {
    throw new UserError(`Debian's ${name} ${version} (${arch}) has no U-Boot for the target '${target}'.`, {
      hint: `Its targets: ${[...targets].sort().join(', ') || '(none)'}. Set uboot.source to debian:${name}/<target>.`,
    });
  }
  const missing = names.filter((wanted) => !files.has(wanted));
  if (missing.length > 0) {
    throw new UserError(`Debian's ${name} ${version} (${arch}) has no ${missing.join(', ')} for the target '${target}'.`, { hint: `Its files for ${target}: ${inTarget.sort().join(', ')}.` });
  }
  return { files, origin };
}

/** An archive from a URL, downloaded once into the cache (by the URL's hash). */
async function downloaded(env: RunEnv, url: string): Promise<string> {
  const dir = path.join(env.cacheDir, 'uboot');
  const file = path.join(dir, `${sha256(Buffer.from(url)).slice(0, 16)}-${path.basename(new URL(url).pathname)}`);
  if (await fs.stat(file).catch(() => undefined)) return file;
  await makeDirectory(dir, 'The cache directory');
  let response: Response;
  try {
    response = await fetch(url);
  } catch (error) {
    throw new UserError(`Cannot download the U-Boot archive ${url}: ${(error as Error).message}.`, { hint: 'Check the URL and the network, or download it and set uboot.source to the file.' });
  }
  if (!response.ok) throw new UserError(`Downloading the U-Boot archive ${url} failed: HTTP ${response.status}.`);
  const data = Buffer.from(await response.arrayBuffer());
  await writeAtomically(file, (partial) => fs.writeFile(partial, data));
  return file;
}

async function findFile(dir: string, name: string): Promise<string | undefined> {
  for (const entry of await fs.readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && entry.name === name) return path.join(entry.parentPath, entry.name);
  }
  return undefined;
}

/** Named files of an archive (wherever they are in it); `optional` ones may be missing. */
async function fromArchive(env: RunEnv, source: string, names: readonly string[], optional: readonly string[]): Promise<UbootSourceFiles> {
  const archive = URL_SOURCE.test(source) ? await downloaded(env, source) : path.resolve(source);
  const scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'mender-convert-uboot-'));
  try {
    await run('tar', ['-xf', archive, '-C', scratch, '--no-same-owner', '--no-same-permissions'], { doing: `unpacking the U-Boot archive ${archive}` });
    const files = new Map<string, Buffer>();
    for (const name of [...names, ...optional]) {
      const file = await findFile(scratch, name);
      if (file) files.set(name, await fs.readFile(file));
      else if (names.includes(name)) throw new UserError(`The U-Boot archive ${source} has no ${name}.`);
    }
    return { files, origin: `archive ${source}` };
  } finally {
    await fs.rm(scratch, { recursive: true, force: true });
  }
}

/** Named files beside a u-boot.bin file (the file itself for u-boot.bin). */
async function besideFile(source: string, names: readonly string[]): Promise<UbootSourceFiles> {
  const binary = path.resolve(source);
  const files = new Map<string, Buffer>();
  for (const name of names) {
    const file = name === 'u-boot.bin' ? binary : path.join(path.dirname(binary), name);
    const data = await fs.readFile(file).catch((error: NodeJS.ErrnoException) => {
      throw new UserError(`Cannot read ${file} (${error.code ?? error.message}), which the configuration takes from beside the U-Boot binary ${binary}.`, { hint: 'Put it there, or name it by its path in board.raw_files.' });
    });
    files.set(name, data);
  }
  return { files, origin: `file ${binary}` };
}

/**
 * Files of uboot.source by name: the Debian package's /usr/lib/u-boot/<target>/<name>, the
 * archive's <name>, or <name> beside a u-boot.bin file; `optional` ones (an archive's
 * fw_env.config) may be missing.
 */
export async function readUbootSource(env: RunEnv, facts: ImageFacts, names: readonly string[], optional: readonly string[] = []): Promise<UbootSourceFiles> {
  const source = env.config['uboot.source'];
  const debian = DEBIAN_SOURCE.exec(source);
  if (debian) return fromDebian(env, facts, debian, names);
  if (ARCHIVE.test(source)) return fromArchive(env, source, names, optional);
  return besideFile(source, names);
}

async function obtainUboot(input: ModifyInput): Promise<UbootBinary> {
  const { files, origin } = await readUbootSource(input.env, input.extracted.facts, ['u-boot.bin'], ['fw_env.config']);
  const config = files.get('fw_env.config');
  return { data: files.get('u-boot.bin')!, origin, fwEnv: config ? parseFwEnvConfig(config.toString('utf8')) : undefined };
}

/** uboot.source names a Debian package and target, an existing file, or an archive (file or URL). */
async function verifySource(env: RunEnv): Promise<void> {
  const source = env.config['uboot.source'];
  const knob = `uboot.source (${env.sources['uboot.source']})`;
  if (DEBIAN_SOURCE.test(source) || (ARCHIVE.test(source) && URL_SOURCE.test(source))) return;
  if (source.startsWith('debian:')) throw new UserError(`uboot.source '${source}' is not debian:<package>[:<architecture>]/<target>, e.g. debian:u-boot-rpi/rpi_arm64.`);
  const file = path.resolve(source);
  const readable = await fs.access(file, fs.constants.R_OK).then(() => true, () => false);
  if (!readable || !(await fs.stat(file)).isFile()) {
    throw ARCHIVE.test(source)
      ? new UserError(`The U-Boot archive ${file} does not exist.`, { hint: `Check ${knob}.` })
      : new UserError(`The U-Boot binary ${file} cannot be read.`, { hint: `Check ${knob}: debian:<package>/<target>, a u-boot.bin file, or a .tar(.gz|.xz) archive.` });
  }
}

/** The whole storage device the partitions are on: /dev/mmcblk0p → /dev/mmcblk0, /dev/sda → /dev/sda. */
function diskDevice(deviceBase: string): string {
  return deviceBase.replace(/(\d)p$/, '$1');
}

/** Where the environment lives: an archive's fw_env.config, else the configured storage. */
function envStorage(input: ModifyInput, binary: UbootBinary): UbootEnvStorage {
  if (binary.fwEnv) return binary.fwEnv;
  const { config } = input.env;
  const size = config['uboot.env_size'];
  if (config['uboot.env_storage'] === 'file') return { kind: 'file', path: path.posix.join(input.target.bootMountpoint, config['uboot.env_file']), size };
  const alignment = config['storage.alignment'];
  return { kind: 'redundant', device: diskDevice(config['storage.device_base']), offsets: [alignment, 2 * alignment], size };
}

/**
 * Who keeps the Mender variables at boot: U-Boot's own environment (a file it reads, or raw
 * copies a build made for them reads), or boot.scr with copies it reads and writes itself.
 */
function envAccess(input: ModifyInput, binary: UbootBinary, storage: UbootEnvStorage): 'uboot' | 'script' {
  const configured = input.env.config['uboot.env_access'];
  if (storage.kind === 'file') {
    if (configured === 'script') throw new UserError('uboot.env_access: script needs uboot.env_storage: redundant (the boot script keeps two raw copies).');
    return 'uboot';
  }
  if (configured !== 'auto') return configured;
  return binary.fwEnv || ubootSavesEnvToMmc(binary.data) ? 'uboot' : 'script';
}

/** The block device U-Boot finds the image on. */
function ubootStorage(config: Readonly<Config>): { interface: string; device: number } {
  return { interface: 'mmc', device: config['uboot.mmc_device'] };
}

interface WrittenEnvironment {
  /** For the log and the summary. */
  description: string;
  script: UbootScriptOptions['environment'];
  rawWrites: RawWrite[];
}

async function writeEnvironment(input: ModifyInput, binary: UbootBinary): Promise<WrittenEnvironment> {
  const { env, extracted, target } = input;
  const defaultEnv = extractUbootDefaultEnv(binary.data);
  if (!defaultEnv) {
    throw new UserError(`The U-Boot binary (${binary.origin}) holds no default environment (no bootcmd=).`, { hint: 'Check that uboot.source is a U-Boot build (u-boot.bin).' });
  }
  const storage = envStorage(input, binary);
  const access = envAccess(input, binary, storage);
  const ownEnv = { defaultEnv, storage: ubootStorage(env.config), bootPartition: 1, scriptPath: SCRIPT_PATH };
  // Kept by U-Boot, the copies are its whole environment (its defaults included: a stored
  // environment replaces them); kept by the script, they hold the boot state only.
  const values = access === 'script'
    ? menderBootState(2)
    : menderUbootEnv({ ...ownEnv, parts: { a: 2, b: 3 }, rootDevices: { a: partitionDevice(2, target.naming), b: partitionDevice(3, target.naming) } });
  const copies = ubootEnvCopies(values, storage);
  const mountpoint = target.bootMountpoint.replace(/\/$/, '');
  const onBootPartition = (file: string) => {
    if (!file.startsWith(`${mountpoint}/`)) {
      throw new UserError(`The U-Boot environment file ${file} is not on the boot partition (mounted at ${mountpoint}).`, { hint: 'Fix the fw_env.config of the U-Boot archive, or boot.mountpoint.' });
    }
    return file.slice(mountpoint.length);
  };
  const writeBootFile = async (file: string, data: Buffer) => {
    await extracted.boot.mkdir(path.posix.dirname(file));
    await extracted.boot.writeFile(file, data);
  };
  const rawWrites: RawWrite[] = [];
  let description: string;
  if (storage.kind === 'file') {
    await writeBootFile(onBootPartition(storage.path), copies[0]!.data);
    description = `${storage.path} (${storage.size} bytes), U-Boot's own environment: one copy`;
  } else {
    // The copies live in the blocks the layout reserves before the boot partition.
    const bootStart = target.layout.boot.start;
    for (const copy of copies) {
      if (copy.offset < 1024 * 1024 || copy.offset + copy.data.length > bootStart) {
        throw new UserError(`The U-Boot environment copy at byte ${copy.offset} (${copy.data.length} bytes) is outside the reserved area before the boot partition (1 MiB to ${bootStart}).`, {
          hint: 'Use storage.alignment so that 1 and 2 × alignment hold the copies, as the U-Boot build expects.',
        });
      }
      rawWrites.push({ offset: copy.offset, data: copy.data, what: 'U-Boot environment' });
    }
    const where = `${storage.device} at ${storage.offsets.map((offset) => `0x${offset.toString(16)}`).join(' and ')} (${storage.size} bytes each, redundant)`;
    if (access === 'uboot') {
      description = `${where}, U-Boot's own environment`;
    } else {
      description = `${where}, read and written by boot.scr`;
      const file = env.config['uboot.env_file'];
      if (file) {
        // U-Boot's own environment starts boot.scr; it holds no Mender variable, so whatever
        // happens to it the boot state is the copies'.
        const own = ubootEnvCopies(ubootScriptBootEnv(ownEnv), { kind: 'file', path: file, size: env.config['uboot.env_size'] });
        await writeBootFile(file, own[0]!.data);
        description += `; U-Boot's own environment (its defaults, bootcmd running boot.scr) in ${path.posix.join(mountpoint, file)}`;
      }
    }
  }
  await extracted.rootfs.writeFile('/etc/fw_env.config', fwEnvConfig(storage), { uid: 0, gid: 0, mode: 0o644 });
  const script = access === 'script' && storage.kind === 'redundant' ? { access, offsets: storage.offsets, size: storage.size } as const : { access: 'uboot' } as const;
  return { description, script, rawWrites };
}

/**
 * The kernel the boot script loads, in the root filesystem (stored decompressed: booti cannot
 * inflate), and its initrd beside it: the root filesystem's initrd.img-<release>, else the
 * initramfs the firmware would load beside the boot partition's kernel (Raspberry Pi OS).
 * Returns the kernel's release (uname -r) when known.
 */
async function installKernel(input: ModifyInput, decision: UbootDecision): Promise<string | null> {
  const { env, extracted, target } = input;
  const { rootfs, boot, facts } = extracted;
  const { kernelPath, initrdPath } = decision;
  const root = { uid: 0, gid: 0 };
  const mountpoint = target.bootMountpoint.replace(/\/$/, '');
  for (const file of [kernelPath, initrdPath]) {
    if (file?.startsWith(`${mountpoint}/`)) {
      throw new UserError(`${file} is under ${mountpoint}, where the boot partition is mounted on the device: the kernel packages' hooks would write the boot partition, not the root filesystem boot.scr loads from.`, {
        hint: 'Mount the boot partition elsewhere (boot.mountpoint, e.g. /boot/firmware or /uboot) or move uboot.kernel_image and uboot.initrd_image.',
      });
    }
  }
  const fromBoot = env.config['uboot.kernel_source'];
  let data: Buffer;
  let release: string | null;
  let bootInitramfs: string | null = null;
  if (fromBoot) {
    const file = `/${fromBoot.replace(/^\/+/, '')}`;
    if (!(await boot.exists(file))) {
      throw new UserError(`The boot partition has no ${file} (uboot.kernel_source).`, { hint: 'Check that the image is the one the board configuration is for (32/64-bit, model).' });
    }
    data = bootableKernel(await boot.readFile(file));
    release = kernelImageVersion(data);
    const initramfs = firmwareInitramfsName(file);
    if (initramfs) bootInitramfs = path.posix.join(path.posix.dirname(file), initramfs);
  } else {
    const kernel = newestKernel(facts.rootfsKernels.filter((k) => KERNEL_IMAGE.test(k)));
    if (!kernel) {
      env.notes.push('No kernel found in the root filesystem /boot (and uboot.kernel_source is not set): the image will not boot until one is installed.');
      return null;
    }
    data = bootableKernel(await rootfs.readFile(kernel));
    release = kernelImageVersion(data) ?? kernelVersion(kernel);
  }
  await rootfs.mkdir(path.posix.dirname(kernelPath), { ...root, mode: 0o755 });
  await rootfs.writeFile(kernelPath, data, { ...root, mode: 0o644 });

  if (initrdPath) {
    const own = release ? facts.rootfsInitrds.find((file) => file === `/boot/initrd.img-${release}`) : undefined;
    const initrd = own ? await rootfs.readFile(own) : bootInitramfs && (await boot.exists(bootInitramfs)) ? await boot.readFile(bootInitramfs) : null;
    if (initrd) {
      await rootfs.mkdir(path.posix.dirname(initrdPath), { ...root, mode: 0o755 });
      await rootfs.writeFile(initrdPath, initrd, { ...root, mode: 0o644 });
      env.logger.info(`uboot: initrd ${initrdPath} from ${own ?? `the boot partition's ${bootInitramfs}`}`);
    } else {
      env.logger.info(`uboot: no initrd for kernel ${release ?? '(release unknown)'}; it boots without one`);
    }
  }
  return release;
}

/**
 * The installed kernel package's device trees in /boot, vendor directories flattened, and its
 * overlays in /boot/overlays: where the kernel hooks put them after every kernel upgrade, so that
 * a uboot.dtb under /boot (e.g. /boot/rk3399-rockpro64.dtb) is there from the first boot on.
 * Returns how many files were copied.
 */
async function installDeviceTrees(input: ModifyInput, release: string | null): Promise<number> {
  const { rootfs } = input.extracted;
  const source = `/usr/lib/linux-image-${release}`;
  if (!release || (await rootfs.stat(source))?.type !== 'dir') return 0;
  const root = { uid: 0, gid: 0 };
  const copies: [from: string, to: string][] = [];
  for (const entry of await rootfs.list(source)) {
    if (entry.type === 'file' && entry.name.endsWith('.dtb')) copies.push([entry.path, `/boot/${entry.name}`]);
    if (entry.type !== 'dir') continue;
    for (const inner of await rootfs.list(entry.path)) {
      if (inner.type !== 'file') continue;
      if (entry.name === 'overlays') copies.push([inner.path, `/boot/overlays/${inner.name}`]);
      else if (inner.name.endsWith('.dtb')) copies.push([inner.path, `/boot/${inner.name}`]);
    }
  }
  // Read in one batch, then written: a read between writes makes the editor apply them first
  // (a kernel package has some 600 device trees: two debugfs runs each, minutes).
  const contents = await rootfs.readFiles(copies.map(([from]) => from));
  for (const [from, to] of copies) {
    await rootfs.mkdir(path.posix.dirname(to), { ...root, mode: 0o755 });
    await rootfs.writeFile(to, contents.get(from)!, { ...root, mode: 0o644 });
  }
  return copies.length;
}

/**
 * What the kernel hooks keep up to date on the device (/etc/default/mender-uboot): the kernel and
 * initrd boot.scr loads, device trees in /boot, from the newest kernel of uboot.kernel_flavour
 * (auto: the flavour of the kernel the conversion installed, `release`).
 */
export function kernelHookSettings(config: Readonly<Config>, decision: Pick<UbootDecision, 'kernelPath' | 'initrdPath'>, release: string | null): KernelHookSettings {
  const configured = config['uboot.kernel_flavour'];
  const flavour = configured === 'auto' ? (release ? kernelFlavour(release) : '') : configured;
  return { kernelImage: decision.kernelPath, initrd: decision.initrdPath, flavour, dtbDir: '/boot' };
}

/** The hooks that keep the kernel, initrd and device trees boot.scr loads in step with the kernel packages (apt upgrade). */
async function installKernelHooks(input: ModifyInput, decision: UbootDecision, release: string | null): Promise<string> {
  const { env, extracted } = input;
  const { rootfs } = extracted;
  const root = { uid: 0, gid: 0 };
  const settings = kernelHookSettings(env.config, decision, release);
  await rootfs.mkdir(path.posix.dirname(UBOOT_KERNEL_HOOK), { ...root, mode: 0o755 });
  await rootfs.writeFile(UBOOT_KERNEL_HOOK, ubootKernelHook(), { ...root, mode: 0o755 });
  await rootfs.mkdir(path.posix.dirname(UBOOT_KERNEL_HOOK_CONFIG), { ...root, mode: 0o755 });
  await rootfs.writeFile(UBOOT_KERNEL_HOOK_CONFIG, kernelHookConfig(settings), { ...root, mode: 0o644 });
  for (const link of UBOOT_KERNEL_HOOK_LINKS) {
    await rootfs.mkdir(path.posix.dirname(link), { ...root, mode: 0o755 });
    await rootfs.symlink(link, UBOOT_KERNEL_HOOK, root);
  }
  return settings.flavour ? `kernels *-${settings.flavour}` : 'any kernel';
}

/**
 * The kernel file names in the root filesystem: ours, and those Mender's own U-Boot for the Pi
 * loads without a boot script (uboot-mender's CONFIG_MENDER_BOOTCOMMAND: booti /boot/vmlinux,
 * bootz /boot/zImage), which devices converted by upstream mender-convert run.
 */
const KERNEL_NAMES = {
  auto: { arm64: '/boot/Image', arm32: '/boot/zImage' },
  mender: { arm64: '/boot/vmlinux', arm32: '/boot/zImage' },
} as const;

export const ubootIntegration: BootloaderIntegration<UbootDecision> = {
  type: 'uboot',
  title: 'U-Boot integration',
  defaultBootMountpoint: '/uboot',
  // The two alignment blocks before the boot partition hold the redundant environment copies.
  reservedBytes: (alignment) => 2 * alignment,
  // An archive's fw_env.config may place them elsewhere: the package stage checks the copies it writes again.
  reservedRegions: (config) => {
    if (config['uboot.env_storage'] !== 'redundant') return [];
    const alignment = config['storage.alignment'];
    return [alignment, 2 * alignment].map((start) => ({ what: `the U-Boot environment copy at 0x${start.toString(16)}`, start, size: config['uboot.env_size'] }));
  },
  // The client reaches the environment through fw_printenv/fw_setenv.
  packages: (config) => (config['client.install'] ? ['libubootenv-tool'] : []),
  testsConfig: { feature: 'mender-uboot', imageType: 'sdimg' },
  tools: (config) => (ARCHIVE.test(config['uboot.source']) ? ['tar'] : []),
  verify: verifySource,

  decide(config: Readonly<Config>, facts: ImageFacts): UbootDecision {
    const ubootArch = UBOOT_ARCH[facts.arch];
    if (!ubootArch) throw new UserError(`The U-Boot integration supports ARM images (arm64, armhf, armel); this one is ${facts.arch}.`, { hint: 'Use bootloader.type: grub for this image.' });
    const configured = config['uboot.kernel_image'];
    const kernelPath = configured === 'auto' || configured === 'mender' ? KERNEL_NAMES[configured][facts.arch === 'arm64' ? 'arm64' : 'arm32'] : configured;
    if (!kernelPath.startsWith('/')) throw new UserError(`uboot.kernel_image '${kernelPath}' must be an absolute path in the root filesystem.`);
    const initrdSetting = config['uboot.initrd_image'];
    const initrdPath = initrdSetting === 'auto' ? '/boot/initrd' : initrdSetting || null;
    if (initrdPath && !initrdPath.startsWith('/')) throw new UserError(`uboot.initrd_image '${initrdPath}' must be an absolute path in the root filesystem.`);
    return { ubootArch, kernelPath, initrdPath, bootCommand: facts.arch === 'arm64' ? 'booti' : 'bootz' };
  },

  async apply(input, decision) {
    const { env, extracted, target } = input;
    const binary = await obtainUboot(input);
    const checksum = sha256(binary.data);
    env.logger.info(`uboot: ${binary.origin}, sha256 ${checksum}`);
    env.notes.push(`U-Boot: ${binary.origin} (sha256 ${checksum.slice(0, 16)}…).`);
    // Its default environment is read either way; a board that loads U-Boot from raw sectors has no file of it.
    const installPath = env.config['uboot.install_path'];
    if (installPath) await extracted.boot.writeFile(installPath, binary.data);

    const environment = await writeEnvironment(input, binary);
    env.logger.info(`uboot: environment in ${environment.description}`);
    env.notes.push(`U-Boot environment: ${environment.description}.`);

    const release = await installKernel(input, decision);
    env.logger.info(`uboot: kernel ${decision.kernelPath} (${release ?? 'release unknown'})`);
    const trees = await installDeviceTrees(input, release);
    if (trees > 0) env.logger.info(`uboot: ${trees} device tree files of linux-image-${release} copied to /boot`);
    if (env.config['uboot.kernel_hooks']) {
      const which = await installKernelHooks(input, decision, release);
      env.notes.push(`Kernel hooks (${UBOOT_KERNEL_HOOK_LINKS.join(', ')}) keep ${decision.kernelPath}${decision.initrdPath ? ` and ${decision.initrdPath}` : ''} up to date from the newest installed kernel (${which}) when packages change it.`);
    }

    const dtb = env.config['uboot.dtb'];
    const script = generateUbootScript({
      parts: { a: 2, b: 3 },
      rootDevices: { a: partitionDevice(2, target.naming), b: partitionDevice(3, target.naming) },
      kernelPath: decision.kernelPath,
      bootCommand: decision.bootCommand,
      initrdPath: decision.initrdPath,
      dtb: dtb ? { path: dtb } : 'firmware',
      firmwareBootargs: env.config['uboot.firmware_bootargs'],
      kernelArgs: env.config['bootloader.kernel_args'] || undefined,
      environment: environment.script,
      storage: ubootStorage(env.config),
    });
    // The source next to the compiled script, for people reading the boot partition.
    await extracted.boot.writeFile('/boot.cmd', script);
    await extracted.boot.writeFile(SCRIPT_PATH, ubootScriptImage(script, { name: 'Mender A/B boot script', timestamp: env.epoch, arch: decision.ubootArch }));
    await extracted.boot.flush();
    await extracted.rootfs.flush();
    return { rawWrites: environment.rawWrites };
  },
};
