/**
 * The QEMU command line that boots a board family: the machine, its firmware (OVMF, AAVMF, or
 * for the Raspberry Pi what its GPU firmware would do: start config.txt's kernel — U-Boot — with
 * the device tree and cmdline.txt as bootargs), the disk on the bus the image expects, KVM when
 * the host can run the guest natively, and the serial console on the terminal or in a file.
 */
import fs from 'node:fs';
import os from 'node:os';
import { UserError } from '../util/errors.js';
import { spawn } from '../util/exec.js';
import type { BoardFamily, DiskBus } from './board.js';
import { parseDeviceTree, propertyStrings } from './fdt.js';

export interface Firmware {
  /** OVMF.fd for x86-64 (-bios); AAVMF_CODE.fd for arm64 (read-only flash). */
  code: string;
  /** AAVMF's variable store template (copied: the guest writes it). */
  vars?: string;
}

const FIRMWARE: Partial<Record<BoardFamily, { files: string[][]; what: string; pkg: string }>> = {
  'x86-64': { files: [['/usr/share/ovmf/OVMF.fd'], ['/usr/share/qemu/OVMF.fd']], what: 'the OVMF UEFI firmware', pkg: 'ovmf' },
  'arm64-virt': { files: [['/usr/share/AAVMF/AAVMF_CODE.fd', '/usr/share/AAVMF/AAVMF_VARS.fd']], what: 'the AAVMF UEFI firmware', pkg: 'qemu-efi-aarch64' },
};

/** The UEFI firmware of a family (none for the Raspberry Pi, which boots the image's own files); a UserError naming its package when missing. */
export function findFirmware(family: BoardFamily, exists: (file: string) => boolean = fs.existsSync): Firmware | undefined {
  const wanted = FIRMWARE[family];
  if (!wanted) return undefined;
  const found = wanted.files.find((files) => files.every(exists));
  if (!found) {
    throw new UserError(`${wanted.what} is not installed (${wanted.files.map((files) => files[0]).join(' or ')}).`, { hint: `Install it with: sudo apt-get install ${wanted.pkg}` });
  }
  return { code: found[0]!, vars: found[1] };
}

export const QEMU_BINARY: Record<BoardFamily, string> = {
  'x86-64': 'qemu-system-x86_64',
  'arm64-virt': 'qemu-system-aarch64',
  raspi3b: 'qemu-system-aarch64',
};

/** The host architecture (process.arch) that runs a family natively under KVM. */
const NATIVE_ARCH: Partial<Record<BoardFamily, string>> = { 'x86-64': 'x64', 'arm64-virt': 'arm64' };
/** The machine each natively run family boots on (what the KVM probe starts). */
const KVM_MACHINE: Partial<Record<BoardFamily, string>> = { 'x86-64': 'q35', 'arm64-virt': 'virt' };

export interface AccelChoice {
  accel: 'kvm' | 'tcg';
  /** Why not KVM, for a family the host could run natively. */
  whyNotKvm?: string;
}

/** Starts the family's machine under KVM, paused, and quits it: whether KVM really runs a CPU here. */
export type KvmProbe = (family: BoardFamily) => Promise<{ ok: boolean; message: string }>;

const probeKvm: KvmProbe = async (family) => {
  // A /dev/kvm that opens is not enough: nested under some hypervisors the first vCPU reset fails
  // (e.g. "failed to set MSR 0x10a") and QEMU aborts; a paused machine shows it in milliseconds.
  const args = ['-machine', KVM_MACHINE[family]!, '-accel', 'kvm', '-cpu', 'host', '-nodefaults', '-display', 'none', '-serial', 'none', '-S', '-monitor', 'stdio'];
  const result = await spawn(QEMU_BINARY[family], args, { input: 'quit\n', buffer: true, stdout: 'ignore', reject: false, timeout: 30_000 });
  const message = String(result.stderr ?? '').split('\n').map((line: string) => line.trim()).find((line: string) => /error|failed|assert/i.test(line)) ?? `QEMU exited with ${result.exitCode ?? result.signal}`;
  return { ok: result.exitCode === 0, message };
};

/** KVM when /dev/kvm is usable and really runs the guest's CPU, which must be the host's architecture (never for an emulated board). */
export async function chooseAccel(family: BoardFamily, host: { arch: string; kvm: string; probe?: KvmProbe } = { arch: process.arch, kvm: '/dev/kvm' }): Promise<AccelChoice> {
  if (NATIVE_ARCH[family] !== host.arch) return { accel: 'tcg' };
  try {
    fs.accessSync(host.kvm, fs.constants.R_OK | fs.constants.W_OK);
  } catch {
    return { accel: 'tcg', whyNotKvm: `no usable ${host.kvm}` };
  }
  const probe = await (host.probe ?? probeKvm)(family);
  return probe.ok ? { accel: 'kvm' } : { accel: 'tcg', whyNotKvm: `KVM does not start a CPU here: ${probe.message}` };
}

/**
 * systemd's unit start timeout for an emulated board (tens of times slower than a real one).
 * Bookworm's systemd 252 takes its wait for devices only from system.conf, not from here.
 */
export const EMULATION_TIMEOUTS = 'systemd.default_timeout_start_sec=900';

/**
 * cmdline.txt as the Pi's firmware hands it over: `serial0` is the primary UART — on a Pi 3 the
 * mini UART, the PL011 serving Bluetooth — and `serial1` the other, each named by the device
 * tree alias that points at it (ttyS<n> for the mini UART, ttyAMA<n> for the PL011: mainline
 * trees alias the mini UART serial1, Raspberry Pi OS's serial0). The primary UART is then made the
 * last console=, i.e. /dev/console: there is no display, and systemd's status lines and the login
 * prompt go to /dev/console.
 */
export function raspberryPiBootArgs(cmdline: string, deviceTree: Buffer): string {
  const tree = parseDeviceTree(deviceTree);
  const aliases = [...(tree?.get('/aliases') ?? new Map<string, Buffer>())].filter(([name]) => /^serial\d+$/.test(name));
  const ttyOf = (compatible: string, prefix: string, fallback: string) => {
    const alias = aliases.find(([, target]) => propertyStrings(tree?.get(propertyStrings(target)[0] ?? '')?.get('compatible')).includes(compatible));
    return alias ? `${prefix}${alias[0].slice('serial'.length)}` : fallback;
  };
  const primary = ttyOf('brcm,bcm2835-aux-uart', 'ttyS', 'ttyS1');
  const secondary = ttyOf('arm,pl011', 'ttyAMA', 'ttyAMA0');
  const named = cmdline.replace(/\bserial0\b/g, primary).replace(/\bserial1\b/g, secondary);
  // An emulated Pi 3 runs tens of times slower than one on the desk: a unit that takes longer
  // than systemd's 90 s to start is not a fault of the image.
  return `${named} console=${primary},115200 ${EMULATION_TIMEOUTS}`.trim();
}

export interface QemuOptions {
  family: BoardFamily;
  disk: { file: string; format: 'raw' | 'qcow2'; bus: DiskBus };
  accel: 'kvm' | 'tcg';
  /** UEFI families: the firmware (AAVMF's vars already copied where the guest may write them). */
  firmware?: Firmware;
  /** raspi3b: what the Pi's firmware starts, with its device tree and bootargs. */
  raspberryPi?: { kernel: string; deviceTree: string; bootargs: string };
  /** The console on this terminal (with QEMU's monitor on Ctrl-A C), or written to a file. */
  console: { terminal: true } | { file: string };
  /** Off: a guest reboot ends QEMU (an unattended boot must not go round again). */
  reboot: boolean;
  memoryMiB?: number;
}

function diskArgs(options: QemuOptions): string[] {
  const { file, format, bus } = options.disk;
  const drive = `file=${file.replace(/,/g, ',,')},format=${format}`;
  if (options.family === 'raspi3b') return ['-drive', `${drive},if=sd`];
  switch (bus) {
    case 'virtio':
      return ['-drive', `${drive},if=virtio`];
    case 'sata':
      // q35's own AHCI controller; virt needs one added.
      return options.family === 'x86-64'
        ? ['-drive', `${drive},if=ide,index=0`]
        : ['-device', 'ahci,id=ahci', '-drive', `${drive},if=none,id=disk`, '-device', 'ide-hd,drive=disk,bus=ahci.0'];
    case 'nvme':
      return ['-drive', `${drive},if=none,id=disk`, '-device', 'nvme,drive=disk,serial=mender-convert'];
    case 'sd':
      return ['-drive', `${drive},if=none,id=disk`, '-device', 'sdhci-pci', '-device', 'sd-card,drive=disk'];
  }
}

/** The serial port arguments: the console's port to the terminal or the file, any port before it to nothing. */
function serialArgs(options: QemuOptions): string[] {
  const target = 'terminal' in options.console ? 'mon:stdio' : `file:${options.console.file}`;
  // The raspi3b's first serial port is the PL011, the second the mini UART: U-Boot's console, and the kernel's as serial0.
  const before = options.family === 'raspi3b' ? ['-serial', 'null'] : [];
  return [...before, '-serial', target];
}

/**
 * TCG for raspi3b, whose four cores are fixed: one thread per vCPU only where the host has a core
 * for each. On two cores four vCPU threads preempt one another while the guest holds spinlocks:
 * a boot to the login took 145 s against 67 s with one thread for all (same work speed after it),
 * and the boot tier's boots went silent mid-way in several runs.
 */
export function raspberryPiAccel(hostCores = os.availableParallelism()): string {
  return hostCores >= 4 ? 'tcg,thread=multi' : 'tcg,thread=single';
}

export function qemuCommand(options: QemuOptions): { tool: string; args: string[] } {
  const { family, accel } = options;
  const common = [...diskArgs(options), '-nic', 'none', '-display', 'none', '-monitor', 'none', ...serialArgs(options), ...(options.reboot ? [] : ['-no-reboot'])];
  const cpus = String(Math.min(2, os.availableParallelism()));
  switch (family) {
    case 'x86-64':
      return {
        tool: QEMU_BINARY[family],
        args: ['-machine', 'q35', '-accel', accel, ...(accel === 'kvm' ? ['-cpu', 'host'] : []), '-m', String(options.memoryMiB ?? 1024), '-smp', cpus, '-bios', required(options.firmware, 'firmware').code, ...common],
      };
    case 'arm64-virt': {
      const firmware = required(options.firmware, 'firmware');
      return {
        tool: QEMU_BINARY[family],
        args: [
          '-machine', 'virt', '-accel', accel, '-cpu', accel === 'kvm' ? 'host' : 'max,pauth-impdef=on', '-m', String(options.memoryMiB ?? 1024), '-smp', cpus,
          '-drive', `if=pflash,format=raw,readonly=on,file=${firmware.code}`, '-drive', `if=pflash,format=raw,file=${required(firmware.vars, 'firmware variables')}`,
          ...common,
        ],
      };
    }
    case 'raspi3b': {
      const pi = required(options.raspberryPi, 'Raspberry Pi boot files');
      // The board's 1 GiB and four cores are fixed; QEMU starts the kernel file where the GPU firmware would.
      return { tool: QEMU_BINARY[family], args: ['-machine', 'raspi3b', '-accel', raspberryPiAccel(), '-kernel', pi.kernel, '-dtb', pi.deviceTree, '-append', pi.bootargs, ...common] };
    }
  }
}

function required<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`qemuCommand: no ${what}`);
  return value;
}
