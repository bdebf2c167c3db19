#!/usr/bin/env zx
// Builds the sample golden image: a real Debian bookworm root filesystem (debootstrap) in an
// MBR disk image with a FAT boot partition, laid out the way Raspberry Pi OS images are
// (FAT at 4 MiB holding config.txt/cmdline.txt, ext4 root after it, PARTUUID fstab).
// Cached under work/sample/: the debootstrap tree and the image are built once.
//
// usage: zx scripts/build-sample-image.mjs [--arch amd64] [--suite bookworm] [--out work/sample/<name>.img]
// debootstrap needs root (or fakeroot + fakechroot, used automatically for an ordinary user);
// everything after it (mke2fs -d, mkfs.vfat, mtools, sfdisk) runs as an ordinary user.
import { createHash } from 'node:crypto';
import { $, argv, fs, path } from 'zx';

$.verbose = false;
const sbin = ['/usr/local/sbin', '/usr/sbin', '/sbin'];
process.env.PATH = [process.env.PATH, ...sbin].join(':');

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const arch = argv.arch ?? (await $`dpkg --print-architecture`).stdout.trim();
const suite = argv.suite ?? 'bookworm';
const mirror = argv.mirror ?? process.env.DEBIAN_MIRROR ?? 'http://deb.debian.org/debian';
// What goes into the root filesystem; part of the cache key so a change rebuilds the sample.
const include = ['systemd-sysv', 'udev', 'ca-certificates', 'netbase', 'ifupdown', 'iproute2', 'fdisk'];
const recipe = createHash('sha256').update([suite, arch, mirror, ...include].join(' ')).digest('hex').slice(0, 8);
const sampleDir = path.join(root, 'work', 'sample');
const out = path.resolve(argv.out ?? path.join(sampleDir, `debian-${suite}-${arch}-sample.img`));
const tree = path.join(sampleDir, `rootfs-${suite}-${arch}-${recipe}`);
const stampOfImage = `${out}.recipe`;
const MiB = 1024 * 1024;

if ((await fs.pathExists(out)) && (await fs.readFile(stampOfImage, 'utf8').catch(() => '')) === recipe) {
  console.log(out);
  process.exit(0);
}
await fs.mkdirp(sampleDir);

async function debootstrap() {
  const stamp = path.join(tree, '.debootstrap-complete');
  if (await fs.pathExists(stamp)) return;
  await fs.remove(tree);
  // Another architecture's packages cannot run here: debootstrap only unpacks them (--foreign)
  // and the dpkg database is written from their control files below.
  const foreign = arch !== (await $`dpkg --print-architecture`).stdout.trim();
  const args = ['--variant=minbase', ...(foreign ? ['--foreign'] : []), `--include=${include.join(',')}`, `--arch=${arch}`, suite, tree, mirror];
  console.error(`debootstrap ${suite} ${arch} into ${tree} (a few minutes, once)…`);
  if (process.getuid() === 0) {
    await $`debootstrap ${args}`;
  } else if (foreign) {
    await $`fakeroot debootstrap ${args}`;
  } else {
    await $`fakechroot fakeroot debootstrap --variant=fakechroot ${args.slice(1)}`;
  }
  if (foreign) await recordUnpackedPackages();
  // Trim what a golden image would not carry and what only bloats the sample.
  await $`rm -rf ${tree}/var/cache/apt/archives/*.deb ${tree}/var/lib/apt/lists/*`.nothrow();
  await fs.writeFile(stamp, '');
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
  await fs.writeFile(path.join(tree, 'etc/hostname'), 'sample-device\n');
  await fs.writeFile(
    path.join(tree, 'etc/fstab'),
    [
      'proc            /proc           proc    defaults          0       0',
      `PARTUUID=${diskId}-01  /boot/firmware  vfat    defaults          0       2`,
      `PARTUUID=${diskId}-02  /               ext4    defaults,noatime  0       1`,
      '',
    ].join('\n'),
  );
  await fs.mkdirp(path.join(tree, 'boot/firmware'));
  await fs.writeFile(
    path.join(tree, 'etc/apt/sources.list'),
    `deb ${mirror} ${suite} main\ndeb http://deb.debian.org/debian-security ${suite}-security main\n`,
  );
}

async function buildBootFs(file, diskId) {
  const staging = await fs.mkdtemp(path.join(sampleDir, 'boot-'));
  await fs.writeFile(path.join(staging, 'config.txt'), '# Sample board configuration\narm_64bit=1\ndtoverlay=vc4-kms-v3d\n');
  await fs.writeFile(
    path.join(staging, 'cmdline.txt'),
    `console=serial0,115200 console=tty1 root=PARTUUID=${diskId}-02 rootfstype=ext4 fsck.repair=yes rootwait\n`,
  );
  await fs.writeFile(path.join(staging, 'issue.txt'), `Sample golden image, Debian ${suite} ${arch}\n`);
  await $`truncate -s ${256 * MiB} ${file}`;
  await $`mkfs.vfat -F 32 -n bootfs -i ${diskId} ${file}`;
  await $`mcopy -i ${file} -s ${staging}/config.txt ${staging}/cmdline.txt ${staging}/issue.txt ::/`;
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

await debootstrap();
const diskId = (argv['disk-id'] ?? '5e3da3da').toLowerCase();
await configureTree(diskId);
const bootFile = `${out}.boot.vfat`;
const rootFile = `${out}.root.ext4`;
await buildBootFs(bootFile, diskId);
const rootBytes = await buildRootFs(rootFile);

const bootStart = 4 * MiB;
const bootBytes = 256 * MiB;
const rootStart = bootStart + bootBytes;
const total = rootStart + rootBytes;
const partial = `${out}.partial`;
await fs.remove(partial);
await $`truncate -s ${total} ${partial}`;
const table = [
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
await fs.writeFile(stampOfImage, recipe);
console.log(out);
