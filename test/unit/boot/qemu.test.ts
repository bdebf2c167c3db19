/**
 * The boot command's pure parts: its argument checks, what the Raspberry Pi's config.txt and
 * device tree say, the disk bus from the root device, the accelerator, the firmware lookup and
 * the QEMU command line for each board family.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { busOfRootDevice, configTxtValue } from '../../../src/boot/board.js';
import { powerOfTwoAtLeast } from '../../../src/boot/disk.js';
import { parseDeviceTree, propertyStrings } from '../../../src/boot/fdt.js';
import { chooseAccel, EMULATION_TIMEOUTS, findFirmware, qemuCommand, raspberryPiAccel, raspberryPiBootArgs } from '../../../src/boot/qemu.js';
import { bootArguments, DEFAULT_TIMEOUT_SECONDS } from '../../../src/cli/boot.js';
import { errorOf } from '../../helpers/errors.js';

type Node = { props?: Record<string, string>; children?: Record<string, Node> };

/** A .dtb of `root` as the device tree compiler lays one out (string properties only). */
function dtb(root: Node): Buffer {
  const offsets = new Map<string, number>();
  let strings = '';
  const words: Buffer[] = [];
  const u32 = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n);
    words.push(b);
  };
  const padded = (data: Buffer) => words.push(Buffer.concat([data, Buffer.alloc((4 - (data.length % 4)) % 4)]));
  const node = (name: string, n: Node) => {
    u32(1);
    padded(Buffer.from(`${name}\0`, 'latin1'));
    for (const [key, value] of Object.entries(n.props ?? {})) {
      if (!offsets.has(key)) {
        offsets.set(key, strings.length);
        strings += `${key}\0`;
      }
      const data = Buffer.from(`${value}\0`, 'latin1');
      u32(3);
      u32(data.length);
      u32(offsets.get(key)!);
      padded(data);
    }
    for (const [child, c] of Object.entries(n.children ?? {})) node(child, c);
    u32(2);
  };
  node('', root);
  u32(9);
  const struct = Buffer.concat(words);
  const stringBlock = Buffer.from(strings, 'latin1');
  const header = Buffer.alloc(40);
  const structStart = 40 + 16;
  header.writeUInt32BE(0xd00dfeed, 0);
  header.writeUInt32BE(structStart + struct.length + stringBlock.length, 4);
  header.writeUInt32BE(structStart, 8);
  header.writeUInt32BE(structStart + struct.length, 12);
  header.writeUInt32BE(40, 16);
  header.writeUInt32BE(17, 20);
  return Buffer.concat([header, Buffer.alloc(16), struct, stringBlock]);
}

const soc = {
  'serial@7e201000': { props: { compatible: 'arm,pl011\0arm,primecell' } },
  'serial@7e215040': { props: { compatible: 'brcm,bcm2835-aux-uart' } },
};
/** The mainline kernel's tree: aliases by hardware (the mini UART is serial1). */
const MAINLINE = dtb({ props: { model: 'Raspberry Pi 3 Model B' }, children: { aliases: { props: { serial0: '/soc/serial@7e201000', serial1: '/soc/serial@7e215040' } }, soc: { children: soc } } });
/** Raspberry Pi OS's tree: aliases by role (the primary UART, the mini UART on a Pi 3, is serial0). */
const DOWNSTREAM = dtb({ children: { aliases: { props: { serial0: '/soc/serial@7e215040', serial1: '/soc/serial@7e201000' } }, soc: { children: soc } } });
const CMDLINE = 'console=serial0,115200 console=tty1 root=${mender_kernel_root} rootfstype=ext4 fsck.repair=yes rootwait';

describe('boot arguments', () => {
  it('defaults: interactive, the standard timeout, the board from the image', () => {
    expect(bootArguments('x.img', {})).toEqual({ image: 'x.img', board: undefined, check: false, json: false, timeoutSeconds: DEFAULT_TIMEOUT_SECONDS, serialLog: undefined });
    expect(bootArguments('x.img', { check: true, json: true, timeout: '120', board: 'raspi3b', serialLog: 'a.log' })).toEqual({ image: 'x.img', board: 'raspi3b', check: true, json: true, timeoutSeconds: 120, serialLog: 'a.log' });
  });

  it('refuses unattended options without --check, a timeout that is no whole positive number, an unknown board', () => {
    expect(errorOf(() => bootArguments('x.img', { json: true })).message).toBe('--json goes with --check (an unattended boot).');
    expect(errorOf(() => bootArguments('x.img', { json: true, timeout: '5', serialLog: 'l' })).message).toBe('--json, --timeout, --serial-log go with --check (an unattended boot).');
    for (const timeout of ['0', '-3', '1.5', 'ten', '']) expect(errorOf(() => bootArguments('x.img', { check: true, timeout })).message).toContain(`--timeout ${timeout} is not a whole number`);
    const board = errorOf(() => bootArguments('x.img', { board: 'raspi4b' }));
    expect(board.message).toBe('--board raspi4b is not a board boot knows.');
    expect(board.hint).toBe('Use one of: x86-64, arm64-virt, raspi3b.');
  });
});

describe('what the image says', () => {
  it('config.txt: the last setting that applies to a Pi 3, other models\' sections skipped', () => {
    const text = '# c\narm_64bit=0\nkernel=kernel8.img\n[pi4]\nkernel=pi4.img\narm_64bit=0\n[pi3]\narm_64bit=1 # sixty-four\n[all]\nkernel=u-boot.bin\n[cm4]\nkernel=cm4.bin\n[gpio4=1]\ndevice_tree=x.dtb\n';
    expect(configTxtValue(text, 'kernel')).toBe('u-boot.bin');
    expect(configTxtValue(text, 'arm_64bit')).toBe('1');
    expect(configTxtValue(text, 'device_tree')).toBe('x.dtb');
    expect(configTxtValue(text, 'enable_uart')).toBeUndefined();
  });

  it('the disk\'s bus follows the root device the image names', () => {
    expect(busOfRootDevice('/dev/sda2')).toBe('sata');
    expect(busOfRootDevice('/dev/vda2')).toBe('virtio');
    expect(busOfRootDevice('/dev/nvme0n1p2')).toBe('nvme');
    expect(busOfRootDevice('/dev/mmcblk0p2')).toBe('sd');
    expect(busOfRootDevice('PARTUUID=26a4cb6e-02')).toBe('virtio');
    expect(busOfRootDevice(undefined)).toBe('virtio');
  });

  it('reads a device tree\'s nodes and properties', () => {
    const tree = parseDeviceTree(MAINLINE)!;
    expect(propertyStrings(tree.get('/')!.get('model'))).toEqual(['Raspberry Pi 3 Model B']);
    expect(propertyStrings(tree.get('/soc/serial@7e201000')!.get('compatible'))).toEqual(['arm,pl011', 'arm,primecell']);
    expect(parseDeviceTree(Buffer.from('dtb\n'))).toBeUndefined();
    expect(parseDeviceTree(MAINLINE.subarray(0, 60))).toBeUndefined();
  });

  it('the Pi\'s cmdline.txt with serial0 named as the mini UART\'s tty, which becomes /dev/console', () => {
    const rest = 'console=tty1 root=${mender_kernel_root} rootfstype=ext4 fsck.repair=yes rootwait';
    expect(raspberryPiBootArgs(CMDLINE, MAINLINE)).toBe(`console=ttyS1,115200 ${rest} console=ttyS1,115200 ${EMULATION_TIMEOUTS}`);
    expect(raspberryPiBootArgs(CMDLINE, DOWNSTREAM)).toBe(`console=ttyS0,115200 ${rest} console=ttyS0,115200 ${EMULATION_TIMEOUTS}`);
    expect(raspberryPiBootArgs('console=serial1,115200 quiet', DOWNSTREAM)).toBe(`console=ttyAMA1,115200 quiet console=ttyS0,115200 ${EMULATION_TIMEOUTS}`);
    // An unreadable tree: the names of the mainline tree QEMU's raspi3b is usually given.
    expect(raspberryPiBootArgs('', Buffer.alloc(8))).toBe(`console=ttyS1,115200 ${EMULATION_TIMEOUTS}`);
  });
});

describe('the host', () => {
  it('KVM only for a guest of the host\'s architecture, with a usable /dev/kvm that starts a CPU', async () => {
    const kvm = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'kvm-')), 'kvm');
    fs.writeFileSync(kvm, '');
    const works = async () => ({ ok: true, message: '' });
    expect(await chooseAccel('x86-64', { arch: 'x64', kvm, probe: works })).toEqual({ accel: 'kvm' });
    expect(await chooseAccel('arm64-virt', { arch: 'arm64', kvm, probe: works })).toEqual({ accel: 'kvm' });
    expect(await chooseAccel('arm64-virt', { arch: 'x64', kvm, probe: works })).toEqual({ accel: 'tcg' });
    expect(await chooseAccel('raspi3b', { arch: 'arm64', kvm, probe: works })).toEqual({ accel: 'tcg' });
    expect(await chooseAccel('x86-64', { arch: 'x64', kvm: `${kvm}-missing`, probe: works })).toEqual({ accel: 'tcg', whyNotKvm: `no usable ${kvm}-missing` });
    const fails = async () => ({ ok: false, message: 'qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69' });
    expect(await chooseAccel('x86-64', { arch: 'x64', kvm, probe: fails })).toEqual({ accel: 'tcg', whyNotKvm: 'KVM does not start a CPU here: qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69' });
    fs.chmodSync(kvm, 0o400);
    if (process.getuid?.() !== 0) expect((await chooseAccel('x86-64', { arch: 'x64', kvm, probe: works })).accel).toBe('tcg');
  });

  it('probes KVM by starting the machine paused: a QEMU that aborts at the first vCPU reset means TCG, with its message', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvm-probe-'));
    const kvm = path.join(dir, 'kvm');
    fs.writeFileSync(kvm, '');
    const qemu = path.join(dir, 'qemu-system-x86_64');
    const seen = path.join(dir, 'args');
    // What QEMU does on a nested host whose KVM cannot set the CPU's MSRs.
    fs.writeFileSync(qemu, `#!/bin/sh\necho "$@" > ${seen}\ncat > /dev/null\necho "qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69" >&2\necho "kvm_buf_set_msrs: Assertion failed." >&2\nkill -ABRT $$\n`, { mode: 0o755 });
    const saved = process.env.PATH;
    process.env.PATH = `${dir}:${saved}`;
    try {
      expect(await chooseAccel('x86-64', { arch: 'x64', kvm })).toEqual({ accel: 'tcg', whyNotKvm: 'KVM does not start a CPU here: qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69' });
      expect(fs.readFileSync(seen, 'utf8').trim()).toBe('-machine q35 -accel kvm -cpu host -nodefaults -display none -serial none -S -monitor stdio');
      fs.writeFileSync(qemu, '#!/bin/sh\nread command\n[ "$command" = quit ] && exit 0\nexit 1\n', { mode: 0o755 });
      expect(await chooseAccel('x86-64', { arch: 'x64', kvm })).toEqual({ accel: 'kvm' });
    } finally {
      process.env.PATH = saved;
    }
  });

  it('finds the UEFI firmware, or names its Debian package', () => {
    expect(findFirmware('x86-64', (file) => file === '/usr/share/qemu/OVMF.fd')).toEqual({ code: '/usr/share/qemu/OVMF.fd', vars: undefined });
    expect(findFirmware('arm64-virt', () => true)).toEqual({ code: '/usr/share/AAVMF/AAVMF_CODE.fd', vars: '/usr/share/AAVMF/AAVMF_VARS.fd' });
    expect(findFirmware('raspi3b', () => false)).toBeUndefined();
    const missing = errorOf(() => findFirmware('arm64-virt', (file) => file.endsWith('CODE.fd')));
    expect(missing.message).toBe('the AAVMF UEFI firmware is not installed (/usr/share/AAVMF/AAVMF_CODE.fd).');
    expect(missing.hint).toBe('Install it with: sudo apt-get install qemu-efi-aarch64');
    expect(errorOf(() => findFirmware('x86-64', () => false)).hint).toBe('Install it with: sudo apt-get install ovmf');
  });

  it('an SD card for the raspi3b is a power of two', () => {
    expect(powerOfTwoAtLeast(2 ** 31)).toBe(2 ** 31);
    expect(powerOfTwoAtLeast(3 * 2 ** 30)).toBe(2 ** 32);
  });
});

describe('QEMU command lines', () => {
  it('x86-64: q35 and OVMF, the disk on SATA as /dev/sda, the console in a file, no reboot', () => {
    const { tool, args } = qemuCommand({ family: 'x86-64', disk: { file: '/t/overlay.qcow2', format: 'qcow2', bus: 'sata' }, accel: 'tcg', firmware: { code: '/usr/share/ovmf/OVMF.fd' }, console: { file: '/t/serial.log' }, reboot: false });
    expect(tool).toBe('qemu-system-x86_64');
    expect(args.join(' ')).toMatch(/^-machine q35 -accel tcg -m 1024 -smp [12] -bios \/usr\/share\/ovmf\/OVMF\.fd -drive file=\/t\/overlay\.qcow2,format=qcow2,if=ide,index=0 -nic none -display none -monitor none -serial file:\/t\/serial\.log -no-reboot$/);
  });

  it('x86-64 under KVM with the host CPU; the terminal carries the console and QEMU\'s monitor; commas in paths doubled', () => {
    const { args } = qemuCommand({ family: 'x86-64', disk: { file: '/t/a,b.img', format: 'raw', bus: 'nvme' }, accel: 'kvm', firmware: { code: 'OVMF.fd' }, console: { terminal: true }, reboot: true });
    expect(args.slice(0, 6)).toEqual(['-machine', 'q35', '-accel', 'kvm', '-cpu', 'host']);
    expect(args).toEqual(expect.arrayContaining(['file=/t/a,,b.img,format=raw,if=none,id=disk', 'nvme,drive=disk,serial=mender-convert', 'mon:stdio']));
    expect(args).not.toContain('-no-reboot');
  });

  it('arm64: virt with AAVMF in flash (a writable copy of its variables), an AHCI disk for /dev/sda', () => {
    const { tool, args } = qemuCommand({ family: 'arm64-virt', disk: { file: 'd.qcow2', format: 'qcow2', bus: 'sata' }, accel: 'tcg', firmware: { code: '/usr/share/AAVMF/AAVMF_CODE.fd', vars: '/t/efi-vars.fd' }, console: { file: 's.log' }, reboot: false });
    expect(tool).toBe('qemu-system-aarch64');
    expect(args.join(' ')).toContain('-machine virt -accel tcg -cpu max,pauth-impdef=on');
    expect(args.join(' ')).toContain('-drive if=pflash,format=raw,readonly=on,file=/usr/share/AAVMF/AAVMF_CODE.fd -drive if=pflash,format=raw,file=/t/efi-vars.fd');
    expect(args.join(' ')).toContain('-device ahci,id=ahci -drive file=d.qcow2,format=qcow2,if=none,id=disk -device ide-hd,drive=disk,bus=ahci.0');
  });

  it('raspi3b: the image\'s U-Boot as the kernel, its device tree and bootargs, the SD card, the mini UART (second port) as console', () => {
    const { tool, args } = qemuCommand({ family: 'raspi3b', disk: { file: 'o.qcow2', format: 'qcow2', bus: 'sd' }, accel: 'tcg', raspberryPi: { kernel: '/t/kernel.bin', deviceTree: '/t/board.dtb', bootargs: 'console=ttyS1,115200' }, console: { terminal: true }, reboot: true });
    expect(tool).toBe('qemu-system-aarch64');
    expect(args).toEqual(['-machine', 'raspi3b', '-accel', raspberryPiAccel(), '-kernel', '/t/kernel.bin', '-dtb', '/t/board.dtb', '-append', 'console=ttyS1,115200', '-drive', 'file=o.qcow2,format=qcow2,if=sd', '-nic', 'none', '-display', 'none', '-monitor', 'none', '-serial', 'null', '-serial', 'mon:stdio']);
  });

  it('raspi3b: its four vCPUs get a thread each only on a host with four cores', () => {
    expect(raspberryPiAccel(2)).toBe('tcg,thread=single');
    expect(raspberryPiAccel(4)).toBe('tcg,thread=multi');
  });
});
