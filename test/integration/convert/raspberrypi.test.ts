/**
 * Every Raspberry Pi configuration on a generated Raspberry Pi OS-like image (boot partition
 * with config.txt, cmdline.txt, the board's kernel file, device trees and overlays): the boot
 * partition as the board needs it, U-Boot from Debian's u-boot-rpi, the initial environment read
 * from the output image by fw_printenv through the generated fw_env.config, boot.scr accepted
 * by mkimage -l, and the root filesystem changes.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, runCli } from '../../helpers/cli.js';
import { buildGoldenImage, tool } from '../../helpers/images.js';

const base = fs.mkdtempSync(path.join(os.tmpdir(), 'raspberrypi-'));
afterAll(() => fs.rmSync(base, { recursive: true, force: true }));
// Debian's package indexes and u-boot-rpi, fetched once for every run of the tests.
const cacheEnv = { MENDER_CONVERT_CACHE_DIR: path.join(ROOT, 'work', 'cache') };

const SMALL = `storage:
  total_size_mb: 160
data:
  size_mb: 16
`;

interface Board {
  config: string;
  arch: 'arm64' | 'armhf';
  codename: string;
  kernel: string;
  target: string;
}

const BOARDS: Board[] = [
  { config: 'raspberrypi3_bookworm_32bit', arch: 'armhf', codename: 'bookworm', kernel: 'kernel7.img', target: 'rpi_3_32b' },
  { config: 'raspberrypi3_bookworm_64bit', arch: 'arm64', codename: 'bookworm', kernel: 'kernel8.img', target: 'rpi_3' },
  { config: 'raspberrypi3_trixie_32bit', arch: 'armhf', codename: 'trixie', kernel: 'kernel7.img', target: 'rpi_3_32b' },
  { config: 'raspberrypi3_trixie_64bit', arch: 'arm64', codename: 'trixie', kernel: 'kernel8.img', target: 'rpi_3' },
  { config: 'raspberrypi4_bookworm_32bit', arch: 'armhf', codename: 'bookworm', kernel: 'kernel7l.img', target: 'rpi_4_32b' },
  { config: 'raspberrypi4_bookworm_64bit', arch: 'arm64', codename: 'bookworm', kernel: 'kernel8.img', target: 'rpi_4' },
  { config: 'raspberrypi4_trixie_32bit', arch: 'armhf', codename: 'trixie', kernel: 'kernel7l.img', target: 'rpi_4_32b' },
  { config: 'raspberrypi4_trixie_64bit', arch: 'arm64', codename: 'trixie', kernel: 'kernel8.img', target: 'rpi_4' },
  { config: 'raspberrypi5_bookworm_64bit', arch: 'arm64', codename: 'bookworm', kernel: 'kernel_2712.img', target: 'rpi_arm64' },
  { config: 'raspberrypi5_trixie_64bit', arch: 'arm64', codename: 'trixie', kernel: 'kernel_2712.img', target: 'rpi_arm64' },
  { config: 'raspberrypi0w', arch: 'armhf', codename: 'bookworm', kernel: 'kernel.img', target: 'rpi_0_w' },
  { config: 'comfile_pi', arch: 'armhf', codename: 'bookworm', kernel: 'kernel7.img', target: 'rpi_3_32b' },
];

const CONFIG_TXT = '# from the golden image\ndtparam=audio=on\n[pi4]\narm_boost=1\n[all]\nkernel=kernel8.img\n';
const CMDLINE = 'console=serial0,115200 console=tty1 root=PARTUUID=c0ffee01-02 rootfstype=ext4 fsck.repair=yes rootwait quiet init=/usr/lib/raspberrypi-sys-mods/firstboot\n';
/** A kernel stand-in: ARM64 Image header magic at 56, so it looks like what booti loads, and the banner that names its release. */
const KERNEL = Buffer.concat([Buffer.alloc(56), Buffer.from('ARM\x64'), Buffer.alloc(200, 0x5a), Buffer.from('Linux version 6.6.51+rpt-rpi-v8 (serge@raspberrypi.com) #1 SMP\n\0')]);
/** The initramfs Raspberry Pi OS keeps beside the kernel file (auto_initramfs=1). */
const INITRAMFS = 'initramfs stand-in\n';

async function convert(board: Board, imageArch = board.arch, extraConfigs: string[] = [], customised: { bootFiles?: Record<string, string>; files?: Record<string, string> } = {}) {
  const dir = path.join(base, `${board.config}-${imageArch}${extraConfigs.length ? '-extra' : ''}${customised.bootFiles ? '-customised' : ''}`);
  const golden = await buildGoldenImage({
    dir,
    arch: imageArch,
    codename: board.codename,
    hostname: 'raspberrypi',
    bootFiles: {
      'config.txt': CONFIG_TXT,
      'cmdline.txt': CMDLINE,
      'bcm2710-rpi-3-b.dtb': 'dtb 3b\n',
      'bcm2711-rpi-4-b.dtb': 'dtb 4b\n',
      'overlays/vc4-kms-v3d.dtbo': 'overlay\n',
      ...customised.bootFiles,
    },
    files: {
      'etc/default/raspi-firmware': '# from the package\n#KERNEL="auto"\n',
      'etc/init.d/resize2fs_once': '#!/bin/sh\n',
      'etc/rc3.d/S01resize2fs_once': '#!/bin/sh\n',
      ...customised.files,
    },
  });
  // The kernel file is binary: written after the golden image's text files.
  const kernel = board.kernel.startsWith('kernel7') || board.kernel === 'kernel.img' ? KERNEL : zlib.gzipSync(KERNEL);
  const staged = path.join(dir, board.kernel);
  fs.writeFileSync(staged, kernel);
  await tool('mcopy', ['-i', `${golden.image}@@${4 * 1024 * 1024}`, staged, `::/${board.kernel}`]);
  const initramfs = path.join(dir, board.kernel.replace(/^kernel(.*)\.img$/, 'initramfs$1'));
  fs.writeFileSync(initramfs, INITRAMFS);
  await tool('mcopy', ['-i', `${golden.image}@@${4 * 1024 * 1024}`, initramfs, `::/${path.basename(initramfs)}`]);
  const small = path.join(dir, 'small.yaml');
  fs.writeFileSync(small, SMALL);
  const deploy = path.join(dir, 'deploy');
  const result = await runCli(
    ['--disk-image', golden.image, '-c', path.join(ROOT, 'configs', `${board.config}.yaml`), ...extraConfigs.flatMap((c) => ['-c', c]), '-c', small, '--artifact-name', 'release-1', '--output-dir', deploy, '--work-dir', path.join(dir, 'work')],
    { env: cacheEnv },
  );
  return { dir, deploy, result };
}

async function partitions(image: string): Promise<{ start: number; size: number }[]> {
  const table = JSON.parse((await tool('sfdisk', ['--json', image])).stdout).partitiontable;
  return table.partitions.map((p: { start: number; size: number }) => ({ start: p.start * 512, size: p.size * 512 }));
}

describe.each(BOARDS)('$config', (board) => {
  it('converts a matching image: boot partition, environment, boot script and root filesystem', async () => {
    const { dir, deploy, result } = await convert(board);
    expect(result.exitCode, result.all).toBe(0);
    expect(result.all).toMatch(new RegExp(`U-Boot: Debian u-boot-rpi \\S+ \\S+ \\(\\w+\\), ${board.target} \\(sha256 [0-9a-f]{16}`));
    const image = fs.readdirSync(deploy).filter((f) => f.endsWith('.img')).map((f) => path.join(deploy, f))[0]!;
    const [boot, rootA] = await partitions(image);
    // Raspberry Pi layouts: 4 MiB alignment, two blocks reserved, boot at 12 MiB.
    expect(boot!.start).toBe(12 * 1024 * 1024);
    const fat = `${image}@@${boot!.start}`;
    const bootFile = async (name: string) => (await tool('mtype', ['-i', fat, `::/${name}`])).stdout;

    const configTxt = await bootFile('config.txt');
    expect(configTxt.startsWith(CONFIG_TXT)).toBe(true);
    expect(configTxt.endsWith(`\n[all]\nkernel=u-boot.bin\nenable_uart=1\narm_64bit=${board.arch === 'arm64' ? 1 : 0}\n# mender-convert: end\n`)).toBe(true);
    // The COMFILE Pi's backlight: its board integration, after the Raspberry Pi one.
    expect(configTxt.includes('\n[all]\n# COMFILE Pi: the LCD backlight (GPIO 34) on from power-up\ngpio=34=op,dh\n')).toBe(board.config === 'comfile_pi');
    const cmdline = await bootFile('cmdline.txt');
    expect(cmdline).toBe('console=serial0,115200 console=tty1 root=${mender_kernel_root} rootfstype=ext4 fsck.repair=yes rootwait quiet\n');

    // U-Boot from Debian's package: a binary whose default environment boots the Pi.
    await tool('mcopy', ['-i', fat, '::/u-boot.bin', path.join(dir, 'u-boot.bin')]);
    expect(fs.readFileSync(path.join(dir, 'u-boot.bin')).includes(Buffer.from('U-Boot 20'))).toBe(true);

    await tool('mcopy', ['-i', fat, '::/boot.scr', path.join(dir, 'boot.scr')]);
    const listing = (await tool('mkimage', ['-l', path.join(dir, 'boot.scr')])).stdout;
    expect(listing).toMatch(/Image Type:\s+(ARM|AArch64) Linux Script \(uncompressed\)/);
    expect(listing).toContain(board.arch === 'arm64' ? 'AArch64' : 'ARM Linux');
    const script = await bootFile('boot.cmd');
    expect(script).toContain(board.arch === 'arm64' ? 'booti ${kernel_addr_r}' : 'bootz ${kernel_addr_r}');
    expect(script).toContain(board.arch === 'arm64' ? '/boot/Image' : '/boot/zImage');

    // The Mender variables: two raw copies at 4 and 8 MiB, as Mender's own U-Boot for the Pi
    // keeps them, read by libubootenv through the device's fw_env.config (the device name
    // pointed at the image).
    const rootfs = path.join(dir, 'rootfs.ext4');
    await tool('dd', [`if=${image}`, `of=${rootfs}`, 'bs=1M', `skip=${rootA!.start / 1024 / 1024}`, `count=${rootA!.size / 1024 / 1024}`, 'status=none']);
    const debugfs = async (command: string) => (await tool('debugfs', ['-R', command, rootfs])).stdout;
    const fwEnv = await debugfs('cat /etc/fw_env.config');
    expect(fwEnv).toMatch(/^\/dev\/mmcblk0 0x400000 0x4000\n\/dev\/mmcblk0 0x800000 0x4000\n$/m);
    fs.writeFileSync(path.join(dir, 'fw_env.config'), fwEnv.replaceAll('/dev/mmcblk0', image));
    const env = (await tool('fw_printenv', ['-c', path.join(dir, 'fw_env.config')])).stdout;
    expect(env).toBe('bootcount=0\nmender_boot_part=2\nmender_boot_part_hex=2\nupgrade_available=0\n');
    // U-Boot's own environment (uboot.env, Debian's build reads it): the build's defaults and a
    // bootcmd that runs boot.scr, no Mender variable (those are the copies').
    await tool('mcopy', ['-i', fat, '::/uboot.env', path.join(dir, 'uboot.env')]);
    fs.writeFileSync(path.join(dir, 'fw_env-own.config'), `${path.join(dir, 'uboot.env')} 0x0 0x4000\n`);
    const own = (await tool('fw_printenv', ['-c', path.join(dir, 'fw_env-own.config')])).stdout;
    expect(own).toMatch(/^bootcmd=load mmc 0:1 \$\{scriptaddr\} \/boot\.scr && source \$\{scriptaddr\}$/m);
    expect(own).toMatch(/^kernel_addr_r=0x[0-9a-f]+$/m);
    expect(own).not.toMatch(/^(mender_boot_part|upgrade_available|bootcount)=/m);
    expect(script).toContain('if mmc read ${mender_env_a} 0x2000 0x20; then');

    // What keeps the boot chain through apt upgrade: the kernel hooks and the firmware's settings.
    expect(await debugfs('cat /etc/default/mender-uboot')).toContain(`MENDER_KERNEL_IMAGE=${board.arch === 'arm64' ? '/boot/Image' : '/boot/zImage'}\nMENDER_INITRD=/boot/initrd\n`);
    for (const link of ['/etc/kernel/postinst.d/zz-mender-uboot', '/etc/kernel/postrm.d/zz-mender-uboot', '/etc/initramfs/post-update.d/zz-mender-uboot']) {
      expect(await debugfs(`stat ${link}`)).toContain('Fast link dest: "/usr/lib/mender-convert/uboot-kernel-hook"');
    }
    expect(await debugfs('stat /etc/kernel/postinst.d/zz-mender-raspberrypi')).toContain('Fast link dest: "/usr/lib/mender-convert/raspberrypi-boot-files"');
    expect(await debugfs('cat /etc/default/mender-raspberrypi')).toContain(`MENDER_BOOT_MOUNT=/boot/firmware\nMENDER_UBOOT_FILE=u-boot.bin\nMENDER_ARM_64BIT=${board.arch === 'arm64' ? 1 : 0}\n`);
    expect(await debugfs('cat /etc/apt/apt.conf.d/90mender-raspberrypi')).toContain('raspberrypi-boot-files --config-only');
    expect(await debugfs('stat /etc/systemd/system/sysinit.target.wants/mender-imager-firstrun.service')).toContain('Fast link dest: "/etc/systemd/system/mender-imager-firstrun.service"');

    // The kernel is in the root filesystem, decompressed; the device trees and overlays too.
    await tool('debugfs', ['-R', `dump ${board.arch === 'arm64' ? '/boot/Image' : '/boot/zImage'} ${path.join(dir, 'kernel')}`, rootfs]);
    expect(fs.readFileSync(path.join(dir, 'kernel')).equals(KERNEL)).toBe(true);
    expect(await debugfs('cat /boot/initrd')).toBe(INITRAMFS);
    expect(await debugfs('cat /etc/default/mender-uboot')).toContain('MENDER_KERNEL_FLAVOUR=v8\n');
    expect(await debugfs('cat /etc/default/raspi-firmware')).toMatch(/^# from the package\n#KERNEL="auto"\n\n# mender-convert[^\n]*\nKERNEL=u-boot\.bin\nINITRAMFS=no\nROOTPART='\$\{mender_kernel_root\}'\n/);
    expect(await debugfs('ls -p /boot')).toContain('/bcm2711-rpi-4-b.dtb/');
    expect(await debugfs('ls -p /boot/overlays')).toContain('/vc4-kms-v3d.dtbo/');
    expect(await debugfs('stat /etc/systemd/system/udisks2.service')).toContain('Fast link dest: "/dev/null"');
    expect(await debugfs('ls -p /etc/init.d')).not.toContain('resize2fs_once');
    expect(await debugfs('ls -p /etc/rc3.d')).not.toContain('resize2fs_once');
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

/**
 * Facts of upstream mender-convert 5.x's Raspberry Pi conversion (its configs and the U-Boot it
 * installs, uboot-mender mender-rpi-2024.04): the boot partition keeps Mender's U-Boot, which
 * loads /boot/vmlinux (arm64, booti) or /boot/zImage (32-bit, bootz) from the active root
 * filesystem without a boot script or initrd, and keeps its environment at 0x400000 and
 * 0x800000, 0x4000 bytes each (the fw_env.config it installs).
 */
describe('Artifacts for Raspberry Pis converted by upstream mender-convert', () => {
  const include = path.join(ROOT, 'configs', 'include', 'upstream-converted-raspberrypi.yaml');
  it.each([
    { board: BOARDS[1]!, kernelName: '/boot/vmlinux', deviceType: 'raspberrypi3_64' },
    { board: BOARDS[0]!, kernelName: '/boot/zImage', deviceType: 'raspberrypi3' },
  ])('$board.config: the root filesystem carries what their U-Boot reads', async ({ board, kernelName, deviceType }) => {
    const { dir, deploy, result } = await convert(board, board.arch, [include]);
    expect(result.exitCode, result.all).toBe(0);
    const image = fs.readdirSync(deploy).filter((f) => f.endsWith('.img')).map((f) => path.join(deploy, f))[0]!;
    expect(path.basename(image)).toContain(`-${deviceType}-mender`);
    const [, rootA, , data] = await partitions(image);
    const rootfs = path.join(dir, 'rootfs.ext4');
    await tool('dd', [`if=${image}`, `of=${rootfs}`, 'bs=1M', `skip=${rootA!.start / 1024 / 1024}`, `count=${rootA!.size / 1024 / 1024}`, 'status=none']);
    await tool('debugfs', ['-R', `dump ${kernelName} ${path.join(dir, 'kernel')}`, rootfs]);
    expect(fs.readFileSync(path.join(dir, 'kernel')).equals(KERNEL), `${kernelName} is the decompressed kernel`).toBe(true);
    const fwEnv = (await tool('debugfs', ['-R', 'cat /etc/fw_env.config', rootfs])).stdout;
    expect(fwEnv.split('\n').filter((line) => line && !line.startsWith('#'))).toEqual(['/dev/mmcblk0 0x400000 0x4000', '/dev/mmcblk0 0x800000 0x4000']);
    expect((await tool('debugfs', ['-R', 'cat /etc/default/mender-uboot', rootfs])).stdout).toContain(`MENDER_KERNEL_IMAGE=${kernelName}\n`);
    const dataFs = path.join(dir, 'data.ext4');
    await tool('dd', [`if=${image}`, `of=${dataFs}`, 'bs=1M', `skip=${data!.start / 1024 / 1024}`, `count=${data!.size / 1024 / 1024}`, 'status=none']);
    expect((await tool('debugfs', ['-R', 'cat /mender/device_type', dataFs])).stdout).toBe(`device_type=${deviceType}\n`);

    // inspect tells the two boot chains apart: ours runs /boot.scr; upstream's has none.
    const ours = JSON.parse(String((await runCli(['inspect', '--json', image])).stdout));
    expect(ours.mender.bootChain).toMatchObject({ kind: 'mender-convert-uboot' });
    expect(ours.mender.bootChain.include).toBeUndefined();
    const [boot] = await partitions(image);
    await tool('mdel', ['-i', `${image}@@${boot!.start}`, '::/boot.scr']);
    const upstream = await runCli(['inspect', image]);
    expect(String(upstream.stdout)).toContain(`it reads ${kernelName} from the active root filesystem`);
    expect(String(upstream.stdout)).toContain('convert this fleet\'s releases with its board config and configs/include/upstream-converted-raspberrypi.yaml');
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

/**
 * Raspberry Pi Imager's customisation of a trixie image, as Imager writes it (rpi-imager's
 * downloadthread.cpp): a NoCloud seed on the boot partition (user-data, network-config, meta-data
 * with an instance-id of its own) and "ds=nocloud;i=<instance-id>" appended to cmdline.txt. The
 * conversion keeps all of it for cloud-init, and leaves out the state of the machine the golden
 * image was made on, so each root filesystem applies the seed at its own first boot.
 */
describe('trixie: Raspberry Pi Imager\'s cloud-init customisation', () => {
  it('the seed and the ds=nocloud words are kept; the build machine\'s cloud-init state is not', async () => {
    const board = BOARDS.find((b) => b.config === 'raspberrypi4_trixie_64bit')!;
    const seed = {
      'user-data': '#cloud-config\nhostname: mender-fleet-pi\nmanage_etc_hosts: true\nusers:\n- name: fleet\n  groups: users,adm,sudo\n  lock_passwd: false\n',
      'network-config': 'network:\n  version: 2\n  ethernets:\n    eth0:\n      dhcp4: true\n      optional: true\n',
      'meta-data': 'instance-id: rpi-imager-1764806400000\n',
    };
    const { dir, deploy, result } = await convert(board, board.arch, [], {
      bootFiles: { ...seed, 'cmdline.txt': `${CMDLINE.trim()} ds=nocloud;i=rpi-imager-1764806400000\n` },
      files: { 'var/lib/cloud/instances/rpios-image/sem/config_users_groups': '', 'var/lib/cloud/data/instance-id': 'rpios-image\n' },
    });
    expect(result.exitCode, result.all).toBe(0);
    expect(result.all).toContain("/var/lib/cloud held cloud-init's state of the machine the image was made on (data, instances): left out");
    const image = fs.readdirSync(deploy).filter((f) => f.endsWith('.img')).map((f) => path.join(deploy, f))[0]!;
    const [boot, rootA] = await partitions(image);
    const fat = `${image}@@${boot!.start}`;
    for (const [name, text] of Object.entries(seed)) expect((await tool('mtype', ['-i', fat, `::/${name}`])).stdout, name).toBe(text);
    // The firmware passes cmdline.txt on; boot.scr keeps every word but root= (the ';' unparsed).
    expect((await tool('mtype', ['-i', fat, '::/cmdline.txt'])).stdout).toBe('console=serial0,115200 console=tty1 root=${mender_kernel_root} rootfstype=ext4 fsck.repair=yes rootwait quiet ds=nocloud;i=rpi-imager-1764806400000\n');
    // NoCloud can find its seed by the filesystem's label: the boot partition keeps the input's.
    expect((await tool('mlabel', ['-s', '-i', fat, '::'])).stdout).toMatch(/Volume label is BOOT\s*$/);
    const rootfs = path.join(dir, 'rootfs.ext4');
    await tool('dd', [`if=${image}`, `of=${rootfs}`, 'bs=1M', `skip=${rootA!.start / 1024 / 1024}`, `count=${rootA!.size / 1024 / 1024}`, 'status=none']);
    expect((await tool('debugfs', ['-R', 'ls -p /var/lib/cloud', rootfs])).stdout).not.toMatch(/\/(data|instances)\//);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

/**
 * Ubuntu's 32-bit Raspberry Pi image, as it is laid out (ubuntu-22.04-preinstalled-server-armhf+raspi):
 * the boot partition "system-boot" at /boot/firmware with config.txt starting vmlinuz, cmdline.txt
 * naming root=LABEL=writable, the device trees, and flash-kernel's copies of the kernel and initrd;
 * the root filesystem "writable" with /boot/vmlinuz-<release>-raspi and its initrd.
 */
describe("Ubuntu's 32-bit Raspberry Pi 4 image", () => {
  it('converts with configs/raspberrypi4_ubuntu_32bit.yaml: the root filesystem\'s kernel and initrd where boot.scr loads them', async () => {
    const dir = path.join(base, 'ubuntu-armhf');
    const release = '5.15.0-1034-raspi';
    // A 32-bit kernel stand-in with the banner that names its release.
    const kernel = Buffer.concat([Buffer.alloc(36), Buffer.from([0x18, 0x28, 0x6f, 0x01]), Buffer.alloc(200, 0x5a), Buffer.from(`Linux version ${release} (buildd@bos03-armhf-012) #37-Ubuntu SMP PREEMPT\n\0`)]);
    const golden = await buildGoldenImage({
      dir,
      arch: 'armhf',
      codename: 'jammy',
      hostname: 'ubuntu',
      bootFiles: {
        'config.txt': '[all]\nkernel=vmlinuz\ncmdline=cmdline.txt\ninitramfs initrd.img followkernel\n[pi4]\nmax_framebuffers=2\n',
        'cmdline.txt': 'console=serial0,115200 dwc_otg.lpm_enable=0 console=tty1 root=LABEL=writable rootfstype=ext4 rootwait fixrtc quiet splash\n',
        'bcm2711-rpi-4-b.dtb': 'dtb 4b\n',
        vmlinuz: kernel.toString('latin1'),
        'initrd.img': 'flash-kernel copy\n',
      },
      files: {
        'etc/os-release': 'PRETTY_NAME="Ubuntu 22.04.5 LTS"\nNAME="Ubuntu"\nVERSION_ID="22.04"\nVERSION_CODENAME=jammy\nID=ubuntu\nID_LIKE=debian\n',
        'etc/fstab': 'LABEL=writable\t/\text4\tdefaults\t0\t1\nLABEL=system-boot\t/boot/firmware\tvfat\tdefaults\t0\t1\n',
        [`boot/vmlinuz-${release}`]: kernel.toString('latin1'),
        [`boot/initrd.img-${release}`]: INITRAMFS,
      },
      editTree: (tree) => {
        for (const name of ['vmlinuz-6.1.0-test', 'initrd.img-6.1.0-test']) fs.rmSync(path.join(tree, 'boot', name));
      },
    });
    const small = path.join(dir, 'small.yaml');
    fs.writeFileSync(small, SMALL);
    const deploy = path.join(dir, 'deploy');
    const result = await runCli(['--disk-image', golden.image, '-c', path.join(ROOT, 'configs', 'raspberrypi4_ubuntu_32bit.yaml'), '-c', small, '--artifact-name', 'release-1', '--output-dir', deploy, '--work-dir', path.join(dir, 'work')], { env: cacheEnv });
    expect(result.exitCode, result.all).toBe(0);
    const image = fs.readdirSync(deploy).filter((f) => f.endsWith('.img')).map((f) => path.join(deploy, f))[0]!;
    expect(path.basename(image)).toContain('-raspberrypi4-mender');
    const [boot, rootA] = await partitions(image);
    const fat = `${image}@@${boot!.start}`;
    const bootFile = async (name: string) => (await tool('mtype', ['-i', fat, `::/${name}`])).stdout;
    expect(await bootFile('config.txt')).toMatch(/\n\[all\]\nkernel=u-boot\.bin\nenable_uart=1\narm_64bit=0\n# mender-convert: end\n$/);
    expect(await bootFile('cmdline.txt')).toBe('console=serial0,115200 dwc_otg.lpm_enable=0 console=tty1 root=${mender_kernel_root} rootfstype=ext4 rootwait fixrtc quiet splash\n');
    expect(await bootFile('boot.cmd')).toContain('bootz ${kernel_addr_r}');

    const rootfs = path.join(dir, 'rootfs.ext4');
    await tool('dd', [`if=${image}`, `of=${rootfs}`, 'bs=1M', `skip=${rootA!.start / 1024 / 1024}`, `count=${rootA!.size / 1024 / 1024}`, 'status=none']);
    const debugfs = async (command: string) => (await tool('debugfs', ['-R', command, rootfs])).stdout;
    await tool('debugfs', ['-R', `dump /boot/zImage ${path.join(dir, 'kernel')}`, rootfs]);
    expect(fs.readFileSync(path.join(dir, 'kernel')).equals(kernel), 'the root filesystem\'s kernel is /boot/zImage').toBe(true);
    expect(await debugfs('cat /boot/initrd')).toBe(INITRAMFS);
    expect(await debugfs('cat /etc/default/mender-uboot')).toContain('MENDER_KERNEL_FLAVOUR=raspi\n');
    const fstab = await debugfs('cat /etc/fstab');
    expect(fstab).toMatch(/^\/dev\/mmcblk0p1\s+\/boot\/firmware\s+auto\s+defaults,sync\s+0\s+0$/m);
    expect(fstab).not.toContain('LABEL=');
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe('Raspberry Pi configurations refuse an image they are not for', () => {
  it('a 32-bit configuration on a 64-bit image names the 64-bit one', async () => {
    const { dir, result } = await convert(BOARDS[0]!, 'arm64');
    expect(result.exitCode).not.toBe(0);
    expect(result.all).toContain('is for 32-bit ARM (armhf) images, but the image is 64-bit ARM (arm64)');
    expect(result.all).toContain('raspberrypi3_bookworm_64bit.yaml');
    expect(result.all).not.toMatch(/\n\s+at /);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a 64-bit configuration with no 32-bit sibling (the Pi 5) on a 32-bit image names none', async () => {
    const { dir, result } = await convert(BOARDS.find((b) => b.config === 'raspberrypi5_bookworm_64bit')!, 'armhf');
    expect(result.exitCode).not.toBe(0);
    expect(result.all).toContain('is for 64-bit ARM (arm64) images, but the image is 32-bit ARM (armhf)');
    expect(result.all).toContain('hint: Use a configuration for armhf images.');
    expect(result.all).not.toContain('raspberrypi5_bookworm_32bit');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a bookworm configuration on a trixie image names the trixie one', async () => {
    const { dir, result } = await convert({ ...BOARDS[1]!, codename: 'trixie' });
    expect(result.exitCode).not.toBe(0);
    expect(result.all).toContain('is for bookworm images, but the image is Debian GNU/Linux 13 (trixie) (trixie)');
    expect(result.all).toContain('raspberrypi3_trixie_64bit.yaml');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a bullseye image (no configuration of ours for it) is told to be a bookworm one, no config is made up', async () => {
    const { dir, result } = await convert({ ...BOARDS[1]!, codename: 'bullseye' });
    expect(result.exitCode).not.toBe(0);
    expect(result.all).toMatch(/is for bookworm images, but the image is Debian GNU\/Linux .*\(bullseye\)/);
    expect(result.all).toContain("hint: Convert a bookworm image, or use a configuration for the image's release.");
    expect(result.all).not.toContain('raspberrypi3_bullseye');
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
