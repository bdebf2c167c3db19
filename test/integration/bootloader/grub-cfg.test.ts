import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateGrubConfig, type GrubConfigOptions } from '../../../src/bootloader/grub/config.js';
import { formatGrubEnv, parseGrubEnv } from '../../../src/bootloader/grub/env.js';
import { buildAbDisk, getBootFile, putEnvFiles, runGrubEmu, tool, type AbDisk } from './harness.js';

const base: GrubConfigOptions = {
  parts: { a: 2, b: 3 },
  rootDevices: { a: '/dev/sda2', b: '/dev/sda3' },
  kernelArgs: 'ro rootwait',
  consoleArgs: 'console=ttyS0,115200',
  initrd: true,
};

const ENV = '/grub-mender-grubenv';
const env = (values: Record<string, string>) => formatGrubEnv(values);
const lock = (editing: string) => formatGrubEnv({ editing });

async function scriptCheck(dir: string, text: string): Promise<void> {
  const file = path.join(dir, 'check.cfg');
  fs.writeFileSync(file, text);
  await tool('grub-script-check', [file]);
}

describe('grub.cfg: every variant passes grub-script-check', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'grub-cfg-check-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const variants: Record<string, GrubConfigOptions> = {
    'device base, initrd': base,
    'no initrd, no extra arguments': { ...base, initrd: false, kernelArgs: undefined, consoleArgs: undefined },
    'GPT PARTUUIDs': {
      ...base,
      rootDevices: { a: '/dev/disk/by-partuuid/0fc63daf-8483-4772-8e79-3d69d8477de4', b: '/dev/disk/by-partuuid/1fc63daf-8483-4772-8e79-3d69d8477de5' },
    },
    'MBR PARTUUIDs': { ...base, rootDevices: { a: '/dev/disk/by-partuuid/c0ffee01-02', b: '/dev/disk/by-partuuid/c0ffee01-03' } },
    'other partition numbers, env dir and serial terminal': {
      ...base,
      parts: { a: 5, b: 6 },
      envDir: '/EFI/mender',
      serial: { unit: 0, speed: 115200 },
      kernelPath: '/boot/vmlinuz',
      initrdPath: '/boot/initrd.img',
    },
  };
  for (const [name, options] of Object.entries(variants)) {
    it(name, async () => {
      await scriptCheck(dir, generateGrubConfig(options));
    });
  }

  it('grub-script-check does reject a broken script (the check can fail)', async () => {
    await expect(scriptCheck(dir, `${generateGrubConfig(base)}\nif [ x = y ]; then\n`)).rejects.toThrow();
  });
});

describe('grub.cfg run by GRUB (grub-emu) on an A/B disk', () => {
  let dir: string;
  let disk: AbDisk;
  const config = generateGrubConfig(base);

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'grub-cfg-emu-'));
    disk = await buildAbDisk(dir, 'gpt');
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  async function state(values1: Record<string, string>, options: { lock1?: string; lock2?: string; values2?: Record<string, string>; env1?: Buffer; env2?: Buffer } = {}) {
    await putEnvFiles(disk, dir, {
      [`${ENV}/mender_grubenv1/env`]: options.env1 ?? env(values1),
      [`${ENV}/mender_grubenv2/env`]: options.env2 ?? env(options.values2 ?? values1),
      [`${ENV}/mender_grubenv1/lock`]: lock(options.lock1 ?? '0'),
      [`${ENV}/mender_grubenv2/lock`]: lock(options.lock2 ?? '0'),
    });
  }
  const read = async (file: string) => parseGrubEnv(await getBootFile(disk, dir, `${ENV}/${file}`)).values;
  const both = async () => ({ env1: await read('mender_grubenv1/env'), env2: await read('mender_grubenv2/env'), lock1: await read('mender_grubenv1/lock'), lock2: await read('mender_grubenv2/lock') });

  it('boots rootfs A with its kernel, initrd and arguments, and leaves a settled environment untouched', async () => {
    await state({ mender_boot_part: '2', upgrade_available: '0', bootcount: '0' });
    const before = await getBootFile(disk, dir, `${ENV}/mender_grubenv1/env`);
    const result = await runGrubEmu(dir, disk, config, 'initrd');
    expect(result.linux).toEqual(['(hd0,gpt2)/boot/kernel', 'root=/dev/sda2', 'console=ttyS0,115200', 'ro', 'rootwait']);
    expect(result.initrd).toEqual(['(hd0,gpt2)/boot/initrd']);
    expect((await getBootFile(disk, dir, `${ENV}/mender_grubenv1/env`)).equals(before)).toBe(true);
  });

  it('tries an update once (bootcount=1 saved in both copies), then rolls back when it was not committed', async () => {
    await state({ mender_boot_part: '3', upgrade_available: '1', bootcount: '0' });
    const first = await runGrubEmu(dir, disk, config, 'linux');
    expect(first.linux?.slice(0, 2)).toEqual(['(hd0,gpt3)/boot/kernel', 'root=/dev/sda3']);
    const tried = { mender_boot_part: '3', upgrade_available: '1', bootcount: '1', mender_boot_part_hex: '3' };
    expect(await both()).toEqual({ env1: tried, env2: tried, lock1: { editing: '0' }, lock2: { editing: '0' } });

    const second = await runGrubEmu(dir, disk, config, 'linux');
    expect(second.output).toContain('was not committed; rolling back');
    expect(second.linux?.slice(0, 2)).toEqual(['(hd0,gpt2)/boot/kernel', 'root=/dev/sda2']);
    const rolledBack = { mender_boot_part: '2', upgrade_available: '0', bootcount: '0', mender_boot_part_hex: '2' };
    expect(await both()).toEqual({ env1: rolledBack, env2: rolledBack, lock1: { editing: '0' }, lock2: { editing: '0' } });
  });

  it('boots a committed update from rootfs B', async () => {
    await state({ mender_boot_part: '3', upgrade_available: '0', bootcount: '1' });
    const result = await runGrubEmu(dir, disk, config, 'linux');
    expect(result.linux?.slice(0, 2)).toEqual(['(hd0,gpt3)/boot/kernel', 'root=/dev/sda3']);
  });

  it('restores copy 2 from copy 1 when lock 2 says editing=1', async () => {
    await state({ mender_boot_part: '2', upgrade_available: '0', bootcount: '0' }, { lock2: '1', values2: { mender_boot_part: '3', upgrade_available: '1' } });
    const result = await runGrubEmu(dir, disk, config, 'linux');
    expect(result.output).toContain('copy 2 was not completely written');
    expect(result.linux?.[0]).toBe('(hd0,gpt2)/boot/kernel');
    const settled = { mender_boot_part: '2', upgrade_available: '0', bootcount: '0' };
    expect(await both()).toEqual({ env1: settled, env2: settled, lock1: { editing: '0' }, lock2: { editing: '0' } });
  });

  it('keeps a torn copy 2 marked as being edited (save_env cannot rewrite it) and boots from copy 1', async () => {
    const torn = Buffer.from(env({ mender_boot_part: '3', upgrade_available: '1', bootcount: '0' })).fill(0, 30, 512);
    await state({ mender_boot_part: '2', upgrade_available: '0', bootcount: '0' }, { lock2: '1', env2: torn });
    const result = await runGrubEmu(dir, disk, config, 'linux');
    expect(result.linux?.[0]).toBe('(hd0,gpt2)/boot/kernel');
    const after = await both();
    expect(after.lock2).toEqual({ editing: '1' });
    expect(after.env1).toEqual({ mender_boot_part: '2', upgrade_available: '0', bootcount: '0' });
  });

  it('takes copy 2 when lock 1 says editing=1, and restores copy 1 from it', async () => {
    const updated = { mender_boot_part: '3', upgrade_available: '1', bootcount: '0' };
    await state({ mender_boot_part: '2', upgrade_available: '0', bootcount: '0' }, { lock1: '1', values2: updated });
    const result = await runGrubEmu(dir, disk, config, 'linux');
    expect(result.output).toContain('copy 1 was not completely written');
    expect(result.linux?.[0]).toBe('(hd0,gpt3)/boot/kernel');
    const tried = { ...updated, bootcount: '1', mender_boot_part_hex: '3' };
    expect(await both()).toEqual({ env1: tried, env2: tried, lock1: { editing: '0' }, lock2: { editing: '0' } });
  });

  it('falls back to rootfs A and writes a valid environment when it is corrupt', async () => {
    await state({ mender_boot_part: '7', upgrade_available: 'x', bootcount: '0' });
    const result = await runGrubEmu(dir, disk, config, 'linux');
    expect(result.output).toContain("mender_boot_part='7' is not valid");
    expect(result.linux?.[0]).toBe('(hd0,gpt2)/boot/kernel');
    const fixed = { mender_boot_part: '2', upgrade_available: '0', bootcount: '0', mender_boot_part_hex: '2' };
    expect(await both()).toEqual({ env1: fixed, env2: fixed, lock1: { editing: '0' }, lock2: { editing: '0' } });
  });

  it('boots rootfs A when the environment files are missing', async () => {
    await tool('mdeltree', ['-i', disk.bootFat, `::${ENV}`]);
    try {
      const result = await runGrubEmu(dir, disk, config, 'linux');
      expect(result.output).toContain("mender_boot_part='' is not valid");
      expect(result.linux?.[0]).toBe('(hd0,gpt2)/boot/kernel');
    } finally {
      await tool('mmd', ['-i', disk.bootFat, `::${ENV}`, `::${ENV}/mender_grubenv1`, `::${ENV}/mender_grubenv2`]);
    }
  });

  it('reboots (to roll back) when the kernel of an update being tried is missing', async () => {
    await state({ mender_boot_part: '3', upgrade_available: '1', bootcount: '0' });
    const missingKernel = generateGrubConfig({ ...base, kernelPath: '/boot/no-such-kernel' });
    const result = await runGrubEmu(dir, disk, missingKernel, 'linux');
    expect(result.output).toContain('NOKERNEL (hd0,gpt3)/boot/no-such-kernel');
    expect(result.output).toContain('rebooting to roll back');
    expect((await both()).env1).toEqual({ mender_boot_part: '3', upgrade_available: '1', bootcount: '1', mender_boot_part_hex: '3' });
  }, 60_000);

  it('uses PARTUUID= for the kernel and finds partitions on an MBR disk', async () => {
    const mbrDir = path.join(dir, 'mbr');
    const mbr = await buildAbDisk(mbrDir, 'dos', { initrd: false });
    const partuuid = generateGrubConfig({ ...base, initrd: false, rootDevices: { a: '/dev/disk/by-partuuid/c0ffee01-02', b: '/dev/disk/by-partuuid/c0ffee01-03' } });
    const result = await runGrubEmu(mbrDir, mbr, partuuid, 'linux');
    expect(result.linux?.slice(0, 2)).toEqual(['(hd0,msdos2)/boot/kernel', 'root=PARTUUID=c0ffee01-02']);
    expect(result.initrd).toBeUndefined();
  });
});
