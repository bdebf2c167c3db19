#!/usr/bin/env zx
// Boot test tier (npm run test:boot): converts a bootable Debian bookworm amd64 PC image with
// Debian's mender-client installed, boots it in QEMU with OVMF (UEFI, TCG) and drives the
// device over its serial console through a Mender update's whole life:
//   a. first boot: release-1, root on partition 2, the environment says partition 2;
//   b. install release-2 from a second disk, reboot into partition 3, commit;
//   c. install release-3, reboot without committing, reboot again: GRUB rolls back to
//      partition 3 and release-2;
//   d. power cut (QEMU killed) while grub-mender-grubenv-set is rewriting the environment:
//      the next boot still finds a valid environment and the same partition.
// Before them, `mender-convert boot --check` boots a conversion with the client's daemon enabled
// to its login prompt, and fails, naming the stage, on a copy with rootfs A wiped.
// Every boot's serial log is kept in work/boot/logs/. Needs root for the golden image (the
// kernel's packages run their scripts) and the network for Debian's packages (cached after).
//
// The grub.d tier does the same with the distribution's own signed GRUB kept (grub.d
// integration), after reinstalling the kernel package on the device and running update-grub.
// The U-Boot tier (scripts/lib/uboot-boot-tier.mjs) then boots a converted Raspberry Pi OS-like
// image in QEMU's raspi3b through U-Boot: A/B selection, an update tried, and its rollback.
//
// The identity tier installs release-2, converted from a rebuilt golden image (other packages, other
// disk and partition GUIDs), on a device flashed with release-1, PARTUUID names on: it boots with
// the device's /data and commits.
//
// usage: zx scripts/test-boot.mjs [--keep] [--reuse] [--tier grub,grubd,identity,uboot,uboot-identity]
//   --keep: leave the converted images in work/boot; --reuse: the U-Boot tiers take the
//   conversions a --keep run left instead of converting again; --tier: run only these tiers
import { $, argv, fs, path } from 'zx';
import { bootCheck, withRootfsAWiped } from './lib/boot-check.mjs';
import { Device } from './lib/device.mjs';
import { partitionTable, sampleAndRebuilt } from './lib/golden-images.mjs';
import { ubootIdentityTier, ubootTier } from './lib/uboot-boot-tier.mjs';

$.verbose = false;
process.env.PATH = [process.env.PATH, '/usr/local/sbin', '/usr/sbin', '/sbin'].join(':');

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const dir = path.join(root, 'work', 'boot');
const logs = path.join(dir, 'logs');
const OVMF = ['/usr/share/ovmf/OVMF.fd', '/usr/share/qemu/OVMF.fd'].find((file) => fs.existsSync(file));
const started = Date.now();

function step(text) {
  const seconds = ((Date.now() - started) / 1000).toFixed(0).padStart(5);
  console.log(`[${seconds} s] ${text}`);
}

function check(condition, what, detail = '') {
  if (!condition) throw new Error(`FAILED: ${what}${detail ? `\n${detail}` : ''}`);
  step(`  ok: ${what}`);
}

// A failing step must not leave a QEMU behind (it would hold the disk images and keep this
// process alive): every run is killed when the sequence ends, however it ends.
const running = new Set();

/** The PC: q35 with OVMF under TCG, the device's disk and the Artifacts' disk. */
function pcDevice(name, disks) {
  // The device's disk on q35's SATA controller (/dev/sda, as configs/qemux86-64.yaml says);
  // the Artifacts' disk on virtio (/dev/vda), so that it can never take the name sda.
  const [system, ...others] = disks;
  const drives = [['-drive', `file=${system},format=raw,if=ide,index=0`], ...others.map((file) => ['-drive', `file=${file},format=raw,if=virtio`])].flat();
  // -no-reboot: OVMF under TCG now and then hangs in a warm reset.
  const args = ['-machine', 'q35', '-accel', 'tcg', '-m', '1024', '-smp', '2', '-bios', OVMF, ...drives, '-nic', 'none', '-display', 'none', '-monitor', 'none', '-serial', 'stdio', '-no-reboot'];
  return new Device(name, { logs, check, running }, async () => ['qemu-system-x86_64', args]);
}

async function boot(name, disks) {
  const device = pcDevice(name, disks);
  step(`boot ${name}`);
  await device.start();
  await device.waitForLogin();
  step('  logged in on the serial console');
  return device;
}

/** Checks which root filesystem runs (its partition and the Artifact it was built as) and the environment. */
async function expectRunning(device, { part, artifact }) {
  const rootDevice = await device.must('findmnt -n -o SOURCE /');
  check(rootDevice === `/dev/sda${part}`, `root filesystem is /dev/sda${part}`, rootDevice);
  const info = await device.must('cat /etc/mender/artifact_info');
  check(info === `artifact_name=${artifact}`, `it is the root filesystem of ${artifact}`, info);
  const env = await device.must('grub-mender-grubenv-print mender_boot_part upgrade_available');
  check(env.includes(`mender_boot_part=${part}`), `the environment says partition ${part}`, env);
  return env;
}

/** `mender install` of an Artifact from the Artifacts' disk, then a reboot into it. */
async function installAndReboot(device, release) {
  await device.must('mkdir -p /mnt/artifacts && mount -o ro /dev/vda /mnt/artifacts');
  await device.must(`mender install /mnt/artifacts/${release}.mender`, 20 * 60_000);
  await device.reboot();
}

/** What the client reports as installed (it changes on commit, not on install). */
async function expectShown(device, artifact) {
  const shown = await device.must('mender show-artifact 2>&1');
  check(shown.split('\n').pop() === artifact, `mender show-artifact prints ${artifact}`, shown);
}

/** A conversion with Debian's mender-client; `standalone`: its daemon masked by the overlay (see prepareDevice). */
async function convert(image, name, tag = 'grub', { standalone = true, config = path.join(dir, 'boot-test.yaml') } = {}) {
  const out = path.join(dir, `deploy-${tag}-${name}`);
  await fs.remove(out);
  step(`convert ${path.basename(image)} as ${name}${standalone ? '' : ' (the client\'s daemon enabled)'}`);
  const overlay = standalone ? ['--overlay', path.join(dir, 'overlay')] : [];
  await $({ env: { ...process.env, MENDER_CLIENT_INSTALL: 'y' } })`node ${path.join(root, 'bin/mender-convert.js')} --disk-image ${image} --config ${path.join(root, 'configs/qemux86-64.yaml')} --config ${config} ${overlay} --artifact-name ${name} --output-dir ${out} --work-dir ${path.join(dir, 'work')}`;
  const files = await fs.readdir(out);
  return {
    image: path.join(out, files.find((f) => f.endsWith('-mender.img'))),
    artifact: path.join(out, files.find((f) => f.endsWith('.mender'))),
  };
}

/**
 * Three conversions of `golden` (release-1 on the device's disk, release-2 and -3 as Artifacts
 * on a second disk, FAT, as on a USB stick, with `extraFiles` beside them).
 */
async function prepareDevice(golden, tag, { extraFiles = {}, extraConfig = '' } = {}) {
  // The client runs in standalone mode here: its daemon (which would poll a server) is masked in
  // both root filesystems. Artifacts are uncompressed: emulated CPUs decompress slowly.
  await fs.remove(path.join(dir, 'overlay'));
  await fs.mkdirp(path.join(dir, 'overlay/etc/systemd/system'));
  await fs.symlink('/dev/null', path.join(dir, 'overlay/etc/systemd/system/mender-client.service'));
  await fs.writeFile(path.join(dir, 'boot-test.yaml'), `storage:\n  total_size_mb: 3072\nartifact:\n  compression: none\nimage:\n  compression: none\n${extraConfig}`);

  const release1 = await convert(golden, 'release-1', tag);
  const release2 = await convert(golden, 'release-2', tag);
  const release3 = await convert(golden, 'release-3', tag);
  const device = path.join(dir, `device-${tag}.img`);
  await $`cp --sparse=always ${release1.image} ${device}`;
  const artifacts = path.join(dir, `artifacts-${tag}.vfat`);
  const files = { 'release-2.mender': release2.artifact, 'release-3.mender': release3.artifact, ...extraFiles };
  let bytes = 0;
  for (const file of Object.values(files)) bytes += (await fs.stat(file)).size;
  await fs.remove(artifacts);
  await $`truncate -s ${Math.ceil(bytes / 1048576) + 64}M ${artifacts}`;
  await $`mkfs.vfat -F 32 -n ARTIFACTS ${artifacts}`;
  for (const [name, file] of Object.entries(files)) await $`mcopy -i ${artifacts} ${file} ::/${name}`;
  if (!argv.keep) for (const release of [release1, release2, release3]) await fs.remove(path.dirname(release.image));
  return { device, artifacts, release1 };
}

/** Steps b and c: release-2 installed and committed, then release-3 installed and rolled back. */
async function updateAndRollBack(qemu, prefix) {
  step(`${prefix}b. install release-2, reboot, commit`);
  qemu.logTo(`${prefix}b-install-release-2`);
  await installAndReboot(qemu, 'release-2');
  await expectRunning(qemu, { part: 3, artifact: 'release-2' });
  await qemu.must('mender commit');
  const committed = await qemu.must('grub-mender-grubenv-print upgrade_available');
  check(committed.includes('upgrade_available=0'), 'after the commit upgrade_available=0', committed);
  await expectShown(qemu, 'release-2');

  step(`${prefix}c. install release-3, reboot, do not commit, reboot: roll back`);
  qemu.logTo(`${prefix}c-install-release-3`);
  await installAndReboot(qemu, 'release-3');
  await expectRunning(qemu, { part: 2, artifact: 'release-3' });
  step('  trying release-3 on partition 2; reboot without committing');
  qemu.logTo(`${prefix}c-rollback`);
  await qemu.reboot();
  const rolledBack = await expectRunning(qemu, { part: 3, artifact: 'release-2' });
  check(rolledBack.includes('upgrade_available=0'), 'GRUB rolled back: upgrade_available=0', rolledBack);
  await expectShown(qemu, 'release-2');
}

/**
 * `mender-convert boot --check` on the converted PC image (the client's daemon enabled, as a user
 * converts it): it must pass — a login prompt on rootfs A with mender-client.service started —
 * and on a copy with rootfs A wiped it must fail, naming the stage (GRUB cannot load the kernel).
 */
async function bootCheckTier(golden) {
  const { image } = await convert(golden, 'release-1', 'check', { standalone: false });
  const passed = await bootCheck({ root, logs, step }, image, 'check-x86-64', 900);
  check(passed.ok && passed.exitCode === 0, 'boot --check passes: login prompt on rootfs A, the Mender client started', passed.summary);
  check(passed.menderBoot.partition === 2 && passed.kernelRoot === '/dev/sda2', 'it booted partition 2 with root=/dev/sda2', JSON.stringify(passed.menderBoot));
  check(/^Started mender-client/.test(passed.stages.client), 'systemd started mender-client.service', passed.stages.client);
  const wiped = await withRootfsAWiped(image, path.join(dir, 'check-wiped.img'));
  const failed = await bootCheck({ root, logs, step }, wiped, 'check-x86-64-rootfs-wiped', 600);
  check(!failed.ok && failed.exitCode === 1, 'boot --check fails on the image whose rootfs A was wiped', failed.summary);
  check(failed.stage === 'bootloader' && failed.end === 'failure seen' && /the bootloader could not load the kernel/.test(failed.summary), 'it names the stage reached (bootloader) and why', failed.summary);
  if (!argv.keep) await fs.remove(path.dirname(image));
  await fs.remove(wiped);
}

/** The GRUB (UEFI) tier with our standalone loader: boot --check, then steps a-d on the PC image. */
async function grubTier() {
  step('golden image: Debian bookworm amd64 PC with its kernel (debootstrap, cached in work/sample)');
  const golden = (await $`zx ${path.join(root, 'scripts/build-sample-image.mjs')} --flavour pc`).stdout.trim();
  const { device, artifacts } = await prepareDevice(golden, 'grub');
  await bootCheckTier(golden);

  step('a. first boot');
  const qemu = await boot('a-first-boot', [device, artifacts]);
  await expectRunning(qemu, { part: 2, artifact: 'release-1' });
  await expectShown(qemu, 'release-1');
  await updateAndRollBack(qemu, '');

  step('d. power cut while grub-mender-grubenv-set rewrites the environment');
  qemu.logTo('d-power-cut');
  // Writes in a loop, each announced when complete; the cut lands at a random moment after the third.
  qemu.qemu.stdin.write('i=0; while :; do i=$((i+1)); grub-mender-grubenv-set power_cut_test $i && echo "written $i"; done\n');
  await qemu.waitFor(/written 3\n/, 5 * 60_000, 'three environment writes');
  const delay = Math.floor(Math.random() * 3000);
  await new Promise((resolve) => setTimeout(resolve, delay));
  const lastSeen = Math.max(...[...qemu.buffer.matchAll(/written (\d+)\n/g)].map((m) => Number(m[1])));
  step(`  QEMU killed ${delay} ms after the third write; the last write seen complete: ${lastSeen}`);
  await qemu.powerCut();
  step('boot d-after-power-cut');
  qemu.logTo('d-after-power-cut');
  await qemu.restart();
  await qemu.waitForLogin();
  const afterCut = await expectRunning(qemu, { part: 3, artifact: 'release-2' });
  check(afterCut.includes('upgrade_available=0'), 'the environment is whole after the power cut', afterCut);
  await expectShown(qemu, 'release-2');
  const counter = Number((await qemu.must('grub-mender-grubenv-print -n power_cut_test')) || 0);
  check(counter >= lastSeen, `the environment holds the last complete write or the one cut short (${counter})`);
  await qemu.shutdown();
}

/**
 * The grub.d tier: the PC image with the distribution's signed GRUB, converted with the grub.d
 * integration; on the device the kernel package is reinstalled from a local .deb (its scripts
 * run update-initramfs and update-grub, as an upgrade's do) and update-grub is run again; the
 * device still boots the same partition, then steps b and c run on top.
 */
async function grubDTier() {
  step('golden image: Debian bookworm amd64 PC with its signed GRUB (shim, GRUB and stub config as grub-install --removable leaves them)');
  const golden = (await $`zx ${path.join(root, 'scripts/build-sample-image.mjs')} --flavour pc --grub`).stdout.trim();
  const kernelDeb = (await fs.readdir(path.dirname(golden))).filter((f) => /^linux-image-bookworm-amd64-.*\.deb$/.test(f)).map((f) => path.join(path.dirname(golden), f))[0];
  if (!kernelDeb) throw new Error(`no kernel package beside ${golden}`);
  // The sample's kernel modules were trimmed; reinstalling the package brings them all back.
  const { device, artifacts } = await prepareDevice(golden, 'grubd', { extraFiles: { 'linux-image.deb': kernelDeb }, extraConfig: 'rootfs:\n  extra_space_kb: 524288\n' });

  step('grub.d a. first boot through the distribution\'s shim and GRUB');
  const qemu = await boot('grubd-a-first-boot', [device, artifacts]);
  await expectRunning(qemu, { part: 2, artifact: 'release-1' });
  check((await qemu.must('readlink /boot/grub')) === '/boot/efi/grub', '/boot/grub is the boot partition\'s /grub');

  step('grub.d upgrade: reinstall the kernel package (its scripts run update-grub), then update-grub');
  qemu.logTo('grubd-kernel-upgrade');
  await qemu.must('mkdir -p /mnt/artifacts && mount -o ro /dev/vda /mnt/artifacts');
  const installed = await qemu.must('dpkg -i /mnt/artifacts/linux-image.deb > /tmp/dpkg.log 2>&1; status=$?; tail -n 8 /tmp/dpkg.log; test $status -eq 0', 30 * 60_000);
  step(`  | ${installed.split('\n').join('\n  | ')}`);
  const updated = await qemu.must('update-grub 2>&1');
  step(`  | ${updated.split('\n').join('\n  | ')}`);
  const sections = await qemu.must("grep '^### BEGIN' /boot/grub/grub.cfg");
  check(sections === '### BEGIN /etc/grub.d/05_mender ###', 'grub.cfg holds only the Mender part', sections);
  await qemu.must('umount /mnt/artifacts');
  step('grub.d reboot after the upgrade');
  qemu.logTo('grubd-after-upgrade');
  await qemu.reboot();
  await expectRunning(qemu, { part: 2, artifact: 'release-1' });
  step('  still boots partition 2 after the kernel upgrade and update-grub');

  await updateAndRollBack(qemu, 'grubd-');
  await qemu.shutdown();
}

/**
 * The identity tier: release-1 converted from the golden image, release-2 from a rebuilt one
 * (another package installed, other disk and partition GUIDs), PARTUUID names on. Release-2 must
 * install from the device, boot with the /data the device has, and commit: the identities its
 * fstab, mender.conf and GRUB configuration name are the fleet's, not its golden image's.
 */
async function identityTier() {
  step('golden images: the PC sample, and a rebuilt one (less installed, disk id 0badf00d)');
  const { golden, rebuilt, goldenTable, rebuiltTable } = await sampleAndRebuilt(root, 'pc', 'debian-bookworm-amd64-pc-rebuilt.img');
  check(goldenTable.id !== rebuiltTable.id && goldenTable.partitions[0].uuid !== rebuiltTable.partitions[0].uuid, `the golden images differ in identities (${goldenTable.id} / ${rebuiltTable.id})`);

  await fs.remove(path.join(dir, 'overlay'));
  await fs.mkdirp(path.join(dir, 'overlay/etc/systemd/system'));
  await fs.symlink('/dev/null', path.join(dir, 'overlay/etc/systemd/system/mender-client.service'));
  const config = path.join(dir, 'identity-test.yaml');
  await fs.writeFile(config, 'storage:\n  total_size_mb: 3072\n  partuuid: true\nartifact:\n  compression: none\nimage:\n  compression: none\n');
  const release1 = await convert(golden, 'release-1', 'identity', { config });
  const release2 = await convert(rebuilt, 'release-2', 'identity', { config });
  const [table1, table2] = [await partitionTable(release1.image), await partitionTable(release2.image)];
  check(table1.id === table2.id && table1.partitions.every((p, i) => p.uuid === table2.partitions[i].uuid), `both releases carry the fleet's identities (disk ${table1.id})`);
  const uuidOf = (number) => table1.partitions[number - 1].uuid.toLowerCase();

  const device = path.join(dir, 'device-identity.img');
  await $`cp --sparse=always ${release1.image} ${device}`;
  const artifacts = path.join(dir, 'artifacts-identity.vfat');
  await fs.remove(artifacts);
  await $`truncate -s ${Math.ceil((await fs.stat(release2.artifact)).size / 1048576) + 64}M ${artifacts}`;
  await $`mkfs.vfat -F 32 -n ARTIFACTS ${artifacts}`;
  await $`mcopy -i ${artifacts} ${release2.artifact} ::/release-2.mender`;
  if (!argv.keep) for (const release of [release1, release2]) await fs.remove(path.dirname(release.image));

  step('identity a. first boot of release-1 (PARTUUID names)');
  const qemu = await boot('identity-a-first-boot', [device, artifacts]);
  await expectRunning(qemu, { part: 2, artifact: 'release-1' });
  const cmdline = await qemu.must('cat /proc/cmdline');
  check(cmdline.includes(`root=PARTUUID=${uuidOf(2)}`), `the kernel was given root=PARTUUID=${uuidOf(2)}`, cmdline);
  const data1 = await qemu.must('findmnt -n -o SOURCE /data');
  check(data1 === '/dev/sda4', '/data is mounted from partition 4', data1);
  await qemu.must('echo kept-across-releases > /data/identity-marker');

  step('identity b. install release-2 (converted from the rebuilt golden image), reboot, commit');
  qemu.logTo('identity-b-install-release-2');
  await installAndReboot(qemu, 'release-2');
  await expectRunning(qemu, { part: 3, artifact: 'release-2' });
  const fstab = await qemu.must(`awk '$2 == "/data" { print $1 }' /etc/fstab`);
  check(fstab === `/dev/disk/by-partuuid/${uuidOf(4)}`, "release-2's fstab names the device's data partition by its PARTUUID", fstab);
  const data2 = await qemu.must('findmnt -n -o SOURCE /data && cat /data/identity-marker');
  check(data2 === '/dev/sda4\nkept-across-releases', "/data is the device's data partition, its content kept", data2);
  const less = await qemu.must("dpkg-query -W -f '${Status}' less");
  check(less === 'install ok installed', 'release-2 is the rebuilt golden image (less is installed)', less);
  await qemu.must('mender commit');
  const committed = await qemu.must('grub-mender-grubenv-print upgrade_available mender_boot_part');
  check(committed.includes('upgrade_available=0') && committed.includes('mender_boot_part=3'), 'committed: upgrade_available=0 on partition 3', committed);
  await expectShown(qemu, 'release-2');
  await qemu.shutdown();
}

if (!OVMF) throw new Error('OVMF is not installed (apt-get install ovmf)');
await fs.mkdirp(logs);
await fs.emptyDir(logs);
const tiers = String(argv.tier ?? 'grub,grubd,identity,uboot,uboot-identity').split(',');
try {
  if (tiers.includes('grub')) await grubTier();
  if (tiers.includes('grubd')) await grubDTier();
  if (tiers.includes('identity')) await identityTier();
  const tierContext = { root, dir, logs, step, check, running, keep: Boolean(argv.keep), reuse: Boolean(argv.reuse) };
  if (tiers.includes('uboot')) await ubootTier(tierContext);
  if (tiers.includes('uboot-identity')) await ubootIdentityTier(tierContext);
} catch (error) {
  console.error(`\n${error.message}\nserial logs: ${logs}`);
  process.exitCode = 1;
} finally {
  for (const qemu of running) qemu.kill('SIGKILL');
}
if (!process.exitCode) step(`passed in ${((Date.now() - started) / 60000).toFixed(1)} min`);
