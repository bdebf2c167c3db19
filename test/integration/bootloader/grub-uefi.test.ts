/**
 * The standalone loader, its early config, our grub.cfg and the environment together in real
 * UEFI firmware (QEMU + OVMF, TCG): the loader finds the boot partition, GRUB reads and saves
 * the environment on FAT, an update is tried and, when its kernel does not boot, rolled back on
 * the next start. The "kernels" are text files, so GRUB stops at loading them. Runs when
 * qemu-system-x86 and ovmf are installed.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateGrubConfig } from '../../../src/bootloader/grub/config.js';
import { buildGrubEfi } from '../../../src/bootloader/grub/efi.js';
import { formatGrubEnv, parseGrubEnv } from '../../../src/bootloader/grub/env.js';
import { findTool } from '../../../src/util/tools.js';
import { buildAbDisk, getBootFile, putEnvFiles, type AbDisk } from './harness.js';

const OVMF = ['/usr/share/ovmf/OVMF.fd', '/usr/share/qemu/OVMF.fd'].find((file) => fs.existsSync(file));
const available = Boolean(OVMF && findTool('qemu-system-x86_64'));

/** Boot the disk until GRUB gives up on the (text file) kernel: what it prints by then is all there is. */
async function boot(image: string): Promise<string> {
  const qemu = execa('qemu-system-x86_64', [
    '-machine', 'q35', '-m', '256', '-display', 'none', '-serial', 'stdio', '-net', 'none', '-no-reboot',
    '-bios', OVMF!, '-drive', `file=${image},format=raw,if=virtio`,
  ], { reject: false, input: '', timeout: 180_000 });
  let output = '';
  let stopping = false;
  qemu.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
    if (!stopping && output.includes('Mender: cannot boot from')) {
      stopping = true;
      setTimeout(() => qemu.kill('SIGKILL'), 2000);
    }
  });
  await qemu;
  return output.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');
}

describe.skipIf(!available)('GRUB in UEFI firmware (QEMU/OVMF)', () => {
  let dir: string;
  let disk: AbDisk;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'grub-uefi-'));
    disk = await buildAbDisk(dir, 'gpt');
    const loader = path.join(dir, 'BOOTX64.EFI');
    await buildGrubEfi({ arch: 'amd64', modulesDir: '/usr/lib/grub/x86_64-efi', output: loader });
    const config = generateGrubConfig({
      parts: { a: 2, b: 3 },
      rootDevices: { a: '/dev/vda2', b: '/dev/vda3' },
      initrd: true,
      consoleArgs: 'console=ttyS0,115200',
      serial: { unit: 0, speed: 115200 },
    });
    const update = formatGrubEnv({ mender_boot_part: '3', mender_boot_part_hex: '3', upgrade_available: '1', bootcount: '0' });
    await putEnvFiles(disk, dir, {
      '/EFI/BOOT/BOOTX64.EFI': fs.readFileSync(loader),
      '/EFI/BOOT/grub.cfg': config,
      '/grub-mender-grubenv/mender_grubenv1/env': update,
      '/grub-mender-grubenv/mender_grubenv2/env': update,
    });
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const env = async (copy: 1 | 2) => parseGrubEnv(await getBootFile(disk, dir, `/grub-mender-grubenv/mender_grubenv${copy}/env`)).values;

  it('tries the update on partition 3, then rolls back to partition 2 after the failed start', async () => {
    const first = await boot(disk.image);
    expect(first).toContain('Mender: trying the update on partition 3.');
    expect(first).toContain('Mender: booting (hd0,gpt3)/boot/kernel with root=/dev/vda3');
    expect(first).toContain('Mender: rebooting to roll back.');
    const tried = { mender_boot_part: '3', mender_boot_part_hex: '3', upgrade_available: '1', bootcount: '1' };
    expect(await env(1)).toEqual(tried);
    expect(await env(2)).toEqual(tried);

    const second = await boot(disk.image);
    expect(second).toContain('Mender: the update on partition 3 was not committed; rolling back.');
    expect(second).toContain('Mender: booting (hd0,gpt2)/boot/kernel with root=/dev/vda2');
    const rolledBack = { mender_boot_part: '2', mender_boot_part_hex: '2', upgrade_available: '0', bootcount: '0' };
    expect(await env(1)).toEqual(rolledBack);
    expect(await env(2)).toEqual(rolledBack);
  }, 400_000);
});
