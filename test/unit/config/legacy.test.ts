import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isLegacyConfig, readLegacyConfig } from '../../../src/config/legacy.js';
import { loadConfig } from '../../../src/config/load.js';
import { renderMigration } from '../../../src/config/render.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'legacy-test-'));
function write(name: string, text: string): string {
  const file = path.join(tmp, name);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
  return file;
}

describe('upstream-style shell configs', () => {
  it('are told apart from YAML by content', () => {
    expect(isLegacyConfig('x_config', 'MENDER_DEVICE_TYPE="a"\n')).toBe(true);
    expect(isLegacyConfig('x_config', 'source configs/other\n')).toBe(true);
    expect(isLegacyConfig('x.yaml', 'MENDER_DEVICE_TYPE: a\n')).toBe(false);
    expect(isLegacyConfig('x_config', 'storage:\n  total_size_mb: 4\n')).toBe(false);
  });

  it('give the same effective config as the YAML equivalent (qemux86-64 style with source)', () => {
    write('include/common_config', '# shared\nMENDER_COPY_BOOT_GAP="n"\nMENDER_PARTITION_ALIGNMENT="4194304"\n');
    const legacy = write(
      'qemu_config',
      [
        '# upstream style',
        `source ${path.join(tmp, 'include/common_config')}`,
        'MENDER_STORAGE_DEVICE_BASE=/dev/sda',
        'MENDER_DEVICE_TYPE="qemux86-64"',
        "export MENDER_STORAGE_TOTAL_SIZE_MB='4096'",
        'BASE_NAME=qemu',
        'DEPLOY_IMAGE_NAME="${BASE_NAME}-image"',
        'MENDER_GRUB_EFI_INTEGRATION=y',
        'MENDER_COMPRESS_DISK_IMAGE=lzma   # trailing comment',
        'IMAGE_OVERHEAD_FACTOR="2.0"',
        'MENDER_DATA_PART_GROWFS=n',
        'MENDER_ROOT_PART_FSTAB_OPTS="defaults,\\',
        'ro"',
        'MENDER_ENABLE_SYSTEMD=y',
        '',
      ].join('\n'),
    );
    const yaml = write(
      'qemu.yaml',
      [
        'storage: { device_base: /dev/sda, total_size_mb: 4096, copy_boot_gap: false, alignment: 4194304 }',
        'device: { types: [qemux86-64] }',
        'image: { name: qemu-image, compression: xz }',
        'bootloader: { type: grub }',
        'rootfs: { overhead_factor: 2.0, fstab_opts: "defaults,ro" }',
        'data: { growfs: false }',
        '',
      ].join('\n'),
    );
    const fromLegacy = loadConfig({ configFiles: [legacy], env: {} }).config;
    const fromYaml = loadConfig({ configFiles: [yaml], env: {} }).config;
    expect(fromLegacy).toEqual(fromYaml);
    expect(fromLegacy['storage.total_size_mb']).toBe(4096);
  });

  it('report functions, unsupported variables and commands with their line numbers', () => {
    const file = write(
      'bad_config',
      [
        'MENDER_DEVICE_TYPE=rpi',
        'platform_modify() {',
        '  echo hi',
        '}',
        'MENDER_DOES_NOT_EXIST=1',
        'PLATFORM_MODIFY_HOOKS+=(platform_modify)',
        'rm -rf /',
        'MENDER_BOOT_PART_NUMBER=2',
      ].join('\n'),
    );
    const { problems, layer } = readLegacyConfig(file);
    expect(layer.get('device.types')?.value).toEqual(['rpi']);
    expect(problems.map((p) => [p.line, p.message.split(/[:;]/)[0]])).toEqual([
      [2, "bash function 'platform_modify' is not run"],
      [6, 'PLATFORM_MODIFY_HOOKS'],
      [7, "'rm -rf /' is a shell command, which is not run"],
      [5, "MENDER_DOES_NOT_EXIST is not supported by mender-convert (TypeScript)"],
      [8, 'MENDER_BOOT_PART_NUMBER=2 is not supported'],
    ]);
    expect(() => loadConfig({ configFiles: [file], env: {} })).toThrow(/bad_config:2: bash function 'platform_modify'/);
  });

  it('--migrate prints YAML that loads to the same values, and lists what did not carry over', () => {
    const file = write('migrate_config', 'MENDER_STORAGE_TOTAL_SIZE_MB=2048\nMENDER_DEVICE_TYPE="a b"\nfoo() { :; }\n');
    const text = renderMigration(file, readLegacyConfig(file));
    expect(text).toContain("# NOT MIGRATED");
    expect(text).toContain("bash function 'foo'");
    const yaml = write('migrated.yaml', text);
    const { config } = loadConfig({ configFiles: [yaml], env: {} });
    expect(config['storage.total_size_mb']).toBe(2048);
    expect(config['device.types']).toEqual(['a', 'b']);
  });
});
