/**
 * Conversion of an image with the distribution's EFI GRUB (grub-efi-amd64-signed, /etc/grub.d,
 * EFI/debian with its stub grub.cfg): the grub.d integration keeps the distribution's loaders,
 * moves /boot/grub to the boot partition, points the stub configs there, and writes the grub.cfg
 * that grub-mkconfig then writes on the device — checked by running grub-mkconfig on the
 * converted root filesystem's /etc/grub.d and /etc/default/grub.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../../helpers/cli.js';
import { buildGoldenImage, tool } from '../../helpers/images.js';
import { preparedGrubMkconfig, tool as toolWithEnv } from '../bootloader/harness.js';

const base = fs.mkdtempSync(path.join(os.tmpdir(), 'grubd-convert-'));
afterAll(() => fs.rmSync(base, { recursive: true, force: true }));

const CONFIG = `storage:
  total_size_mb: 160
  alignment: 4194304
  device_base: /dev/sda
data:
  size_mb: 16
bootloader:
  kernel_args: console=ttyS0,115200
`;
const STUB = "search.fs_uuid 11111111-2222-4333-8444-555555555555 root hd0,gpt2 \nset prefix=($root)'/boot/grub'\nconfigfile $prefix/grub.cfg\n";
const DPKG_STATUS = ['grub-common', 'grub-efi-amd64-signed', 'grub2-common']
  .map((name) => `Package: ${name}\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.06-13+deb12u1\n`)
  .join('\n');

async function convert(name: string, extraConfig = '', distroGrub = true) {
  const dir = path.join(base, name);
  const golden = await buildGoldenImage({
    dir,
    scheme: 'gpt',
    files: {
      'etc/fstab': 'UUID=ABCD-1234 /boot/efi vfat umask=0077 0 1\n/dev/sda2 / ext4 errors=remount-ro 0 1\n',
      ...(distroGrub
        ? {
            'var/lib/dpkg/status': DPKG_STATUS,
            'etc/grub.d/00_header': '#!/bin/sh\necho header\n',
            'etc/grub.d/10_linux': '#!/bin/sh\necho "menuentry Debian {"; echo "}"\n',
            'etc/grub.d/40_custom': '#!/bin/sh\nexec tail -n +3 $0\n',
            'etc/grub.d/README': 'not a script\n',
            'etc/default/grub': 'GRUB_DEFAULT=0\nGRUB_TIMEOUT=5\nGRUB_CMDLINE_LINUX_DEFAULT="quiet"\nGRUB_CMDLINE_LINUX=""\n',
            'boot/grub/grub.cfg': '# the distribution\'s\n',
            'boot/grub/grubenv': '# GRUB Environment Block\n',
            'boot/grub/fonts/unicode.pf2': 'font\n',
          }
        : {}),
    },
    modes: distroGrub ? { 'etc/grub.d/00_header': 0o755, 'etc/grub.d/10_linux': 0o755, 'etc/grub.d/40_custom': 0o755 } : {},
    bootFiles: {
      'config.txt': '',
      'cmdline.txt': '',
      'EFI/debian/shimx64.efi': 'shim\n',
      'EFI/debian/grubx64.efi': 'signed grub\n',
      'EFI/debian/grub.cfg': STUB,
      'EFI/BOOT/BOOTX64.EFI': 'shim\n',
      'EFI/BOOT/grubx64.efi': 'signed grub\n',
      'EFI/BOOT/grub.cfg': STUB,
    },
  });
  const configFile = path.join(dir, 'config.yaml');
  fs.writeFileSync(configFile, CONFIG);
  const extraFile = path.join(dir, 'extra.yaml');
  fs.writeFileSync(extraFile, extraConfig);
  const deploy = path.join(dir, 'deploy');
  const result = await runCli(['--disk-image', golden.image, '-c', configFile, '-c', extraFile, '--artifact-name', 'release-1', '--output-dir', deploy, '--work-dir', path.join(dir, 'work')]);
  if (result.exitCode !== 0) return { dir, result };
  const image = path.join(deploy, fs.readdirSync(deploy).find((f) => f.endsWith('.img'))!);
  const table = JSON.parse((await tool('sfdisk', ['--json', image])).stdout).partitiontable;
  const [boot, rootA] = table.partitions;
  const rootfs = path.join(dir, 'rootfs.ext4');
  await tool('dd', [`if=${image}`, `of=${rootfs}`, 'bs=512', `skip=${rootA.start}`, `count=${rootA.size}`, 'status=none']);
  const bootFs = path.join(dir, 'boot.vfat');
  await tool('dd', [`if=${image}`, `of=${bootFs}`, 'bs=512', `skip=${boot.start}`, `count=${boot.size}`, 'status=none']);
  return {
    dir,
    result,
    rootfs,
    bootFs,
    debugfs: async (command: string) => (await tool('debugfs', ['-R', command, rootfs])).stdout,
    bootFile: async (file: string) => (await tool('mtype', ['-i', bootFs, `::${file}`])).stdout,
  };
}

describe('grub.d integration with the distribution\'s GRUB', () => {
  it('keeps its loaders, moves /boot/grub to the boot partition, and writes what update-grub will write', async () => {
    const c = await convert('auto');
    expect(c.result.exitCode, c.result.all).toBe(0);
    const { debugfs, bootFile, bootFs, rootfs, dir } = c as Required<typeof c>;
    expect(c.result.all).toContain("GRUB: the distribution's (grub-efi-amd64-signed), integrated through /etc/grub.d/05_mender");

    // The loaders are the distribution's; every stub config finds the boot partition's /grub.
    expect(await bootFile('/EFI/BOOT/BOOTX64.EFI')).toBe('shim\n');
    const uuid = (await tool('blkid', ['-p', '-o', 'value', '-s', 'UUID', bootFs])).stdout.trim();
    expect(uuid).toMatch(/^[0-9A-F]{4}-[0-9A-F]{4}$/);
    for (const stub of ['/EFI/debian/grub.cfg', '/EFI/BOOT/grub.cfg']) {
      expect(await bootFile(stub)).toBe(`search.fs_uuid ${uuid} root\nset prefix=($root)'/grub'\nconfigfile $prefix/grub.cfg\n`);
    }
    expect(await bootFile('/grub/fonts/unicode.pf2')).toBe('font\n');
    expect(await debugfs('stat /boot/grub')).toContain('Fast link dest: "/boot/efi/grub"');
    expect(await debugfs('stat /vmlinuz')).toContain('Fast link dest: "boot/vmlinuz-6.1.0-test"');
    expect(await debugfs('stat /initrd.img')).toContain('Fast link dest: "boot/initrd.img-6.1.0-test"');

    // The distribution's scripts no longer run; ours does.
    expect(await debugfs('stat /etc/grub.d/10_linux')).toMatch(/Mode:\s+0644/);
    expect(await debugfs('stat /etc/grub.d/00_header')).toMatch(/Mode:\s+0644/);
    expect(await debugfs('stat /etc/grub.d/05_mender')).toMatch(/Mode:\s+0755/);

    // grub-mkconfig over the converted /etc writes the grub.cfg the conversion wrote.
    const tree = path.join(dir, 'tree');
    fs.mkdirSync(path.join(tree, 'etc/default'), { recursive: true });
    fs.mkdirSync(path.join(tree, 'etc/grub.d'), { recursive: true });
    // dump -p keeps each file's mode: which scripts grub-mkconfig runs depends on it.
    const scripts = (await debugfs('ls -p /etc/grub.d')).split('\n').map((line) => line.split('/')[5]).filter((name) => name && name !== '.' && name !== '..');
    for (const name of [...scripts.map((n) => `grub.d/${n}`), 'default/grub']) {
      await tool('debugfs', ['-R', `dump -p /etc/${name} ${path.join(tree, 'etc', name)}`, rootfs]);
    }
    expect(scripts).toEqual(expect.arrayContaining(['05_mender', '10_linux']));
    const generated = (await toolWithEnv(preparedGrubMkconfig(dir, tree), [], { env: { EUID: '0' } })).stdout;
    const written = await bootFile('/grub/grub.cfg');
    expect(generated.replaceAll(`${tree}/etc`, '/etc')).toBe(written);
    expect(written).toContain("mender_kernel='/vmlinuz'");
    expect(written).toContain("mender_kernel_args='console=ttyS0,115200'\nmender_kernel_args=\"${mender_kernel_args} quiet\"\n");
    expect(written).not.toContain('menuentry Debian');
    const cfg = path.join(dir, 'grub.cfg');
    fs.writeFileSync(cfg, written);
    await tool('grub-script-check', [cfg]);
    // The Mender environment and its tools, as with the standalone loader.
    expect((await tool('mdir', ['-b', '-i', bootFs, '::/grub-mender-grubenv/mender_grubenv1'])).stdout).toContain('env');
    expect(await debugfs('stat /usr/bin/grub-mender-grubenv-set')).toMatch(/Mode:\s+0755/);
  });

  it('off installs the standalone loader instead; auto does when the image has no distribution GRUB; on then refuses', async () => {
    const off = await convert('off', 'bootloader:\n  grub_d_integration: "off"\n');
    expect(off.result.exitCode, off.result.all).toBe(0);
    expect(off.result.all).toContain('GRUB: standalone loader /EFI/BOOT/BOOTX64.EFI (no grub.d integration: bootloader.grub_d_integration is off)');
    const loader = path.join(off.dir, 'BOOTX64.EFI');
    await tool('mcopy', ['-n', '-i', off.bootFs!, '::/EFI/BOOT/BOOTX64.EFI', loader]);
    expect((await tool('file', ['-b', loader])).stdout).toMatch(/PE32\+ executable.*x86-64/);
    expect(await off.debugfs!('stat /etc/grub.d/10_linux')).toMatch(/Mode:\s+0755/);

    const auto = await convert('auto-plain', '', false);
    expect(auto.result.exitCode, auto.result.all).toBe(0);
    expect(auto.result.all).toContain('GRUB: standalone loader /EFI/BOOT/BOOTX64.EFI (no grub.d integration: the image has no /etc/grub.d)');

    const on = await convert('on-plain', 'bootloader:\n  grub_d_integration: "on"\n', false);
    expect(on.result.exitCode).toBe(1);
    expect(on.result.stderr).toContain('bootloader.grub_d_integration is on, but the image has no /etc/grub.d.');
    expect(on.result.stderr).not.toMatch(/\n\s+at /);
  });
});
