import zlib from 'node:zlib';
import { UserError } from '../../util/errors.js';
import { kernelRootArg } from '../grub/config.js';

/**
 * U-Boot's binary environment, as U-Boot, mkenvimage and libubootenv (fw_printenv) use it:
 * CRC32 (little endian) of the data area, one flag byte when the environment is redundant, then
 * the data area: `name=value\0` entries, an empty entry (`\0`) as the end, padding to the size.
 * Redundant copies are told apart by the flag: the valid copy with the higher flag is current
 * (0 after 255 counts as higher), as U-Boot and libubootenv decide.
 */

export type UbootEnvValues = Record<string, string> | ReadonlyArray<readonly [string, string]>;

export interface UbootEnvFormat {
  /** CONFIG_ENV_SIZE: the whole block, header included. */
  size: number;
  redundant: boolean;
  /** Redundant copies only: the flag byte (the newer copy has the higher one). */
  flag?: number;
  /** Byte after the end of the entries; U-Boot's own saveenv leaves 0x00, mkenvimage 0xff. */
  padByte?: 0x00 | 0xff;
}

function headerSize(redundant: boolean): number {
  return redundant ? 5 : 4;
}

function pairs(values: UbootEnvValues): Array<readonly [string, string]> {
  return Array.isArray(values) ? [...(values as ReadonlyArray<readonly [string, string]>)] : Object.entries(values);
}

/** One environment block of exactly `format.size` bytes. */
export function formatUbootEnv(values: UbootEnvValues, format: UbootEnvFormat): Buffer {
  const header = headerSize(format.redundant);
  if (!Number.isInteger(format.size) || format.size <= header + 2) throw new UserError(`A U-Boot environment of ${format.size} bytes is too small.`);
  const seen = new Set<string>();
  const entries = pairs(values).map(([name, value]) => {
    if (!name || name.includes('=') || name.includes('\0') || value.includes('\0')) {
      throw new UserError(`'${name}' cannot be a U-Boot environment variable (names have no '=' or NUL, values no NUL).`);
    }
    if (seen.has(name)) throw new UserError(`The U-Boot environment sets '${name}' twice.`);
    seen.add(name);
    return Buffer.from(`${name}=${value}\0`, 'utf8');
  });
  const data = Buffer.concat([...entries, Buffer.from([0])]);
  const room = format.size - header;
  if (data.length > room) {
    throw new UserError(`The U-Boot environment needs ${data.length} bytes but holds ${room} (size ${format.size}).`, {
      hint: 'Raise the environment size to the one your U-Boot was built with (CONFIG_ENV_SIZE), or drop variables.',
    });
  }
  const block = Buffer.alloc(format.size, format.padByte ?? 0x00);
  data.copy(block, header);
  if (format.redundant) block[4] = (format.flag ?? 1) & 0xff;
  block.writeUInt32LE(zlib.crc32(block.subarray(header)), 0);
  return block;
}

export interface ParsedUbootEnv {
  values: Record<string, string>;
  /** The flag byte of a redundant copy. */
  flag?: number;
}

/** The variables of one environment block; a UserError when its CRC does not match. */
export function parseUbootEnv(block: Uint8Array, redundant: boolean): ParsedUbootEnv {
  const data = Buffer.from(block.buffer, block.byteOffset, block.byteLength);
  const header = headerSize(redundant);
  if (data.length <= header) throw new UserError('The U-Boot environment block is too short.');
  const stored = data.readUInt32LE(0);
  const actual = zlib.crc32(data.subarray(header));
  if (stored !== actual) {
    throw new UserError(`The U-Boot environment's CRC is 0x${stored.toString(16)} but its data gives 0x${actual.toString(16)}.`, {
      hint: 'The environment is damaged, or its size or redundancy differs from what was assumed.',
    });
  }
  const values: Record<string, string> = {};
  let p = header;
  while (p < data.length && data[p] !== 0) {
    let end = data.indexOf(0, p);
    if (end < 0) end = data.length;
    const entry = data.toString('utf8', p, end);
    const at = entry.indexOf('=');
    if (at > 0) values[entry.slice(0, at)] = entry.slice(at + 1);
    p = end + 1;
  }
  return redundant ? { values, flag: data[4] } : { values };
}

/** Which of two redundant copies U-Boot uses: the valid one, or of two valid ones the newer. */
export function currentRedundantCopy(copies: readonly [Uint8Array, Uint8Array]): { index: 0 | 1; env: ParsedUbootEnv } {
  const read = copies.map((copy) => {
    try {
      return parseUbootEnv(copy, true);
    } catch {
      return null;
    }
  });
  const [first, second] = read;
  if (!first && !second) throw new UserError('Neither copy of the redundant U-Boot environment is valid.');
  if (!second) return { index: 0, env: first! };
  if (!first) return { index: 1, env: second };
  const [a, b] = [first.flag!, second.flag!];
  const secondNewer = (a === 0xff && b === 0) || (!(b === 0xff && a === 0) && b > a);
  return secondNewer ? { index: 1, env: second } : { index: 0, env: first };
}

/** Where the device keeps its environment; paths and devices are as the device sees them. */
export type UbootEnvStorage =
  /** A file on the boot partition (U-Boot's CONFIG_ENV_IS_IN_FAT, Debian's builds). */
  | { kind: 'file'; path: string; size: number }
  /** Two raw copies at byte offsets of the storage device (upstream Mender builds). */
  | { kind: 'redundant'; device: string; offsets: readonly [number, number]; size: number };

export interface UbootEnvCopy {
  /** Byte offset: in the file (0), or on the disk for redundant copies. */
  offset: number;
  data: Buffer;
}

/** The blocks to write for a storage: one for a file, two (flags 1 and 0) for redundant copies. */
export function ubootEnvCopies(values: UbootEnvValues, storage: UbootEnvStorage, padByte: 0x00 | 0xff = 0x00): UbootEnvCopy[] {
  if (storage.kind === 'file') return [{ offset: 0, data: formatUbootEnv(values, { size: storage.size, redundant: false, padByte }) }];
  const [first, second] = storage.offsets;
  if (Math.abs(first - second) < storage.size) {
    throw new UserError(`The U-Boot environment copies at ${first} and ${second} overlap (size ${storage.size}).`);
  }
  return [
    { offset: first, data: formatUbootEnv(values, { size: storage.size, redundant: true, flag: 1, padByte }) },
    { offset: second, data: formatUbootEnv(values, { size: storage.size, redundant: true, flag: 0, padByte }) },
  ];
}

const hex = (n: number) => `0x${n.toString(16)}`;

/** /etc/fw_env.config for libubootenv's fw_printenv/fw_setenv: one line per copy. */
export function fwEnvConfig(storage: UbootEnvStorage): string {
  const lines = ['# U-Boot environment for fw_printenv/fw_setenv (written by mender-convert)', '# Device or file        Offset      Size'];
  const check = (where: string) => {
    if (!where.startsWith('/') || /\s/.test(where)) throw new UserError(`'${where}' must be an absolute path without spaces.`);
  };
  if (storage.kind === 'file') {
    check(storage.path);
    lines.push(`${storage.path} 0x0 ${hex(storage.size)}`);
  } else {
    check(storage.device);
    for (const offset of storage.offsets) lines.push(`${storage.device} ${hex(offset)} ${hex(storage.size)}`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * The variables of the Mender boot state: what the boot script reads from and writes to
 * environment copies it keeps itself, and what the client changes with fw_setenv.
 */
export const MENDER_BOOT_VARIABLES = ['mender_boot_part', 'mender_boot_part_hex', 'upgrade_available', 'bootcount'] as const;

/** The boot state of a new device: rootfs A committed, no update pending. */
export function menderBootState(partA: number): Array<[string, string]> {
  const values: Record<(typeof MENDER_BOOT_VARIABLES)[number], string> = { mender_boot_part: String(partA), mender_boot_part_hex: partA.toString(16), upgrade_available: '0', bootcount: '0' };
  return MENDER_BOOT_VARIABLES.map((name) => [name, values[name]]);
}

/**
 * U-Boot's own environment when the boot script keeps the Mender variables elsewhere: the
 * build's defaults with a boot command that runs the script.
 */
export function ubootScriptBootEnv(options: Pick<MenderUbootEnvOptions, 'defaultEnv' | 'storage' | 'bootPartition' | 'scriptPath'>): Array<[string, string]> {
  const bootcmd = scriptBootCommand(options);
  return [...Object.entries(options.defaultEnv).filter(([name]) => name !== 'bootcmd'), ['bootcmd', bootcmd]];
}

function scriptBootCommand(options: Pick<MenderUbootEnvOptions, 'defaultEnv' | 'storage' | 'bootPartition' | 'scriptPath'>): string {
  const storage = options.storage ?? { interface: 'mmc', device: 0 };
  if (!options.defaultEnv.scriptaddr) {
    throw new UserError("The U-Boot default environment has no 'scriptaddr', where the boot command loads boot.scr.", {
      hint: 'Give the default environment of the U-Boot build that is installed (see u-boot-initial-env, or extract it from u-boot.bin).',
    });
  }
  return `load ${storage.interface} ${storage.device}:${(options.bootPartition ?? 1).toString(16)} \${scriptaddr} ${options.scriptPath ?? '/boot.scr'} && source \${scriptaddr}`;
}

export interface MenderUbootEnvOptions {
  /**
   * The U-Boot build's own default environment (load addresses, board setup). U-Boot replaces
   * its whole environment with a valid stored one, so the stored one must carry these too
   * (see extractUbootDefaultEnv).
   */
  defaultEnv: Record<string, string>;
  /** Partition numbers of rootfs A and B; A is booted first. */
  parts: { a: number; b: number };
  /** Root device names of rootfs A and B (by-partuuid links become PARTUUID=). */
  rootDevices: { a: string; b: string };
  /** U-Boot block device of the storage, e.g. { interface: 'mmc', device: 0 }. */
  storage?: { interface: string; device: number };
  /** Partition holding boot.scr. */
  bootPartition?: number;
  /** The boot script's path on the boot partition. */
  scriptPath?: string;
}

/** The initial environment: the U-Boot defaults plus the Mender variables and a boot command that runs boot.scr. */
export function menderUbootEnv(options: MenderUbootEnvOptions): Array<[string, string]> {
  const storage = options.storage ?? { interface: 'mmc', device: 0 };
  const a = options.parts.a;
  const bootcmd = scriptBootCommand(options);
  const mender: Array<[string, string]> = [
    ...menderBootState(a),
    ['mender_kernel_root', kernelRootArg(options.rootDevices.a)],
    ['mender_uboot_root', `${storage.interface} ${storage.device}:${a.toString(16)}`],
    ['bootlimit', '1'],
    ['bootcmd', bootcmd],
  ];
  const ours = new Set(mender.map(([name]) => name));
  return [...Object.entries(options.defaultEnv).filter(([name]) => !ours.has(name)), ...mender];
}

const NAME = /^[A-Za-z0-9_.:#+-]+$/;

function isText(byte: number): boolean {
  return (byte >= 0x20 && byte < 0x7f) || byte === 0x09 || byte === 0x0a;
}

/**
 * The default environment compiled into a U-Boot binary (`name=value\0` entries ending with an
 * empty one), found around its `bootcmd=` entry; null when there is none.
 */
export function extractUbootDefaultEnv(binary: Uint8Array): Record<string, string> | null {
  const data = Buffer.from(binary.buffer, binary.byteOffset, binary.byteLength);
  const marker = Buffer.from('bootcmd=');
  let best: Record<string, string> | null = null;
  for (let at = data.indexOf(marker); at >= 0; at = data.indexOf(marker, at + 1)) {
    if (at > 0 && data[at - 1] !== 0) continue;
    // Walk back over whole entries (text, then one NUL) to the start of the list: two NULs or
    // bytes that are not text.
    let start = at;
    while (start >= 2 && data[start - 1] === 0 && data[start - 2] !== 0 && isText(data[start - 2])) {
      let p = start - 2;
      while (p > 0 && isText(data[p - 1])) p--;
      const entry = data.toString('latin1', p, start - 1);
      const eq = entry.indexOf('=');
      if (eq <= 0 || !NAME.test(entry.slice(0, eq))) break;
      start = p;
    }
    const values: Record<string, string> = {};
    let p = start;
    let ok = true;
    while (p < data.length && data[p] !== 0) {
      const end = data.indexOf(0, p);
      if (end < 0) {
        ok = false;
        break;
      }
      const entry = data.toString('latin1', p, end);
      const eq = entry.indexOf('=');
      if (eq <= 0 || !NAME.test(entry.slice(0, eq)) || ![...data.subarray(p, end)].every(isText)) {
        ok = false;
        break;
      }
      values[entry.slice(0, eq)] = entry.slice(eq + 1);
      p = end + 1;
    }
    if (ok && 'bootcmd' in values && (!best || Object.keys(values).length > Object.keys(best).length)) best = values;
  }
  return best;
}

/**
 * The storage a fw_env.config describes (comments and blank lines skipped): one line is a file
 * (or a single raw copy, which Mender does not use), two lines on one device are redundant copies.
 */
export function parseFwEnvConfig(text: string): UbootEnvStorage {
  const lines = text
    .split('\n')
    .map((line) => line.replace(/#.*/, '').trim())
    .filter(Boolean)
    .map((line) => line.split(/\s+/));
  const number = (word: string | undefined, what: string) => {
    const value = word === undefined ? NaN : Number(word);
    if (!Number.isInteger(value) || value < 0) throw new UserError(`fw_env.config: '${word ?? ''}' is not a valid ${what}.`);
    return value;
  };
  if (lines.length === 1) {
    const [path, offset, size] = lines[0]!;
    if (number(offset, 'offset') !== 0) throw new UserError('fw_env.config names one raw environment copy at an offset; Mender needs a file or two redundant copies.');
    return { kind: 'file', path: path!, size: number(size, 'size') };
  }
  if (lines.length === 2 && lines[0]![0] === lines[1]![0]) {
    const size = number(lines[0]![2], 'size');
    if (number(lines[1]![2], 'size') !== size) throw new UserError('fw_env.config gives the two environment copies different sizes.');
    return { kind: 'redundant', device: lines[0]![0]!, offsets: [number(lines[0]![1], 'offset'), number(lines[1]![1], 'offset')], size };
  }
  throw new UserError(`fw_env.config has ${lines.length} environment lines; one (a file) or two on one device (redundant copies) are supported.`);
}

/**
 * Whether a U-Boot binary saves its own environment to MMC (CONFIG_ENV_IS_IN_MMC), as Mender's
 * builds do with their two raw copies: its MMC environment driver's message is in it. Debian's
 * builds keep theirs in a FAT file or flash.
 */
export function ubootSavesEnvToMmc(binary: Uint8Array): boolean {
  return Buffer.from(binary.buffer, binary.byteOffset, binary.byteLength).includes('Writing to %sMMC(%d)');
}
