import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MiB } from '../../../src/disk/layout.js';
import { partitionDevice } from '../../../src/mender/devices.js';
import { seededUuid } from '../../../src/mender/identities.js';
import { decideTarget } from '../../../src/pipeline/stages/target.js';
import type { RunEnv } from '../../../src/pipeline/types.js';
import type { UserError } from '../../../src/util/errors.js';
import { errorOf } from '../../helpers/errors.js';
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

  describe("the board's raw files (board.raw_files)", () => {
    const raw = (name: string, offset: number, bytes: number) => ({ name, origin: 'test', offset, data: Buffer.alloc(bytes, 1), sha256: '' });
    // U-Boot on 4 MiB: the environment copies at 4 and 8 MiB (16 KiB each), partition 1 at 12 MiB.
    const uboot = envWith('bootloader:\n  type: uboot\nstorage:\n  alignment: 4194304\n  total_size_mb: 256\ndata:\n  size_mb: 16\nboot:\n  size_mb: 16\n');
    const decide = (...rawFiles: ReturnType<typeof raw>[]) => decideTarget(uboot, extractedWith({ facts: arm, bootBytes: 0, rawFiles }));

    it('accepts files between the table, the environment copies and partition 1, and keeps them in the target', () => {
      const files = [raw('uboot:idbloader.img', 64 * 512, 172032), raw('uboot:u-boot.itb', 6 * MiB, 1049680)];
      expect(decide(...files).rawFiles).toEqual(files);
      expect(decideTarget(uboot, extractedWith({ facts: arm, bootBytes: 0 })).rawFiles).toEqual([]);
    });

    it('refuses a file over partition 1, naming its range, the partition and the alignment to raise', () => {
      const error = errorOf(() => decide(raw('uboot:u-boot.itb', 11 * MiB, 2 * MiB)));
      expect(error.message).toBe(`The raw file uboot:u-boot.itb (board.raw_files, sector 22528, bytes ${11 * MiB} to ${13 * MiB}) would overlap partition 1 (boot) (sector 24576, bytes ${12 * MiB} to ${28 * MiB}).`);
      expect((error as UserError).hint).toMatch(/^Raise storage\.alignment \(MENDER_PARTITION_ALIGNMENT, now 4194304\): the U-Boot environment copies sit at 1 and 2 × alignment/);
    });

    it('refuses a file over an environment copy (the Rockchip u-boot.itb at 8 MiB with a 4 MiB alignment)', () => {
      const error = errorOf(() => decide(raw('uboot:u-boot.itb', 16384 * 512, 1049680)));
      expect(error.message).toBe('The raw file uboot:u-boot.itb (board.raw_files, sector 16384, bytes 8388608 to 9438288) would overlap the U-Boot environment copy at 0x800000 (sector 16384, bytes 8388608 to 8404992).');
      expect((error as UserError).hint).toContain('Raise storage.alignment');
      // With the environment in a file on the boot partition nothing is kept there.
      const file = envWith('bootloader:\n  type: uboot\nuboot:\n  env_storage: file\nstorage:\n  alignment: 4194304\n  total_size_mb: 256\ndata:\n  size_mb: 16\nboot:\n  size_mb: 16\n');
      expect(() => decideTarget(file, extractedWith({ facts: arm, bootBytes: 0, rawFiles: [raw('uboot:u-boot.itb', 16384 * 512, 1049680)] }))).not.toThrow();
    });

    it('refuses a file over the partition table: the MBR sector, GPT sectors 0-33', () => {
      expect(() => decide(raw('spl.bin', 0, 512))).toThrow(/overlap the MBR partition table \(sector 0\)/);
      expect(() => decide(raw('spl.bin', 512, 512))).not.toThrow();
      const gpt = extractedWith({ facts: arm, bootBytes: 0, table: { scheme: 'gpt' }, rawFiles: [raw('spl.bin', 8192, 4096)] });
      expect(() => decideTarget(uboot, gpt)).toThrow(/would overlap the GPT partition table \(sectors 0-33\) .*\.$/);
    });

    it('refuses two files over each other, past the end of the storage, or past the gap before partition 1', () => {
      expect(() => decide(raw('a.img', 32768, MiB), raw('b.img', MiB, 4096))).toThrow(/^The raw file b\.img \(board\.raw_files, sector 2048, bytes 1048576 to 1052672\) would overlap a\.img \(sector 64, bytes 32768 to 1081344\)\.$/);
      expect(() => decide(raw('far.img', 256 * MiB - 512, 1024))).toThrow(/far\.img .* ends past the end of the storage \(268435456 bytes\)/);
      const tail = decide().layout;
      const afterData = tail.data.start + tail.data.size;
      expect(afterData).toBeLessThan(256 * MiB);
      expect(() => decide(raw('tail.img', afterData, 512))).toThrow(/tail\.img .* lies past the first partition \(at byte 12582912\), after the partitions/);
    });
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
