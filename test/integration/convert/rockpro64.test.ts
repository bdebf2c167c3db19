/**
 * The RockPro64 configuration on a generated Debian arm64 image: Debian's u-boot-rockchip
 * written before the first partition where its own u-boot-install-rockchip writes it
 * (idbloader.img at sector 64, u-boot.itb at sector 16384), checked byte for byte against the
 * files of the package the conversion fetched (unpacked here with dpkg-deb), the partition table
 * (sfdisk --json) as the layout says, the Mender environment copies past the boot loader
 * (fw_printenv), and the refusal of a layout that would put a copy inside u-boot.itb.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, runCli } from '../../helpers/cli.js';
import { buildGoldenImage, tool } from '../../helpers/images.js';

const base = fs.mkdtempSync(path.join(os.tmpdir(), 'rockpro64-'));
afterAll(() => fs.rmSync(base, { recursive: true, force: true }));
// Debian's package indexes and u-boot-rockchip, fetched once for every run of the tests.
const cacheDir = path.join(ROOT, 'work', 'cache');
const MiB = 1024 * 1024;
const SECTOR = 512;

/** `storage` lines are added to the small storage's settings. */
async function convert(name: string, storage: string, codename = 'bookworm', board = 'rockpro64') {
  const dir = path.join(base, name);
  const golden = await buildGoldenImage({
    dir,
    arch: 'arm64',
    codename,
    hostname: 'rockpro64',
    files: { 'usr/lib/linux-image-6.1.0-test/rockchip/rk3399-rockpro64.dtb': 'device tree stand-in\n' },
  });
  // What the golden card had before its first partition is not kept (storage.copy_boot_gap: false).
  const handle = fs.openSync(golden.image, 'r+');
  fs.writeSync(handle, Buffer.alloc(4096, 0xee), 0, 4096, MiB);
  fs.closeSync(handle);
  const small = path.join(dir, 'small.yaml');
  fs.writeFileSync(small, `storage:\n  total_size_mb: 320\n${storage}data:\n  size_mb: 16\n`);
  const deploy = path.join(dir, 'deploy');
  const result = await runCli(
    ['--disk-image', golden.image, '-c', path.join(ROOT, 'configs', `${board}.yaml`), '-c', small, '--artifact-name', 'release-1', '--output-dir', deploy, '--work-dir', path.join(dir, 'work')],
    { env: { MENDER_CONVERT_CACHE_DIR: cacheDir } },
  );
  return { dir, deploy, result };
}

/** The package the conversion used, unpacked by dpkg-deb from the APT cache (found by its version). */
async function unpackedPackage(dir: string, version: string): Promise<string> {
  const debs = path.join(cacheDir, 'apt', 'debs');
  for (const name of fs.readdirSync(debs)) {
    const deb = path.join(debs, name);
    const fields = (await tool('dpkg-deb', ['-f', deb, 'Package', 'Version'])).stdout;
    if (fields !== `Package: u-boot-rockchip\nVersion: ${version}\n`) continue;
    const out = path.join(dir, 'u-boot-rockchip');
    await tool('dpkg-deb', ['-x', deb, out]);
    return path.join(out, 'usr/lib/u-boot/rockpro64-rk3399');
  }
  throw new Error(`u-boot-rockchip ${version} is not in ${debs}`);
}

function readAt(file: string, offset: number, length: number): Buffer {
  const handle = fs.openSync(file, 'r');
  try {
    const buffer = Buffer.alloc(length);
    expect(fs.readSync(handle, buffer, 0, length, offset)).toBe(length);
    return buffer;
  } finally {
    fs.closeSync(handle);
  }
}

describe('rockpro64', () => {
  it.each(['bookworm', 'trixie'])("%s: writes Debian's idbloader.img and u-boot.itb at sectors 64 and 16384, before a partition table that is intact", async (codename) => {
    const { dir, deploy, result } = await convert(codename, '', codename);
    expect(result.exitCode, result.all).toBe(0);
    const image = path.join(deploy, fs.readdirSync(deploy).find((f) => f.endsWith('.img'))!);
    const results = JSON.parse(fs.readFileSync(image.replace(/\.img$/, '.json'), 'utf8'));
    const raw = results.layout.rawFiles as { file: string; origin: string; offset: number; bytes: number; sha256: string }[];
    expect(raw.map((r) => [r.file, r.offset])).toEqual([['uboot:idbloader.img', 64 * SECTOR], ['uboot:u-boot.itb', 16384 * SECTOR]]);
    const version = new RegExp(`^Debian u-boot-rockchip (\\S+) arm64 \\(${codename}\\), rockpro64-rk3399$`).exec(raw[0]!.origin)?.[1];
    expect(version, raw[0]!.origin).toBeDefined();
    // The summary's layout table lists them before the partitions.
    expect(result.all).toMatch(/-\s+raw\s+sector 64\s+\d+ KiB\s+uboot:idbloader\.img from Debian u-boot-rockchip/);

    // Byte for byte the package's files, at the sectors its install script writes them to.
    const target = await unpackedPackage(dir, version!);
    for (const [name, sector] of [['idbloader.img', 64], ['u-boot.itb', 16384]] as const) {
      const expected = fs.readFileSync(path.join(target, name));
      expect(readAt(image, sector * SECTOR, expected.length).equals(expected), name).toBe(true);
      expect(raw.find((r) => r.file === `uboot:${name}`)!.bytes).toBe(expected.length);
    }
    const idbloader = fs.statSync(path.join(target, 'idbloader.img')).size;
    // Around them nothing but zeros: the golden card's own gap was not copied.
    expect(readAt(image, 64 * SECTOR + idbloader, 16384 * SECTOR - 64 * SECTOR - idbloader).every((byte) => byte === 0)).toBe(true);

    // The table: partition 1 at 3 × 16 MiB, after the boot loader and both environment copies.
    const table = JSON.parse((await tool('sfdisk', ['--json', image])).stdout).partitiontable;
    expect(table.label).toBe('dos');
    expect(table.partitions.map((p: { node: string; start: number; type: string; bootable?: boolean }) => [p.start * SECTOR, p.type, Boolean(p.bootable)])).toEqual([
      [48 * MiB, 'c', true],
      [table.partitions[1].start * SECTOR, '83', false],
      [table.partitions[2].start * SECTOR, '83', false],
      [table.partitions[3].start * SECTOR, '83', false],
    ]);
    expect(table.partitions[1].start).toBe(table.partitions[0].start + table.partitions[0].size);
    expect(readAt(image, 510, 2).equals(Buffer.from([0x55, 0xaa]))).toBe(true);

    // The Mender variables at 16 and 32 MiB, read by libubootenv through the device's fw_env.config.
    const rootA = table.partitions[1];
    const rootfs = path.join(dir, 'rootfs.ext4');
    await tool('dd', [`if=${image}`, `of=${rootfs}`, 'bs=512', `skip=${rootA.start}`, `count=${rootA.size}`, 'status=none']);
    const debugfs = async (command: string) => (await tool('debugfs', ['-R', command, rootfs])).stdout;
    const fwEnv = await debugfs('cat /etc/fw_env.config');
    expect(fwEnv).toMatch(/^\/dev\/mmcblk1 0x1000000 0x4000\n\/dev\/mmcblk1 0x2000000 0x4000\n$/m);
    fs.writeFileSync(path.join(dir, 'fw_env.config'), fwEnv.replaceAll('/dev/mmcblk1', image));
    expect((await tool('fw_printenv', ['-c', path.join(dir, 'fw_env.config')])).stdout).toBe('bootcount=0\nmender_boot_part=2\nmender_boot_part_hex=2\nupgrade_available=0\n');
    expect(await debugfs('cat /etc/fstab')).toMatch(/^\/dev\/mmcblk1p4\s+\/data\s/m);

    // boot.scr on the bootable partition 1 reads the SD card (mmc 1) and loads the kernel
    // package's device tree, copied to /boot; no u-boot.bin or uboot.env there.
    const fat = `${image}@@${48 * MiB}`;
    const script = (await tool('mtype', ['-i', fat, '::/boot.cmd'])).stdout;
    expect(script).toContain('if mmc read ${mender_env_a} 0x8000 0x20; then');
    expect(script).toContain('setenv mender_uboot_root "mmc 1:${mender_boot_part_hex}"');
    expect(script).toContain('load ${mender_uboot_root} ${fdt_addr_r} /boot/rk3399-rockpro64.dtb');
    expect(script).toContain('root=${mender_kernel_root} rootwait');
    const files = (await tool('mdir', ['-b', '-i', fat, '::/'])).stdout;
    expect(files).toContain('::/boot.scr');
    expect(files).not.toMatch(/u-boot\.bin|uboot\.env/);
    expect(await debugfs('cat /boot/rk3399-rockpro64.dtb')).toBe('device tree stand-in\n');
    // A conversion and Debian's u-boot-rockchip for the release fetched: past the default on a busy host.
  }, 300_000);

  it("rockpro64_emmc: the eMMC's device numbers (U-Boot's mmc 0, Linux's /dev/mmcblk2) in boot.scr, fw_env.config and fstab; the boot loader as on the SD card", async () => {
    const { dir, deploy, result } = await convert('emmc', '', 'bookworm', 'rockpro64_emmc');
    expect(result.exitCode, result.all).toBe(0);
    const image = path.join(deploy, fs.readdirSync(deploy).find((f) => f.endsWith('.img'))!);
    const results = JSON.parse(fs.readFileSync(image.replace(/\.img$/, '.json'), 'utf8'));
    expect(results.layout.rawFiles.map((r: { file: string; offset: number }) => [r.file, r.offset])).toEqual([['uboot:idbloader.img', 64 * SECTOR], ['uboot:u-boot.itb', 16384 * SECTOR]]);
    const table = JSON.parse((await tool('sfdisk', ['--json', image])).stdout).partitiontable;
    const rootA = table.partitions[1];
    const rootfs = path.join(dir, 'rootfs.ext4');
    await tool('dd', [`if=${image}`, `of=${rootfs}`, 'bs=512', `skip=${rootA.start}`, `count=${rootA.size}`, 'status=none']);
    const debugfs = async (command: string) => (await tool('debugfs', ['-R', command, rootfs])).stdout;
    expect(await debugfs('cat /etc/fw_env.config')).toMatch(/^\/dev\/mmcblk2 0x1000000 0x4000\n\/dev\/mmcblk2 0x2000000 0x4000\n$/m);
    expect(await debugfs('cat /etc/fstab')).toMatch(/^\/dev\/mmcblk2p4\s+\/data\s/m);
    const script = (await tool('mtype', ['-i', `${image}@@${48 * MiB}`, '::/boot.cmd'])).stdout;
    expect(script).toContain('setenv mender_uboot_root "mmc 0:${mender_boot_part_hex}"');
    expect(script).toContain('setenv mender_kernel_root "/dev/mmcblk2p3"');
    expect(script).toContain('setenv mender_kernel_root "/dev/mmcblk2p2"');
  }, 300_000);

  it('refuses the default 8 MiB alignment: its first environment copy would be inside u-boot.itb', async () => {
    const { deploy, result } = await convert('aligned-8', '  alignment: 8388608\n');
    expect(result.exitCode).not.toBe(0);
    expect(result.all).toMatch(/error: The raw file uboot:u-boot\.itb \(board\.raw_files, sector 16384, bytes 8388608 to \d+\) would overlap the U-Boot environment copy at 0x800000 \(sector 16384, bytes 8388608 to 8404992\)\./);
    expect(result.all).toContain('Raise storage.alignment (MENDER_PARTITION_ALIGNMENT, now 8388608)');
    expect(result.all).not.toMatch(/\n\s+at /);
    expect(fs.existsSync(deploy) ? fs.readdirSync(deploy) : []).toEqual([]);
  });
});
