import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  currentRedundantCopy,
  extractUbootDefaultEnv,
  formatUbootEnv,
  fwEnvConfig,
  menderBootState,
  menderUbootEnv,
  parseUbootEnv,
  ubootEnvCopies,
  type UbootEnvStorage,
} from '../../../src/bootloader/uboot/env.js';
import { generateUbootScript, readLegacyImage, ubootScriptImage, type UbootScriptOptions } from '../../../src/bootloader/uboot/script.js';
import { findTool } from '../../../src/util/tools.js';
import { buildAbDisk, putEnvFiles, tool, type AbDisk } from './harness.js';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uboot-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const KiB = 1024;
const MiB = 1024 * KiB;
const VALUES = { bootcmd: 'run mender_boot; echo done', mender_boot_part: '2', 'odd.name': 'a=b c', empty_looking: ' ' };

async function printenv(config: string, ...names: string[]): Promise<string> {
  return (await tool('fw_printenv', ['-c', config, ...names])).stdout;
}

describe('U-Boot environment against mkenvimage and libubootenv', () => {
  it('is byte for byte what mkenvimage writes (single and redundant, 0xff padding)', async () => {
    const input = path.join(dir, 'env.txt');
    fs.writeFileSync(input, Object.entries(VALUES).map(([name, value]) => `${name}=${value}\n`).join(''));
    for (const redundant of [false, true]) {
      const reference = path.join(dir, `mkenvimage-${redundant}.bin`);
      await tool('mkenvimage', [...(redundant ? ['-r'] : []), '-s', String(16 * KiB), '-o', reference, input]);
      expect(formatUbootEnv(VALUES, { size: 16 * KiB, redundant, padByte: 0xff }).equals(fs.readFileSync(reference))).toBe(true);
    }
  });

  it('fw_printenv reads the file form through our fw_env.config, and fw_setenv writes what we read', async () => {
    const storage: UbootEnvStorage = { kind: 'file', path: path.join(dir, 'uboot.env'), size: 16 * KiB };
    const [copy] = ubootEnvCopies(VALUES, storage);
    expect(copy.offset).toBe(0);
    fs.writeFileSync(storage.path, copy.data);
    const config = path.join(dir, 'fw_env-file.config');
    fs.writeFileSync(config, fwEnvConfig(storage));
    const expected = Object.entries(VALUES).sort(([a], [b]) => (a < b ? -1 : 1)).map(([name, value]) => `${name}=${value}\n`).join('');
    expect(await printenv(config)).toBe(expected);
    expect(await printenv(config, 'mender_boot_part')).toBe('mender_boot_part=2\n');

    await tool('fw_setenv', ['-c', config, 'upgrade_available', '1']);
    await tool('fw_setenv', ['-c', config, 'bootcmd']);
    const { bootcmd: _deleted, ...rest } = VALUES;
    expect(parseUbootEnv(fs.readFileSync(storage.path), false).values).toEqual({ ...rest, upgrade_available: '1' });
  });

  it('fw_printenv reads redundant copies at disk offsets; after fw_setenv the newer copy is the one we pick', async () => {
    const disk = path.join(dir, 'disk-with-env.img');
    const storage: UbootEnvStorage = { kind: 'redundant', device: disk, offsets: [8 * 64 * KiB, 12 * 64 * KiB], size: 64 * KiB };
    fs.writeFileSync(disk, Buffer.alloc(0));
    fs.truncateSync(disk, 16 * 64 * KiB);
    const fd = fs.openSync(disk, 'r+');
    for (const copy of ubootEnvCopies(VALUES, storage)) fs.writeSync(fd, copy.data, 0, copy.data.length, copy.offset);
    fs.closeSync(fd);
    const config = path.join(dir, 'fw_env-redundant.config');
    fs.writeFileSync(config, fwEnvConfig(storage));
    expect(fs.readFileSync(config, 'utf8')).toContain(`${disk} 0x80000 0x10000\n${disk} 0xc0000 0x10000\n`);
    expect(await printenv(config, 'mender_boot_part')).toBe('mender_boot_part=2\n');

    const copies = () => {
      const data = fs.readFileSync(disk);
      return [data.subarray(storage.offsets[0], storage.offsets[0] + storage.size), data.subarray(storage.offsets[1], storage.offsets[1] + storage.size)] as const;
    };
    expect(currentRedundantCopy(copies()).index).toBe(0);
    await tool('fw_setenv', ['-c', config, 'mender_boot_part', '3']);
    const afterFirst = currentRedundantCopy(copies());
    expect(afterFirst.index).toBe(1);
    expect(afterFirst.env.values.mender_boot_part).toBe('3');
    await tool('fw_setenv', ['-c', config, 'bootcount', '1']);
    const afterSecond = currentRedundantCopy(copies());
    expect(afterSecond.index).toBe(0);
    expect(afterSecond.env.values).toMatchObject({ mender_boot_part: '3', bootcount: '1' });
  });

  it('a damaged copy makes fw_printenv fall back to the other one, as we do', async () => {
    const disk = path.join(dir, 'damaged.img');
    const storage: UbootEnvStorage = { kind: 'redundant', device: disk, offsets: [0, 16 * KiB], size: 16 * KiB };
    const [first, second] = ubootEnvCopies(VALUES, storage);
    const damaged = Buffer.from(formatUbootEnv({ ...VALUES, mender_boot_part: '3' }, { size: 16 * KiB, redundant: true, flag: 2 }));
    damaged[100] ^= 0xff;
    fs.writeFileSync(disk, Buffer.concat([first.data, damaged]));
    const config = path.join(dir, 'fw_env-damaged.config');
    fs.writeFileSync(config, fwEnvConfig(storage));
    expect(await printenv(config, 'mender_boot_part')).toBe('mender_boot_part=2\n');
    expect(currentRedundantCopy([first.data, damaged]).index).toBe(0);
    expect(second.data[4]).toBe(0);
  });

  /** Two copies at the Raspberry Pi's offsets (4 and 8 MiB, 16 KiB each) on a disk, with their fw_env.config and a view of both. */
  function piDisk(name: string) {
    const storage = { kind: 'redundant', device: path.join(dir, `${name}.img`), offsets: [0x400000, 0x800000], size: 0x4000 } as const;
    fs.writeFileSync(storage.device, Buffer.alloc(0));
    fs.truncateSync(storage.device, storage.offsets[1] + storage.size);
    const config = path.join(dir, `fw_env-${name}.config`);
    fs.writeFileSync(config, fwEnvConfig(storage));
    const put = (offset: number, data: Buffer) => {
      const fd = fs.openSync(storage.device, 'r+');
      fs.writeSync(fd, data, 0, data.length, offset);
      fs.closeSync(fd);
    };
    const copies = () => {
      const data = fs.readFileSync(storage.device);
      return storage.offsets.map((offset) => Buffer.from(data.subarray(offset, offset + storage.size))) as [Buffer, Buffer];
    };
    return { storage, config, put, copies };
  }

  it('a write cut short (Raspberry Pi layout): fw_printenv and we read the other copy; fw_setenv then rewrites the torn one, which both read', async () => {
    const { storage, config, put, copies } = piDisk('torn');
    for (const copy of ubootEnvCopies(menderBootState(2), storage)) put(copy.offset, copy.data);
    const update = path.join(dir, 'update.txt');
    fs.writeFileSync(update, 'mender_boot_part=3\nmender_boot_part_hex=3\nupgrade_available=1\n');
    const state = () => printenv(config, 'mender_boot_part', 'upgrade_available');
    const before = { mender_boot_part: '2', upgrade_available: '0' };
    const after = { mender_boot_part: '3', upgrade_available: '1' };

    // An update written by the client: into the copy that is not current, with the next flag.
    const old = copies()[1];
    await tool('fw_setenv', ['-c', config, '-s', update]);
    expect(currentRedundantCopy(copies())).toMatchObject({ index: 1, env: { flag: 2, values: after } });
    // The same write cut after its first 32 bytes: the new header, the rest of the old copy.
    put(storage.offsets[1], Buffer.concat([copies()[1].subarray(0, 32), old.subarray(32)]));
    expect(() => parseUbootEnv(copies()[1], true)).toThrow(/CRC/);
    expect(await state()).toBe('mender_boot_part=2\nupgrade_available=0\n');
    expect(currentRedundantCopy(copies())).toMatchObject({ index: 0, env: { values: before } });

    // Written again: the torn copy is the one replaced, and from then on the current one.
    await tool('fw_setenv', ['-c', config, '-s', update]);
    expect(currentRedundantCopy(copies())).toMatchObject({ index: 1, env: { flag: 2, values: after } });
    expect(await state()).toBe('mender_boot_part=3\nupgrade_available=1\n');
    // The older copy damaged now: the newer one is still read.
    const first = copies()[0];
    first[0] ^= 0xff;
    put(storage.offsets[0], first);
    expect(await state()).toBe('mender_boot_part=3\nupgrade_available=1\n');
    expect(currentRedundantCopy(copies()).index).toBe(1);
  });

  it('the flag byte wraps: after copies flagged 255 and 254, fw_setenv writes flag 0, which fw_printenv and we take as the newer', async () => {
    const { storage, config, put, copies } = piDisk('wrap');
    put(storage.offsets[0], formatUbootEnv({ mender_boot_part: '2' }, { size: storage.size, redundant: true, flag: 255 }));
    put(storage.offsets[1], formatUbootEnv({ mender_boot_part: '3' }, { size: storage.size, redundant: true, flag: 254 }));
    expect(await printenv(config, 'mender_boot_part')).toBe('mender_boot_part=2\n');
    expect(currentRedundantCopy(copies()).index).toBe(0);
    await tool('fw_setenv', ['-c', config, 'upgrade_available', '1']);
    expect(copies()[1][4]).toBe(0);
    expect(currentRedundantCopy(copies())).toMatchObject({ index: 1, env: { flag: 0, values: { mender_boot_part: '2', upgrade_available: '1' } } });
    expect(await printenv(config, 'mender_boot_part', 'upgrade_available')).toBe('mender_boot_part=2\nupgrade_available=1\n');
  });
});

describe('boot script image against mkimage and dumpimage', () => {
  const options: UbootScriptOptions = {
    parts: { a: 2, b: 3 },
    rootDevices: { a: '/dev/mmcblk0p2', b: '/dev/mmcblk0p3' },
    kernelPath: '/boot/Image',
    bootCommand: 'booti',
    initrdPath: null,
    dtb: { path: '/boot/${fdtfile}' },
    kernelArgs: 'console=ttyAMA0,115200 rootwait',
  };

  it('equals mkimage -T script output for the same timestamp (SOURCE_DATE_EPOCH), for several lengths and both arches', async () => {
    const scripts = ['echo a\n', 'echo ab\n', 'echo abc\n', 'echo abcd\n', generateUbootScript(options)];
    for (const [index, script] of scripts.entries()) {
      for (const arch of ['arm', 'arm64'] as const) {
        const source = path.join(dir, `script-${index}.txt`);
        const reference = path.join(dir, `script-${index}-${arch}.scr`);
        fs.writeFileSync(source, script);
        await tool('mkimage', ['-A', arch, '-O', 'linux', '-T', 'script', '-C', 'none', '-n', 'Mender boot script', '-d', source, reference], { env: { SOURCE_DATE_EPOCH: '1700000000' } });
        const ours = ubootScriptImage(script, { name: 'Mender boot script', timestamp: 1_700_000_000, arch });
        expect(ours.equals(fs.readFileSync(reference))).toBe(true);
      }
    }
  });

  it('mkimage -l and dumpimage -l accept it and show its type, name and size; we read it back', async () => {
    const script = generateUbootScript(options);
    const file = path.join(dir, 'boot.scr');
    fs.writeFileSync(file, ubootScriptImage(script, { name: 'Mender A/B', timestamp: 0, arch: 'arm64' }));
    for (const [name, args] of [['mkimage', ['-l', file]], ['dumpimage', ['-l', file]]] as const) {
      const listing = (await tool(name, [...args])).stdout;
      expect(listing).toContain('Image Name:   Mender A/B');
      expect(listing).toContain('AArch64 Linux Script (uncompressed)');
      expect(listing).toContain(`Image 0: ${Buffer.byteLength(script)} Bytes`);
    }
    const extracted = path.join(dir, 'extracted.txt');
    await tool('dumpimage', ['-T', 'script', '-p', '0', '-o', extracted, file]);
    // dumpimage hands out the whole data part: the length table (script length, 0), then the script.
    const data = fs.readFileSync(extracted);
    expect(data.readUInt32BE(0)).toBe(Buffer.byteLength(script));
    expect(data.readUInt32BE(4)).toBe(0);
    expect(data.subarray(8).toString()).toBe(script);
    expect(readLegacyImage(fs.readFileSync(file)).script?.toString()).toBe(script);
  });

  it('mkimage notices a damaged image (the check can fail)', async () => {
    const file = path.join(dir, 'broken.scr');
    const image = ubootScriptImage('echo hi\n', { name: 'x', timestamp: 0 });
    image[70] ^= 1;
    fs.writeFileSync(file, image);
    const listing = await execa('mkimage', ['-l', file], { reject: false });
    expect(`${listing.stdout}${listing.stderr}`).not.toContain('Image Name:');
  });
});

const UBOOT_BIN = '/usr/lib/u-boot/qemu_arm64/u-boot.bin';
const qemuAvailable = fs.existsSync(UBOOT_BIN) && Boolean(findTool('qemu-system-aarch64'));

/**
 * The environment and boot script in a real U-Boot (Debian's u-boot-qemu qemu_arm64 build, the
 * same hush shell as the Raspberry Pi builds) on QEMU virt: the environment sits in the second
 * flash bank, the A/B disk on virtio. QEMU's flash cannot take U-Boot's buffered writes, so
 * saveenv is seen being called but does not persist; what the script leaves in the running
 * environment is read at the prompt. The "kernels" are text files: booti refuses them.
 */
describe.skipIf(!qemuAvailable)('boot script and environment in U-Boot (QEMU virt, qemu_arm64)', () => {
  let disk: AbDisk;
  let defaults: Record<string, string>;
  const scriptOptions: UbootScriptOptions = {
    parts: { a: 2, b: 3 },
    rootDevices: { a: '/dev/vda2', b: '/dev/vda3' },
    storage: { interface: 'virtio', device: 0 },
    kernelPath: '/boot/kernel',
    bootCommand: 'booti',
    initrdPath: '/boot/initrd',
    dtb: 'firmware',
    kernelArgs: 'console=ttyAMA0 rootwait',
  };

  beforeAll(async () => {
    disk = await buildAbDisk(path.join(dir, 'qemu'), 'dos', { rootfsFiles: { 'board.dtb': 'not really a device tree\n' } });
    const found = extractUbootDefaultEnv(fs.readFileSync(UBOOT_BIN));
    expect(found).not.toBeNull();
    defaults = found!;
  });

  async function setup(state: Record<string, string>, options: UbootScriptOptions = scriptOptions, on: AbDisk = disk): Promise<string> {
    // No autoboot: the test types at the prompt.
    const values = Object.fromEntries(menderUbootEnv({ defaultEnv: { ...defaults, bootdelay: '-1' }, parts: options.parts, rootDevices: options.rootDevices, storage: options.storage }));
    const flash = path.join(dir, 'qemu', 'flash1.img');
    fs.writeFileSync(flash, Buffer.alloc(0));
    fs.truncateSync(flash, 64 * 1024 * KiB);
    const [copy] = ubootEnvCopies({ ...values, ...state }, { kind: 'file', path: '/unused', size: 256 * KiB });
    const fd = fs.openSync(flash, 'r+');
    fs.writeSync(fd, copy.data, 0, copy.data.length, 0);
    fs.closeSync(fd);
    await putEnvFiles(on, path.join(dir, 'qemu'), { '/boot.scr': ubootScriptImage(generateUbootScript(options), { name: 'Mender', timestamp: 0, arch: 'arm64' }) });
    return flash;
  }

  /** Type each command at the U-Boot prompt; stop at the last prompt or when U-Boot resets. */
  async function uboot(flash: string, commands: string[], on: AbDisk = disk): Promise<{ output: string; reset: boolean }> {
    const qemu = execa('qemu-system-aarch64', [
      '-M', 'virt', '-cpu', 'cortex-a57', '-m', '512', '-display', 'none', '-serial', 'stdio', '-net', 'none', '-no-reboot',
      '-bios', UBOOT_BIN, '-drive', `if=pflash,unit=1,format=raw,file=${flash}`,
      '-drive', `if=none,file=${on.image},format=raw,id=hd`, '-device', 'virtio-blk-device,drive=hd',
    ], { reject: false, timeout: 60_000 });
    let output = '';
    let seen = 0;
    const queue = [...commands];
    qemu.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const prompts = output.split('=> ').length - 1;
      if (prompts > seen) {
        seen = prompts;
        const next = queue.shift();
        if (next === undefined) qemu.kill('SIGKILL');
        else qemu.stdin?.write(`${next}\n`);
      }
    });
    const result = await qemu;
    return { output: output.replace(/\r/g, ''), reset: result.exitCode === 0 && !result.isTerminated };
  }

  const printState = 'printenv mender_boot_part mender_boot_part_hex upgrade_available bootcount mender_kernel_root mender_uboot_root bootargs';

  it('loads our environment and boots rootfs A: kernel and initrd from partition 2, root= and arguments', async () => {
    const flash = await setup({});
    const { output, reset } = await uboot(flash, ['run bootcmd', printState]);
    expect(output).toContain('Loading Environment from Flash... OK');
    expect(output).not.toContain('bad CRC');
    expect(output).toContain('## Executing script at');
    expect(output).toContain('Mender: booting partition 2 (virtio 0:2) with root=/dev/vda2');
    expect(output).toContain('Bad Linux ARM64 Image magic!');
    expect(output).not.toContain('Saving Environment');
    expect(reset).toBe(false);
    expect(output).toContain('mender_boot_part=2\nmender_boot_part_hex=2\nupgrade_available=0\nbootcount=0\nmender_kernel_root=/dev/vda2\nmender_uboot_root=virtio 0:2\nbootargs=root=/dev/vda2 console=ttyAMA0 rootwait\n');
  });

  it('tries an update: bootcount=1 saved before booting partition 3, reset when it does not start', async () => {
    const flash = await setup({ mender_boot_part: '3', upgrade_available: '1', bootcount: '0' });
    const { output, reset } = await uboot(flash, ['run bootcmd']);
    const order = ['Mender: trying the update on partition 3.', 'Saving Environment to Flash', 'Mender: booting partition 3 (virtio 0:3) with root=/dev/vda3', 'Mender: resetting to roll back.'];
    const positions = order.map((line) => output.indexOf(line));
    expect(positions.every((position) => position >= 0)).toBe(true);
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);
    expect(reset).toBe(true);
  });

  it('rolls back an update that was not committed, and fixes a corrupt environment', async () => {
    let flash = await setup({ mender_boot_part: '3', upgrade_available: '1', bootcount: '1' });
    let { output } = await uboot(flash, ['run bootcmd', printState]);
    expect(output).toContain('Mender: the update on partition 3 was not committed; rolling back.');
    expect(output).toContain('Mender: booting partition 2 (virtio 0:2)');
    expect(output).toContain('mender_boot_part=2\nmender_boot_part_hex=2\nupgrade_available=0\nbootcount=0\n');

    flash = await setup({ mender_boot_part: '7', upgrade_available: '1', bootcount: '0' });
    ({ output } = await uboot(flash, ['run bootcmd', printState]));
    expect(output).toContain('Mender: mender_boot_part=7 is not valid; using partition 2.');
    expect(output).toContain('Saving Environment to Flash');
    expect(output).toContain('mender_boot_part=2\nmender_boot_part_hex=2\nupgrade_available=0\nbootcount=0\n');

    flash = await setup({ mender_boot_part: '3', upgrade_available: 'maybe', bootcount: '5' });
    ({ output } = await uboot(flash, ['run bootcmd', printState]));
    expect(output).toContain('Mender: upgrade_available=maybe is not valid; using 0.');
    expect(output).toContain('mender_boot_part=3\nmender_boot_part_hex=3\nupgrade_available=0\nbootcount=0\n');
  });

  it('loads the initrd past a kernel larger than the room the board leaves it (a kernel package upgrade), and at the board\'s address otherwise', async () => {
    // qemu_arm64: kernel_addr_r 0x40400000, ramdisk_addr_r 0x44000000 (60 MiB of room).
    expect([defaults.kernel_addr_r, defaults.ramdisk_addr_r]).toEqual(['0x40400000', '0x44000000']);
    const large = await buildAbDisk(path.join(dir, 'qemu-large'), 'dos', { rootfsSize: 96 * MiB, kernelBytes: 64 * MiB });
    const flash = await setup({}, scriptOptions, large);
    // Past the 64 MiB file, 32 MiB more, on a 2 MiB boundary: 0x40400000 + 0x6000000.
    const { output } = await uboot(flash, ['run bootcmd', 'md.b 0x46400000 9', 'printenv mender_rd_addr'], large);
    expect(output).toMatch(/67108864 bytes read/);
    expect(output).toMatch(/46400000: 69 6e 69 74 72 64 20 61 0a +initrd a\./);
    expect(output).toContain('mender_rd_addr=46400000\n');

    const small = await setup({});
    const { output: usual } = await uboot(small, ['run bootcmd', 'md.b 0x44000000 9', 'printenv mender_rd_addr']);
    expect(usual).toMatch(/44000000: 69 6e 69 74 72 64 20 61 0a +initrd a\./);
    expect(usual).toContain('mender_rd_addr=0x44000000\n');
  });

  it("takes the firmware's command line with ${mender_kernel_root} expanded, PARTUUID roots and a DTB from the rootfs", async () => {
    const options: UbootScriptOptions = {
      ...scriptOptions,
      rootDevices: { a: '/dev/disk/by-partuuid/c0ffee01-02', b: '/dev/disk/by-partuuid/c0ffee01-03' },
      firmwareBootargs: true,
      dtb: { path: '/board.dtb' },
      initrdPath: null,
      // This build has no fdt_addr_r.
      addresses: { fdt: '0x48000000' },
    };
    const flash = await setup({ mender_boot_part: '3', upgrade_available: '0', bootcount: '0' }, options);
    const { output } = await uboot(flash, [
      'fdt addr ${fdt_addr}',
      "fdt set /chosen bootargs 'console=ttyAMA0 root=${mender_kernel_root} quiet'",
      'run bootcmd',
      printState,
    ]);
    expect(output).toContain('Mender: booting partition 3 (virtio 0:3) with root=PARTUUID=c0ffee01-03');
    expect(output).toMatch(/25 bytes read/);
    expect(output).toContain('bootargs=console=ttyAMA0 root=PARTUUID=c0ffee01-03 quiet console=ttyAMA0 rootwait\n');
  });
});
