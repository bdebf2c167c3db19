import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { deviceUnitName, growDataUnit } from '../../../src/mender/units.js';

describe('deviceUnitName', () => {
  it('escapes a device path as systemd-escape --path does', () => {
    for (const device of ['/dev/mmcblk0p4', '/dev/disk/by-partuuid/5e3da3da-04', '/dev/disk/by-partuuid/0FC63DAF-8483-4772-8E79-3D69D8477DE4', '/dev/sda4']) {
      const expected = execFileSync('systemd-escape', ['--path', '--suffix=device', device], { encoding: 'utf8' }).trim();
      expect(deviceUnitName(device)).toBe(expected);
    }
  });
});

describe('mender-grow-data.service', () => {
  it('runs once udev has announced the data partition, before /data is mounted', () => {
    const unit = growDataUnit('/dev/disk/by-partuuid/5e3da3da-04');
    expect(unit).toContain('Requires=dev-disk-by\\x2dpartuuid-5e3da3da\\x2d04.device\n');
    expect(unit).toMatch(/^After=dev-disk-by\\x2dpartuuid-5e3da3da\\x2d04\.device systemd-udev-trigger\.service /m);
    expect(unit).toContain('Before=data.mount systemd-growfs@data.service\n');
  });
});
