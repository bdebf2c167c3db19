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

  it("carry upstream's partition pins (MENDER_*_PART with MENDER_ENABLE_PARTUUID) into the identity knobs", () => {
    const legacy = write('partuuid_config', [
      'MENDER_ENABLE_PARTUUID="y"',
      'MENDER_BOOT_PART="/dev/disk/by-partuuid/26445670-f37c-408b-be2c-3ef419866620"',
      'MENDER_ROOTFS_PART_A="/dev/disk/by-partuuid/26445670-f37c-408b-be2c-3ef419866621"',
      'MENDER_ROOTFS_PART_B="/dev/disk/by-partuuid/26445670-f37c-408b-be2c-3ef419866622"',
      'MENDER_DATA_PART="/dev/disk/by-partuuid/26445670-f37c-408b-be2c-3ef419866623"',
      '',
    ].join('\n'));
    const { config } = loadConfig({ configFiles: [legacy], env: {} });
    expect(config['storage.partuuid']).toBe(true);
    expect(config['storage.boot_part']).toBe('/dev/disk/by-partuuid/26445670-f37c-408b-be2c-3ef419866620');
    expect(config['storage.data_part']).toBe('/dev/disk/by-partuuid/26445670-f37c-408b-be2c-3ef419866623');
    expect(() => loadConfig({ configFiles: [write('bad_part_config', 'MENDER_DATA_PART="mmcblk0p4"\n')], env: {} })).toThrow(/MENDER_DATA_PART|storage.data_part/);
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
      [5, 'MENDER_DOES_NOT_EXIST is not supported by mender-convert (TypeScript)'],
      [6, 'PLATFORM_MODIFY_HOOKS'],
      [7, "'rm -rf /' is a shell command, which is not run"],
      [8, 'MENDER_BOOT_PART_NUMBER=2 is not supported'],
    ]);
    expect(() => loadConfig({ configFiles: [file], env: {} })).toThrow(/bad_config:2: bash function 'platform_modify'/);
  });

  it('an override of mender_create_artifact is answered with the artifact settings that replace its flags', () => {
    const file = write('artifact_config', 'mender_create_artifact() {\n  mender-artifact write rootfs-image --script s/ArtifactInstall_Enter_00\n}\n');
    const [problem] = readLegacyConfig(file).problems;
    expect(problem!.line).toBe(1);
    expect(problem!.message).toMatch(/^bash function 'mender_create_artifact' is not run; .*artifact\.state_scripts \(--script\), artifact\.provides, artifact\.depends, artifact\.clears_provides, artifact\.software_name, artifact\.software_version/);
  });

  it('--migrate prints YAML that loads to the same values, and lists what did not carry over', () => {
    const file = write('migrate_config', 'MENDER_STORAGE_TOTAL_SIZE_MB=2048\nMENDER_DEVICE_TYPE="a b"\nfoo() { :; }\n');
    const text = renderMigration(file, readLegacyConfig(file));
    expect(text).toContain('# NOT MIGRATED');
    expect(text).toContain("bash function 'foo'");
    const yaml = write('migrated.yaml', text);
    const { config } = loadConfig({ configFiles: [yaml], env: {} });
    expect(config['storage.total_size_mb']).toBe(2048);
    expect(config['device.types']).toEqual(['a', 'b']);
  });
});

describe('upstream configs written in upstream style', () => {
  it("upstream's default config (its variables, without the bash functions it sources) equals our defaults", () => {
    const file = write(
      'mender_convert_config',
      `# Upstream defaults, as configs/mender_convert_config sets them
MENDER_COMPRESS_DISK_IMAGE=gzip
MENDER_ARTIFACT_COMPRESSION="gzip"
MENDER_ENABLE_SYSTEMD=y
MENDER_BOOT_PART_FSTAB_OPTS="defaults,sync"
MENDER_ROOT_PART_MKFS_OPTS=""
MENDER_ROOT_PART_FSTAB_OPTS="defaults"
MENDER_ROOT_PART_FS_PASSNO="1"
MENDER_DATA_PART_FSTAB_OPTS="defaults"
MENDER_DATA_PART_MKFS_OPTS=""
MENDER_DATA_PART_GROWFS=y
MENDER_DEVICE_TYPE=""
DEPLOY_IMAGE_NAME=""
MENDER_PARTITION_SCHEME=""
MENDER_STORAGE_TOTAL_SIZE_MB="8192"
MENDER_BOOT_PART_SIZE_MB="40"
MENDER_DATA_PART_SIZE_MB="128"
MENDER_PARTITION_ALIGNMENT="8388608"
MENDER_CLIENT_INSTALL="y"
MENDER_CLIENT_VERSION="auto"
MENDER_FLASH_VERSION="latest"
MENDER_ADDON_CONNECT_INSTALL="n"
MENDER_ADDON_CONNECT_VERSION="latest"
MENDER_ADDON_CONFIGURE_INSTALL="n"
MENDER_ADDON_CONFIGURE_VERSION="latest"
MENDER_DOCKER_COMPOSE_INSTALL="n"
MENDER_DOCKER_COMPOSE_VERSION="latest"
MENDER_INSTALL_INPUT_PACKAGES_PATH="input/deb"
MENDER_INSTALL_INPUT_PACKAGES="n"
MENDER_SETUP_INSTALL="auto"
MENDER_SETUP_VERSION="latest"
MENDER_SNAPSHOT_INSTALL="auto"
MENDER_SNAPSHOT_VERSION="latest"
MENDER_CLIENT_VERSION_INVENTORY_SCRIPT_INSTALL="y"
MENDER_CLIENT_VERSION_INVENTORY_SCRIPT_VERSION="latest"
MENDER_SPARSE_IMAGE="n"
MENDER_STORAGE_URL="https://downloads.mender.io"
MENDER_APT_REPO_URL="\${MENDER_STORAGE_URL}/repos/device-components"
MENDER_APT_KEY_URL="https://downloads.mender.io/repos/debian/gpg"
MENDER_APT_KEY_FP="E6C857345575F9218396566224072B80A1B29B00"
MENDER_GITHUB_ORG="https://github.com/mendersoftware"
MENDER_STORAGE_DEVICE_BASE=/dev/mmcblk0p
MENDER_BOOT_PART_NUMBER="1"
MENDER_ROOTFS_PART_A_NUMBER="2"
MENDER_ROOTFS_PART_B_NUMBER="3"
MENDER_DATA_PART_NUMBER="4"
MENDER_ENABLE_PARTUUID="n"
MENDER_BOOT_PART=""
MENDER_ROOTFS_PART_A=""
MENDER_ROOTFS_PART_B=""
MENDER_DATA_PART=""
MENDER_DTB_NAME=kernel.dtb
MENDER_USE_BMAP="n"
MENDER_COPY_BOOT_GAP="y"
IMAGE_ROOTFS_SIZE="0"
IMAGE_ROOTFS_EXTRA_SPACE="0"
IMAGE_OVERHEAD_FACTOR="1.5"
MENDER_EXPAND_WORK_ROOTFS=""
MENDER_CLIENT_DATA_DIR_SERVICE_URL="https://raw.githubusercontent.com/mendersoftware/\\
meta-mender/ab9c1e65abf73cde1065e2a4c2005cfe61ee6e3d/meta-mender-core/recipes-mender/mender-client/files/mender-data-dir.service"
MENDER_GRUB_EFI_INTEGRATION=y
MENDER_GRUB_D_INTEGRATION=auto
GRUB_VERSION=2.12
MENDER_GRUB_KERNEL_BOOT_ARGS=""
`,
    );
    const { problems } = readLegacyConfig(file);
    expect(problems).toEqual([]);
    const legacy = loadConfig({ configFiles: [file], env: {} }).config;
    const defaults = loadConfig({ configFiles: [], env: {} }).config;
    // Upstream compresses the disk image with gzip by default; we follow the input's compression.
    expect({ ...legacy, 'image.compression': 'auto' }).toEqual(defaults);
    expect(legacy['image.compression']).toBe('gzip');
  });

  it('a Raspberry Pi style config equals its YAML equivalent', () => {
    const legacy = write(
      'raspberrypi4_config',
      'MENDER_GRUB_EFI_INTEGRATION=n\nMENDER_BOOT_PART_MOUNT_LOCATION="/boot/firmware"\nMENDER_COPY_BOOT_GAP=n\nMENDER_PARTITION_ALIGNMENT="4194304"\nMENDER_DEVICE_TYPE="raspberrypi4_64"\nMENDER_STORAGE_TOTAL_SIZE_MB=8000\n',
    );
    const yaml = write(
      'raspberrypi4.yaml',
      'bootloader: { type: uboot }\nboot: { mountpoint: /boot/firmware }\nstorage: { copy_boot_gap: false, alignment: 4194304, total_size_mb: 8000 }\ndevice: { types: [raspberrypi4_64] }\n',
    );
    expect(loadConfig({ configFiles: [legacy], env: {} }).config).toEqual(loadConfig({ configFiles: [yaml], env: {} }).config);
  });
});
