/**
 * The serial-log reader on real logs of converted images booting in QEMU (test/fixtures/boot/,
 * written by `mender-convert boot --check --serial-log` in the boot tier), and on the shapes
 * other systemd versions and failures print.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkVerdict, cleanSerialText, lastLines, readSerialLog } from '../../../src/boot/serial.js';

const fixture = (name: string) => fs.readFileSync(path.join(import.meta.dirname, '../../fixtures/boot', name), 'utf8');

describe('readSerialLog on a real x86-64 first boot (OVMF, GRUB, Debian bookworm, mender-client 3)', () => {
  const log = fixture('x86-64-first-boot.log');

  it('finds every stage with the line that shows it', () => {
    const reading = readSerialLog(log);
    expect(reading.stage).toBe('login');
    expect(reading.evidence.firmware).toMatch(/^BdsDxe: starting Boot\d+ "UEFI QEMU HARDDISK/);
    expect(reading.evidence.bootloader).toBe('Welcome to GRUB!');
    expect(reading.evidence.kernel).toMatch(/^Linux version 6\.1\.0-\d+-amd64 /);
    expect(reading.evidence.init).toBe('Welcome to Debian GNU/Linux 12 (bookworm)!');
    // systemd cuts the status line to the console's width.
    expect(reading.evidence.client).toBe('Started mender-client.serv…e - Mender OTA update service.');
    expect(reading.evidence.login).toBe('pc-sample login: root (automatic login)');
    expect(reading.menderBoot).toEqual({ partition: 2, root: '/dev/sda2', line: 'Mender: booting (hd0,gpt2)/boot/kernel with root=/dev/sda2' });
    expect(reading.kernelRoot).toBe('/dev/sda2');
    expect(reading.failure).toBeUndefined();
    expect(checkVerdict(reading)).toEqual({ ok: true, summary: "reached the login prompt on rootfs A (root=/dev/sda2) with the Mender client's service started" });
  });

  it('follows the log as it grows: each cut shows only the stages it holds', () => {
    const upTo = (marker: string) => log.slice(0, log.indexOf(marker));
    expect(readSerialLog('').stage).toBe('none');
    const firmware = readSerialLog(upTo('Welcome to GRUB'));
    expect(firmware.stage).toBe('firmware');
    expect(firmware.tentative).toEqual([]);
    // Before OVMF starts the disk's loader it says what it failed to load: the firmware ran, a better line is to come.
    const early = readSerialLog(upTo('BdsDxe: loading'));
    expect(early.evidence.firmware).toMatch(/^BdsDxe: failed to load Boot0001/);
    expect(early.tentative).toEqual(['firmware']);
    expect(readSerialLog(upTo('Linux version')).stage).toBe('bootloader');
    expect(readSerialLog(upTo('Welcome to \x1b')).stage).toBe('kernel');
    const beforeLogin = readSerialLog(upTo('pc-sample login:'));
    expect(beforeLogin.stage).toBe('client');
    expect(checkVerdict(beforeLogin)).toEqual({ ok: false, summary: "stopped at stage 'client': no login prompt" });
    const noClient = readSerialLog(cleanSerialText(log).replace(/^\[  OK  \] Started mender-client.*$/m, ''));
    expect(noClient.stage).toBe('login');
    expect(checkVerdict(noClient)).toEqual({ ok: false, summary: "stopped at stage 'login': the Mender client's service was not seen starting" });
  });

  it('does not pass a boot of rootfs B, or a kernel started with another root than the boot script chose', () => {
    const onB = log.replace('Mender: booting (hd0,gpt2)/boot/kernel with root=/dev/sda2', 'Mender: booting (hd0,gpt3)/boot/kernel with root=/dev/sda3').replaceAll('root=/dev/sda2', 'root=/dev/sda3');
    expect(checkVerdict(readSerialLog(onB))).toEqual({ ok: false, summary: "stopped at stage 'login': the Mender boot script booted partition 3, not rootfs A (2)" });
    const stale = log.replace(/Kernel command line: BOOT_IMAGE=\S+ root=\/dev\/sda2/g, 'Kernel command line: BOOT_IMAGE=x root=/dev/sdb2');
    expect(checkVerdict(readSerialLog(stale)).summary).toBe("stopped at stage 'login': the kernel runs with root=/dev/sdb2, not the boot script's root=/dev/sda2");
    expect(checkVerdict(readSerialLog(log.replaceAll('Mender: booting', 'Booting'))).summary).toBe("stopped at stage 'login': no Mender boot script line (is the image converted?)");
  });
});

describe('readSerialLog on a real x86-64 boot with rootfs A wiped', () => {
  it('stops at GRUB, which cannot read partition 2', () => {
    const reading = readSerialLog(fixture('x86-64-rootfs-wiped.log'));
    expect(reading.stage).toBe('bootloader');
    expect(reading.menderBoot).toMatchObject({ partition: 2, root: '/dev/sda2' });
    expect(checkVerdict(reading).summary).toBe("stopped at stage 'bootloader': the bootloader could not load the kernel (Mender: cannot boot from (hd0,gpt2).)");
  });
});

describe('readSerialLog on a real Raspberry Pi 3 boot (raspi3b, the image\'s U-Boot, today\'s unconfigured sample rootfs)', () => {
  it('follows U-Boot\'s Mender line to the kernel, which waits for its root device (no SD driver built in, no initramfs)', () => {
    const reading = readSerialLog(fixture('raspi3b-waiting-for-root.log'));
    expect(reading.stage).toBe('kernel');
    expect(reading.evidence.bootloader).toBe('U-Boot 2023.01+dfsg-2+deb12u3 (Jun 22 2026 - 08:38:07 +0000)');
    expect(reading.evidence.kernel).toBe('Booting Linux on physical CPU 0x0000000000 [0x410fd034]');
    expect(reading.menderBoot).toEqual({ partition: 2, root: '/dev/mmcblk0p2', line: 'Mender: booting partition 2 (mmc 0:2) with root=/dev/mmcblk0p2' });
    expect(reading.kernelRoot).toBe('/dev/mmcblk0p2');
    expect(reading.waitingForRoot).toBe('/dev/mmcblk0p2');
    expect(checkVerdict(reading)).toEqual({ ok: false, summary: "stopped at stage 'kernel': the kernel waits for its root device /dev/mmcblk0p2" });
  });

  it('with rootfs A wiped, stops at U-Boot, which cannot load the kernel', () => {
    const reading = readSerialLog(fixture('raspi3b-rootfs-wiped.log'));
    expect(reading.stage).toBe('bootloader');
    expect(reading.failure).toBe('the bootloader could not load the kernel (Mender: cannot boot partition 2.)');
    expect(checkVerdict(reading).summary).toBe("stopped at stage 'bootloader': the bootloader could not load the kernel (Mender: cannot boot partition 2.)");
  });
});

describe('readSerialLog on other shapes', () => {
  const bootedA = 'Mender: booting (hd0,gpt2)/boot/kernel with root=/dev/sda2\n[    0.000000] Kernel command line: BOOT_IMAGE=(hd0,gpt2)/boot/kernel root=/dev/sda2\n';

  it('reads U-Boot\'s Mender line and a kernel without an initramfs', () => {
    const log = [
      'U-Boot 2023.01+dfsg-2+deb12u3 (Jun 22 2026 - 08:38:07 +0000)',
      'Mender: booting partition 2 (mmc 0:2) with root=/dev/mmcblk0p2',
      '[    0.000000] Booting Linux on physical CPU 0x0000000000 [0x410fd034]',
      '[    0.000000] Kernel command line: console=ttyS1,115200 root=${mender_kernel_root} root=/dev/mmcblk0p2',
      '[    4.170000] Run /sbin/init as init process',
    ].join('\r\n');
    const reading = readSerialLog(log);
    expect(reading.stage).toBe('init');
    expect(reading.evidence.bootloader).toBe('U-Boot 2023.01+dfsg-2+deb12u3 (Jun 22 2026 - 08:38:07 +0000)');
    expect(reading.menderBoot).toMatchObject({ partition: 2, root: '/dev/mmcblk0p2' });
    // The last root= counts, as for the kernel.
    expect(reading.kernelRoot).toBe('/dev/mmcblk0p2');
  });

  it('takes the client from older and newer systemd and from Mender 4 (mender-updated)', () => {
    for (const line of ['[  OK  ] Started Mender OTA update service.', '[  OK  ] Started mender-updated.service - Mender OTA update service.']) {
      const reading = readSerialLog(`${bootedA}${line}\nhost login: `);
      expect(reading.evidence.client).toBe(line.slice('[  OK  ] '.length));
      expect(checkVerdict(reading).ok).toBe(true);
    }
    // Another unit whose name starts alike is not the client.
    expect(readSerialLog('[  OK  ] Started mender-grow-data.service\n').evidence.client).toBeUndefined();
    const failed = readSerialLog(bootedA + '[FAILED] Failed to start mender-client.service - Mender OTA update service.\nhost login: ');
    expect(checkVerdict(failed).summary).toBe("stopped at stage 'login': the Mender client's service failed: Failed to start mender-client.service - Mender OTA update service.");
  });

  it('names what stopped a boot', () => {
    const cases: [string, string][] = [
      ['Mender: booting (hd0,gpt2)/boot/kernel with root=/dev/sda2\nerror: file `/boot/kernel\' not found.\nMender: cannot boot from (hd0,gpt2).\n', 'the bootloader could not load the kernel (Mender: cannot boot from (hd0,gpt2).)'],
      ['[    2.1] Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(8,2)\n', 'kernel panic: VFS: Unable to mount root fs on unknown-block(8,2)'],
      ['Gave up waiting for root file system device.  Common problems:\nALERT!  /dev/sda2 does not exist.  Dropping to a shell!\n', 'the root filesystem was not found: Gave up waiting for root file system device.  Common problems:'],
      ['You are in emergency mode. After logging in, type "journalctl -xb"\n', 'systemd entered emergency mode: You are in emergency mode. After logging in, type "journalctl -xb"'],
    ];
    for (const [log, failure] of cases) expect(readSerialLog(log).failure).toBe(failure);
  });

  it('cleans terminal escapes and carriage returns; lastLines skips empty lines', () => {
    expect(cleanSerialText('\x1b[0m\x1b[30m\x1b[47mWelcome to GRUB!\r\n\x1b[=3h\x1bMok\r\n')).toBe('Welcome to GRUB!\nok\n');
    expect(lastLines('a\r\n\r\nb\nc\n\n', 2)).toEqual(['b', 'c']);
  });
});
