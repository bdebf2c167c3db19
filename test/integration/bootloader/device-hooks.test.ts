/**
 * The scripts the Raspberry Pi conversion installs on the device, run with sh on directory trees
 * (DPKG_ROOT) the way the packages run them on an `apt upgrade`: the U-Boot kernel hook
 * (src/bootloader/uboot/kernel-hook.sh), the boot partition keeper
 * (board-integrations/raspberrypi/boot-files.sh) and the preparation of Raspberry Pi Imager's
 * first-boot script (imager-firstrun.sh), each with the settings the conversion writes.
 * Debian's packaging runs with Debian's own raspi-firmware hooks, taken from the archive and run
 * with their absolute paths moved under the tree; Raspberry Pi OS's, which cannot be fetched
 * here, is played on files as its packages leave them.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buffer } from 'node:stream/consumers';
import zlib from 'node:zlib';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BOOT_FILES_LINKS,
  BOOT_FILES_SCRIPT,
  bootFilesSettings,
  IMAGER_FIRSTRUN_SCRIPT,
  menderCmdline,
  menderConfigTxt,
  raspiFirmwareDefaults,
} from '../../../board-integrations/raspberrypi/integration.js';
import { AptRepository } from '../../../src/apt/repository.js';
import { bootableKernel, kernelHookConfig, kernelImageVersion, UBOOT_KERNEL_HOOK_LINKS, UBOOT_KERNEL_HOOK_TEMPLATE } from '../../../src/bootloader/uboot/kernel.js';
import { loadConfig } from '../../../src/config/load.js';
import { DebPackage } from '../../../src/deb/package.js';
import { compareVersions } from '../../../src/deb/version.js';
import { DEBIAN_MIRROR, HOST_DEBIAN_KEYRING } from '../../../src/pipeline/integrations/debian.js';
import { kernelHookSettings, ubootIntegration } from '../../../src/pipeline/integrations/uboot/index.js';
import { ROOT } from '../../helpers/cli.js';
import { factsWith } from '../../unit/pipeline/fixtures.js';

const base = fs.mkdtempSync(path.join(os.tmpdir(), 'device-hooks-'));
afterAll(() => fs.rmSync(base, { recursive: true, force: true }));
let trees = 0;

/** Where Raspberry Pi OS bookworm mounts the boot partition (its fstab; the conversion keeps it). */
const BOOT_MOUNT = '/boot/firmware';
const MENDER_ROOT = 'root=${mender_kernel_root}';

/** A kernel stand-in: ARM64 Image magic at 56, as booti wants it, and the banner that names its release. */
function kernelImage(release: string): Buffer {
  return Buffer.concat([Buffer.alloc(56), Buffer.from('ARM\x64'), Buffer.alloc(200, 0x5a), Buffer.from(`Linux version ${release} (builder@example.org) #1 SMP PREEMPT\n\0`)]);
}

/**
 * Stand-ins for the commands Debian's raspi-firmware hook asks about the machine: a chroot (as
 * when packages are installed into an image; it skips the check that /boot/firmware is mounted),
 * an arm64 system, and the root filesystem on the SD card's second partition.
 */
const stubs = path.join(base, 'bin');
fs.mkdirSync(stubs);
for (const [name, body] of [
  ['ischroot', 'exit 0'],
  ['dpkg', '[ "$1" = --print-architecture ] && echo arm64'],
  ['findmnt', 'case "$*" in *source*) echo /dev/mmcblk0p2 ;; *fstype*) echo ext4 ;; *) exit 1 ;; esac'],
]) {
  fs.writeFileSync(path.join(stubs, name!), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
}

interface Run {
  exitCode: number;
  output: string;
}

/** A script with sh, as on the device: only DPKG_ROOT (the tree) and what the caller sets in its environment. */
async function sh(tree: string, script: string, args: string[] = [], env: Record<string, string> = {}, shell = 'sh'): Promise<Run> {
  const result = await execa(shell, [script, ...args], { env: { PATH: `${stubs}:${process.env.PATH}`, LC_ALL: 'C', DPKG_ROOT: tree, ...env }, extendEnv: false, reject: false, all: true });
  return { exitCode: result.exitCode ?? -1, output: result.all ?? '' };
}

/** run-parts --exit-on-error over a hook directory of the tree: every script in name order, with the same arguments. */
async function runParts(tree: string, dir: string, args: string[], env: Record<string, string>, which: (name: string) => boolean = () => true): Promise<string> {
  let output = '';
  for (const name of fs.readdirSync(path.join(tree, dir)).sort().filter(which)) {
    const run = await sh(tree, path.join(tree, dir, name), args, env);
    output += run.output;
    if (run.exitCode !== 0) throw new Error(`${dir}/${name} failed (${run.exitCode}):\n${run.output}`);
  }
  return output;
}

/** What linux-image-<release>'s postinst runs once its files are unpacked. */
const kernelPostinst = (tree: string, release: string, which?: (name: string) => boolean) =>
  runParts(tree, '/etc/kernel/postinst.d', [release, `/boot/vmlinuz-${release}`], { DEB_MAINT_PARAMS: 'configure' }, which);
/** What its postrm runs once its files are gone. */
const kernelPostrm = (tree: string, release: string) => runParts(tree, '/etc/kernel/postrm.d', [release, `/boot/vmlinuz-${release}`], { DEB_MAINT_PARAMS: 'remove' });

function write(tree: string, file: string, content: string | Buffer, mode = 0o644): void {
  const target = path.join(tree, file);
  fs.mkdirSync(path.dirname(target), { recursive: true });
  fs.writeFileSync(target, content, { mode });
}
const read = (tree: string, file: string) => fs.readFileSync(path.join(tree, file));
const text = (tree: string, file: string) => read(tree, file).toString('utf8');
const exists = (tree: string, file: string) => fs.existsSync(path.join(tree, file));

/** Every file and link of the tree by path: its content or its target. */
function snapshot(tree: string): Map<string, string> {
  const entries = new Map<string, string>();
  for (const entry of fs.readdirSync(tree, { recursive: true, withFileTypes: true })) {
    const file = path.join(entry.parentPath, entry.name);
    if (entry.isSymbolicLink()) entries.set(file, `-> ${fs.readlinkSync(file)}`);
    else if (entry.isFile()) entries.set(file, fs.readFileSync(file).toString('base64'));
  }
  return entries;
}
/** Files staged by the hooks (beside their targets, or in a staging directory) and not moved in. */
const leftovers = (tree: string) => [...snapshot(tree).keys()].filter((file) => file.includes('.mender-new'));

/**
 * A kernel package's files: /boot/vmlinuz-<release> (gzip-compressed or not) and the device
 * trees under /usr/lib/linux-image-<release>, each naming its release.
 */
function unpackKernel(tree: string, release: string, options: { gzip: boolean; trees: string[] }): void {
  const image = kernelImage(release);
  write(tree, `/boot/vmlinuz-${release}`, options.gzip ? zlib.gzipSync(image) : image);
  for (const file of options.trees) write(tree, `/usr/lib/linux-image-${release}/${file}`, `${path.basename(file)} of ${release}\n`);
}
function removeKernel(tree: string, release: string): void {
  fs.rmSync(path.join(tree, `/boot/vmlinuz-${release}`));
  fs.rmSync(path.join(tree, `/usr/lib/linux-image-${release}`), { recursive: true });
}

/**
 * Stands in for initramfs-tools' kernel hooks: on install, update-initramfs -c builds the
 * initrd and runs the post-update.d hooks, telling them (INITRAMFS_TOOLS_KERNEL_HOOK) that the
 * kernel's own hooks run later; on removal, update-initramfs -d deletes it.
 */
const INITRAMFS_TOOLS_POSTINST = `#!/bin/sh
set -e
printf 'initrd of %s\\n' "$1" > "$DPKG_ROOT/boot/initrd.img-$1"
for hook in "$DPKG_ROOT"/etc/initramfs/post-update.d/*; do
    INITRAMFS_TOOLS_KERNEL_HOOK=1 sh "$hook" "$1" "/boot/initrd.img-$1"
done
`;
const INITRAMFS_TOOLS_POSTRM = '#!/bin/sh\nrm -f "$DPKG_ROOT/boot/initrd.img-$1"\n';

/** What the conversion writes for a board configuration, given the kernel file it boots (uboot.kernel_source). */
function boardSettings(configName: string, kernelFile: Buffer, arch: 'arm64' | 'armhf' = 'arm64') {
  const { config } = loadConfig({ configFiles: [path.join(ROOT, 'configs', `${configName}.yaml`)], env: {} });
  const decision = ubootIntegration.decide(config, factsWith({ arch }));
  const settings = kernelHookSettings(config, decision, kernelImageVersion(bootableKernel(kernelFile)));
  const ubootFile = config['uboot.install_path'].replace(/^\/+/, '');
  const arm64 = arch === 'arm64';
  return { settings, ubootFile, arm64, hookConfig: kernelHookConfig(settings), bootFiles: bootFilesSettings(BOOT_MOUNT, ubootFile, arm64) };
}

/**
 * A converted root filesystem with its boot partition at BOOT_MOUNT: the settings and hook
 * links the conversion installs (pointing at the scripts of this checkout), the boot
 * partition's config.txt and cmdline.txt as it edits them, and the kernel it installed.
 */
function convertedTree(board: ReturnType<typeof boardSettings>, golden: { configTxt: string; cmdline: string }, installed: { kernel: Buffer; initrd: string }): string {
  const tree = path.join(base, `tree-${trees++}`);
  write(tree, '/etc/default/mender-uboot', board.hookConfig);
  write(tree, '/etc/default/mender-raspberrypi', board.bootFiles);
  for (const link of UBOOT_KERNEL_HOOK_LINKS) {
    fs.mkdirSync(path.join(tree, path.dirname(link)), { recursive: true });
    fs.symlinkSync(UBOOT_KERNEL_HOOK_TEMPLATE, path.join(tree, link));
  }
  for (const link of BOOT_FILES_LINKS) {
    fs.mkdirSync(path.join(tree, path.dirname(link)), { recursive: true });
    fs.symlinkSync(BOOT_FILES_SCRIPT.source, path.join(tree, link));
  }
  write(tree, '/etc/kernel/postinst.d/initramfs-tools', INITRAMFS_TOOLS_POSTINST, 0o755);
  write(tree, '/etc/kernel/postrm.d/initramfs-tools', INITRAMFS_TOOLS_POSTRM, 0o755);
  write(tree, `${BOOT_MOUNT}/config.txt`, menderConfigTxt(golden.configTxt, board.ubootFile, board.arm64));
  write(tree, `${BOOT_MOUNT}/cmdline.txt`, menderCmdline(golden.cmdline));
  write(tree, board.settings.kernelImage, bootableKernel(installed.kernel));
  write(tree, board.settings.initrd!, installed.initrd);
  return tree;
}

/**
 * A hook of a package with its absolute paths under ${DPKG_ROOT}: run on the tree as on the
 * device. Refused if a path outside a comment was missed, so that it cannot touch this machine.
 */
function rebased(script: string): string {
  const comment = (line: string) => /^\s*#/.test(line);
  const lines = script.split('\n').map((line) => (comment(line) ? line : line.replace(/(?<=[\s"'=>(#`])\/(?=(?:boot|etc|usr)\/)/g, '${DPKG_ROOT}/')));
  const missed = lines.filter((line) => !comment(line) && /(?<![\w}.-])\/(?:boot|etc|usr)\//.test(line));
  if (missed.length > 0) throw new Error(`paths left outside the tree:\n${missed.join('\n')}`);
  return lines.join('\n');
}

/** The last value config.txt gives a setting (the one the firmware uses when no later section filters it out). */
function lastSetting(configTxt: string, name: string): string | undefined {
  return configTxt.split('\n').filter((line) => line.startsWith(`${name}=`)).at(-1)?.slice(name.length + 1);
}

/** boot-files.sh's result on config.txt and cmdline.txt: U-Boot last, the Mender root= once, no first-boot resize. */
function expectStartsUboot(tree: string): void {
  const configTxt = text(tree, `${BOOT_MOUNT}/config.txt`);
  expect(configTxt).toMatch(/\n# mender-convert: the firmware starts U-Boot[^\n]*\n\[all\]\nkernel=u-boot\.bin\nenable_uart=1\narm_64bit=1\n# mender-convert: end\n$/);
  expect(lastSetting(configTxt, 'kernel')).toBe('u-boot.bin');
  expect(lastSetting(configTxt, 'enable_uart')).toBe('1');
  expect(lastSetting(configTxt, 'arm_64bit')).toBe('1');
  const cmdline = text(tree, `${BOOT_MOUNT}/cmdline.txt`);
  expect(cmdline).toMatch(/^[^\n]+\n$/);
  expect(cmdline.trim().split(' ').filter((word) => word.startsWith('root='))).toEqual([MENDER_ROOT]);
  expect(cmdline).not.toContain('init=');
}

/** Raspberry Pi OS's boot partition as its image has it, as in the conversion tests. */
const PI_OS_CONFIG_TXT = '# For more options and information see\n# http://rptl.io/configtxt\ndtparam=audio=on\ncamera_auto_detect=1\ndisplay_auto_detect=1\nauto_initramfs=1\ndtoverlay=vc4-kms-v3d\nmax_framebuffers=2\narm_64bit=1\n\n[cm4]\notg_mode=1\n\n[all]\n';
const PI_OS_CMDLINE = 'console=serial0,115200 console=tty1 root=PARTUUID=c0ffee01-02 rootfstype=ext4 fsck.repair=yes rootwait quiet init=/usr/lib/raspberrypi-sys-mods/firstboot\n';

describe("Debian's packaging on a Raspberry Pi 3 (64-bit): linux-image-arm64 and Debian's raspi-firmware", () => {
  const OLD = '6.1.0-28-arm64';
  const NEW = '6.1.0-31-arm64';
  // Debian's kernel: upstream device tree names, vendor directories, no overlays.
  const TREES = ['broadcom/bcm2837-rpi-3-b.dtb', 'broadcom/bcm2711-rpi-4-b.dtb', 'rockchip/rk3399-rockpro64.dtb'];
  const board = boardSettings('raspberrypi3_bookworm_64bit', zlib.gzipSync(kernelImage(OLD)));
  let firmware: Map<string, Buffer>;

  beforeAll(async () => {
    // Debian's raspi-firmware (non-free-firmware), through the APT client the conversion uses,
    // cached with the packages the other tests fetch.
    const repository = await AptRepository.load(
      { url: DEBIAN_MIRROR, suite: 'bookworm', components: ['non-free-firmware'], architecture: 'arm64', keyrings: [HOST_DEBIAN_KEYRING] },
      { cacheDir: path.join(ROOT, 'work', 'cache', 'apt') },
    );
    const record = repository.packages.filter((p) => p.name === 'raspi-firmware').sort((a, b) => compareVersions(b.version, a.version))[0];
    expect(record).toBeDefined();
    const deb = await DebPackage.open(await repository.fetchPackage(record!));
    firmware = new Map();
    await deb.walkData(async (entry, content) => {
      if (entry.type === 'file' && /^\/etc\/(kernel\/post(inst|rm)\.d|initramfs\/post-update\.d)\/|^\/etc\/default\/raspi-firmware$/.test(entry.path)) firmware.set(entry.path, await buffer(content));
    });
    expect([...firmware.keys()].sort()).toEqual([
      '/etc/default/raspi-firmware',
      '/etc/initramfs/post-update.d/z50-raspi-firmware',
      '/etc/kernel/postinst.d/z50-raspi-firmware',
      '/etc/kernel/postrm.d/z50-raspi-firmware',
    ]);
  });

  /**
   * The converted Pi with Debian's kernel OLD and raspi-firmware installed: the package's hooks
   * (under the tree), and its /etc/default/raspi-firmware as the conversion edits it (or, with
   * packageDefaults, as the package ships it: an upgrade that took the maintainer's version).
   */
  function debianTree(options: { packageDefaults?: boolean } = {}): string {
    const tree = convertedTree(board, { configTxt: PI_OS_CONFIG_TXT, cmdline: PI_OS_CMDLINE }, { kernel: kernelImage(OLD), initrd: `initrd of ${OLD}\n` });
    unpackKernel(tree, OLD, { gzip: false, trees: TREES });
    write(tree, `/boot/initrd.img-${OLD}`, `initrd of ${OLD}\n`);
    for (const [file, content] of firmware) {
      if (file === '/etc/default/raspi-firmware') write(tree, file, options.packageDefaults ? content : raspiFirmwareDefaults(content.toString('utf8'), board.ubootFile));
      else write(tree, file, rebased(content.toString('utf8')), 0o755);
    }
    return tree;
  }

  it('the hook settings are those of the Pi 3 configuration: /boot/Image and /boot/initrd, kernels *-arm64, device trees in /boot', () => {
    expect(board.hookConfig).toContain('\nMENDER_KERNEL_IMAGE=/boot/Image\nMENDER_INITRD=/boot/initrd\nMENDER_KERNEL_FLAVOUR=arm64\nMENDER_DTB_DIR=/boot\n');
  });

  it('a kernel upgrade: boot.scr loads the new kernel (decompressed), its initrd and device trees; run again nothing changes; the new kernel removed, the old one is back', async () => {
    const tree = debianTree();
    unpackKernel(tree, NEW, { gzip: true, trees: TREES });
    const output = await kernelPostinst(tree, NEW);
    expect(output).toContain(`mender-uboot: /boot/Image and /boot/initrd from ${NEW} (3 device tree files)`);
    const kernel = read(tree, board.settings.kernelImage);
    expect(kernelImageVersion(kernel)).toBe(NEW);
    expect(kernel.equals(kernelImage(NEW)), 'stored decompressed').toBe(true);
    expect(text(tree, board.settings.initrd!)).toBe(`initrd of ${NEW}\n`);
    // Vendor directories flattened into /boot, where the conversion put the image's own.
    for (const dtb of ['bcm2837-rpi-3-b.dtb', 'bcm2711-rpi-4-b.dtb', 'rk3399-rockpro64.dtb']) expect(text(tree, `/boot/${dtb}`)).toBe(`${dtb} of ${NEW}\n`);
    expect(leftovers(tree)).toEqual([]);
    expect(exists(tree, '/boot/.mender-new'), 'the staging directory of the device trees is removed').toBe(false);

    // The hooks take the newest kernel whatever their arguments: a second run is the same state.
    const after = snapshot(tree);
    await kernelPostinst(tree, NEW);
    expect(snapshot(tree)).toEqual(after);

    removeKernel(tree, NEW);
    const removal = await kernelPostrm(tree, NEW);
    expect(removal).toContain(`mender-uboot: /boot/Image and /boot/initrd from ${OLD} (3 device tree files)`);
    expect(read(tree, board.settings.kernelImage).equals(kernelImage(OLD))).toBe(true);
    expect(text(tree, board.settings.initrd!)).toBe(`initrd of ${OLD}\n`);
    expect(text(tree, '/boot/bcm2837-rpi-3-b.dtb')).toBe(`bcm2837-rpi-3-b.dtb of ${OLD}\n`);
    expect(exists(tree, `/boot/initrd.img-${NEW}`)).toBe(false);
    expect(leftovers(tree)).toEqual([]);
  });

  it('update-initramfs: deferred while a kernel is installed (INITRAMFS_TOOLS_KERNEL_HOOK), taken on its own', async () => {
    const tree = debianTree();
    write(tree, `/boot/initrd.img-${OLD}`, `initrd of ${OLD}, rebuilt\n`);
    const before = snapshot(tree);
    const hook = path.join(tree, '/etc/initramfs/post-update.d/zz-mender-uboot');
    const deferred = await sh(tree, hook, [OLD, `/boot/initrd.img-${OLD}`], { INITRAMFS_TOOLS_KERNEL_HOOK: '1' });
    expect(deferred).toEqual({ exitCode: 0, output: '' });
    expect(snapshot(tree)).toEqual(before);

    // update-initramfs -u: every post-update.d hook, raspi-firmware's included, then ours.
    const output = await runParts(tree, '/etc/initramfs/post-update.d', [OLD, `/boot/initrd.img-${OLD}`], {});
    expect(output).toContain(`mender-uboot: /boot/Image and /boot/initrd from ${OLD}`);
    expect(text(tree, board.settings.initrd!)).toBe(`initrd of ${OLD}, rebuilt\n`);
    expectStartsUboot(tree);
    expect(leftovers(tree)).toEqual([]);
  });

  it("raspi-firmware's z50 hook with the settings the conversion wrote starts U-Boot with the Mender root=; boot-files.sh keeps it so and puts the new kernel's device trees on the boot partition", async () => {
    const tree = debianTree();
    unpackKernel(tree, NEW, { gzip: true, trees: TREES });
    const firmwareOutput = await kernelPostinst(tree, NEW, (name) => !name.startsWith('zz-'));
    expect(firmwareOutput).not.toMatch(/raspi-firmware: (missing|no kernel|no initrd)/);
    // Debian's hook wrote both files anew, from /etc/default/raspi-firmware as the conversion left it.
    const written = text(tree, `${BOOT_MOUNT}/config.txt`);
    expect(written).toContain('# Do not modify this file!');
    expect(written).toContain('\nupstream_kernel=1\n\nkernel=u-boot.bin\n');
    expect(written).not.toMatch(/^initramfs /m);
    expect(written).not.toContain('mender-convert');
    expect(text(tree, `${BOOT_MOUNT}/cmdline.txt`)).toContain(` ${MENDER_ROOT} rw `);

    const output = await kernelPostinst(tree, NEW, (name) => name.startsWith('zz-'));
    expect(output).toContain('mender-raspberrypi: rewrote config.txt cmdline.txt');
    expectStartsUboot(tree);
    expect(text(tree, `${BOOT_MOUNT}/config.txt`).startsWith(written)).toBe(true);
    // With upstream_kernel=1 the firmware loads the upstream-named device tree and hands it to U-Boot.
    for (const dtb of ['bcm2837-rpi-3-b.dtb', 'bcm2711-rpi-4-b.dtb']) expect(text(tree, `${BOOT_MOUNT}/${dtb}`)).toBe(`${dtb} of ${NEW}\n`);
    expect(exists(tree, `${BOOT_MOUNT}/rk3399-rockpro64.dtb`)).toBe(false);

    // APT's DPkg::Post-Invoke after the dpkg run: nothing left to change.
    const before = snapshot(tree);
    const apt = await sh(tree, BOOT_FILES_SCRIPT.source, ['--config-only']);
    expect(apt).toEqual({ exitCode: 0, output: '' });
    expect(snapshot(tree)).toEqual(before);
    // The kernel hooks run again (a reinstall): raspi-firmware rewrites, boot-files.sh restores the same files.
    await kernelPostinst(tree, NEW);
    expect(snapshot(tree)).toEqual(before);
    expect(leftovers(tree)).toEqual([]);
  });

  it("raspi-firmware's own /etc/default/raspi-firmware back (an upgrade that took the package's): z50 starts vmlinuz with root=/dev/mmcblk0p2, boot-files.sh gives U-Boot and the Mender root= back", async () => {
    const tree = debianTree({ packageDefaults: true });
    unpackKernel(tree, NEW, { gzip: true, trees: TREES });
    await kernelPostinst(tree, NEW, (name) => !name.startsWith('zz-'));
    const written = text(tree, `${BOOT_MOUNT}/config.txt`);
    expect(lastSetting(written, 'kernel')).toBe(`vmlinuz-${NEW}`);
    expect(written).toContain(`\ninitramfs initrd.img-${NEW}`);
    expect(text(tree, `${BOOT_MOUNT}/cmdline.txt`)).toContain(' root=/dev/mmcblk0p2 ');

    const output = await kernelPostinst(tree, NEW, (name) => name.startsWith('zz-'));
    expect(output).toContain('mender-raspberrypi: rewrote config.txt cmdline.txt');
    expectStartsUboot(tree);
    expect(text(tree, `${BOOT_MOUNT}/cmdline.txt`)).not.toContain('mmcblk0p2');
    expect(kernelImageVersion(read(tree, board.settings.kernelImage))).toBe(NEW);
  });
});

describe("Raspberry Pi OS's packaging (on files): linux-image-rpi-v8 and linux-image-rpi-2712 side by side, Raspberry Pi's raspi-firmware", () => {
  const OLD = '6.6.51+rpt';
  const NEW = '6.6.62+rpt';
  const FLAVOURS = { v8: { kernel: 'kernel8.img', initramfs: 'initramfs8', gzip: true }, 2712: { kernel: 'kernel_2712.img', initramfs: 'initramfs_2712', gzip: false } } as const;
  // Raspberry Pi's kernels: downstream device tree names in broadcom/, overlays beside them.
  const TREES = ['broadcom/bcm2710-rpi-3-b.dtb', 'broadcom/bcm2711-rpi-4-b.dtb', 'broadcom/bcm2712-rpi-5-b.dtb', 'overlays/vc4-kms-v3d.dtbo', 'overlays/README'];

  /**
   * Stands in for Raspberry Pi's raspi-firmware kernel hook: the firmware starts the kernel
   * file of each flavour, with the initramfs beside it (auto_initramfs=1).
   */
  const RPI_FIRMWARE_POSTINST = `#!/bin/sh
set -e
case "$1" in
    *-rpi-v8) suffix=8 ;;
    *-rpi-2712) suffix=_2712 ;;
    *) exit 0 ;;
esac
cp "$DPKG_ROOT/boot/vmlinuz-$1" "$DPKG_ROOT${BOOT_MOUNT}/kernel$suffix.img"
cp "$DPKG_ROOT/boot/initrd.img-$1" "$DPKG_ROOT${BOOT_MOUNT}/initramfs$suffix"
`;

  it.each([
    { config: 'raspberrypi3_bookworm_64bit', flavour: 'v8', dtb: 'bcm2710-rpi-3-b.dtb' },
    { config: 'raspberrypi4_bookworm_64bit', flavour: 'v8', dtb: 'bcm2711-rpi-4-b.dtb' },
    { config: 'raspberrypi5_bookworm_64bit', flavour: '2712', dtb: 'bcm2712-rpi-5-b.dtb' },
  ] as const)('$config: the kernel hooks take the rpi-$flavour kernel, and config.txt keeps starting U-Boot', async ({ config, flavour, dtb }) => {
    const files = FLAVOURS[flavour];
    const oldRelease = `${OLD}-rpi-${flavour}`;
    const golden = kernelImage(oldRelease);
    const board = boardSettings(config, files.gzip ? zlib.gzipSync(golden) : golden);
    expect(board.hookConfig).toContain(`\nMENDER_KERNEL_FLAVOUR=${flavour}\n`);
    const tree = convertedTree(board, { configTxt: PI_OS_CONFIG_TXT, cmdline: PI_OS_CMDLINE }, { kernel: golden, initrd: `initrd of ${oldRelease}\n` });
    write(tree, '/etc/kernel/postinst.d/z50-raspi-firmware', RPI_FIRMWARE_POSTINST, 0o755);
    // The image as built: both kernel packages installed, their files on the boot partition.
    for (const [name, { kernel, initramfs, gzip }] of Object.entries(FLAVOURS)) {
      const release = `${OLD}-rpi-${name}`;
      unpackKernel(tree, release, { gzip, trees: TREES });
      write(tree, `/boot/initrd.img-${release}`, `initrd of ${release}\n`);
      write(tree, `${BOOT_MOUNT}/${kernel}`, read(tree, `/boot/vmlinuz-${release}`));
      write(tree, `${BOOT_MOUNT}/${initramfs}`, `initrd of ${release}\n`);
    }

    // apt upgrade: both kernel packages, each configured in turn.
    for (const [name, { gzip }] of Object.entries(FLAVOURS)) unpackKernel(tree, `${NEW}-rpi-${name}`, { gzip, trees: TREES });
    for (const name of Object.keys(FLAVOURS)) await kernelPostinst(tree, `${NEW}-rpi-${name}`);
    const release = `${NEW}-rpi-${flavour}`;
    // Raspberry Pi's firmware hook did its part: kernel files and initramfs for the firmware.
    for (const [name, { kernel, initramfs }] of Object.entries(FLAVOURS)) {
      expect(read(tree, `${BOOT_MOUNT}/${kernel}`).equals(read(tree, `/boot/vmlinuz-${NEW}-rpi-${name}`))).toBe(true);
      expect(text(tree, `${BOOT_MOUNT}/${initramfs}`)).toBe(`initrd of ${NEW}-rpi-${name}\n`);
    }
    // What boot.scr loads from the root filesystem: the new kernel of the board's flavour.
    const kernel = read(tree, board.settings.kernelImage);
    expect(kernelImageVersion(kernel)).toBe(release);
    expect(kernel.equals(kernelImage(release))).toBe(true);
    expect(text(tree, board.settings.initrd!)).toBe(`initrd of ${release}\n`);
    expect(text(tree, `/boot/${dtb}`)).toBe(`${dtb} of ${release}\n`);
    // What the firmware hands to U-Boot: that kernel's device trees and overlays on the boot partition.
    expect(text(tree, `${BOOT_MOUNT}/${dtb}`)).toBe(`${dtb} of ${release}\n`);
    expect(text(tree, `${BOOT_MOUNT}/overlays/vc4-kms-v3d.dtbo`)).toBe(`vc4-kms-v3d.dtbo of ${release}\n`);
    const configTxt = text(tree, `${BOOT_MOUNT}/config.txt`);
    expect(configTxt).toContain('\nauto_initramfs=1\n');
    expectStartsUboot(tree);
    expect(leftovers(tree)).toEqual([]);

    // A package that writes Raspberry Pi OS's own config.txt and cmdline.txt: APT's Post-Invoke
    // (boot-files.sh --config-only) starts U-Boot again, then finds nothing more to do.
    write(tree, `${BOOT_MOUNT}/config.txt`, PI_OS_CONFIG_TXT);
    write(tree, `${BOOT_MOUNT}/cmdline.txt`, PI_OS_CMDLINE);
    const apt = await sh(tree, BOOT_FILES_SCRIPT.source, ['--config-only']);
    expect(apt).toEqual({ exitCode: 0, output: 'mender-raspberrypi: rewrote config.txt cmdline.txt' });
    expect(text(tree, `${BOOT_MOUNT}/config.txt`)).toBe(configTxt);
    expect(text(tree, `${BOOT_MOUNT}/cmdline.txt`)).toBe(menderCmdline(PI_OS_CMDLINE));
    expectStartsUboot(tree);
    const settled = snapshot(tree);
    expect(await sh(tree, BOOT_FILES_SCRIPT.source, ['--config-only'])).toEqual({ exitCode: 0, output: '' });
    expect(snapshot(tree)).toEqual(settled);
  });
});

describe("Ubuntu's packaging on a Raspberry Pi 4 (32-bit, on files): linux-image-raspi", () => {
  it('a kernel upgrade: boot.scr loads the new kernel and its initrd from the root filesystem; no Debian device tree directory, no failure', async () => {
    const [old, next] = ['5.15.0-1034-raspi', '5.15.0-1035-raspi'];
    const board = boardSettings('raspberrypi4_ubuntu_32bit', kernelImage(old), 'armhf');
    expect(board.hookConfig).toContain('\nMENDER_KERNEL_IMAGE=/boot/zImage\n');
    expect(board.hookConfig).toContain('\nMENDER_KERNEL_FLAVOUR=raspi\n');
    const ubuntuCmdline = 'console=serial0,115200 dwc_otg.lpm_enable=0 console=tty1 root=LABEL=writable rootfstype=ext4 rootwait fixrtc\n';
    const tree = convertedTree(board, { configTxt: '[all]\nkernel=vmlinuz\ninitramfs initrd.img followkernel\n', cmdline: ubuntuCmdline }, { kernel: kernelImage(old), initrd: `initrd of ${old}\n` });
    write(tree, `/boot/vmlinuz-${old}`, kernelImage(old));
    write(tree, `/boot/initrd.img-${old}`, `initrd of ${old}\n`);
    // Ubuntu's kernel package: /boot/vmlinuz-<release>, device trees under /lib/firmware (flash-kernel's).
    write(tree, `/boot/vmlinuz-${next}`, kernelImage(next));
    write(tree, `/lib/firmware/${next}/device-tree/bcm2711-rpi-4-b.dtb`, `dtb of ${next}\n`);
    await kernelPostinst(tree, next);
    expect(read(tree, '/boot/zImage').equals(kernelImage(next))).toBe(true);
    expect(text(tree, '/boot/initrd')).toBe(`initrd of ${next}\n`);
    expect(text(tree, `${BOOT_MOUNT}/config.txt`)).toMatch(/\nkernel=u-boot\.bin\nenable_uart=1\narm_64bit=0\n# mender-convert: end\n$/);
    expect(text(tree, `${BOOT_MOUNT}/cmdline.txt`)).toBe(menderCmdline(ubuntuCmdline));
    expect(leftovers(tree)).toEqual([]);
  });
});

describe("Raspberry Pi Imager's first-boot customisation (bookworm: firstrun.sh through systemd.run=)", () => {
  /** firstrun.sh as Imager writes it: the customisation, then its clean-up of /boot. */
  const FIRSTRUN = `#!/bin/bash

set +e

CURRENT_HOSTNAME=\`cat /etc/hostname | tr -d " \\t\\n\\r"\`
if [ -f /usr/lib/raspberrypi-sys-mods/imager_custom ]; then
   /usr/lib/raspberrypi-sys-mods/imager_custom set_hostname mender-pi
else
   echo mender-pi >/etc/hostname
   sed -i "s/127.0.1.1.*$CURRENT_HOSTNAME/127.0.1.1\\tmender-pi/g" /etc/hosts
fi
rm -f /boot/firstrun.sh
sed -i 's| systemd.run.*||g' /boot/cmdline.txt
exit 0
`;
  const IMAGER_ARGS = ' systemd.run=/boot/firstrun.sh systemd.run_success_action=reboot systemd.unit=kernel-command-line.target';

  it('runs once from the boot partition, then removes itself and its cmdline.txt arguments; later boots do nothing', async () => {
    const tree = path.join(base, `tree-${trees++}`);
    const converted = menderCmdline(PI_OS_CMDLINE);
    write(tree, '/etc/default/mender-raspberrypi', bootFilesSettings(BOOT_MOUNT, 'u-boot.bin', true));
    write(tree, '/etc/hostname', 'raspberrypi\n');
    write(tree, '/etc/hosts', '127.0.0.1\tlocalhost\n127.0.1.1\traspberrypi\n');
    write(tree, `${BOOT_MOUNT}/firstrun.sh`, FIRSTRUN, 0o755);
    write(tree, `${BOOT_MOUNT}/cmdline.txt`, `${converted.trimEnd()}${IMAGER_ARGS}\n`);

    const prepared = await sh(tree, IMAGER_FIRSTRUN_SCRIPT.source);
    expect(prepared.exitCode, prepared.output).toBe(0);
    // systemd runs /boot/firstrun.sh: in the root filesystem, a link to the boot partition's.
    expect(fs.readlinkSync(path.join(tree, '/boot/firstrun.sh'))).toBe(`${BOOT_MOUNT}/firstrun.sh`);
    expect(text(tree, `${BOOT_MOUNT}/cmdline.txt`)).toBe(`${converted.trimEnd()}${IMAGER_ARGS.replace('=/boot/firstrun.sh', `=${BOOT_MOUNT}/firstrun.sh`)}\n`);
    // The customisation as it was; the clean-up names the boot partition.
    const script = text(tree, `${BOOT_MOUNT}/firstrun.sh`);
    expect(script.startsWith(FIRSTRUN.slice(0, FIRSTRUN.indexOf('rm -f /boot/firstrun.sh')))).toBe(true);
    expect(script).not.toContain(' /boot/cmdline.txt');
    expect(script).toMatch(new RegExp(`\nrm -f ${BOOT_MOUNT}/firstrun\\.sh /boot/firstrun\\.sh\nsed -i '[^\n]*' ${BOOT_MOUNT}/cmdline\\.txt\nsync\nexit 0\n$`));

    // A boot cut short runs the preparation again: the same files.
    const once = snapshot(tree);
    expect((await sh(tree, IMAGER_FIRSTRUN_SCRIPT.source)).exitCode).toBe(0);
    expect(snapshot(tree)).toEqual(once);

    // systemd runs the prepared script (its paths under the tree): it customises, then cleans up.
    write(tree, `${BOOT_MOUNT}/firstrun.sh`, rebased(script), 0o755);
    const ran = await sh(tree, path.join(tree, `${BOOT_MOUNT}/firstrun.sh`), [], {}, 'bash');
    expect(ran.exitCode, ran.output).toBe(0);
    expect(text(tree, '/etc/hostname')).toBe('mender-pi\n');
    expect(text(tree, '/etc/hosts')).toContain('127.0.1.1\tmender-pi\n');
    expect(exists(tree, `${BOOT_MOUNT}/firstrun.sh`)).toBe(false);
    expect(() => fs.lstatSync(path.join(tree, '/boot/firstrun.sh'))).toThrow(/ENOENT/);
    // No systemd.run= left to run it again, nor a reboot to loop on.
    expect(text(tree, `${BOOT_MOUNT}/cmdline.txt`)).toBe(converted);

    const done = snapshot(tree);
    expect(await sh(tree, IMAGER_FIRSTRUN_SCRIPT.source)).toEqual({ exitCode: 0, output: '' });
    expect(snapshot(tree)).toEqual(done);
  });
});
