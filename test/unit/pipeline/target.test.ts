import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MiB } from '../../../src/disk/layout.js';
import { partitionDevice } from '../../../src/mender/devices.js';
import { seededUuid } from '../../../src/mender/identities.js';
import { decideTarget } from '../../../src/pipeline/stages/target.js';
import type { RunEnv } from '../../../src/pipeline/types.js';
import { envWith, extractedWith, factsWith } from './fixtures.js';

const arm = factsWith({ arch: 'arm64' });

describe('decideTarget', () => {
  it('takes the device type from the image hostname, else "default", unless configured', () => {
    expect(decideTarget(envWith(''), extractedWith()).deviceTypes).toEqual(['golden']);
    expect(decideTarget(envWith(''), extractedWith({ facts: factsWith({ hostname: '' }) })).deviceTypes).toEqual(['default']);
    expect(decideTarget(envWith('device:\n  types: [a, b]\n'), extractedWith()).deviceTypes).toEqual(['a', 'b']);
  });

  it('mounts the boot partition where configured, else where the image did, else where the bootloader wants it', () => {
    expect(decideTarget(envWith(''), extractedWith()).bootMountpoint).toBe('/boot/efi');
    expect(decideTarget(envWith('bootloader:\n  type: uboot\n'), extractedWith({ facts: arm })).bootMountpoint).toBe('/uboot');
    expect(decideTarget(envWith(''), extractedWith({ facts: factsWith({ bootMountpoint: '/boot/firmware' }) })).bootMountpoint).toBe('/boot/firmware');
    expect(decideTarget(envWith('boot:\n  mountpoint: /boot/x\n'), extractedWith({ facts: factsWith({ bootMountpoint: '/boot/firmware' }) })).bootMountpoint).toBe('/boot/x');
  });

  it('lets the bootloader reserve room before the first partition (U-Boot: its two environment copies)', () => {
    const grub = decideTarget(envWith('storage:\n  alignment: 4194304\n'), extractedWith()).layout;
    const uboot = decideTarget(envWith('bootloader:\n  type: uboot\nstorage:\n  alignment: 4194304\n'), extractedWith({ facts: arm })).layout;
    expect(grub.boot.start).toBe(4 * MiB);
    expect(grub.overheadBytes).toBe(16 * MiB);
    expect(uboot.boot.start).toBe(12 * MiB);
    expect(uboot.overheadBytes).toBe(24 * MiB);
  });

  it('compresses the image as the input was unless configured, and names every output after it', () => {
    const env = envWith('device:\n  types: [a, b]\nimage:\n  bmap: true\n');
    const { outputs, imageCompression } = decideTarget(env, extractedWith());
    expect(imageCompression).toBe('xz');
    const base = path.join(env.outputDir, 'golden-a+b-mender');
    expect(outputs).toEqual({
      base,
      image: `${base}.img.xz`,
      rawImage: `${base}.img`,
      rootfs: `${base}.ext4`,
      artifact: `${base}.mender`,
      testsConfig: `${base}.cfg`,
      results: `${base}.json`,
      bmap: `${base}.bmap`,
      sbom: [{ format: 'spdx', path: `${base}.spdx.json` }, { format: 'cyclonedx', path: `${base}.cdx.json` }],
    });
    const plain = decideTarget(envWith('image:\n  compression: none\n  name: custom\nartifact:\n  sbom: none\n'), extractedWith());
    expect(plain.outputs.image).toBe(path.join(env.outputDir, 'custom.img'));
    expect(plain.outputs.bmap).toBeUndefined();
    expect(plain.outputs.sbom).toEqual([]);
  });

  it('refuses an output name that is the input', () => {
    const env = envWith('image:\n  name: golden\n  compression: xz\n');
    expect(() => decideTarget({ ...env, inputPath: path.join(env.outputDir, 'golden.img.xz') }, extractedWith())).toThrow(/would overwrite the input image/);
  });

  it('refuses a boot gap that reaches into the first partition', () => {
    const gap = { file: '/run/gap', offset: 512, bytes: 5 * MiB };
    expect(() => decideTarget(envWith('storage:\n  alignment: 4194304\n'), extractedWith({ files: { boot: 'b', rootfs: 'r', bootGap: gap } }))).toThrow(/boot gap .* would overlap the first partition/);
    expect(() => decideTarget(envWith('storage:\n  alignment: 8388608\n'), extractedWith({ files: { boot: 'b', rootfs: 'r', bootGap: gap } }))).not.toThrow();
  });

  it("keeps the input scheme; names devices by PARTUUID from the fleet's identities, never the input's", () => {
    const gpt = extractedWith({ table: { scheme: 'gpt' } });
    const { naming } = decideTarget(envWith('device:\n  types: [pc]\nstorage:\n  partuuid: true\n'), gpt);
    expect(naming.scheme).toBe('gpt');
    expect(partitionDevice(1, naming)).toBe(`/dev/disk/by-partuuid/${seededUuid('device-types:pc', 'gpt-partition-1')}`);
    const dos = decideTarget(envWith('device:\n  types: [pc]\nstorage:\n  partuuid: true\n'), extractedWith()).naming;
    expect(partitionDevice(4, dos)).toMatch(/^\/dev\/disk\/by-partuuid\/[0-9a-f]{8}-04$/);
    expect(decideTarget(envWith('storage:\n  partition_scheme: gpt\n'), extractedWith()).naming.scheme).toBe('gpt');
  });

  it('gives every release the same identities: they follow the fleet seed, not the artifact name, the input or the epoch', () => {
    const identities = (yaml: string, env: Partial<RunEnv> = {}) => decideTarget(envWith(`device:\n  types: [pc, pc2]\n${yaml}`, env), extractedWith({ table: { scheme: 'gpt' } })).identities;
    const first = identities('artifact:\n  name: release-1\n');
    expect(identities('artifact:\n  name: release-2\n', { inputPath: '/golden/rebuilt.img', epoch: 1234 })).toEqual(first);
    expect(decideTarget(envWith('device:\n  types: [pc2, pc]\n'), extractedWith({ table: { scheme: 'gpt' } })).identities).toEqual(first);
    const otherFleet = identities('storage:\n  identity_seed: other-fleet\n');
    expect(otherFleet).not.toEqual(first);
    expect(otherFleet.partUuids[2]).toBe(seededUuid('other-fleet', 'gpt-partition-2'));
  });

  it('takes pinned identities from storage.disk_id and the partition devices (upstream MENDER_*_PART)', () => {
    const pinned = decideTarget(envWith([
      'storage:', '  partuuid: true', '  partition_scheme: gpt', '  disk_id: 0B0B0B0B-1111-4222-8333-444455556666',
      '  data_part: /dev/disk/by-partuuid/DA7A0000-1111-4222-8333-444455556666', '',
    ].join('\n')), extractedWith()).naming;
    expect(partitionDevice(4, pinned)).toBe('/dev/disk/by-partuuid/da7a0000-1111-4222-8333-444455556666');
    expect(pinned.partUuids?.[0]).toBe('0b0b0b0b-1111-4222-8333-444455556666');
    const dos = decideTarget(envWith('storage:\n  partuuid: true\n  rootfs_a_part: /dev/disk/by-partuuid/cafe0001-02\n'), extractedWith()).naming;
    expect(dos.diskId).toBe('cafe0001');
    expect(partitionDevice(3, dos)).toBe('/dev/disk/by-partuuid/cafe0001-03');
  });
  it('asks the bootloader for its decisions before anything changes: U-Boot refuses an x86 image', () => {
    expect(() => decideTarget(envWith('bootloader:\n  type: uboot\n'), extractedWith())).toThrow(/U-Boot integration supports ARM images/);
    expect(() => decideTarget(envWith('bootloader:\n  type: uboot\nuboot:\n  kernel_image: boot/Image\n'), extractedWith({ facts: arm }))).toThrow(/must be an absolute path/);
    expect(() => decideTarget(envWith(''), extractedWith({ facts: factsWith({ arch: 'armhf' }) }))).toThrow(/GRUB integration supports amd64 and arm64/);
  });
});
