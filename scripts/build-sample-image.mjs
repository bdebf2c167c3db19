#!/usr/bin/env zx
// Builds a sample golden image from a real Debian root filesystem (debootstrap). Three flavours:
// - board (default): an MBR image laid out the way Raspberry Pi OS images are (FAT at 4 MiB
//   holding config.txt/cmdline.txt, ext4 root after it, PARTUUID fstab); no kernel.
// - rpi: a Raspberry Pi OS-like arm64 image: the board layout with what the Pi's firmware reads
//   on the boot partition (Debian's raspi-firmware, kernel8.img, initramfs8 and the Broadcom
//   device trees from linux-image-arm64, config.txt with auto_initramfs=1) and a fully
//   configured root filesystem (debootstrap's second stage run under qemu-user-static, so the
//   kernel's and the firmware's maintainer scripts and hooks have run), root logged in on every
//   serial console. Needs root and qemu-aarch64 registered with binfmt_misc. The packages the
//   U-Boot boot tier installs on the device are kept beside the image (<image>.debs/): the
//   golden's raspi-firmware and a newer kernel (bookworm-backports' linux-image-arm64).
// - pc: a bootable x86-64 UEFI PC image: GPT, an EFI system partition, an ext4 root with
//   Debian's kernel and initramfs, and root logged in on the serial console (the boot tests
//   drive the device through it). Needs root: the kernel's packages run their scripts.
//   With --grub, the distribution's signed GRUB (shim-signed, grub-efi-amd64-signed) is installed
//   as Debian's installer leaves it (the files grub-install --removable writes); the kernel's
//   .deb is kept beside the image (for the boot tests' kernel reinstall).
// Cached under work/sample/: the debootstrap tree and the image are built once per recipe.
//
// A rebuilt golden image (the boot tests' second release) takes other packages and identities:
// --extra-packages a,b and --disk-id 8HEXDIGITS (the MBR disk identifier, or the stem of the GPT
// disk and partition GUIDs), with --out naming it apart.
//
// usage: zx scripts/build-sample-image.mjs [--flavour board|pc|rpi] [--grub] [--arch amd64] [--suite bookworm]
//   [--extra-packages a,b] [--disk-id 5e3da3da] [--out FILE]
// debootstrap needs root (or fakeroot + fakechroot, used automatically for an ordinary user);
// everything after it (mke2fs -d, mkfs.vfat, mtools, sfdisk) runs as an ordinary user.
import { createHash } from 'node:crypto';
import { $, argv, fs, path } from 'zx';

$.verbose = false;
const sbin = ['/usr/local/sbin', '/usr/sbin', '/sbin'];
process.env.PATH = [process.env.PATH, ...sbin].join(':');

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const flavour = argv.flavour ?? 'board';
if (!['board', 'pc', 'rpi'].includes(flavour)) throw new Error(`unknown flavour ${flavour}: board, pc or rpi`);
const pc = flavour === 'pc';
const rpi = flavour === 'rpi';
const arch = argv.arch ?? (rpi ? 'arm64' : (await $`dpkg --print-architecture`).stdout.trim());
const suite = argv.suite ?? 'bookworm';
const mirror = argv.mirror ?? process.env.DEBIAN_MIRROR ?? 'http://deb.debian.org/debian';
if (pc && (arch !== 'amd64' || process.getuid() !== 0)) throw new Error('the pc flavour is built for amd64, as root (the kernel packages run their scripts)');
if (rpi && (arch !== 'arm64' || process.getuid() !== 0)) throw new Error('the rpi flavour is built for arm64, as root (its packages are configured in a chroot under qemu-user-static)');
const distroGrub = Boolean(argv.grub);
if (distroGrub && !pc) throw new Error('--grub is for the pc flavour');
// What goes into the root filesystem; part of the cache key so a change rebuilds the sample.
const include = [
  'systemd-sysv', 'udev', 'ca-certificates', 'netbase', 'ifupdown', 'iproute2', 'fdisk',
  ...(pc ? ['linux-image-amd64', 'initramfs-tools', 'kmod', 'procps'] : []),
  ...(distroGrub ? ['grub-efi-amd64', 'grub-efi-amd64-signed', 'shim-signed'] : []),
  ...(rpi ? ['linux-image-arm64', 'raspi-firmware', 'initramfs-tools', 'kmod', 'procps'] : []),
  ...String(argv['extra-packages'] ?? '').split(',').filter(Boolean),
];
// The initramfs of the rpi flavour: the modules that mount its root filesystem (the Pi's SD
// host controllers: sdhost, which holds the card on a Pi 3, and sdhci; ext4)
// rather than most of the kernel's, so that update-initramfs on the emulated device is quick.
const rpiInitramfsModules = ['sdhci-iproc', 'bcm2835', 'bcm2835-dma', 'mmc_block', 'ext4'];
/** What the rpi flavour keeps for the boot tier's step on the device (apt upgrade of the boot chain). */
const rpiDevicePackages = { suite: 'bookworm-backports', packages: ['linux-image-arm64'] };
const recipe = createHash('sha256')
  .update([suite, arch, mirror, ...(pc || rpi ? [flavour] : []), ...include, ...(rpi ? ['second-stage', ...rpiInitramfsModules, rpiDevicePackages.suite, ...rpiDevicePackages.packages] : [])].join(' '))
  .digest('hex').slice(0, 8);
const sampleDir = path.join(root, 'work', 'sample');
const out = path.resolve(argv.out ?? path.join(sampleDir, `debian-${suite}-${arch}-${pc || rpi ? flavour : 'sample'}${distroGrub ? '-grub' : ''}.img`));
/** The kernel package of the tree, kept for the boot tests (--grub). */
const kernelDeb = path.join(sampleDir, `linux-image-${suite}-${arch}-${recipe}.deb`);
const tree = path.join(sampleDir, `rootfs-${suite}-${arch}-${recipe}`);
/** Packages kept beside the rpi image for the boot tier (see rpiDevicePackages). */
const debsDir = `${out}.debs`;
const stampOfImage = `${out}.recipe`;
const diskId = String(argv['disk-id'] ?? '5e3da3da').toLowerCase();
if (!/^[0-9a-f]{8}$/.test(diskId)) throw new Error(`--disk-id ${diskId}: 8 hex digits`);
/** The image is rebuilt when its tree or its identities change. */
const imageRecipe = diskId === '5e3da3da' ? recipe : `${recipe}-${diskId}`;
const MiB = 1024 * 1024;

if ((await fs.pathExists(out)) && (await fs.readFile(stampOfImage, 'utf8').catch(() => '')) === imageRecipe) {
  console.log(out);
  process.exit(0);
}
await fs.mkdirp(sampleDir);
// Test files build the same sample at once on a fresh machine: one build per tree and per image
// at a time (flock on lock files beside them); whoever waited finds the result cached.
if (!process.env.SAMPLE_BUILD_LOCKED) {
  const rerun = [process.execPath, ...process.argv.slice(1)];
  const locked = await $({ stdio: 'inherit', env: { ...process.env, SAMPLE_BUILD_LOCKED: '1' } })`flock ${`${tree}.lock`} flock ${`${out}.lock`} ${rerun}`.nothrow();
  process.exit(locked.exitCode ?? 1);
}

async function debootstrap() {
  const stamp = path.join(tree, '.debootstrap-complete');
  if (await fs.pathExists(stamp)) return;
  // An interrupted debootstrap as root can leave /proc and /sys mounted in the tree.
  const mounts = (await $`findmnt -rn -o TARGET`.nothrow()).stdout.split('\n').filter((target) => target.startsWith(`${tree}/`));
  for (const target of mounts.reverse()) await $`umount -l ${target}`.nothrow();
  await fs.remove(tree);
  // Another architecture's packages cannot run here: debootstrap only unpacks them (--foreign).
  // The rpi flavour then configures them under qemu-user-static (second stage); the board
  // flavour writes the dpkg database from their control files instead (no root needed).
  const foreign = arch !== (await $`dpkg --print-architecture`).stdout.trim();
  const args = [
    '--variant=minbase', ...(foreign ? ['--foreign'] : []), `--include=${include.join(',')}`, `--arch=${arch}`,
    // raspi-firmware (the Pi's GPU firmware) is in non-free-firmware.
    ...(rpi ? ['--components=main,non-free-firmware'] : []),
    suite, tree, mirror,
  ];
  console.error(`debootstrap ${suite} ${arch} into ${tree} (a few minutes, once)…`);
  if (process.getuid() === 0) {
    await $`debootstrap ${args}`;
  } else if (foreign) {
    await $`fakeroot debootstrap ${args}`;
  } else {
    await $`fakechroot fakeroot debootstrap --variant=fakechroot ${args.slice(1)}`;
  }
  if (rpi) {
    await secondStage();
  } else if (foreign) {
    await recordUnpackedPackages();
  }
  if (distroGrub) {
    const archives = path.join(tree, 'var/cache/apt/archives');
    const deb = (await fs.readdir(archives)).find((name) => /^linux-image-\d.*\.deb$/.test(name));
    await fs.copy(path.join(archives, deb), kernelDeb);
  }
  // Trim what a golden image would not carry and what only bloats the sample.
  await $`rm -rf ${tree}/var/cache/apt/archives/*.deb ${tree}/var/cache/apt/pkgcache.bin ${tree}/var/cache/apt/srcpkgcache.bin ${tree}/var/lib/apt/lists/*`.nothrow();
  if (pc || rpi) {
    // Drivers a QEMU PC or the emulated Pi never loads and documentation: halves the root
    // filesystem (and the Artifacts the boot tests install). The initramfs was built before,
    // with what it needs.
    const unused = ['drivers/gpu', 'drivers/net/wireless', 'drivers/net/ethernet', 'drivers/media', 'drivers/infiniband', 'drivers/staging', 'drivers/iio', 'drivers/bluetooth', 'sound', 'net/wireless', 'net/mac80211'];
    if (rpi) unused.push('drivers/scsi', 'drivers/ata', 'drivers/nvme', 'drivers/hid', 'drivers/input', 'drivers/video', 'drivers/md', 'drivers/net', 'drivers/usb', 'drivers/hwmon', 'drivers/crypto', 'drivers/phy', 'drivers/mtd', 'fs/btrfs', 'fs/xfs', 'fs/ocfs2', 'fs/nfs', 'fs/nfsd', 'fs/smb', 'fs/ceph', 'fs/gfs2', 'fs/f2fs', 'fs/bcachefs', 'fs/ubifs', 'net/netfilter', 'net/ipv4/netfilter', 'net/ipv6/netfilter', 'net/bridge', 'net/sched', 'net/ceph', 'net/sunrpc');
    for (const kernel of await fs.readdir(path.join(tree, 'lib/modules'))) {
      for (const dir of unused) await fs.remove(path.join(tree, 'lib/modules', kernel, 'kernel', dir));
    }
    await $`rm -rf ${tree}/usr/share/doc ${tree}/usr/share/man ${tree}/usr/share/locale ${tree}/lib/firmware`.nothrow();
  }
  await fs.writeFile(stamp, '');
}

/**
 * debootstrap's second stage in a chroot, the arm64 programs run by qemu-user-static through
 * binfmt_misc: every maintainer script and hook runs as on a device (the kernel's postinst
 * builds the initramfs, raspi-firmware's hooks populate /boot/firmware). Then the packages the
 * boot tier installs on the device are downloaded with the tree's own apt (signatures checked).
 */
async function secondStage() {
  const binfmt = '/proc/sys/fs/binfmt_misc/qemu-aarch64';
  const registered = async () => (await fs.readFile(binfmt, 'utf8').catch(() => '')).startsWith('enabled');
  if (!(await registered())) {
    // A fresh machine (or a container) where qemu-user-static's registration has not run.
    if (!(await fs.pathExists('/proc/sys/fs/binfmt_misc/register'))) await $`mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc`.nothrow();
    await $`update-binfmts --enable qemu-aarch64`.nothrow();
  }
  if (!(await registered())) {
    throw new Error(`qemu-aarch64 is not registered with binfmt_misc (${binfmt}): apt-get install qemu-user-static, then mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc and /usr/lib/systemd/systemd-binfmt if it is still missing`);
  }
  await fs.mkdirp(path.join(tree, 'etc/initramfs-tools/conf.d'));
  await fs.writeFile(path.join(tree, 'etc/initramfs-tools/conf.d/sample.conf'), 'MODULES=list\n');
  await fs.appendFile(path.join(tree, 'etc/initramfs-tools/modules'), `${rpiInitramfsModules.join('\n')}\n`);
  // Kept for the boot tier: the golden's own raspi-firmware package.
  const archives = path.join(tree, 'var/cache/apt/archives');
  await fs.emptyDir(debsDir);
  for (const name of await fs.readdir(archives)) if (/^raspi-firmware_.*\.deb$/.test(name)) await fs.copy(path.join(archives, name), path.join(debsDir, name));
  console.error('debootstrap second stage under qemu-user-static (several minutes, once)…');
  await $`chroot ${tree} /debootstrap/debootstrap --second-stage`;
  const sources = path.join(tree, 'etc/apt/sources.list.d/device-packages.list');
  await fs.writeFile(sources, `deb ${mirror} ${rpiDevicePackages.suite} main\n`);
  try {
    await $`chroot ${tree} apt-get update -q`;
    const names = (await $`chroot ${tree} apt-get install --print-uris -qq --no-install-recommends -t ${rpiDevicePackages.suite} ${rpiDevicePackages.packages}`).stdout
      .split('\n').map((line) => /^'[^']+' (\S+\.deb) /.exec(line)?.[1]).filter(Boolean);
    if (names.length === 0) throw new Error(`${rpiDevicePackages.suite} has nothing newer for ${rpiDevicePackages.packages.join(' ')}`);
    await $`chroot ${tree} sh -c ${`cd /tmp && apt-get download -q -t ${rpiDevicePackages.suite} ${names.map((name) => name.replace(/_.*/, '')).join(' ')}`}`;
    for (const name of await fs.readdir(path.join(tree, 'tmp'))) if (name.endsWith('.deb')) await fs.move(path.join(tree, 'tmp', name), path.join(debsDir, name), { overwrite: true });
  } finally {
    await fs.remove(sources);
  }
  // What the kernel's and raspi-firmware's hooks wrote for a Debian-style boot partition; this
  // image's boot partition is laid out as Raspberry Pi OS's (stageRaspberryPiBoot).
  await fs.emptyDir(path.join(tree, 'boot/firmware'));
}

/** dpkg's status for a --foreign tree: every unpacked package, as dpkg records an installed one. */
async function recordUnpackedPackages() {
  const archives = path.join(tree, 'var/cache/apt/archives');
  const stanzas = [];
  for (const deb of (await fs.readdir(archives)).filter((name) => name.endsWith('.deb')).sort()) {
    const control = (await $`dpkg-deb -f ${path.join(archives, deb)}`).stdout.trimEnd();
    stanzas.push(control.replace(/^(Package: .*)$/m, '$1\nStatus: install ok installed'));
  }
  await fs.mkdirp(path.join(tree, 'var/lib/dpkg/info'));
  await fs.writeFile(path.join(tree, 'var/lib/dpkg/status'), `${stanzas.join('\n\n')}\n`);
  await fs.remove(path.join(tree, 'debootstrap'));
}

async function configureTree(diskId) {
  await fs.writeFile(path.join(tree, 'etc/hostname'), pc ? 'pc-sample\n' : rpi ? 'raspberrypi\n' : 'sample-device\n');
  const bootDir = pc ? '/boot/efi' : '/boot/firmware';
  await fs.writeFile(
    path.join(tree, 'etc/fstab'),
    [
      'proc            /proc           proc    defaults          0       0',
      `PARTUUID=${partUuid(diskId, 1)}  ${bootDir}  vfat    defaults          0       2`,
      `PARTUUID=${partUuid(diskId, 2)}  /               ext4    defaults,noatime  0       1`,
      '',
    ].join('\n'),
  );
  await fs.mkdirp(path.join(tree, bootDir));
  if (distroGrub) {
    // An initramfs with the modules this machine needs, as a VM image would configure it: the
    // boot test rebuilds it on the emulated CPU when it reinstalls the kernel.
    await fs.mkdirp(path.join(tree, 'etc/initramfs-tools/conf.d'));
    await fs.writeFile(path.join(tree, 'etc/initramfs-tools/conf.d/modules-dep.conf'), 'MODULES=dep\n');
  }
  if (pc || rpi) {
    // Root is logged in on the serial console, so the boot tests can drive the device (the Pi:
    // on every serial console the kernel is given, as its firmware and U-Boot name them).
    const dropIn = path.join(tree, `etc/systemd/system/serial-getty@${pc ? 'ttyS0' : ''}.service.d`);
    await fs.mkdirp(dropIn);
    await fs.writeFile(
      path.join(dropIn, 'autologin.conf'),
      '[Service]\nExecStart=\nExecStart=-/sbin/agetty --autologin root --noclear --keep-baud 115200,57600,38400,9600 %I $TERM\n',
    );
  }
  await fs.writeFile(
    path.join(tree, 'etc/apt/sources.list'),
    `deb ${mirror} ${suite} main\ndeb http://deb.debian.org/debian-security ${suite}-security main\n`,
  );
}

/** MBR: <disk id>-<nn>; GPT: a UUID made from the disk id and the partition number. */
function partUuid(diskId, number) {
  return pc ? `${diskId}-0000-4000-8000-${String(number).padStart(12, '0')}` : `${diskId}-${String(number).padStart(2, '0')}`;
}

/** What Raspberry Pi OS's boot partition holds: the GPU firmware, kernel8.img and the board device trees. */
async function stageRaspberryPiBoot(staging) {
  const firmware = path.join(tree, 'usr/lib/raspi-firmware');
  for (const name of await fs.readdir(firmware)) {
    if (/^(bootcode\.bin|start.*\.elf|fixup.*\.dat)$/.test(name)) await fs.copy(path.join(firmware, name), path.join(staging, name));
  }
  const kernel = (await fs.readdir(path.join(tree, 'boot'))).find((name) => name.startsWith('vmlinuz-'));
  const version = kernel.slice('vmlinuz-'.length);
  await fs.copy(path.join(tree, 'boot', kernel), path.join(staging, 'kernel8.img'));
  // Raspberry Pi OS bookworm: the firmware loads initramfs8 beside kernel8.img (auto_initramfs=1).
  await fs.copy(path.join(tree, 'boot', `initrd.img-${version}`), path.join(staging, 'initramfs8'));
  const trees = path.join(tree, 'usr/lib', `linux-image-${version}`, 'broadcom');
  for (const name of await fs.readdir(trees)) if (/^bcm2(7|8).*\.dtb$/.test(name)) await fs.copy(path.join(trees, name), path.join(staging, name));
}

async function buildBootFs(file, diskId) {
  if (pc) {
    // An EFI system partition as a distribution's installer leaves it (its loader is replaced by the conversion).
    await $`truncate -s ${bootBytes} ${file}`;
    await $`mkfs.vfat -F 32 -n ESP -i ${diskId} ${file}`;
    await $`mmd -i ${file} ::/EFI ::/EFI/BOOT`;
    return;
  }
  const staging = await fs.mkdtemp(path.join(sampleDir, 'boot-'));
  await fs.writeFile(path.join(staging, 'config.txt'), `# Sample board configuration\n${rpi ? 'auto_initramfs=1\n' : ''}arm_64bit=1\ndtoverlay=vc4-kms-v3d\n`);
  if (rpi) await stageRaspberryPiBoot(staging);
  await fs.writeFile(
    path.join(staging, 'cmdline.txt'),
    `console=serial0,115200 console=tty1 root=PARTUUID=${diskId}-02 rootfstype=ext4 fsck.repair=yes rootwait\n`,
  );
  await fs.writeFile(path.join(staging, 'issue.txt'), `Sample golden image, Debian ${suite} ${arch}\n`);
  await $`truncate -s ${bootBytes} ${file}`;
  await $`mkfs.vfat -F 32 -n bootfs -i ${diskId} ${file}`;
  await $`mcopy -i ${file} -s ${(await fs.readdir(staging)).map((name) => path.join(staging, name))} ::/`;
  await fs.remove(staging);
}

/**
 * The distribution's signed GRUB as Debian's installer leaves it, from the image's own packages:
 * what `grub-install --removable --uefi-secure-boot` writes — /boot/grub with the modules, the
 * font and an empty environment; on the EFI partition shim as BOOTX64.EFI, the signed GRUB,
 * MokManager, and the stub grub.cfg that finds /boot/grub by the root filesystem's UUID.
 * grub-install itself cannot run here (it insists on a mounted FAT filesystem, and this
 * machine's kernel has no vfat), nor can update-grub (it probes the disk): the conversion
 * replaces grub.cfg, and the boot test runs update-grub on the device.
 */
async function stageDistroGrub() {
  const grubDir = path.join(tree, 'boot/grub');
  await fs.mkdirp(path.join(grubDir, 'x86_64-efi'));
  await fs.mkdirp(path.join(grubDir, 'fonts'));
  const modules = path.join(tree, 'usr/lib/grub/x86_64-efi');
  for (const name of await fs.readdir(modules)) {
    if (/\.(mod|lst)$/.test(name)) await fs.copy(path.join(modules, name), path.join(grubDir, 'x86_64-efi', name));
  }
  await fs.copy(path.join(tree, 'usr/share/grub/unicode.pf2'), path.join(grubDir, 'fonts/unicode.pf2'));
  await $`grub-editenv ${path.join(grubDir, 'grubenv')} create`;
}

async function installDistroGrubLoader(rootFile, bootFile) {
  const uuid = (await $`blkid -p -o value -s UUID ${rootFile}`).stdout.trim();
  const staging = await fs.mkdtemp(path.join(sampleDir, 'esp-'));
  await fs.copy(path.join(tree, 'usr/lib/shim/shimx64.efi.signed'), path.join(staging, 'BOOTX64.EFI'));
  await fs.copy(path.join(tree, 'usr/lib/shim/mmx64.efi.signed'), path.join(staging, 'mmx64.efi'));
  await fs.copy(path.join(tree, 'usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed'), path.join(staging, 'grubx64.efi'));
  await fs.writeFile(path.join(staging, 'grub.cfg'), `search.fs_uuid ${uuid} root hd0,gpt2 \nset prefix=($root)'/boot/grub'\nconfigfile $prefix/grub.cfg\n`);
  await $`mcopy -o -i ${bootFile} ${(await fs.readdir(staging)).map((name) => path.join(staging, name))} ::/EFI/BOOT/`;
  await fs.remove(staging);
}

async function buildRootFs(file) {
  const usedKiB = Number((await $`du -sk --apparent-size ${tree}`).stdout.split('\t')[0]);
  const sizeMiB = Math.ceil((usedKiB * 1.4) / 1024 / 4) * 4 + 64;
  await fs.remove(file);
  // -E root_owner keeps ownership from the tree (debootstrap ran as root or under fakeroot).
  await $`mke2fs -q -t ext4 -L rootfs -d ${tree} ${file} ${sizeMiB}M`;
  return sizeMiB * MiB;
}

const bootStart = (pc ? 1 : 4) * MiB;
const bootBytes = (pc ? 128 : 256) * MiB;
await debootstrap();
await configureTree(diskId);
const bootFile = `${out}.boot.vfat`;
const rootFile = `${out}.root.ext4`;
await buildBootFs(bootFile, diskId);
if (distroGrub) await stageDistroGrub();
const rootBytes = await buildRootFs(rootFile);
if (distroGrub) await installDistroGrubLoader(rootFile, bootFile);

const rootStart = bootStart + bootBytes;
// GPT keeps a backup table in the last 33 sectors.
const total = rootStart + rootBytes + (pc ? MiB : 0);
const partial = `${out}.partial`;
await fs.remove(partial);
await $`truncate -s ${total} ${partial}`;
const table = pc
  ? [
      'label: gpt',
      `label-id: ${diskId}-0000-4000-8000-000000000000`,
      `start=${bootStart / 512}, size=${bootBytes / 512}, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, uuid=${partUuid(diskId, 1)}`,
      `start=${rootStart / 512}, size=${rootBytes / 512}, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, uuid=${partUuid(diskId, 2)}`,
      '',
    ].join('\n')
  : [
      'label: dos',
      `label-id: 0x${diskId}`,
      `start=${bootStart / 512}, size=${bootBytes / 512}, type=c`,
      `start=${rootStart / 512}, size=${rootBytes / 512}, type=83`,
      '',
    ].join('\n');
await $({ input: table })`sfdisk --no-reread --no-tell-kernel -q ${partial}`;
await $`dd if=${bootFile} of=${partial} bs=1M seek=${bootStart / MiB} conv=notrunc,sparse status=none`;
await $`dd if=${rootFile} of=${partial} bs=1M seek=${rootStart / MiB} conv=notrunc,sparse status=none`;
await fs.remove(bootFile);
await fs.remove(rootFile);
await fs.rename(partial, out);
await fs.writeFile(stampOfImage, imageRecipe);
console.log(out);
