import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  currentRedundantCopy,
  extractUbootDefaultEnv,
  formatUbootEnv,
  fwEnvConfig,
  parseFwEnvConfig,
  menderUbootEnv,
  parseUbootEnv,
  ubootEnvCopies,
  type UbootEnvStorage,
} from '../../../src/bootloader/uboot/env.js';
import { generateUbootScript, readLegacyImage, ubootScriptImage, type UbootScriptOptions } from '../../../src/bootloader/uboot/script.js';
import { UserError } from '../../../src/util/errors.js';

describe('U-Boot environment blocks', () => {
  it('single: CRC32 LE of the data area, entries, an empty entry, padding', () => {
    const block = formatUbootEnv({ a: '1', bc: 'x y' }, { size: 64, redundant: false });
    expect(block.length).toBe(64);
    expect(block.subarray(4, 15).toString('latin1')).toBe('a=1\0bc=x y\0');
    expect(block[15]).toBe(0);
    expect(block.readUInt32LE(0)).toBe(zlib.crc32(block.subarray(4)));
    expect(parseUbootEnv(block, false)).toEqual({ values: { a: '1', bc: 'x y' } });
  });

  it('redundant: a flag byte after the CRC, covered by neither CRC nor data', () => {
    const block = formatUbootEnv({ a: '1' }, { size: 32, redundant: true, flag: 7, padByte: 0xff });
    expect(block[4]).toBe(7);
    expect(block.subarray(5, 10).toString('latin1')).toBe('a=1\0\0');
    expect(block[10]).toBe(0xff);
    expect(block.readUInt32LE(0)).toBe(zlib.crc32(block.subarray(5)));
    expect(parseUbootEnv(block, true)).toEqual({ values: { a: '1' }, flag: 7 });
  });

  it('refuses what U-Boot could not hold or read, and damaged blocks', () => {
    expect(() => formatUbootEnv({ big: 'x'.repeat(100) }, { size: 64, redundant: false })).toThrow(/needs 106 bytes but holds 60/);
    expect(() => formatUbootEnv({ 'a=b': '1' }, { size: 64, redundant: false })).toThrow(UserError);
    expect(() => formatUbootEnv({ a: 'nul\0' }, { size: 64, redundant: false })).toThrow(UserError);
    expect(() => formatUbootEnv([['a', '1'], ['a', '2']], { size: 64, redundant: false })).toThrow(/twice/);
    const block = formatUbootEnv({ a: '1' }, { size: 64, redundant: false });
    block[10] ^= 1;
    expect(() => parseUbootEnv(block, false)).toThrow(/CRC/);
  });

  it('picks the current redundant copy as U-Boot does: valid, then higher flag, 0 after 255', () => {
    const copy = (flag: number, value: string) => formatUbootEnv({ v: value }, { size: 32, redundant: true, flag });
    expect(currentRedundantCopy([copy(1, 'a'), copy(0, 'b')]).env.values.v).toBe('a');
    expect(currentRedundantCopy([copy(1, 'a'), copy(2, 'b')]).env.values.v).toBe('b');
    expect(currentRedundantCopy([copy(255, 'a'), copy(0, 'b')]).env.values.v).toBe('b');
    expect(currentRedundantCopy([copy(0, 'a'), copy(255, 'b')]).env.values.v).toBe('a');
    const broken = copy(9, 'b');
    broken[12] ^= 1;
    expect(currentRedundantCopy([copy(1, 'a'), broken]).index).toBe(0);
    expect(() => currentRedundantCopy([broken, broken])).toThrow(/Neither copy/);
  });

  it('storage: one file copy, or two redundant copies (flags 1 and 0) that must not overlap', () => {
    expect(ubootEnvCopies({ a: '1' }, { kind: 'file', path: '/uboot/uboot.env', size: 64 })).toHaveLength(1);
    const [first, second] = ubootEnvCopies({ a: '1' }, { kind: 'redundant', device: '/dev/mmcblk0', offsets: [0x800000, 0x1000000], size: 0x4000 });
    expect([first.offset, first.data[4], second.offset, second.data[4]]).toEqual([0x800000, 1, 0x1000000, 0]);
    expect(() => ubootEnvCopies({}, { kind: 'redundant', device: '/dev/mmcblk0', offsets: [0, 0x2000], size: 0x4000 })).toThrow(/overlap/);
  });

  it('fw_env.config: device, offset, size per copy', () => {
    expect(fwEnvConfig({ kind: 'file', path: '/boot/firmware/uboot.env', size: 0x4000 })).toMatch(/\n\/boot\/firmware\/uboot\.env 0x0 0x4000\n$/);
    expect(fwEnvConfig({ kind: 'redundant', device: '/dev/mmcblk0', offsets: [0x800000, 0x1000000], size: 0x4000 }))
      .toMatch(/\n\/dev\/mmcblk0 0x800000 0x4000\n\/dev\/mmcblk0 0x1000000 0x4000\n$/);
  });
});

describe('fw_env.config of an upstream-style U-Boot archive', () => {
  it('one line is a file, two lines on one device are redundant copies', () => {
    expect(parseFwEnvConfig('# comment\n/boot/firmware/uboot.env 0x0 0x4000\n')).toEqual({ kind: 'file', path: '/boot/firmware/uboot.env', size: 0x4000 });
    expect(parseFwEnvConfig('/dev/mmcblk0 0x400000 0x4000\n/dev/mmcblk0 0x800000 0x4000 # second\n')).toEqual({ kind: 'redundant', device: '/dev/mmcblk0', offsets: [0x400000, 0x800000], size: 0x4000 });
    for (const storage of [{ kind: 'file', path: '/uboot/uboot.env', size: 8192 }, { kind: 'redundant', device: '/dev/sda', offsets: [4096, 65536], size: 4096 }] as UbootEnvStorage[]) {
      expect(parseFwEnvConfig(fwEnvConfig(storage))).toEqual(storage);
    }
  });

  it('refuses what Mender cannot use', () => {
    expect(() => parseFwEnvConfig('/dev/mmcblk0 0x400000 0x4000\n')).toThrow(/one raw environment copy/);
    expect(() => parseFwEnvConfig('/dev/mmcblk0 0x400000 0x4000\n/dev/mmcblk0 0x800000 0x2000\n')).toThrow(/different sizes/);
    expect(() => parseFwEnvConfig('/dev/a 0 0x4000\n/dev/b 0x8000 0x4000\n')).toThrow(/2 environment lines/);
    expect(() => parseFwEnvConfig('/uboot.env 0x0 lots\n')).toThrow(/'lots' is not a valid size/);
    expect(() => parseFwEnvConfig('')).toThrow(/0 environment lines/);
  });
});

describe('Mender initial U-Boot environment', () => {
  const defaults = { bootcmd: 'run distro_bootcmd', scriptaddr: '0x2400000', kernel_addr_r: '0x80000', bootcount: '9' };

  it('keeps the build defaults, adds the Mender variables and a boot command that runs boot.scr', () => {
    const env = Object.fromEntries(menderUbootEnv({ defaultEnv: defaults, parts: { a: 2, b: 3 }, rootDevices: { a: '/dev/mmcblk0p2', b: '/dev/mmcblk0p3' } }));
    expect(env).toEqual({
      scriptaddr: '0x2400000',
      kernel_addr_r: '0x80000',
      mender_boot_part: '2',
      mender_boot_part_hex: '2',
      mender_kernel_root: '/dev/mmcblk0p2',
      mender_uboot_root: 'mmc 0:2',
      upgrade_available: '0',
      bootcount: '0',
      bootlimit: '1',
      bootcmd: 'load mmc 0:1 ${scriptaddr} /boot.scr && source ${scriptaddr}',
    });
  });

  it('uses PARTUUID= roots, other devices and partitions (in hex for U-Boot)', () => {
    const env = Object.fromEntries(menderUbootEnv({
      defaultEnv: defaults,
      parts: { a: 10, b: 11 },
      rootDevices: { a: '/dev/disk/by-partuuid/c0ffee01-0a', b: '/dev/disk/by-partuuid/c0ffee01-0b' },
      storage: { interface: 'usb', device: 1 },
      bootPartition: 12,
      scriptPath: '/mender/boot.scr',
    }));
    expect(env).toMatchObject({ mender_kernel_root: 'PARTUUID=c0ffee01-0a', mender_uboot_root: 'usb 1:a', mender_boot_part_hex: 'a', bootcmd: 'load usb 1:c ${scriptaddr} /mender/boot.scr && source ${scriptaddr}' });
  });

  it('needs the default environment (U-Boot drops its defaults when it loads a stored one)', () => {
    expect(() => menderUbootEnv({ defaultEnv: {}, parts: { a: 2, b: 3 }, rootDevices: { a: '/dev/a', b: '/dev/b' } })).toThrow(/scriptaddr/);
  });

  it('finds the default environment compiled into a binary', () => {
    const env = Buffer.from('arch=arm\0bootcmd=run distro_bootcmd\0scriptaddr=0x2400000\0fdtfile=broadcom/x.dtb\0\0');
    const binary = Buffer.concat([Buffer.from([0x13, 0x37, 0x00, 0x00]), Buffer.from('junk=not env\0'), Buffer.from([0, 0]), env, Buffer.from([0xde, 0xad, 0xbe, 0xef])]);
    expect(extractUbootDefaultEnv(binary)).toEqual({ arch: 'arm', bootcmd: 'run distro_bootcmd', scriptaddr: '0x2400000', fdtfile: 'broadcom/x.dtb' });
    expect(extractUbootDefaultEnv(Buffer.from('no environment here\0'))).toBeNull();
  });
});

describe('U-Boot boot script', () => {
  const options: UbootScriptOptions = {
    parts: { a: 2, b: 3 },
    rootDevices: { a: '/dev/mmcblk0p2', b: '/dev/disk/by-partuuid/c0ffee01-03' },
    kernelPath: '/boot/zImage',
    bootCommand: 'bootz',
    initrdPath: '/boot/initrd',
    dtb: { path: '/boot/${fdtfile}' },
    kernelArgs: 'console=serial0,115200 rootwait',
  };

  it('fills every parameter in', () => {
    const text = generateUbootScript(options);
    expect(text).not.toMatch(/@@/);
    expect(text).toContain('setenv mender_kernel_root "/dev/mmcblk0p2"');
    expect(text).toContain('setenv mender_kernel_root "PARTUUID=c0ffee01-03"');
    expect(text).toContain('setenv mender_uboot_root "mmc 0:${mender_boot_part_hex}"');
    expect(text).toContain('if load ${mender_uboot_root} ${kernel_addr_r} /boot/zImage; then');
    expect(text).toContain('if load ${mender_uboot_root} ${fdt_addr_r} /boot/${fdtfile}; then');
    expect(text).toContain('bootz ${kernel_addr_r} ${mender_rd} ${mender_fdt}');
    expect(text).toContain('setenv bootargs "root=${mender_kernel_root} console=serial0,115200 rootwait"');
    expect(text).toContain('if test "no" = "yes" && fdt addr ${fdt_addr}');
  });

  it('can use the firmware device tree and command line, and no initrd', () => {
    const text = generateUbootScript({ ...options, dtb: 'firmware', initrdPath: null, firmwareBootargs: true, addresses: { kernel: '0x80000' } });
    expect(text).toContain('if test "yes" = "yes" && fdt addr ${fdt_addr}');
    expect(text).toContain('test -n "" && test -e ${mender_uboot_root} ; then\n    if load ${mender_uboot_root} ${mender_rd_addr}');
    expect(text).toContain('if load ${mender_uboot_root} 0x80000 /boot/zImage; then');
    // The initrd's address: the board's, or past the kernel when the kernel reaches it.
    expect(text).toContain('setenv mender_rd_addr ${ramdisk_addr_r}\n');
    expect(text).toContain('setexpr mender_rd_past 0x80000 + ${filesize}\n');
  });

  it('keeps the environment itself in two raw copies, or leaves it to U-Boot', () => {
    const own = generateUbootScript(options);
    expect(own).toContain('if test "uboot" = "script"; then');
    expect(own).toContain('if test "${mender_save}" = "1" && test "${mender_env}" = "uboot"; then\n    saveenv');
    const kept = generateUbootScript({ ...options, environment: { access: 'script', offsets: [0x400000, 0x800000], size: 0x4000 } });
    expect(kept).not.toMatch(/@@/);
    expect(kept).toContain('if test "script" = "script"; then');
    // Blocks of 512 bytes: 4 MiB and 8 MiB, 16 KiB each.
    expect(kept).toContain('if mmc read ${mender_env_a} 0x2000 0x20; then');
    expect(kept).toContain('if mmc read ${mender_env_b} 0x4000 0x20; then');
    expect(kept).toContain('env import -c ${mender_env_p} 0x3fff mender_boot_part mender_boot_part_hex upgrade_available bootcount');
    expect(kept).toContain('env export -c -s 0x3fff ${mender_env_p} mender_boot_part mender_boot_part_hex upgrade_available bootcount');
    expect(kept).toContain('cp.b ${mender_env_p} ${mender_env_q} 0x3ffb');
    expect(kept).toContain('if mmc write ${mender_env_out} ${mender_env_block} 0x20; then');
    expect(() => generateUbootScript({ ...options, environment: { access: 'script', offsets: [0x400000, 0x400100], size: 0x4000 } })).toThrow(/multiple of 512|overlap/);
    expect(() => generateUbootScript({ ...options, environment: { access: 'script', offsets: [0x400000, 0x402000], size: 0x4000 } })).toThrow(/overlap/);
  });

  it('refuses values that would break the script', () => {
    expect(() => generateUbootScript({ ...options, kernelArgs: 'a"b' })).toThrow(UserError);
    expect(() => generateUbootScript({ ...options, kernelPath: 'zImage' })).toThrow(UserError);
    expect(() => generateUbootScript({ ...options, parts: { a: 3, b: 3 } })).toThrow(UserError);
    expect(() => generateUbootScript({ ...options, addresses: { kernel: '0x80000; reset' } })).toThrow(UserError);
  });

  it('compiles into a legacy script image whose CRCs and fields read back', () => {
    const image = ubootScriptImage('echo hi\n', { name: 'boot', timestamp: 1234, arch: 'arm64' });
    expect(image.readUInt32BE(0)).toBe(0x27051956);
    expect(image.length).toBe(64 + 8 + 8);
    expect(readLegacyImage(image)).toEqual({ name: 'boot', timestamp: 1234, dataSize: 16, os: 5, arch: 22, type: 6, compression: 0, script: Buffer.from('echo hi\n') });
    const damaged = Buffer.from(image);
    damaged[75] ^= 1;
    expect(() => readLegacyImage(damaged)).toThrow(/data CRC/);
    expect(() => ubootScriptImage('x', { name: 'n'.repeat(33), timestamp: 0 })).toThrow(/longer than 32/);
  });
});
