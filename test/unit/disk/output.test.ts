import { describe, expect, it } from 'vitest';
import { compressor, sfdiskScript } from '../../../src/disk/output.js';
import { UserError } from '../../../src/util/errors.js';

const MiB = 1024 * 1024;

describe('sfdiskScript', () => {
  it('MBR: hex id, sectors, boot flag, lines named by number', () => {
    const script = sfdiskScript({
      label: 'dos',
      id: '1234ABCD',
      partitions: [
        { number: 2, start: 16 * MiB, size: 8 * MiB, type: '83' },
        { number: 1, start: 8 * MiB, size: 8 * MiB, type: '0x0C', bootable: true },
      ],
    }, 'out/disk.img');
    expect(script).toBe([
      'label: dos',
      'label-id: 0x1234abcd',
      'unit: sectors',
      'sector-size: 512',
      '',
      'out/disk.img1 : start=16384, size=16384, type=0c, bootable',
      'out/disk.img2 : start=32768, size=16384, type=83',
      '',
    ].join('\n'));
  });

  it('GPT: first usable LBA 34, uuid, name, bootable as an attribute; "p" after a device ending in a digit', () => {
    const script = sfdiskScript({
      label: 'gpt',
      id: '0DB4528A-6BB1-174B-BC9F-117C964A6100',
      partitions: [{ number: 1, start: MiB, size: MiB, type: 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B', name: 'boot', bootable: true, attrs: 'RequiredPartition', partuuid: 'A97B32FB-C1E0-0F49-B50E-48440CB5ED33' }],
    }, 'disk1');
    expect(script).toContain('label-id: 0db4528a-6bb1-174b-bc9f-117c964a6100\n');
    expect(script).toContain('first-lba: 34\n');
    expect(script).toContain('disk1p1 : start=2048, size=2048, type=c12a7328-f81f-11d2-ba4b-00a0c93ec93b, uuid=a97b32fb-c1e0-0f49-b50e-48440cb5ed33, name="boot", attrs="RequiredPartition LegacyBIOSBootable"\n');
  });
});

describe('compressor', () => {
  it('uses every core and the standard levels', () => {
    expect(compressor('xz')).toEqual(['xz', ['-c', '-T0', '-6']]);
    expect(compressor('zstd', 19)).toEqual(['zstd', ['-c', '-q', '-T0', '-19']]);
    expect(compressor('zstd', 22)).toEqual(['zstd', ['-c', '-q', '-T0', '--ultra', '-22']]);
    const [gzipTool, gzipArgs] = compressor('gzip', 9);
    expect(['pigz', 'gzip']).toContain(gzipTool);
    expect(gzipArgs).toEqual(['-c', '-n', '-9']);
  });

  it('refuses levels the tool does not have', () => {
    expect(() => compressor('gzip', 0)).toThrow(UserError);
    expect(() => compressor('xz', 10)).toThrow(/out of range for xz \(0-9\)/);
    expect(() => compressor('zstd', 1.5)).toThrow(UserError);
  });
});
