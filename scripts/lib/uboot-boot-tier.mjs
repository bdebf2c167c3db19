// The U-Boot tier of npm run test:boot: a Raspberry Pi OS-like arm64 image (scripts/
// build-sample-image.mjs --flavour rpi: a fully configured bookworm with raspi-firmware and
// linux-image-arm64) converted with configs/raspberrypi3_bookworm_64bit.yaml and Debian's arm64
// mender-client, booted in qemu-system-aarch64 -M raspi3b through the image's own U-Boot
// (Debian's u-boot-rpi, rpi_3) and boot.scr, and driven over its serial console. What the Pi's
// GPU firmware does is done here at every start, from the boot partition as it is then:
// config.txt's kernel= is what QEMU starts, the Pi 3 device tree is handed over, and
// cmdline.txt becomes its /chosen/bootargs. U-Boot, the kernel's console and the login are on
// the mini UART (ttyS1, the tier's pipes).
//   boot --check: the image as a user converts it boots to the login with the client started;
//      with rootfs A wiped the check fails at 'bootloader'.
//   a. first boot: Imager's firstrun.sh (set on the boot partition as Raspberry Pi Imager
//      does) runs and reboots; then the login, root on partition 2, mender-client.service
//      running, `mender show-artifact` release-1, fw_printenv reads what boot.scr uses;
//   f. (checked along) the customisation ran once: the hostname it set, its log line on /data,
//      its file and cmdline.txt arguments gone, and it does not run on later boots;
//   e. apt upgrade of the boot chain on the device: bookworm-backports' linux-image-arm64 and
//      raspi-firmware (reinstalled) from local .debs; config.txt still starts U-Boot,
//      cmdline.txt keeps the Mender root=; the reboot lands on partition 2 with the new kernel;
//   b. `mender install` of release-2 (from the data partition), reboot: boot.scr tries
//      partition 3, `mender commit`, the environment says so;
//   c. release-3 installed, not committed; reboot, reboot: rolled back to partition 3 and
//      release-2, upgrade_available=0;
//   d. power cuts (QEMU killed at a random moment, three times) while fw_setenv rewrites the
//      environment: each next boot takes a valid copy (never U-Boot's defaults), boots
//      partition 3, and holds the last complete write or the one cut short.
import { $, fs, path } from 'zx';
import { bootCheck, withRootfsAWiped } from './boot-check.mjs';
import { raspberryPiAccel, raspberryPiBootArgs } from '../../dist/boot/qemu.js';
import { Device } from './device.mjs';
import { partitionTable, sampleAndRebuilt } from './golden-images.mjs';

/** The firstrun.sh Raspberry Pi Imager writes for bookworm (its hostname part, then its clean-up). */
const IMAGER_FIRSTRUN = `#!/bin/bash

set +e

CURRENT_HOSTNAME=\`cat /etc/hostname | tr -d " \\t\\n\\r"\`
if [ -f /usr/lib/raspberrypi-sys-mods/imager_custom ]; then
   /usr/lib/raspberrypi-sys-mods/imager_custom set_hostname mender-fleet-pi
else
   echo mender-fleet-pi >/etc/hostname
   sed -i "s/127.0.1.1.*$CURRENT_HOSTNAME/127.0.1.1\\tmender-fleet-pi/g" /etc/hosts
fi
echo "firstrun.sh ran on $(findmnt -n -o SOURCE /)" >> /data/imager-firstrun.log
rm -f /boot/firstrun.sh
sed -i 's| systemd.run.*||g' /boot/cmdline.txt
exit 0
`;
const IMAGER_CMDLINE = ' systemd.run=/boot/firstrun.sh systemd.run_success_action=reboot systemd.unit=kernel-command-line.target';
const HOSTNAME = 'mender-fleet-pi';
/** Where the tier puts what the device installs (on the data partition: raspi3b has one SD card). */
const FILES = '/data/mender-test';

/** A partition's byte offset in a disk image. */
async function partitionOffset(image, number) {
  return (await partitionTable(image)).partitions[number - 1].start * 512;
}

/** The raspi3b device; each start does the firmware's part from the image's boot partition. */
function raspberryPi(name, context, image, work, bootOffset) {
  const fat = `${image}@@${bootOffset}`;
  const device = new Device(name, context, async () => {
    const configTxt = (await $`mtype -i ${fat} ::/config.txt`).stdout;
    // The last kernel= wins, as the firmware reads it (the mender-convert block is the last [all]).
    const kernel = [...configTxt.matchAll(/^kernel=(\S+)/gm)].pop()?.[1] ?? 'kernel8.img';
    const trees = (await $`mdir -b -i ${fat} ::/`).stdout.split('\n').map((line) => line.replace(/^::\//, '').trim());
    const tree = ['bcm2710-rpi-3-b.dtb', 'bcm2837-rpi-3-b.dtb'].find((file) => trees.includes(file));
    if (!tree) throw new Error('the boot partition has no Raspberry Pi 3 Model B device tree');
    const firmware = path.join(work, 'firmware');
    await fs.mkdirp(firmware);
    await $`mcopy -o -n -i ${fat} ::/${kernel} ${path.join(firmware, 'kernel')}`;
    await $`mcopy -o -n -i ${fat} ::/${tree} ${path.join(firmware, 'tree.dtb')}`;
    // cmdline.txt as boot --check hands it over: serial0 the port it names on this device tree
    // (the mini UART, where U-Boot and the login are too; the PL011 belongs to Bluetooth), and
    // systemd's timeouts scaled for emulation.
    const cmdline = (await $`mtype -i ${fat} ::/cmdline.txt`).stdout.trim();
    const bootargs = raspberryPiBootArgs(cmdline, await fs.readFile(path.join(firmware, 'tree.dtb')));
    device.firmware = { kernel, tree, cmdline };
    device.monitor = path.join(work, 'monitor.sock');
    await fs.remove(device.monitor);
    return ['qemu-system-aarch64', ['-M', 'raspi3b', '-accel', raspberryPiAccel(), '-kernel', path.join(firmware, 'kernel'), '-dtb', path.join(firmware, 'tree.dtb'),
      '-drive', `file=${image},if=sd,format=raw`, '-append', bootargs,
      '-serial', 'null', '-serial', 'stdio', '-display', 'none', '-monitor', `unix:${device.monitor},server=on,wait=off`, '-nic', 'none', '-no-reboot']];
  });
  /** What U-Boot and boot.scr printed in this run (before the kernel's console on the same port). */
  device.ubootOutput = async () => device.buffer.split('Starting kernel ...')[0];
  return device;
}

/**
 * The tiers' overlays: `emulation` gives systemd longer to see the SD card's partitions (udev
 * under TCG on a loaded host can take longer than the 90 s device wait, which bookworm's systemd
 * takes only from system.conf); `standalone` also masks the client's daemon, for installs with
 * the client standalone.
 */
async function testOverlays(work) {
  const emulation = path.join(work, 'overlay-emulation');
  await fs.remove(emulation);
  await fs.outputFile(path.join(emulation, 'etc/systemd/system.conf.d/mender-convert-boot-test.conf'), '[Manager]\nDefaultDeviceTimeoutSec=900\n');
  const standalone = path.join(work, 'overlay-standalone');
  await fs.remove(standalone);
  await fs.mkdirp(path.join(standalone, 'etc/systemd/system'));
  await fs.symlink('/dev/null', path.join(standalone, 'etc/systemd/system/mender-client.service'));
  return { emulation: ['--overlay', emulation], standalone: ['--overlay', emulation, '--overlay', standalone] };
}

/** A conversion of `golden` with configs/raspberrypi3_bookworm_64bit.yaml and `config`; its image and Artifact. */
async function convertRpi({ root, work, step, reuse }, golden, name, config, extra = []) {
  const out = path.join(work, `deploy-${name}`);
  const outputs = async () => {
    const files = await fs.readdir(out);
    return { out, image: path.join(out, files.find((f) => f.endsWith('-mender.img'))), artifact: path.join(out, files.find((f) => f.endsWith('.mender'))) };
  };
  if (reuse && (await fs.pathExists(out))) {
    step(`${name}: the conversion of the last --keep run (--reuse)`);
    return outputs();
  }
  await fs.remove(out);
  step(`convert ${path.basename(golden)} as ${name} with configs/raspberrypi3_bookworm_64bit.yaml${extra.length > 2 ? ' (client daemon masked)' : ''}`);
  await $`node ${path.join(root, 'bin/mender-convert.js')} --disk-image ${golden} --config ${path.join(root, 'configs/raspberrypi3_bookworm_64bit.yaml')} --config ${config} ${extra} --artifact-name ${name} --output-dir ${out} --work-dir ${path.join(work, 'work')}`;
  return outputs();
}

/**
 * Files put into the image's data partition under FILES (`files`: [host file, name below
 * FILES]), with debugfs on the partition in place (e2fsprogs' offset= I/O option).
 */
async function intoDataPartition(image, work, files) {
  const data = `${image}?offset=${await partitionOffset(image, 4)}`;
  const folder = FILES.replace(/^\/data\//, '');
  // debugfs makes names in its cwd: each directory level made once, parents first.
  const dirs = new Set([folder]);
  for (const [, name] of files) {
    const parts = path.posix.dirname(name).split('/').filter((part) => part !== '.');
    parts.forEach((_, at) => dirs.add([folder, ...parts.slice(0, at + 1)].join('/')));
  }
  const commands = [...dirs].map((dir) => `mkdir /${dir}`);
  for (const [file, name] of files) commands.push(`cd /${path.posix.dirname(`${folder}/${name}`)}`, `write ${file} ${path.posix.basename(name)}`);
  await fs.writeFile(path.join(work, 'data.debugfs'), `${commands.join('\n')}\n`);
  await $`debugfs -w -f ${path.join(work, 'data.debugfs')} ${data}`;
  await $`e2fsck -fn ${data}`;
}

/** What the tiers check on a driven Raspberry Pi, each run's U-Boot lines quoted. */
function driving(pi, { step, check }) {
  /** U-Boot's and boot.scr's lines of this run, quoted in the tier's output; returns them. */
  const ubootSaid = async () => {
    const output = await pi.ubootOutput();
    for (const line of output.split('\n').filter((text) => /^(U-Boot 20|Mender: )/.test(text))) step(`  | ${line.trim()}`);
    return output;
  };
  const expectUboot = (output, part) => {
    check(!/neither copy of the environment/.test(output) && /Mender: environment from copy [ab] /.test(output), 'boot.scr read a valid copy of the environment', output.slice(-1500));
    check(output.includes(`Mender: booting partition ${part} (mmc 0:${part})`), `boot.scr booted partition ${part}`);
  };
  const env = async (...names) => Object.fromEntries((await pi.must(`fw_printenv ${names.join(' ')}`)).split('\n').map((line) => line.split(/=(.*)/s).slice(0, 2)));
  const expectRunning = async ({ part, artifact }) => {
    const rootDevice = await pi.must('findmnt -n -o SOURCE /');
    check(rootDevice === `/dev/mmcblk0p${part}`, `root filesystem is /dev/mmcblk0p${part}`, rootDevice);
    const info = await pi.must('cat /etc/mender/artifact_info');
    check(info === `artifact_name=${artifact}`, `it is the root filesystem of ${artifact}`, info);
    const values = await env('mender_boot_part', 'upgrade_available', 'bootcount');
    check(values.mender_boot_part === String(part), `fw_printenv on the device: mender_boot_part=${part}`, JSON.stringify(values));
    return values;
  };
  const expectShown = async (artifact) => {
    const shown = await pi.must('mender show-artifact 2>&1');
    check(shown.split('\n').pop() === artifact, `mender show-artifact prints ${artifact}`, shown);
  };
  const rebootInto = async (logName) => {
    pi.logTo(logName);
    await pi.reboot();
    return ubootSaid();
  };
  return { ubootSaid, expectUboot, env, expectRunning, expectShown, rebootInto };
}

export async function ubootTier({ root, dir, logs, step, check, running, keep, reuse }) {
  const work = path.join(dir, 'uboot');
  await fs.mkdirp(work);
  const context = { logs, check, running };

  step('golden image: Raspberry Pi OS-like bookworm arm64 (debootstrap, raspi-firmware, linux-image-arm64; cached in work/sample)');
  const golden = (await $`zx ${path.join(root, 'scripts/build-sample-image.mjs')} --flavour rpi`).stdout.trim();
  const debsDir = `${golden}.debs`;
  const debs = (await fs.readdir(debsDir)).filter((file) => file.endsWith('.deb')).sort();
  check(debs.some((file) => /^raspi-firmware_/.test(file)) && debs.some((file) => /^linux-image-[0-9].*-arm64_/.test(file)), `the device's packages are kept beside it: ${debs.join(' ')}`);

  // Release-2 and -3 run the client standalone (its daemon, which would poll a server, masked);
  // release-1 is as a user converts it. Artifacts are gzip'ed (the root filesystems' free space
  // compresses to nothing). QEMU's SD card must be a power of two in size.
  const overlays = await testOverlays(work);
  const convert = (name, config, extra) => convertRpi({ root, work, step, reuse }, golden, name, config, extra);
  const baseConfig = 'storage:\n  total_size_mb: 4096\nrootfs:\n  extra_space_kb: 524288\nartifact:\n  compression: gzip\nimage:\n  compression: none\n';
  const standaloneConfig = path.join(work, 'standalone.yaml');
  await fs.writeFile(standaloneConfig, baseConfig);
  const release2 = await convert('release-2', standaloneConfig, overlays.standalone);
  const release3 = await convert('release-3', standaloneConfig, overlays.standalone);
  let payload = 0;
  for (const file of [release2.artifact, release3.artifact, ...debs.map((deb) => path.join(debsDir, deb))]) payload += (await fs.stat(file)).size;
  const deviceConfig = path.join(work, 'device.yaml');
  await fs.writeFile(deviceConfig, `${baseConfig}data:\n  size_mb: ${Math.ceil(payload / 1048576) + 256}\n`);
  const release1 = await convert('release-1', deviceConfig, overlays.emulation);
  const image = path.join(work, 'device.img');
  await $`cp --sparse=always ${release1.image} ${image}`;

  // boot --check runs last, on the image as converted (the device's copy is changed on the way).
  const asConverted = path.join(work, 'as-converted.img');
  await $`cp --sparse=always ${image} ${asConverted}`;

  step(`the device's files into its data partition (${FILES}): release-2 and -3, ${debs.length} packages`);
  await intoDataPartition(image, work, [[release2.artifact, 'release-2.mender'], [release3.artifact, 'release-3.mender'], ...debs.map((deb) => [path.join(debsDir, deb), `debs/${deb}`])]);
  if (!keep) for (const release of [release1, release2, release3]) await fs.remove(release.out);

  step("Raspberry Pi Imager's customisation on the boot partition: firstrun.sh and its cmdline.txt arguments");
  const bootOffset = await partitionOffset(image, 1);
  const fat = `${image}@@${bootOffset}`;
  const firstrun = path.join(work, 'firstrun.sh');
  await fs.writeFile(firstrun, IMAGER_FIRSTRUN);
  await $`mcopy -o -i ${fat} ${firstrun} ::/firstrun.sh`;
  const cmdlineFile = path.join(work, 'cmdline.txt');
  await fs.writeFile(cmdlineFile, `${(await $`mtype -i ${fat} ::/cmdline.txt`).stdout.trim()}${IMAGER_CMDLINE}\n`);
  await $`mcopy -o -i ${fat} ${cmdlineFile} ::/cmdline.txt`;

  const pi = raspberryPi('uboot-a-firstrun', context, image, work, bootOffset);
  const { ubootSaid, expectUboot, env, expectRunning, expectShown, rebootInto } = driving(pi, { step, check });
  const firstrunRuns = async () => Number((await pi.must('grep -c "firstrun.sh ran" /data/imager-firstrun.log')) || 0);

  step('U-Boot a. first boot: firstrun.sh runs (kernel-command-line.target) and reboots');
  await pi.start();
  // Its success action reboots, which ends QEMU (-no-reboot).
  await pi.ended(15 * 60_000);
  check(/Finished .*Command from Kernel Command Line/.test(pi.buffer) && /Reached target .*reboot\.target/.test(pi.buffer), 'systemd ran firstrun.sh (kernel-command-line.service) and rebooted', pi.buffer.slice(-1500));
  expectUboot(await ubootSaid(), 2);
  step('  then the boot to the login');
  pi.logTo('uboot-a-first-boot');
  await pi.restart();
  await pi.waitForLogin();
  expectUboot(await ubootSaid(), 2);
  const values = await expectRunning({ part: 2, artifact: 'release-1' });
  check(values.upgrade_available === '0' && values.bootcount === '0', 'no update pending (upgrade_available=0, bootcount=0)', JSON.stringify(values));
  const fwEnv = await pi.must("grep -v -e '^#' -e '^$' /etc/fw_env.config");
  check(fwEnv === '/dev/mmcblk0 0x400000 0x4000\n/dev/mmcblk0 0x800000 0x4000', 'fw_env.config: the two raw copies boot.scr reads (4 and 8 MiB)', fwEnv);
  const cmdline = await pi.must('cat /proc/cmdline');
  check(/(^| )root=\/dev\/mmcblk0p2( |$)/.test(cmdline) && !/systemd\.run/.test(cmdline), 'the kernel was given root=/dev/mmcblk0p2 and no first-boot arguments', cmdline);
  // The login can come before the client's service has finished starting.
  const client = await pi.must('for i in $(seq 60); do systemctl -q is-active mender-client && break; sleep 2; done; systemctl is-active mender-client');
  check(client === 'active', 'mender-client.service is running', client);
  await expectShown('release-1');
  step('U-Boot f. the customisation ran once');
  check((await pi.must('hostname')) === HOSTNAME, `the hostname firstrun.sh set: ${HOSTNAME}`);
  check((await pi.must('cat /data/imager-firstrun.log')) === 'firstrun.sh ran on /dev/mmcblk0p2', 'firstrun.sh ran once, on partition 2');
  const bootFiles = await pi.must('ls /boot/firmware; cat /boot/firmware/cmdline.txt');
  check(!/firstrun\.sh|systemd\.run/.test(bootFiles), 'firstrun.sh and its cmdline.txt arguments are gone from the boot partition', bootFiles);

  step('U-Boot e. apt upgrade of the boot chain: the newer kernel (bookworm-backports) and raspi-firmware from local packages');
  pi.logTo('uboot-e-apt-upgrade');
  const before = await pi.must('uname -r');
  await pi.must('systemctl disable --now mender-client');
  // dpkg's fsync per file is what makes the emulated SD card slow; unsafe-io only skips those.
  const upgraded = await pi.must(`apt-get install --reinstall -y --no-install-recommends -o Dpkg::Options::=--force-unsafe-io ${debs.map((deb) => `${FILES}/debs/${deb}`).join(' ')} > /tmp/apt.log 2>&1; status=$?; grep -E '^(Setting up|mender-|update-initramfs|raspi-firmware)' /tmp/apt.log; if [ $status -ne 0 ]; then tail -n 30 /tmp/apt.log; df -h / /boot/firmware; fi; test $status -eq 0`, 40 * 60_000);
  step(`  | ${upgraded.split('\n').join('\n  | ')}`);
  const newest = await pi.must('ls /lib/modules | sort -V | tail -n 1');
  check(newest !== before, `a newer kernel is installed (${before} → ${newest})`);
  const configTxt = await pi.must("grep -E '^(kernel|arm_64bit|enable_uart)=' /boot/firmware/config.txt | tail -n 3");
  check(configTxt === 'kernel=u-boot.bin\nenable_uart=1\narm_64bit=1', "config.txt's last word still starts U-Boot", configTxt);
  const cmdlineTxt = await pi.must('cat /boot/firmware/cmdline.txt');
  check(cmdlineTxt.split(/\s+/).filter((word) => word.startsWith('root=')).join(' ') === 'root=${mender_kernel_root}', 'cmdline.txt keeps the Mender root= (from U-Boot)', cmdlineTxt);
  expectUboot(await rebootInto('uboot-e-after-upgrade'), 2);
  check((await pi.must('uname -r')) === newest, `after the reboot the new kernel runs: ${newest}`);
  await expectRunning({ part: 2, artifact: 'release-1' });
  check((await firstrunRuns()) === 1, 'the customisation did not run again');

  step('U-Boot b. mender install release-2, reboot: partition 3 tried, then committed');
  pi.logTo('uboot-b-install-release-2');
  await pi.must(`mender install ${FILES}/release-2.mender`, 30 * 60_000);
  const tried = await rebootInto('uboot-b-boot-release-2');
  check(tried.includes('Mender: trying the update on partition 3.'), 'boot.scr tries the update');
  expectUboot(tried, 3);
  const trying = await expectRunning({ part: 3, artifact: 'release-2' });
  check(trying.upgrade_available === '1' && trying.bootcount === '1', 'the environment: the update being tried (upgrade_available=1, bootcount=1)', JSON.stringify(trying));
  await pi.must('mender commit');
  const committed = await env('mender_boot_part', 'upgrade_available', 'bootcount');
  check(committed.upgrade_available === '0' && committed.mender_boot_part === '3', 'after the commit: mender_boot_part=3, upgrade_available=0', JSON.stringify(committed));
  await expectShown('release-2');

  step('U-Boot c. mender install release-3, reboot, no commit, reboot: rolled back');
  pi.logTo('uboot-c-install-release-3');
  await pi.must(`mender install ${FILES}/release-3.mender`, 30 * 60_000);
  const tried3 = await rebootInto('uboot-c-boot-release-3');
  expectUboot(tried3, 2);
  await expectRunning({ part: 2, artifact: 'release-3' });
  step('  trying release-3 on partition 2; reboot without committing');
  const rolled = await rebootInto('uboot-c-rollback');
  check(rolled.includes('Mender: the update on partition 2 was not committed; rolling back.'), 'boot.scr rolls back');
  expectUboot(rolled, 3);
  const back = await expectRunning({ part: 3, artifact: 'release-2' });
  check(back.upgrade_available === '0' && back.bootcount === '0', 'rolled back: upgrade_available=0', JSON.stringify(back));
  await expectShown('release-2');

  for (let cut = 1; cut <= 3; cut++) {
    step(`U-Boot d${cut}. power cut while fw_setenv rewrites the environment`);
    pi.logTo(`uboot-d${cut}-power-cut`);
    // Writes in a loop, each announced when complete; the cut lands at a random moment after the third.
    pi.qemu.stdin.write(`i=${cut * 1000}; while :; do i=$((i+1)); fw_setenv power_cut_test $i && echo "written $i"; done\n`);
    await pi.waitFor(new RegExp(`written ${cut * 1000 + 3}\n`), 5 * 60_000, 'three environment writes');
    const delay = Math.floor(Math.random() * 3000);
    await new Promise((resolve) => setTimeout(resolve, delay));
    const lastSeen = Math.max(...[...pi.buffer.matchAll(/written (\d+)\n/g)].map((m) => Number(m[1])));
    step(`  QEMU killed ${delay} ms after the third write; the last write seen complete: ${lastSeen}`);
    await pi.powerCut();
    pi.logTo(`uboot-d${cut}-after-power-cut`);
    await pi.restart();
    await pi.waitForLogin();
    expectUboot(await ubootSaid(), 3);
    const after = await expectRunning({ part: 3, artifact: 'release-2' });
    check(after.upgrade_available === '0', 'no update pending after the cut', JSON.stringify(after));
    const counter = Number((await pi.must('fw_printenv -n power_cut_test')) || 0);
    // A value the loop wrote, no older than the last write seen complete (the console may lag
    // the writes by one).
    check(counter >= lastSeen && counter <= lastSeen + 2, `the environment holds a complete write: ${counter} (last seen ${lastSeen})`);
  }
  check((await firstrunRuns()) === 1, 'after all these boots the customisation has still run only once');
  await pi.powerCut();

  step("boot --check: the image as converted, the client's daemon enabled");
  const passed = await bootCheck({ root, logs, step }, asConverted, 'check-raspi3b', 1200);
  check(passed.ok && passed.exitCode === 0, 'boot --check passes: login prompt on rootfs A, the Mender client started', passed.summary);
  check(passed.board === 'raspi3b' && passed.menderBoot?.partition === 2 && passed.kernelRoot === '/dev/mmcblk0p2', 'it saw U-Boot boot partition 2 and the kernel start with root=/dev/mmcblk0p2', JSON.stringify(passed.menderBoot));
  check(/^Started mender-client/.test(passed.stages.client), 'systemd started mender-client.service', passed.stages.client);
  const wiped = await withRootfsAWiped(asConverted, path.join(work, 'device-wiped.img'));
  const failed = await bootCheck({ root, logs, step }, wiped, 'check-raspi3b-rootfs-wiped', 300);
  check(!failed.ok && failed.stage === 'bootloader' && /the bootloader could not load the kernel \(Mender: cannot boot partition 2\.\)/.test(failed.summary), 'with rootfs A wiped it fails at the bootloader, saying why', failed.summary);
  await fs.remove(wiped);
  await fs.remove(asConverted);
}

/**
 * The U-Boot half of the identity tier: release-1 converted from the Raspberry Pi sample,
 * release-2 from a rebuilt one (another package installed, another MBR disk identifier),
 * PARTUUID names on. Release-2 installs from the device, boots with the device's /data and
 * commits: what its cmdline, fstab and boot.scr name are the fleet's identities, not its golden
 * image's.
 */
export async function ubootIdentityTier({ root, dir, logs, step, check, running, keep, reuse }) {
  const work = path.join(dir, 'uboot-identity');
  await fs.mkdirp(work);
  step('golden images: the Raspberry Pi sample, and a rebuilt one (less installed, disk id 0badf00d)');
  const { golden, rebuilt, goldenTable, rebuiltTable } = await sampleAndRebuilt(root, 'rpi', 'debian-bookworm-arm64-rpi-rebuilt.img');
  check(goldenTable.id !== rebuiltTable.id, `the golden images' disk identifiers differ (${goldenTable.id} / ${rebuiltTable.id})`);

  const overlays = await testOverlays(work);
  const base = 'storage:\n  total_size_mb: 4096\n  partuuid: true\nartifact:\n  compression: gzip\nimage:\n  compression: none\n';
  const releaseConfig = path.join(work, 'release.yaml');
  await fs.writeFile(releaseConfig, base);
  const release2 = await convertRpi({ root, work, step, reuse }, rebuilt, 'release-2', releaseConfig, overlays.standalone);
  const deviceConfig = path.join(work, 'device.yaml');
  await fs.writeFile(deviceConfig, `${base}data:\n  size_mb: ${Math.ceil((await fs.stat(release2.artifact)).size / 1048576) + 256}\n`);
  const release1 = await convertRpi({ root, work, step, reuse }, golden, 'release-1', deviceConfig, overlays.standalone);
  const [table1, table2] = [await partitionTable(release1.image), await partitionTable(release2.image)];
  check(table1.id === table2.id && table1.id !== goldenTable.id, `both releases carry the fleet's disk identifier (${table1.id}), not their golden images'`);
  // An MBR partition's PARTUUID is the disk identifier and its number.
  const partuuid = (number) => `${table1.id.replace(/^0x/, '')}-${String(number).padStart(2, '0')}`.toLowerCase();

  const image = path.join(work, 'device.img');
  await $`cp --sparse=always ${release1.image} ${image}`;
  await intoDataPartition(image, work, [[release2.artifact, 'release-2.mender']]);
  if (!keep) for (const release of [release1, release2]) await fs.remove(release.out);

  step('U-Boot identity a. first boot of release-1 (PARTUUID names)');
  const pi = raspberryPi('uboot-identity-a-first-boot', { logs, check, running }, image, work, await partitionOffset(image, 1));
  const { ubootSaid, expectUboot, env, expectRunning, expectShown, rebootInto } = driving(pi, { step, check });
  await pi.start();
  await pi.waitForLogin();
  expectUboot(await ubootSaid(), 2);
  await expectRunning({ part: 2, artifact: 'release-1' });
  const cmdline = await pi.must('cat /proc/cmdline');
  check(cmdline.split(' ').filter((word) => word.startsWith('root=')).join(' ') === `root=PARTUUID=${partuuid(2)}`, `the kernel was given root=PARTUUID=${partuuid(2)}`, cmdline);
  check((await pi.must('findmnt -n -o SOURCE /data')) === '/dev/mmcblk0p4', '/data is mounted from partition 4');
  await pi.must('echo kept-across-releases > /data/identity-marker');

  step('U-Boot identity b. install release-2 (converted from the rebuilt golden image), reboot, commit');
  pi.logTo('uboot-identity-b-install-release-2');
  await pi.must(`mender install ${FILES}/release-2.mender`, 30 * 60_000);
  expectUboot(await rebootInto('uboot-identity-b-boot-release-2'), 3);
  await expectRunning({ part: 3, artifact: 'release-2' });
  const cmdline2 = await pi.must('cat /proc/cmdline');
  check(cmdline2.split(' ').filter((word) => word.startsWith('root=')).join(' ') === `root=PARTUUID=${partuuid(3)}`, `boot.scr of release-1's device gave release-2 root=PARTUUID=${partuuid(3)}`, cmdline2);
  const fstab = await pi.must(`awk '$2 == "/data" { print $1 }' /etc/fstab`);
  check(fstab === `/dev/disk/by-partuuid/${partuuid(4)}`, "release-2's fstab names the device's data partition by its PARTUUID", fstab);
  const data = await pi.must('findmnt -n -o SOURCE /data && cat /data/identity-marker');
  check(data === '/dev/mmcblk0p4\nkept-across-releases', "/data is the device's data partition, its content kept", data);
  check((await pi.must("dpkg-query -W -f '${Status}' less")) === 'install ok installed', 'release-2 is the rebuilt golden image (less is installed)');
  await pi.must('mender commit');
  const committed = await env('mender_boot_part', 'upgrade_available');
  check(committed.upgrade_available === '0' && committed.mender_boot_part === '3', 'committed: upgrade_available=0 on partition 3', JSON.stringify(committed));
  await expectShown('release-2');
  await pi.powerCut();
}
