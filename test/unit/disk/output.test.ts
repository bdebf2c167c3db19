import { describe, expect, it } from 'vitest';
import { blockCompressor, cutBlocks } from '../../../src/disk/compress.js';
import { sfdiskScript } from '../../../src/disk/output.js';
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

describe('blockCompressor', () => {
  it('compresses one block per process at the standard levels, without names or times', () => {
    expect(blockCompressor('gzip')).toEqual(['libdeflate-gzip', ['-c', '-n', '-6']]);
    expect(blockCompressor('xz')).toEqual(['xz', ['-c', '-T+1', '--block-size=33554432', '--check=crc64', '-6']]);
    expect(blockCompressor('zstd', 19)).toEqual(['zstd', ['-c', '-q', '-T1', '-19']]);
    expect(blockCompressor('zstd', 22)).toEqual(['zstd', ['-c', '-q', '-T1', '--ultra', '-22']]);
  });

  it('refuses levels the tool does not have', () => {
    expect(() => blockCompressor('gzip', 0)).toThrow(UserError);
    expect(() => blockCompressor('xz', 10)).toThrow(/out of range for xz \(0-9\)/);
    expect(() => blockCompressor('zstd', 1.5)).toThrow(UserError);
  });
});

describe('cutBlocks', () => {
  it('cuts at most BLOCK bytes, starting afresh at each boundary', () => {
    const blocks = cutBlocks(100 * MiB, [MiB, 40 * MiB, 40 * MiB, 200 * MiB]);
    expect(blocks.map((b) => [b.start / MiB, b.length / MiB])).toEqual([[0, 1], [1, 32], [33, 7], [40, 32], [72, 28]]);
  });
});
