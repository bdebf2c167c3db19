import { describe, expect, it } from 'vitest';
import { decideIdentities, defaultIdentitySeed, seededUuid, type IdentityRequest } from '../../../src/mender/identities.js';

const noPins = { 'storage.boot_part': '', 'storage.rootfs_a_part': '', 'storage.rootfs_b_part': '', 'storage.data_part': '' };

function request(overrides: Partial<IdentityRequest> = {}): IdentityRequest {
  return { seed: 'fleet', scheme: 'gpt', partuuid: true, deviceBase: '/dev/mmcblk0p', diskId: '', parts: noPins, ...overrides };
}

describe('decideIdentities', () => {
  it('derives distinct, well-formed GPT identities from the seed alone', () => {
    const ids = decideIdentities(request());
    const uuids = Object.values(ids.partUuids);
    expect(uuids).toHaveLength(5);
    expect(new Set(uuids).size).toBe(5);
    for (const uuid of [...uuids, ids.dataFsUuid]) expect(uuid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(decideIdentities(request())).toEqual(ids);
    expect(decideIdentities(request({ seed: 'another' })).partUuids[2]).not.toBe(ids.partUuids[2]);
    expect(ids.diskId).toBeUndefined();
  });

  it('derives a non-zero MBR disk identifier', () => {
    const ids = decideIdentities(request({ scheme: 'dos' }));
    expect(ids.diskId).toMatch(/^[0-9a-f]{8}$/);
    expect(ids.diskId).not.toBe('00000000');
    expect(ids.diskId).toBe(decideIdentities(request({ scheme: 'dos', partuuid: false })).diskId);
  });

  it('seeds from the device types in any order', () => {
    expect(defaultIdentitySeed(['b', 'a'])).toBe(defaultIdentitySeed(['a', 'b']));
    expect(defaultIdentitySeed(['a'])).not.toBe(defaultIdentitySeed(['a', 'b']));
  });

  it('keeps pinned GPT identities and derives the others', () => {
    const ids = decideIdentities(request({
      diskId: 'AAAAAAAA-1111-4222-8333-444455556666',
      parts: { ...noPins, 'storage.rootfs_b_part': '/dev/disk/by-partuuid/BBBBBBBB-1111-4222-8333-444455556666' },
    }));
    expect(ids.partUuids[0]).toBe('aaaaaaaa-1111-4222-8333-444455556666');
    expect(ids.partUuids[3]).toBe('bbbbbbbb-1111-4222-8333-444455556666');
    expect(ids.partUuids[2]).toBe(seededUuid('fleet', 'gpt-partition-2'));
  });

  it('takes an MBR disk identifier from storage.disk_id or from the pinned PARTUUIDs', () => {
    expect(decideIdentities(request({ scheme: 'dos', diskId: '0xDEADBEEF' })).diskId).toBe('deadbeef');
    const parts = { ...noPins, 'storage.boot_part': '/dev/disk/by-partuuid/5e3da3da-01', 'storage.data_part': '/dev/disk/by-partuuid/5e3da3da-04' };
    expect(decideIdentities(request({ scheme: 'dos', parts })).diskId).toBe('5e3da3da');
    expect(decideIdentities(request({ scheme: 'dos', parts, diskId: '5E3DA3DA' })).diskId).toBe('5e3da3da');
  });

  it('refuses pins that cannot name the layout', () => {
    const dos = (parts: Partial<typeof noPins>, diskId = '') => () => decideIdentities(request({ scheme: 'dos', parts: { ...noPins, ...parts }, diskId }));
    expect(dos({ 'storage.data_part': '/dev/disk/by-partuuid/5e3da3da-05' })).toThrow(/names partition 5, but the data partition is number 4/);
    expect(dos({ 'storage.boot_part': '/dev/disk/by-partuuid/5e3da3da-01', 'storage.data_part': '/dev/disk/by-partuuid/11111111-04' })).toThrow(/names disk identifier 11111111, but storage.boot_part names 5e3da3da/);
    expect(dos({ 'storage.boot_part': '/dev/disk/by-partuuid/5e3da3da-01' }, '0x12345678')).toThrow(/but storage.disk_id is 0x12345678/);
    expect(dos({ 'storage.boot_part': '/dev/disk/by-partuuid/0b0b0b0b-1111-4222-8333-444455556666' })).toThrow(/is not an MBR partition's PARTUUID device/);
    expect(dos({}, '0x00000000')).toThrow(/not an MBR disk identifier/);
    expect(dos({}, '0b0b0b0b-1111-4222-8333-444455556666')).toThrow(/not an MBR disk identifier/);
    expect(() => decideIdentities(request({ diskId: '0x12345678' }))).toThrow(/not a GPT disk GUID/);
    expect(() => decideIdentities(request({ parts: { ...noPins, 'storage.boot_part': '/dev/mmcblk0p1' } }))).toThrow(/is not a GPT partition's PARTUUID device/);
    const same = '/dev/disk/by-partuuid/bbbbbbbb-1111-4222-8333-444455556666';
    expect(() => decideIdentities(request({ parts: { ...noPins, 'storage.rootfs_a_part': same, 'storage.rootfs_b_part': same } })))
      .toThrow(/given to partition 2 \(rootfs A\) and partition 3 \(rootfs B\)/);
  });

  it('without PARTUUIDs accepts only the device the layout gives each partition', () => {
    const plain = (device: string) => () => decideIdentities(request({ partuuid: false, parts: { ...noPins, 'storage.rootfs_b_part': device }, sourceOf: () => 'board.yaml:3' }));
    expect(plain('/dev/mmcblk0p3')).not.toThrow();
    expect(plain('/dev/sda3')).toThrow(/storage.rootfs_b_part '\/dev\/sda3' \(board.yaml:3\) is not the rootfs B partition's device: .* here \/dev\/mmcblk0p3/);
    expect(plain('/dev/mmcblk0p5')).toThrow(/here \/dev\/mmcblk0p3/);
  });
});
