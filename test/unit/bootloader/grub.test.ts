import { describe, expect, it } from 'vitest';
import { checkKernelArgs, generateGrubConfig, grubQuote, kernelRootArg } from '../../../src/bootloader/grub/config.js';
import { grubEarlyConfig } from '../../../src/bootloader/grub/efi.js';
import { formatGrubEnv, menderGrubEnvFiles, parseGrubEnv } from '../../../src/bootloader/grub/env.js';
import { grubenvToolScript } from '../../../src/bootloader/grub/tools.js';
import { UserError } from '../../../src/util/errors.js';

const HEADER = '# GRUB Environment Block\n';

describe('GRUB environment blocks', () => {
  it('are exactly 1024 bytes: header, name=value lines, # padding', () => {
    const block = formatGrubEnv({ a: '1', b: '' });
    expect(block.length).toBe(1024);
    expect(block.toString('latin1')).toBe(`${HEADER}a=1\nb=\n${'#'.repeat(1024 - HEADER.length - 7)}`);
  });

  it('escape backslash and newline with a backslash, as GRUB does, and read them back', () => {
    const block = formatGrubEnv([['v', 'a\\b\nc']]);
    expect(block.toString('latin1')).toContain('v=a\\\\b\\\nc\n');
    expect(parseGrubEnv(block)).toEqual({ values: { v: 'a\\b\nc' }, intact: true });
  });

  it('refuse names GRUB cannot read back and content that does not fit', () => {
    for (const name of ['', 'a=b', 'x\ny', '#c', 'back\\slash']) expect(() => formatGrubEnv({ [name]: '1' })).toThrow(UserError);
    expect(() => formatGrubEnv({ big: 'x'.repeat(1000) })).toThrow(/needs 1030 bytes/);
    expect(formatGrubEnv({ a: 'b' }, 64).length).toBe(64);
    expect(() => formatGrubEnv([['a', '1'], ['a', '2']])).toThrow(/twice/);
  });

  it('are read like GRUB reads them: comments skipped, an entry running off the end stops reading', () => {
    const text = `${HEADER}# comment with = sign\nx=1\n# another\ny=2\ncut=no newline`;
    expect(parseGrubEnv(Buffer.from(text))).toEqual({ values: { x: '1', y: '2' }, intact: false });
    expect(parseGrubEnv(Buffer.from(`${HEADER}x=1\\`))).toEqual({ values: {}, intact: false });
    expect(() => parseGrubEnv(Buffer.from('x=1\n'))).toThrow(/header is missing/);
  });

  it("make the contract's initial files", () => {
    const files = menderGrubEnvFiles({ bootPart: 2, envDir: '/custom/', extra: { foo: 'bar' } });
    expect(files.map((file) => file.path)).toEqual(['/custom/mender_grubenv1/env', '/custom/mender_grubenv1/lock', '/custom/mender_grubenv2/env', '/custom/mender_grubenv2/lock']);
    expect(parseGrubEnv(files[0].data).values).toEqual({ mender_boot_part: '2', mender_boot_part_hex: '2', upgrade_available: '0', bootcount: '0', foo: 'bar' });
    expect(parseGrubEnv(files[1].data).values).toEqual({ editing: '0' });
    expect(files[2].data.equals(files[0].data)).toBe(true);
  });
});

describe('grub.cfg generation', () => {
  const options = { parts: { a: 2, b: 3 }, rootDevices: { a: '/dev/sda2', b: '/dev/sda3' }, initrd: true };

  it('defines the parameters above the shared boot logic', () => {
    const text = generateGrubConfig({ ...options, consoleArgs: 'console=ttyS0,115200', kernelArgs: '  ro   rootwait ' });
    expect(text).toContain("mender_rootfsa_part='2'\nmender_rootfsb_part='3'\n");
    expect(text).toContain("mender_rootfsa_root='/dev/sda2'");
    expect(text).toContain("mender_kernel_args='console=ttyS0,115200 ro rootwait'");
    expect(text).toContain("mender_initrd='/boot/initrd'");
    expect(text).toContain("mender_env_dir='/grub-mender-grubenv'");
    expect(text).toContain('function mender_save_env {');
    expect(text).not.toContain('serial --unit');
  });

  it('gives the kernel PARTUUID= for by-partuuid devices and can leave out the initrd', () => {
    const text = generateGrubConfig({ ...options, initrd: false, rootDevices: { a: '/dev/disk/by-partuuid/c0ffee01-02', b: '/dev/disk/by-partuuid/C0FFEE01-03' } });
    expect(text).toContain("mender_rootfsa_root='PARTUUID=c0ffee01-02'");
    expect(text).toContain("mender_rootfsb_root='PARTUUID=C0FFEE01-03'");
    expect(text).toContain("mender_initrd=''");
    expect(kernelRootArg('/dev/mmcblk0p2')).toBe('/dev/mmcblk0p2');
  });

  it('sets up a serial terminal when asked', () => {
    expect(generateGrubConfig({ ...options, serial: { unit: 1, speed: 9600 } })).toContain('serial --unit=1 --speed=9600\nterminal_input console serial\nterminal_output console serial\n');
  });

  it('refuses arguments GRUB would alter, equal or invalid partitions, bad paths', () => {
    expect(() => checkKernelArgs('quiet "a b"')).toThrow(UserError);
    expect(() => checkKernelArgs('a;b')).toThrow(UserError);
    expect(() => generateGrubConfig({ ...options, parts: { a: 2, b: 2 } })).toThrow(/both be partition 2/);
    expect(() => generateGrubConfig({ ...options, parts: { a: 0, b: 2 } })).toThrow(UserError);
    expect(() => generateGrubConfig({ ...options, kernelPath: 'boot/kernel' })).toThrow(UserError);
    expect(() => generateGrubConfig({ ...options, rootDevices: { a: "/dev/x'y", b: '/dev/sda3' } })).toThrow(UserError);
  });

  it('quotes values as single-quoted GRUB words', () => {
    expect(grubQuote("it's")).toBe(`'it'\\''s'`);
  });
});

describe('EFI early config and device tools', () => {
  it('early config: one command per line for the rescue parser, trying the firmware device first', () => {
    expect(grubEarlyConfig()).toBe('search --no-floppy --set=root --hint=${root} --file /grub-mender-grubenv/mender_grubenv1/env\nset prefix=(${root})/EFI/BOOT\n');
    expect(() => grubEarlyConfig('EFI/BOOT')).toThrow(UserError);
  });

  it('device tool: the environment directory is filled in at install time', () => {
    const script = grubenvToolScript({ bootMountpoint: '/boot/efi' });
    expect(script).toContain('ENV_DIR="${MENDER_GRUBENV_DIR:-/boot/efi/grub-mender-grubenv}"');
    expect(script).not.toContain('@@');
    expect(script.startsWith('#!/bin/sh\n')).toBe(true);
    expect(() => grubenvToolScript({ bootMountpoint: '/boot/$(evil)' })).toThrow(UserError);
  });
});
