// The U-Boot tier of npm run test:boot: a Raspberry Pi OS-like arm64 image (scripts/
// build-sample-image.mjs --flavour rpi) converted with configs/raspberrypi3_bookworm_64bit.yaml,
// booted with qemu-system-aarch64 -M raspi3b and the converted image's own U-Boot (Debian's
// u-boot-rpi, rpi_3) and device tree:
//   a. first boot: boot.scr selects partition 2, the kernel starts with root=/dev/mmcblk0p2;
//   b. the environment set offline (our library) to try an update on partition 3: boot.scr
//      selects 3, saves bootcount=1, the kernel starts with root=/dev/mmcblk0p3;
//   c. the next boot (the update was never committed) rolls back to partition 2.
// Each boot is stopped once the kernel has printed its command line: what runs after it is
// the distribution's, and the GRUB tier covers the client's side on a booting system.
//   d. `mender-convert boot --check` on the image (raspi3b, on an overlay) passes: U-Boot boots
//      partition 2, the kernel root=/dev/mmcblk0p2 with the initrd, systemd starts the Mender
//      client, the login prompt appears. With rootfs A wiped it fails at 'bootloader', U-Boot
//      unable to load the kernel.
import { spawn } from 'node:child_process';
import { $, fs, path } from 'zx';
import { bootCheck, withRootfsAWiped } from './boot-check.mjs';

const KERNEL_TIMEOUT = 10 * 60_000;

/** The boot partition's byte offset in a disk image (partition 1). */
async function bootOffset(image) {
  const table = JSON.parse((await $`sfdisk --json ${image}`).stdout).partitiontable;
  return table.partitions[0].start * 512;
}

export async function ubootTier({ root, dir, logs, step, check, running }) {
  const work = path.join(dir, 'uboot');
  await fs.mkdirp(work);

  step('golden image: Raspberry Pi OS-like bookworm arm64 (debootstrap, raspi-firmware, linux-image-arm64; cached in work/sample)');
  const golden = (await $`zx ${path.join(root, 'scripts/build-sample-image.mjs')} --flavour rpi`).stdout.trim();

  // QEMU's SD card must be a power of two in size.
  await fs.writeFile(path.join(work, 'boot-test.yaml'), 'storage:\n  total_size_mb: 2048\nartifact:\n  compression: none\nimage:\n  compression: none\n');
  const out = path.join(work, 'deploy');
  await fs.remove(out);
  step("convert it with configs/raspberrypi3_bookworm_64bit.yaml, the Mender client installed (Debian's arm64 mender-client)");
  await $({ env: { ...process.env, MENDER_CLIENT_INSTALL: 'y' } })`node ${path.join(root, 'bin/mender-convert.js')} --disk-image ${golden} --config ${path.join(root, 'configs/raspberrypi3_bookworm_64bit.yaml')} --config ${path.join(work, 'boot-test.yaml')} --artifact-name release-1 --output-dir ${out} --work-dir ${path.join(work, 'work')}`;
  const converted = path.join(out, (await fs.readdir(out)).find((f) => f.endsWith('-mender.img')));
  const device = path.join(work, 'device.img');
  await fs.move(converted, device, { overwrite: true });
  await fs.remove(out);

  const fat = `${device}@@${await bootOffset(device)}`;
  const uboot = path.join(work, 'u-boot.bin');
  const dtb = path.join(work, 'bcm2837-rpi-3-b.dtb');
  await $`mcopy -o -i ${fat} ::/u-boot.bin ${uboot}`;
  await $`mcopy -o -i ${fat} ::/bcm2837-rpi-3-b.dtb ${dtb}`;
  // What the Pi's firmware does with cmdline.txt: its text (serial0 named as the port it is,
  // the mini UART on a Pi 3) becomes the device tree's /chosen/bootargs, which boot.scr reads.
  const cmdline = (await $`mtype -i ${fat} ::/cmdline.txt`).stdout.trim().replace(/serial0/g, 'ttyS1');
  step(`  cmdline.txt: ${cmdline}`);

  // The Mender variables: two raw redundant copies at 4 and 8 MiB (the image's /etc/fw_env.config,
  // its device name pointed at the image), read and written with libubootenv's tools as the
  // client on the device does.
  const fwEnvConfig = path.join(work, 'fw_env.config');
  await fs.writeFile(fwEnvConfig, `${device} 0x400000 0x4000\n${device} 0x800000 0x4000\n`);
  const readEnv = async () => Object.fromEntries((await $`fw_printenv -c ${fwEnvConfig}`).stdout.trim().split('\n').map((line) => line.split(/=(.*)/s).slice(0, 2)));
  const writeEnv = async (changes) => {
    // One write of all changes (libubootenv's script format: name=value lines).
    const script = path.join(work, 'fw_setenv.script');
    await fs.writeFile(script, Object.entries(changes).map(([name, value]) => `${name}=${value}\n`).join(''));
    await $`fw_setenv -c ${fwEnvConfig} -s ${script}`;
  };

  /** Boots until the kernel prints its command line; returns both serial ports' output. */
  const bootOnce = async (name) => {
    step(`boot ${name}`);
    // Port 1 is the PL011 (ttyAMA0), port 2 the mini UART (ttyS1), which U-Boot uses on a Pi 3.
    const ports = [path.join(logs, `${name}-uart0.log`), path.join(logs, `${name}-uart1.log`)];
    for (const port of ports) await fs.remove(port);
    const qemu = spawn(
      'qemu-system-aarch64',
      ['-M', 'raspi3b', '-kernel', uboot, '-dtb', dtb, '-drive', `file=${device},if=sd,format=raw`,
        '-append', `${cmdline} console=ttyAMA0,115200`,
        '-serial', `file:${ports[0]}`, '-serial', `file:${ports[1]}`, '-display', 'none', '-monitor', 'none', '-nic', 'none'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    running.add(qemu);
    let stderr = '';
    qemu.stderr.on('data', (chunk) => (stderr += chunk));
    const exited = new Promise((resolve) => qemu.on('exit', resolve));
    exited.then(() => running.delete(qemu));
    const deadline = Date.now() + KERNEL_TIMEOUT;
    let output = '';
    try {
      for (;;) {
        output = (await Promise.all(ports.map((port) => fs.readFile(port, 'latin1').catch(() => '')))).join('\n').replace(/\r/g, '');
        if (/Kernel command line: [^\n]*\n/.test(output)) break;
        if (qemu.exitCode !== null) throw new Error(`QEMU exited before the kernel started (logs: ${ports.join(' ')})\n${stderr}`);
        if (Date.now() > deadline) throw new Error(`timed out waiting for the kernel (logs: ${ports.join(' ')})\n…${output.slice(-1500)}`);
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    } finally {
      qemu.kill('SIGKILL');
      await exited;
    }
    const lines = output.split('\n').filter((line) => /^Mender: |Kernel command line:/.test(line));
    for (const line of lines) step(`  | ${line.trim()}`);
    return output;
  };

  const expectBoot = (output, part) => {
    check(output.includes(`Mender: booting partition ${part} (mmc 0:${part})`), `boot.scr selected partition ${part}`);
    const line = /Kernel command line: ([^\n]*)/.exec(output)?.[1] ?? '';
    check(/ root=/.test(` ${line}`) && [...line.matchAll(/(?:^| )root=(\S+)/g)].every((m) => m[1] === `/dev/mmcblk0p${part}`), `the kernel started with root=/dev/mmcblk0p${part} (cmdline.txt's root= expanded too)`, line);
  };

  step('U-Boot a. first boot');
  expectBoot(await bootOnce('uboot-a-first-boot'), 2);

  step('U-Boot b. an update on partition 3 to try (environment set offline)');
  await writeEnv({ upgrade_available: '1', mender_boot_part: '3', mender_boot_part_hex: '3', bootcount: '0' });
  const tried = await bootOnce('uboot-b-try-update');
  check(tried.includes('Mender: trying the update on partition 3.'), 'boot.scr tries the update');
  expectBoot(tried, 3);
  const afterTry = await readEnv();
  check(afterTry.bootcount === '1' && afterTry.upgrade_available === '1' && afterTry.mender_boot_part === '3', 'U-Boot saved bootcount=1 for the boot being tried', JSON.stringify(afterTry));

  step('U-Boot c. the update was not committed: the next boot rolls back');
  const rolled = await bootOnce('uboot-c-rollback');
  check(rolled.includes('Mender: the update on partition 3 was not committed; rolling back.'), 'boot.scr rolls back');
  expectBoot(rolled, 2);
  const afterRollback = await readEnv();
  check(afterRollback.mender_boot_part === '2' && afterRollback.upgrade_available === '0' && afterRollback.bootcount === '0', 'the environment is back on partition 2, no update pending', JSON.stringify(afterRollback));

  step('U-Boot d. boot --check: to the login prompt with the client started, as a user converts it');
  const passed = await bootCheck({ root, logs, step }, device, 'check-raspi3b', 1200);
  check(passed.ok && passed.exitCode === 0, 'boot --check passes: login prompt on rootfs A, the Mender client started', passed.summary);
  check(passed.board === 'raspi3b' && passed.menderBoot?.partition === 2 && passed.kernelRoot === '/dev/mmcblk0p2', 'it saw U-Boot boot partition 2 and the kernel start with root=/dev/mmcblk0p2', JSON.stringify(passed.menderBoot));
  check(/^Started mender-client/.test(passed.stages.client), 'systemd started mender-client.service', passed.stages.client);
  const wiped = await withRootfsAWiped(device, path.join(work, 'device-wiped.img'));
  const failed = await bootCheck({ root, logs, step }, wiped, 'check-raspi3b-rootfs-wiped', 300);
  check(!failed.ok && failed.stage === 'bootloader' && /the bootloader could not load the kernel \(Mender: cannot boot partition 2\.\)/.test(failed.summary), 'with rootfs A wiped it fails at the bootloader, saying why', failed.summary);
  await fs.remove(wiped);
}
