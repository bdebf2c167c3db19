import { UserError } from './errors.js';

/**
 * The compressions every part of the tool speaks of (inputs, the disk image, Artifact parts):
 * their names, file suffixes, the host tool that writes each, and the levels those tools accept.
 * What level a purpose uses by default is that purpose's choice (Artifact or disk image).
 */

export const COMPRESSIONS = ['none', 'gzip', 'xz', 'zstd'] as const;
export type Compression = (typeof COMPRESSIONS)[number];

export const COMPRESSION_SUFFIX: Record<Compression, string> = { none: '', gzip: '.gz', xz: '.xz', zstd: '.zst' };

/** The compression a file name suffix (after the stem) stands for: '.gz' → gzip, '' → none. */
export function compressionOfSuffix(suffix: string): Compression | undefined {
  return COMPRESSIONS.find((kind) => COMPRESSION_SUFFIX[kind] === suffix);
}

/** The host tool that compresses each kind (gzip through libdeflate, on every core). */
export const COMPRESSOR_TOOL: Record<Compression, string | undefined> = { none: undefined, gzip: 'libdeflate-gzip', xz: 'xz', zstd: 'zstd' };

/** Levels each compressor accepts: libdeflate 1-12, xz presets 0-9, zstd 1-22 (above 19 with --ultra). */
export const LEVEL_RANGE: Record<Exclude<Compression, 'none'>, { min: number; max: number }> = {
  gzip: { min: 1, max: 12 },
  xz: { min: 0, max: 9 },
  zstd: { min: 1, max: 22 },
};

/** A UserError unless `level` is one the compressor accepts. */
export function checkLevel(kind: Compression, level: number): void {
  if (kind === 'none') return;
  const { min, max } = LEVEL_RANGE[kind];
  if (!Number.isInteger(level) || level < min || level > max) {
    throw new UserError(`Compression level ${level} is out of range for ${kind} (${min}-${max}).`, { hint: `Use ${min} to ${max}.` });
  }
}

/** A compression by name, with mender-artifact's and the suffixes' spellings too (lzma is xz); `what` names it in the error. */
export function parseCompression(name: string, what = 'compression'): Compression {
  const names: Record<string, Compression> = { none: 'none', gzip: 'gzip', gz: 'gzip', lzma: 'xz', xz: 'xz', zstd: 'zstd', zst: 'zstd' };
  const found = names[name.toLowerCase()];
  if (!found) throw new UserError(`Unknown ${what} '${name}'.`, { hint: 'Use none, gzip, lzma (xz) or zstd.' });
  return found;
}
