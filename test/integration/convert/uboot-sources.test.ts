/**
 * The U-Boot integration's other sources and storages, with a stand-in U-Boot binary (its
 * default environment is what the integration reads from it): a u-boot.bin file with the
 * environment as two redundant raw copies before the boot partition, and an upstream-style
 * archive whose fw_env.config decides the storage. fw_printenv reads the copies straight from
 * the output image.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildRepository } from '../../helpers/apt-repo.js';
import { ROOT, runCli } from '../../helpers/cli.js';
import { buildGoldenImage, tool } from '../../helpers/images.js';

const base = fs.mkdtempSync(path.join(os.tmpdir(), 'uboot-sources-'));
afterAll(() => fs.rmSync(base, { recursive: true, force: true }));
const MiB = 1024 * 1024;

/** A stand-in u-boot.bin: code-like bytes around a compiled-in default environment. */
function fakeUboot(file: string): void {
  const env = ['arch=arm', 'bootcmd=run distro_bootcmd', 'kernel_addr_r=0x00080000', 'scriptaddr=0x02400000', 'fdt_addr_r=0x02600000'].join('\0');
  fs.writeFileSync(file, Buffer.concat([Buffer.alloc(4096, 0xe3), Buffer.from('U-Boot 2099.01 (stand-in)\0'), Buffer.from(`${env}\0\0`), Buffer.alloc(4096, 0xd5)]));
}

async function convert(name: string, config: string, env: Record<string, string> = {}) {
  const dir = path.join(base, name);
  const golden = await buildGoldenImage({ dir, arch: 'arm64' });
  const configFile = path.join(dir, 'uboot.yaml');
  fs.writeFileSync(configFile, config);
  const deploy = path.join(dir, 'deploy');
  const result = await runCli(['--disk-image', golden.image, '-c', configFile, '--artifact-name', 'release-1', '--output-dir', deploy, '--work-dir', path.join(dir, 'work')], { env });
  expect(result.exitCode, result.all).toBe(0);
  const image = path.join(deploy, fs.readdirSync(deploy).find((f) => f.endsWith('.img'))!);
  const table = JSON.parse((await tool('sfdisk', ['--json', image])).stdout).partitiontable;
  const rootfs = path.join(dir, 'rootfs.ext4');
  const rootA = table.partitions[1];
  await tool('dd', [`if=${image}`, `of=${rootfs}`, 'bs=512', `skip=${rootA.start}`, `count=${rootA.size}`, 'status=none']);
  const debugfs = async (command: string) => (await tool('debugfs', ['-R', command, rootfs])).stdout;
  return { dir, image, output: result.all, bootStart: table.partitions[0].start * 512, debugfs };
}

const COMMON = `bootloader:
  type: uboot
storage:
  total_size_mb: 160
  alignment: 4194304
data:
  size_mb: 16
`;

describe('U-Boot sources and environment storages', () => {
  it('a u-boot.bin file keeping its own environment as redundant copies at 1 and 2 × alignment; the kernel and initrd from the root filesystem', async () => {
    const uboot = path.join(base, 'u-boot.bin');
    fakeUboot(uboot);
    const { dir, image, output, bootStart, debugfs } = await convert('file', `${COMMON}uboot:\n  source: ${uboot}\n  env_storage: redundant\n  env_access: uboot\n  env_size: 8192\n`);
    expect(output).toContain(`U-Boot: file ${uboot} (sha256`);
    expect(bootStart).toBe(12 * MiB);
    const fwEnv = await debugfs('cat /etc/fw_env.config');
    expect(fwEnv).toMatch(/^\/dev\/mmcblk0 0x400000 0x2000\n\/dev\/mmcblk0 0x800000 0x2000\n$/m);
    // libubootenv reads the two copies from the image itself.
    const config = path.join(dir, 'fw_env.config');
    fs.writeFileSync(config, fwEnv.replaceAll('/dev/mmcblk0', image));
    const env = (await tool('fw_printenv', ['-c', config])).stdout;
    expect(env).toMatch(/^mender_boot_part=2$/m);
    expect(env).toMatch(/^scriptaddr=0x02400000$/m);
    expect(env).toMatch(/^bootcmd=load mmc 0:1 \$\{scriptaddr\} \/boot\.scr && source \$\{scriptaddr\}$/m);
    // fw_setenv writes the other copy; fw_printenv then reads the new value from it.
    await tool('fw_setenv', ['-c', config, 'upgrade_available', '1']);
    expect((await tool('fw_printenv', ['-c', config, 'upgrade_available'])).stdout).toBe('upgrade_available=1\n');
    // The golden rootfs kernel (not gzip-compressed) is stored as the script's /boot/Image, its initrd as /boot/initrd.
    expect(await debugfs('cat /boot/Image')).toBe('not a real kernel\n');
    expect(await debugfs('cat /boot/initrd')).toBe(await debugfs('cat /boot/initrd.img-6.1.0-test'));
    const fat = `${image}@@${bootStart}`;
    const script = (await tool('mtype', ['-i', fat, '::/boot.cmd'])).stdout;
    expect(script).toContain('setenv mender_rd_addr ${ramdisk_addr_r}');
    expect(script).toContain('load ${mender_uboot_root} ${mender_rd_addr} /boot/initrd');
    expect((await tool('mtype', ['-i', fat, '::/u-boot.bin'])).stdout).toContain('U-Boot 2099.01');
  });

  it('an upstream-style archive: its fw_env.config places the environment', async () => {
    const staging = path.join(base, 'archive');
    fs.mkdirSync(path.join(staging, 'binaries'), { recursive: true });
    fakeUboot(path.join(staging, 'binaries', 'u-boot.bin'));
    fs.writeFileSync(path.join(staging, 'binaries', 'fw_env.config'), '/dev/mmcblk0 0x500000 0x4000\n/dev/mmcblk0 0x900000 0x4000\n');
    const archive = path.join(base, 'uboot-binaries.tar.gz');
    await tool('tar', ['-czf', archive, '-C', staging, 'binaries']);
    const { dir, image, output, debugfs } = await convert('archive', `${COMMON}uboot:\n  source: ${archive}\n`);
    expect(output).toContain(`U-Boot: archive ${archive}`);
    const fwEnv = await debugfs('cat /etc/fw_env.config');
    expect(fwEnv).toMatch(/^\/dev\/mmcblk0 0x500000 0x4000\n\/dev\/mmcblk0 0x900000 0x4000\n$/m);
    const config = path.join(dir, 'fw_env.config');
    fs.writeFileSync(config, fwEnv.replaceAll('/dev/mmcblk0', image));
    expect((await tool('fw_printenv', ['-c', config, 'mender_boot_part', 'bootcount'])).stdout).toBe('mender_boot_part=2\nbootcount=0\n');
  });

  it('board.raw_files: a file beside u-boot.bin (uboot:) and one relative to the config, written at their offsets', async () => {
    const source = path.join(base, 'raw-source');
    fs.mkdirSync(source, { recursive: true });
    fakeUboot(path.join(source, 'u-boot.bin'));
    const spl = Buffer.alloc(70_000, 0xa5);
    fs.writeFileSync(path.join(source, 'spl.bin'), spl);
    const dir = path.join(base, 'raw');
    fs.mkdirSync(path.join(dir, 'loaders'), { recursive: true });
    // Zeros inside it must be written too: the image stays byte-exact whatever was there.
    const loader = Buffer.concat([Buffer.alloc(4096, 0x3c), Buffer.alloc(8192), Buffer.alloc(100, 0x3c)]);
    fs.writeFileSync(path.join(dir, 'loaders', 'loader.bin'), loader);
    const raw = 'board:\n  raw_files:\n    - { file: uboot:spl.bin, sector: 16 }\n    - { file: loaders/loader.bin, offset: 1048576 }\n';
    const { image, output } = await convert('raw', `${COMMON}uboot:\n  source: ${path.join(source, 'u-boot.bin')}\n  env_size: 8192\n${raw}`);
    const bytes = fs.readFileSync(image);
    expect(bytes.subarray(8192, 8192 + spl.length).equals(spl)).toBe(true);
    expect(bytes.subarray(MiB, MiB + loader.length).equals(loader)).toBe(true);
    expect(output).toMatch(/-\s+raw\s+sector 16\s+68 KiB\s+uboot:spl\.bin from file \S+u-boot\.bin/);
    expect(output).toMatch(/-\s+raw\s+sector 2048\s+12 KiB\s+\S+\/loaders\/loader\.bin from file /);
  });

  it("board.raw_files: an archive's fw_env.config placing an environment copy over a raw file is refused before the image is published", async () => {
    const staging = path.join(base, 'archive-raw');
    fs.mkdirSync(path.join(staging, 'binaries'), { recursive: true });
    fakeUboot(path.join(staging, 'binaries', 'u-boot.bin'));
    fs.writeFileSync(path.join(staging, 'binaries', 'fw_env.config'), '/dev/mmcblk0 0x500000 0x4000\n/dev/mmcblk0 0x900000 0x4000\n');
    fs.writeFileSync(path.join(staging, 'binaries', 'loader.bin'), Buffer.alloc(MiB, 0x11));
    const archive = path.join(base, 'uboot-raw.tar.gz');
    await tool('tar', ['-czf', archive, '-C', staging, 'binaries']);
    const dir = path.join(base, 'archive-overlap');
    const golden = await buildGoldenImage({ dir, arch: 'arm64' });
    const configFile = path.join(dir, 'uboot.yaml');
    // Clear of the copies the configuration alone places (4 and 8 MiB), not of the archive's.
    fs.writeFileSync(configFile, `${COMMON}uboot:\n  source: ${archive}\nboard:\n  raw_files:\n    - { file: uboot:loader.bin, offset: 4718592 }\n`);
    const deploy = path.join(dir, 'deploy');
    const result = await runCli(['--disk-image', golden.image, '-c', configFile, '--artifact-name', 'r', '--output-dir', deploy, '--work-dir', path.join(dir, 'work')]);
    expect(result.exitCode).not.toBe(0);
    expect(result.all).toContain('error: The U-Boot environment at byte 5242880 (16384 bytes) would overlap the raw file uboot:loader.bin (board.raw_files) at byte 4718592 (1048576 bytes).');
    expect(fs.existsSync(deploy) ? fs.readdirSync(deploy) : []).toEqual([]);
  });

  it('installs libubootenv-tool (fw_printenv/fw_setenv) with the client, from the package repositories', async () => {
    const repo = await buildRepository(path.join(base, 'repo'), [
      { name: 'mender-client', version: '3.5.0-1', files: { '/usr/bin/mender': '#!/bin/sh\n' } },
      { name: 'libubootenv-tool', version: '0.3.2-1', files: { '/usr/bin/fw_printenv': '#!/bin/sh\n', '/usr/bin/fw_setenv': '#!/bin/sh\n' } },
    ], 'stable', 'arm64');
    try {
      const uboot = path.join(base, 'u-boot-client.bin');
      fakeUboot(uboot);
      const { debugfs } = await convert(
        'client',
        `${COMMON}uboot:\n  source: ${uboot}\nclient:\n  install: true\n  repositories: ["deb [signed-by=${repo.keyring}] ${repo.url} ${repo.suite} main"]\n`,
        // The image names no APT sources: Debian's mirror is read too (its index from the shared cache).
        { MENDER_CLIENT_INSTALL: 'y', MENDER_CONVERT_CACHE_DIR: path.join(ROOT, 'work', 'cache') },
      );
      const status = await debugfs('cat /var/lib/dpkg/status');
      expect(status).toMatch(/Package: libubootenv-tool\nStatus: install ok installed/);
      expect(status).toMatch(/Package: mender-client\nStatus: install ok installed/);
      expect(await debugfs('ls -p /usr/bin')).toContain('/fw_setenv/');
    } finally {
      await repo.stop();
    }
  });

  it('names a Debian target that does not exist, with the ones that do', async () => {
    const dir = path.join(base, 'bad-target');
    const golden = await buildGoldenImage({ dir, arch: 'arm64' });
    const configFile = path.join(dir, 'uboot.yaml');
    fs.writeFileSync(configFile, `${COMMON}uboot:\n  source: debian:u-boot-rpi/rpi_9\n`);
    const result = await runCli(['--disk-image', golden.image, '-c', configFile, '--artifact-name', 'r', '--output-dir', path.join(dir, 'deploy'), '--work-dir', path.join(dir, 'work')], {
      env: { MENDER_CONVERT_CACHE_DIR: path.join(ROOT, 'work', 'cache') },
    });
    expect(result.exitCode).not.toBe(0);
    expect(result.all).toMatch(/Debian's u-boot-rpi \S+ \(arm64\) has no U-Boot for the target 'rpi_9'/);
    expect(result.all).toMatch(/Its targets: .*rpi_3.*rpi_4/);
    expect(fs.existsSync(path.join(dir, 'deploy')) && fs.readdirSync(path.join(dir, 'deploy')).length).toBeFalsy();
  });
});
