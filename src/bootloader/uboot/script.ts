import zlib from 'node:zlib';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { UserError } from '../../util/errors.js';
import { MENDER_BOOT_VARIABLES } from './env.js';
import { checkKernelArgs, kernelRootArg } from '../grub/config.js';

/** The boot script's text, with @@NAME@@ placeholders for its parameters. */
export const UBOOT_SCRIPT_TEMPLATE = fileURLToPath(new URL('./boot.cmd', import.meta.url));

export interface UbootScriptOptions {
  /** Partition numbers of rootfs A and B. */
  parts: { a: number; b: number };
  /** Root device names of rootfs A and B (by-partuuid links become PARTUUID=). */
  rootDevices: { a: string; b: string };
  /** U-Boot block device holding the rootfs partitions. */
  storage?: { interface: string; device: number };
  /** Kernel image in the rootfs, e.g. /boot/Image (booti) or /boot/zImage (bootz). */
  kernelPath: string;
  bootCommand: 'booti' | 'bootz' | 'bootm';
  /** Initrd in the rootfs, or null for none. */
  initrdPath: string | null;
  /**
   * Device tree: a file in the rootfs (may use U-Boot variables: "/boot/${fdtfile}"), or the
   * one the firmware handed to U-Boot (Raspberry Pi: with config.txt overlays applied).
   */
  dtb: { path: string } | 'firmware';
  /** Start from the firmware device tree's /chosen/bootargs (Raspberry Pi cmdline.txt). */
  firmwareBootargs?: boolean;
  /** Kernel arguments after root=. */
  kernelArgs?: string;
  /** Load addresses (U-Boot's standard variables by default). */
  addresses?: { kernel?: string; ramdisk?: string; fdt?: string; firmwareFdt?: string };
  /**
   * Where the Mender variables are kept: in U-Boot's own environment (saved with saveenv), the
   * default; or in two raw redundant copies on the storage device, at byte offsets, which the
   * script reads and writes itself (see boot.cmd).
   */
  environment?: { access: 'uboot' } | { access: 'script'; offsets: readonly [number, number]; size: number };
}

function checkRootfsPath(value: string, what: string): string {
  if (!/^\/[A-Za-z0-9_.\/${}+-]+$/.test(value)) {
    throw new UserError(`The ${what} '${value}' must be an absolute path in the root filesystem (letters, digits, _ . / - + and \${variables}).`);
  }
  return value;
}

function checkWord(value: string, what: string): string {
  if (!/^[A-Za-z0-9_${}:x]+$/.test(value)) throw new UserError(`The ${what} '${value}' is not a U-Boot address or variable.`);
  return value;
}

const SECTOR = 512;
const hex = (n: number) => `0x${n.toString(16)}`;

/** The placeholders of the environment part of the script. */
function scriptEnvironment(environment: NonNullable<UbootScriptOptions['environment']>): Record<string, string> {
  if (environment.access === 'uboot') {
    // The script's copy handling is skipped in this mode; its placeholders still get values.
    const unused = ['ENV_OFFSET_A', 'ENV_OFFSET_B', 'ENV_SIZE', 'ENV_IMPORT_SIZE', 'ENV_DATA_SIZE', 'ENV_BLOCK_A', 'ENV_BLOCK_B', 'ENV_BLOCKS'];
    return { ENV_ACCESS: 'uboot', ENV_VARS: MENDER_BOOT_VARIABLES.join(' '), ...Object.fromEntries(unused.map((name) => [name, '0'])) };
  }
  const { offsets, size } = environment;
  for (const value of [...offsets, size]) {
    if (!Number.isInteger(value) || value < 0 || value % SECTOR !== 0) {
      throw new UserError(`The boot script reads the environment copies in ${SECTOR}-byte blocks: ${value} is not a multiple of ${SECTOR}.`, { hint: 'Check storage.alignment and uboot.env_size.' });
    }
  }
  if (size < 2 * SECTOR) throw new UserError(`A U-Boot environment of ${size} bytes is too small for the boot script's copies.`);
  if (Math.abs(offsets[0] - offsets[1]) < size) throw new UserError(`The U-Boot environment copies at ${offsets[0]} and ${offsets[1]} overlap (size ${size}).`);
  return {
    ENV_ACCESS: 'script',
    ENV_OFFSET_A: hex(offsets[0]),
    ENV_OFFSET_B: hex(offsets[1]),
    ENV_SIZE: hex(size),
    // Imported and exported one byte in (past the flags byte, see boot.cmd); the data area.
    ENV_IMPORT_SIZE: hex(size - 1),
    ENV_DATA_SIZE: hex(size - 5),
    ENV_BLOCK_A: hex(offsets[0] / SECTOR),
    ENV_BLOCK_B: hex(offsets[1] / SECTOR),
    ENV_BLOCKS: hex(size / SECTOR),
    ENV_VARS: MENDER_BOOT_VARIABLES.join(' '),
  };
}

/** The boot script text for U-Boot's hush shell. */
export function generateUbootScript(options: UbootScriptOptions): string {
  const { a, b } = options.parts;
  for (const part of [a, b]) {
    if (!Number.isInteger(part) || part < 1 || part > 128) throw new UserError(`The rootfs partition number ${part} is not valid.`);
  }
  if (a === b) throw new UserError(`Rootfs A and B cannot both be partition ${a}.`);
  const storage = options.storage ?? { interface: 'mmc', device: 0 };
  if (!/^[a-z]+$/.test(storage.interface) || !Number.isInteger(storage.device) || storage.device < 0) {
    throw new UserError(`'${storage.interface} ${storage.device}' is not a U-Boot block device.`);
  }
  const addresses = {
    kernel: checkWord(options.addresses?.kernel ?? '${kernel_addr_r}', 'kernel load address'),
    ramdisk: checkWord(options.addresses?.ramdisk ?? '${ramdisk_addr_r}', 'initrd load address'),
    fdt: checkWord(options.addresses?.fdt ?? '${fdt_addr_r}', 'device tree load address'),
    firmwareFdt: checkWord(options.addresses?.firmwareFdt ?? '${fdt_addr}', 'firmware device tree address'),
  };
  const environment = scriptEnvironment(options.environment ?? { access: 'uboot' });
  const values: Record<string, string> = {
    ...environment,
    PART_A: String(a),
    PART_B: String(b),
    PART_A_HEX: a.toString(16),
    PART_B_HEX: b.toString(16),
    ROOT_A: checkKernelArgs(kernelRootArg(options.rootDevices.a), 'root device'),
    ROOT_B: checkKernelArgs(kernelRootArg(options.rootDevices.b), 'root device'),
    DEVICE: `${storage.interface} ${storage.device}`,
    ENV_INTERFACE: storage.interface,
    ENV_DEVNUM: String(storage.device),
    ENV_DEVICE: `${storage.interface} ${storage.device}`,
    FIRMWARE_BOOTARGS: options.firmwareBootargs ? 'yes' : 'no',
    KERNEL_ARGS: checkKernelArgs(options.kernelArgs ?? ''),
    KERNEL: checkRootfsPath(options.kernelPath, 'kernel path'),
    INITRD: options.initrdPath === null ? '' : checkRootfsPath(options.initrdPath, 'initrd path'),
    DTB: options.dtb === 'firmware' ? '' : checkRootfsPath(options.dtb.path, 'device tree path'),
    BOOT_COMMAND: options.bootCommand,
    KERNEL_ADDR: addresses.kernel,
    RAMDISK_ADDR: addresses.ramdisk,
    FDT_ADDR: addresses.fdt,
    FIRMWARE_FDT: addresses.firmwareFdt,
  };
  const template = fs.readFileSync(UBOOT_SCRIPT_TEMPLATE, 'utf8');
  const text = template.replace(/@@([A-Z_]+)@@/g, (whole, name: string) => {
    if (!(name in values)) throw new Error(`${UBOOT_SCRIPT_TEMPLATE} has an unknown placeholder ${whole}`);
    return values[name];
  });
  return text;
}

/** U-Boot legacy image constants (include/image.h). */
const IH_MAGIC = 0x27051956;
const IH_OS_LINUX = 5;
const IH_TYPE_SCRIPT = 6;
const IH_COMP_NONE = 0;
const IH_NMLEN = 32;
const HEADER_SIZE = 64;

export const UBOOT_ARCH = { arm: 2, arm64: 22 } as const;
export type UbootArch = keyof typeof UBOOT_ARCH;

export interface ScriptImageOptions {
  /** Image name, at most 32 bytes (mkimage -n). */
  name: string;
  /** Seconds since the epoch stored in the header (SOURCE_DATE_EPOCH for reproducible output). */
  timestamp: number;
  arch?: UbootArch;
}

/**
 * A script in U-Boot's legacy image format, byte for byte what `mkimage -A <arch> -O linux
 * -T script -C none -n <name> -d <script>` writes with SOURCE_DATE_EPOCH=<timestamp>: the 64-byte
 * big-endian header, then a multi-file length table (the script's length, 0), then the script.
 */
export function ubootScriptImage(script: string | Uint8Array, options: ScriptImageOptions): Buffer {
  const body = typeof script === 'string' ? Buffer.from(script, 'utf8') : Buffer.from(script);
  const name = Buffer.from(options.name, 'utf8');
  if (name.length > IH_NMLEN) throw new UserError(`The boot script name '${options.name}' is longer than ${IH_NMLEN} bytes.`);
  if (!Number.isInteger(options.timestamp) || options.timestamp < 0 || options.timestamp > 0xffffffff) {
    throw new UserError(`The boot script timestamp ${options.timestamp} does not fit a U-Boot image header.`);
  }
  const table = Buffer.alloc(8);
  table.writeUInt32BE(body.length, 0);
  const data = Buffer.concat([table, body]);

  const header = Buffer.alloc(HEADER_SIZE);
  header.writeUInt32BE(IH_MAGIC, 0);
  header.writeUInt32BE(options.timestamp, 8);
  header.writeUInt32BE(data.length, 12);
  // load (16) and entry (20) addresses stay 0 for scripts.
  header.writeUInt32BE(zlib.crc32(data), 24);
  header[28] = IH_OS_LINUX;
  header[29] = UBOOT_ARCH[options.arch ?? 'arm'];
  header[30] = IH_TYPE_SCRIPT;
  header[31] = IH_COMP_NONE;
  name.copy(header, 32);
  header.writeUInt32BE(zlib.crc32(header), 4);
  return Buffer.concat([header, data]);
}

export interface LegacyImageInfo {
  name: string;
  timestamp: number;
  dataSize: number;
  os: number;
  arch: number;
  type: number;
  compression: number;
  /** The script of a script image. */
  script?: Buffer;
}

/** Read and check a legacy image (magic, header CRC, data CRC); a UserError when it is not one. */
export function readLegacyImage(image: Uint8Array): LegacyImageInfo {
  const data = Buffer.from(image.buffer, image.byteOffset, image.byteLength);
  if (data.length < HEADER_SIZE || data.readUInt32BE(0) !== IH_MAGIC) throw new UserError('Not a U-Boot legacy image (bad magic).');
  const header = Buffer.from(data.subarray(0, HEADER_SIZE));
  const headerCrc = header.readUInt32BE(4);
  header.writeUInt32BE(0, 4);
  if (zlib.crc32(header) !== headerCrc) throw new UserError('The U-Boot image header CRC does not match.');
  const dataSize = data.readUInt32BE(12);
  const payload = data.subarray(HEADER_SIZE, HEADER_SIZE + dataSize);
  if (payload.length !== dataSize || zlib.crc32(payload) !== data.readUInt32BE(24)) throw new UserError('The U-Boot image data CRC does not match.');
  const info: LegacyImageInfo = {
    name: data.toString('utf8', 32, 64).replace(/\0.*$/s, ''),
    timestamp: data.readUInt32BE(8),
    dataSize,
    os: data[28],
    arch: data[29],
    type: data[30],
    compression: data[31],
  };
  if (info.type === IH_TYPE_SCRIPT && payload.length >= 8) {
    const length = payload.readUInt32BE(0);
    if (payload.readUInt32BE(4) === 0 && 8 + length <= payload.length) info.script = Buffer.from(payload.subarray(8, 8 + length));
  }
  return info;
}
