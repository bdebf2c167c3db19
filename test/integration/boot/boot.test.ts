/**
 * `mender-convert boot` on small converted images: which machine the image says, the disk it
 * boots (an overlay over a raw image, a decompressed copy of a compressed one — the image never
 * changes, nothing is left behind), the errors a user can cause, and one real, short QEMU run:
 * the small image's stand-in kernel cannot boot, so --check stops at the bootloader and says so.
 * Booting to a login prompt takes minutes under TCG: that is the boot tier's (npm run test:boot).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readBootTarget } from '../../../src/boot/board.js';
import { EMULATION_TIMEOUTS } from '../../../src/boot/qemu.js';
import { prepareBoot } from '../../../src/boot/run.js';
import { ROOT, runCli } from '../../helpers/cli.js';
import { buildGoldenImage, tool } from '../../helpers/images.js';

const base = fs.mkdtempSync(path.join(os.tmpdir(), 'boot-command-'));
const SMALL = 'storage:\n  total_size_mb: 160\n  alignment: 4194304\ndata:\n  size_mb: 16\nimage:\n  compression: none\n';
const cacheEnv = { MENDER_CONVERT_CACHE_DIR: path.join(ROOT, 'work', 'cache') };
let pcImage: string;
let piImage: string;
let golden: string;

const sha256 = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');
const scratchDirs = () => fs.readdirSync(os.tmpdir()).filter((name) => name.startsWith('mender-convert-boot-'));

async function convert(name: string, args: string[], goldenOptions: Parameters<typeof buildGoldenImage>[0]): Promise<string> {
  const built = await buildGoldenImage(goldenOptions);
  const config = path.join(base, `${name}.yaml`);
  fs.writeFileSync(config, SMALL);
  const out = path.join(base, `${name}-deploy`);
  const result = await runCli(['-d', built.image, ...args, '-c', config, '-n', `${name}-1`, '--output-dir', out, '--work-dir', path.join(base, `${name}-work`)], { env: cacheEnv });
  expect(result.exitCode, result.all).toBe(0);
  return path.join(out, fs.readdirSync(out).find((f) => f.endsWith('-mender.img'))!);
}

beforeAll(async () => {
  // x86-64: GRUB's standalone BOOTX64.EFI; the disk named /dev/sda as for a PC.
  pcImage = await convert('pc', ['-c', path.join(ROOT, 'configs/generic_x86-64.yaml')], { dir: path.join(base, 'pc-golden'), scheme: 'gpt', bootFiles: { 'config.txt': '' } });
  piImage = await convert('pi', ['-c', path.join(ROOT, 'configs/raspberrypi3_bookworm_64bit.yaml')], { dir: path.join(base, 'pi-golden'), arch: 'arm64', bootFiles: { 'kernel8.img': 'kernel\n', 'bcm2837-rpi-3-b.dtb': 'dtb\n' } });
  golden = (await buildGoldenImage({ dir: path.join(base, 'golden'), bootFiles: { 'config.txt': 'arm_64bit=0\n' } })).image;
}, 600_000);

describe('the machine an image says', () => {
  it('x86-64 UEFI from BOOTX64.EFI, the disk bus from the root device in its grub.cfg', async () => {
    expect(await readBootTarget(pcImage)).toMatchObject({ family: 'x86-64', bus: 'sata', rootDevice: '/dev/sda2' });
  });

  it('Raspberry Pi 3 from config.txt, U-Boot as the file it starts, the Pi 3 device tree and cmdline.txt', async () => {
    const target = await readBootTarget(piImage);
    expect(target).toMatchObject({ family: 'raspi3b', bus: 'sd', raspberryPi: { kernel: 'u-boot.bin', deviceTree: 'bcm2837-rpi-3-b.dtb' } });
    expect(target.raspberryPi!.cmdline).toBe('root=${mender_kernel_root} rootwait');
  });

  it('refuses what it cannot boot, saying why', async () => {
    await expect(readBootTarget(golden)).rejects.toThrow('golden.img is a 32-bit Raspberry Pi image (config.txt has no arm_64bit=1): boot emulates the 64-bit Raspberry Pi 3 only.');
    const bare = (await buildGoldenImage({ dir: path.join(base, 'bare'), scheme: 'gpt', bootFiles: { 'config.txt': '' } })).image;
    await tool('mdel', ['-i', `${bare}@@${4 * 1024 * 1024}`, '::/config.txt']);
    await expect(readBootTarget(bare)).rejects.toThrow(/Cannot tell which machine boots golden\.img: its boot partition has no EFI\/BOOT\/BOOTX64\.EFI/);
  });
});

describe('the disk a boot runs on', () => {
  it('a raw image: a qcow2 overlay backed by it; a raspi3b SD card grown to a power of two', async () => {
    const before = sha256(piImage);
    const boot = await prepareBoot({ image: piImage }, { console: 'file', reboot: false });
    try {
      expect(boot.disk).toBe('overlay');
      const drive = boot.command.args[boot.command.args.indexOf('-drive') + 1]!;
      const overlay = /^file=([^,]+),format=qcow2,if=sd$/.exec(drive)![1]!;
      const info = JSON.parse((await tool('qemu-img', ['info', '--output=json', overlay])).stdout);
      expect(info['backing-filename']).toBe(path.resolve(piImage));
      expect(info['virtual-size']).toBe(256 * 1024 * 1024);
      expect(fs.statSync(piImage).size).toBe(160 * 1024 * 1024);
      // The firmware's part done: U-Boot and the device tree copied out, cmdline.txt as bootargs.
      const args = boot.command.args;
      expect(fs.readFileSync(args[args.indexOf('-kernel') + 1]!).includes(Buffer.from('U-Boot 20'))).toBe(true);
      expect(fs.readFileSync(args[args.indexOf('-dtb') + 1]!, 'utf8')).toBe('dtb\n');
      expect(args[args.indexOf('-append') + 1]).toBe(`root=\${mender_kernel_root} rootwait console=ttyS1,115200 ${EMULATION_TIMEOUTS}`);
    } finally {
      await boot.cleanup();
    }
    expect(sha256(piImage)).toBe(before);
    expect(scratchDirs()).toEqual([]);
  });

  it('a compressed image: decompressed into a sparse scratch copy, which is the disk', async () => {
    const compressed = path.join(base, 'pc.img.zst');
    await tool('zstd', ['-q', '-o', compressed, pcImage]);
    const boot = await prepareBoot({ image: compressed }, { console: 'terminal', reboot: true });
    try {
      expect(boot.disk).toBe('decompressed copy');
      const drive = boot.command.args.find((arg) => arg.startsWith('file='))!;
      const copy = /^file=([^,]+),format=raw,if=ide,index=0$/.exec(drive)![1]!;
      expect(sha256(copy)).toBe(sha256(pcImage));
      expect(fs.statSync(copy).blocks * 512).toBeLessThan(fs.statSync(copy).size / 2);
      expect(boot.command.args).toContain('mon:stdio');
    } finally {
      await boot.cleanup();
    }
    expect(scratchDirs()).toEqual([]);
  });
});

describe('mender-convert boot', () => {
  it('names a missing image, and missing QEMU with its Debian package', async () => {
    const missing = await runCli(['boot', '--check', path.join(base, 'nope.img')]);
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toBe(`error: The disk image ${path.join(base, 'nope.img')} does not exist or is not a file.`);
    // A PATH with what reads the image and makes its overlay, but no QEMU.
    const bin = path.join(base, 'no-qemu');
    fs.mkdirSync(bin);
    for (const name of ['node', 'minfo', 'mdir', 'mcopy', 'qemu-img']) {
      const found = name === 'node' ? process.execPath : (await tool('sh', ['-c', `command -v ${name}`])).stdout.trim();
      fs.symlinkSync(found, path.join(bin, name));
    }
    const noQemu = await runCli(['boot', '--check', pcImage], { env: { PATH: bin } });
    expect(noQemu.exitCode, noQemu.all).toBe(1);
    expect(noQemu.stderr).toBe('error: Missing host tools: qemu-system-x86_64.\nhint: Install them with: sudo apt-get install qemu-system-x86');
  });

  it('--check boots the x86-64 image in QEMU and stops where its stand-in kernel fails, naming the stage', async () => {
    const log = path.join(base, 'serial.log');
    const result = await runCli(['boot', '--check', '--json', '--timeout', '300', '--serial-log', log, pcImage]);
    expect(result.exitCode, result.all).toBe(1);
    const report = JSON.parse(result.stdout);
    expect(report).toMatchObject({ ok: false, board: 'x86-64', stage: 'bootloader', end: 'failure seen', menderBoot: { partition: 2, root: '/dev/sda2' } });
    expect(report.failure).toMatch(/^the bootloader could not load the kernel \(Mender: cannot boot from \(hd0,gpt2\)\.\)$/);
    expect(report.stages.firmware).toMatch(/^BdsDxe: starting Boot/);
    expect(report.lastLines.join('\n')).toContain('Mender: cannot boot from (hd0,gpt2).');
    expect(fs.readFileSync(log, 'utf8')).toContain('Welcome to GRUB!');
    expect(scratchDirs()).toEqual([]);
  });
});
