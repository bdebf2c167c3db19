import { describe, expect, it } from 'vitest';
import { partitionDevice } from '../../../src/mender/devices.js';
import { rewriteFstab } from '../../../src/mender/fstab.js';

const raspiFstab = `proc            /proc           proc    defaults          0       0
PARTUUID=5e3da3da-01  /boot/firmware  vfat    defaults          0       2
PARTUUID=5e3da3da-02  /               ext4    defaults,noatime  0       1
# a comment
tmpfs /tmp tmpfs defaults 0 0
/dev/sdb1 /data ext4 defaults 0 2
`;

describe('fstab', () => {
  const input = {
    original: raspiFstab,
    bootDevice: '/dev/mmcblk0p1',
    bootMountpoint: '/boot/firmware',
    bootOptions: 'defaults,sync',
    rootOptions: 'defaults',
    rootPassno: 1,
    dataDevice: '/dev/mmcblk0p4',
    dataOptions: 'defaults',
    growData: true,
  };
  const lines = (text: string) => text.split('\n').filter((line) => line.trim() && !line.startsWith('#')).map((line) => line.split(/\s+/));

  it('puts boot, root and data first and keeps every other original line', () => {
    const rows = lines(rewriteFstab(input));
    expect(rows[0]).toEqual(['/dev/mmcblk0p1', '/boot/firmware', 'auto', 'defaults,sync', '0', '0']);
    expect(rows[1]).toEqual(['/dev/root', '/', 'auto', 'defaults', '1', '1']);
    expect(rows[2]).toEqual(['/dev/mmcblk0p4', '/data', 'auto', 'defaults,x-systemd.growfs', '0', '0']);
    expect(rows.map((row) => row[1])).toEqual(['/boot/firmware', '/', '/data', '/proc', '/tmp']);
  });

  it('never lists a mount point twice and drops old /boot* lines', () => {
    const text = rewriteFstab({ ...input, bootMountpoint: '/uboot', original: `${raspiFstab}/dev/x /boot ext4 defaults 0 0\n/dev/y /uboot vfat defaults 0 0\n` });
    const mountpoints = lines(text).map((row) => row[1]);
    expect(new Set(mountpoints).size).toBe(mountpoints.length);
    expect(mountpoints.filter((m) => m!.startsWith('/boot'))).toEqual([]);
  });

  it('adds x-systemd.growfs only when growing and only once', () => {
    expect(rewriteFstab({ ...input, growData: false })).not.toContain('growfs');
    const text = rewriteFstab({ ...input, dataOptions: 'defaults,x-systemd.growfs' });
    expect(text.match(/x-systemd\.growfs/g)).toHaveLength(1);
  });
});

describe('partition device names', () => {
  it('device base + number by default', () => {
    expect(partitionDevice(2, { deviceBase: '/dev/mmcblk0p', partuuid: false, scheme: 'dos' })).toBe('/dev/mmcblk0p2');
  });
  it('MBR PARTUUIDs are <disk id>-<2-digit number>', () => {
    expect(partitionDevice(3, { deviceBase: '', partuuid: true, scheme: 'dos', diskId: 'ABCDEF01' })).toBe('/dev/disk/by-partuuid/abcdef01-03');
  });
  it('GPT PARTUUIDs are the partition GUIDs', () => {
    const uuid = '0FC63DAF-8483-4772-8E79-3D69D8477DE4';
    expect(partitionDevice(2, { deviceBase: '', partuuid: true, scheme: 'gpt', partUuids: { 2: uuid } })).toBe(`/dev/disk/by-partuuid/${uuid.toLowerCase()}`);
  });
});
