import { describe, expect, it } from 'vitest';
import { checkArtifactLevel, compressorCommand, xzBlockSize } from '../../../src/artifact/compress.js';
import { parseCompression } from '../../../src/util/compression.js';

const MiB = 1 << 20;

describe('compression choices', () => {
  it('takes mender-artifact\'s names (lzma is xz)', () => {
    expect(['none', 'gzip', 'lzma', 'xz', 'zstd', 'GZIP'].map((name) => parseCompression(name))).toEqual(['none', 'gzip', 'xz', 'xz', 'zstd', 'gzip']);
    expect(() => parseCompression('bzip2', 'Artifact compression')).toThrow(/Unknown Artifact compression 'bzip2'/);
  });

  it('xz and zstd tools use every core', () => {
    expect(compressorCommand({ algorithm: 'zstd', level: 19 }, 1000)).toEqual(['zstd', ['-c', '-q', '-T0', '-19']]);
    expect(compressorCommand({ algorithm: 'zstd', level: 22 }, 1000)).toEqual(['zstd', ['-c', '-q', '-T0', '--ultra', '-22']]);
    // mender-artifact's 64 MiB dictionary, the level choosing the preset
    expect(compressorCommand({ algorithm: 'xz' }, MiB)).toEqual(['xz', ['-c', '-T0', `--block-size=${MiB}`, '--lzma2=preset=4,dict=64MiB']]);
    expect(compressorCommand({ algorithm: 'xz', level: 9 }, 887 * MiB)).toEqual(['xz', ['-c', '-T0', `--block-size=${222 * MiB}`, '--lzma2=preset=9,dict=64MiB']]);
  });

  it('cuts xz input into equal blocks of at least 192 MiB, an even number of them once there are two', () => {
    expect(xzBlockSize(0)).toBe(MiB);
    expect(xzBlockSize(256 * MiB)).toBe(256 * MiB);
    expect(xzBlockSize(384 * MiB)).toBe(192 * MiB);
    // 887 MiB: four blocks of 222 MiB, not xz's four of 192 and one of 119
    expect(xzBlockSize(887 * MiB)).toBe(222 * MiB);
    // 1000 MiB: five blocks of 192 would be odd; four of 250
    expect(xzBlockSize(1000 * MiB)).toBe(250 * MiB);
    for (const size of [400 * MiB, 1500 * MiB, 4096 * MiB + 5]) {
      const block = xzBlockSize(size);
      const blocks = Math.ceil(size / block);
      expect(block).toBeGreaterThanOrEqual(192 * MiB);
      expect(blocks % 2).toBe(0);
    }
  });

  it('checks levels per algorithm', () => {
    expect(() => checkArtifactLevel({ algorithm: 'gzip', level: 9 })).not.toThrow();
    expect(() => checkArtifactLevel({ algorithm: 'gzip', level: 0 })).toThrow(/out of range for gzip.*\n?/);
    expect(() => checkArtifactLevel({ algorithm: 'zstd', level: 23 })).toThrow(/out of range for zstd/);
    expect(() => checkArtifactLevel({ algorithm: 'xz', level: 1.5 })).toThrow(/out of range/);
    expect(() => checkArtifactLevel({ algorithm: 'none', level: 99 })).not.toThrow();
  });
});
