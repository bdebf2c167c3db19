import { describe, expect, it } from 'vitest';
import { checkArtifactLevel, compressorCommand } from '../../../src/artifact/compress.js';
import { parseCompression } from '../../../src/util/compression.js';

describe('compression choices', () => {
  it('takes mender-artifact\'s names (lzma is xz)', () => {
    expect(['none', 'gzip', 'lzma', 'xz', 'zstd', 'GZIP'].map((name) => parseCompression(name))).toEqual(['none', 'gzip', 'xz', 'xz', 'zstd', 'gzip']);
    expect(() => parseCompression('bzip2', 'Artifact compression')).toThrow(/Unknown Artifact compression 'bzip2'/);
  });

  it('xz and zstd tools use every core', () => {
    expect(compressorCommand({ algorithm: 'zstd', level: 19 })).toEqual(['zstd', ['-c', '-q', '-T0', '-19']]);
    expect(compressorCommand({ algorithm: 'zstd', level: 22 })).toEqual(['zstd', ['-c', '-q', '-T0', '--ultra', '-22']]);
    // mender-artifact's 64 MiB dictionary, the level choosing the preset
    expect(compressorCommand({ algorithm: 'xz' })).toEqual(['xz', ['-c', '-T0', '--lzma2=preset=4,dict=64MiB']]);
    expect(compressorCommand({ algorithm: 'xz', level: 9 })).toEqual(['xz', ['-c', '-T0', '--lzma2=preset=9,dict=64MiB']]);
  });

  it('checks levels per algorithm', () => {
    expect(() => checkArtifactLevel({ algorithm: 'gzip', level: 9 })).not.toThrow();
    expect(() => checkArtifactLevel({ algorithm: 'gzip', level: 0 })).toThrow(/out of range for gzip.*\n?/);
    expect(() => checkArtifactLevel({ algorithm: 'zstd', level: 23 })).toThrow(/out of range for zstd/);
    expect(() => checkArtifactLevel({ algorithm: 'xz', level: 1.5 })).toThrow(/out of range/);
    expect(() => checkArtifactLevel({ algorithm: 'none', level: 99 })).not.toThrow();
  });
});
