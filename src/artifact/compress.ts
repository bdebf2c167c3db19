import type { Readable, Writable } from 'node:stream';
import zlib from 'node:zlib';
import { spawn } from '../util/exec.js';
import { checkLevel, type Compression } from '../util/compression.js';
import { UserError } from '../util/errors.js';

/**
 * Artifact compression through the multi-threaded tools, chosen by measurement (2 cores):
 * - gzip: libdeflate on every core (gzip.ts), a third less CPU than zlib for smaller output;
 *   level 3 is the fastest whose output stays smaller than mender-artifact's (level 2 came out
 *   larger on a root filesystem).
 * - xz: mender-artifact's lzma uses a 64 MiB dictionary, which finds the many repeated files
 *   of a root filesystem; xz's presets (8 MiB) came out 7-10 % larger. With the same 64 MiB
 *   dictionary, preset 4 is within 1-2 % of its size for 0.75 of its CPU time, and xz -T0
 *   spreads that over every core (blocks of 192 MiB).
 * - zstd -T0 -3.
 * Every tool is asked for output without names or times, so equal input gives equal bytes.
 */

export interface ArtifactCompression {
  algorithm: Compression;
  /** The tool's level; gzip 1-12 (libdeflate's; default 3), xz preset 0-9 (default 4; dictionary always 64 MiB), zstd 1-22 (default 3). */
  level?: number;
}

/** The levels used when none is given. */
const DEFAULT_LEVEL: Record<Exclude<Compression, 'none'>, number> = { gzip: 3, xz: 4, zstd: 3 };

export function checkArtifactLevel(compression: ArtifactCompression): void {
  if (compression.level !== undefined) checkLevel(compression.algorithm, compression.level);
}

export function levelOf(compression: ArtifactCompression): number {
  return compression.algorithm === 'none' ? 0 : (compression.level ?? DEFAULT_LEVEL[compression.algorithm]);
}

const MiB = 1 << 20;
/** xz -T0's own block size for a 64 MiB dictionary (three times it). */
const XZ_LEAST_BLOCK = 192 * MiB;

/**
 * The xz block size for `size` bytes of input: equal blocks of at least 192 MiB (xz -T0's own
 * size for a 64 MiB dictionary), an even number of them once there are two, so that two or four
 * cores finish together — xz's own 192 MiB blocks left one of two cores idle for the last fifth
 * of 887 MiB. Never smaller: a block starts without the dictionary of those before it, and a root
 * filesystem repeats itself at long distances (a 128 MiB slice of one came out 35 % larger in two
 * blocks than in one). Depends on the size only, so the output is the same on every machine.
 */
export function xzBlockSize(size: number): number {
  let blocks = Math.max(1, Math.floor(size / XZ_LEAST_BLOCK));
  if (blocks > 1 && blocks % 2 === 1) blocks--;
  return Math.max(MiB, Math.ceil(size / blocks / MiB) * MiB);
}

/** The tool and arguments that compress standard input (`size` bytes) to standard output with every core (xz, zstd). */
export function compressorCommand(compression: ArtifactCompression, size: number): [string, string[]] {
  const { algorithm } = compression;
  if (algorithm === 'none' || algorithm === 'gzip') throw new Error(`no compressor tool for ${algorithm}`);
  // -T0 is the multi-threaded mode whatever the core count (xz >= 5.4; zstd with one worker or
  // more), so the output is the same on every machine.
  if (algorithm === 'xz') return ['xz', ['-c', '-T0', `--block-size=${xzBlockSize(size)}`, `--lzma2=preset=${levelOf(compression)},dict=64MiB`]];
  const level = levelOf(compression);
  return ['zstd', ['-c', '-q', '-T0', ...(level > 19 ? ['--ultra'] : []), `-${level}`]];
}

function decompressorCommand(algorithm: 'xz' | 'zstd'): [string, string[]] {
  switch (algorithm) {
    case 'xz':
      return ['xz', ['-d', '-c', '-T0']];
    case 'zstd':
      return ['zstd', ['-d', '-c', '-q']];
  }
}

export interface FilterProcess {
  input: Writable;
  output: Readable;
  /** Resolves when the tool exited 0; rejects with a UserError naming `what` otherwise. */
  done: Promise<void>;
  kill(): void;
}

function filter(tool: string, args: string[], what: string): FilterProcess {
  const child = spawn(tool, args, { stdin: 'pipe', stdout: 'pipe', stderr: 'pipe', reject: false });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    if (stderr.length < 4096) stderr += chunk.toString();
  });
  // A reader that stops early closes the pipe; the tool's EPIPE is not the failure to report.
  child.stdin!.on('error', () => undefined);
  const done = child.then((result) => {
    if (result.isCanceled) throw new UserError(`Interrupted while ${what}.`);
    if (result.exitCode !== 0) {
      const why = result.signal ? `was killed by ${result.signal}` : `exited with status ${result.exitCode}`;
      throw new UserError(`${tool} ${why} while ${what}.`, { detail: stderr.trim() });
    }
  });
  done.catch(() => undefined);
  return { input: child.stdin!, output: child.stdout!, done, kill: () => child.kill() };
}

export function startCompressor(compression: ArtifactCompression, size: number, what: string): FilterProcess {
  const [tool, args] = compressorCommand(compression, size);
  return filter(tool, args, what);
}

export function startDecompressor(algorithm: 'xz' | 'zstd', what: string): FilterProcess {
  const [tool, args] = decompressorCommand(algorithm);
  return filter(tool, args, what);
}

/** Compress a small buffer (the Artifact header) in one go; gzip in-process (zlib at its best: a few KiB take no time). */
export async function compressBuffer(data: Buffer, compression: ArtifactCompression, what: string): Promise<Buffer> {
  if (compression.algorithm === 'none') return data;
  if (compression.algorithm === 'gzip') return zlib.gzipSync(data, { level: 9 });
  const process = startCompressor(compression, data.length, what);
  const chunks: Buffer[] = [];
  process.output.on('data', (chunk: Buffer) => chunks.push(chunk));
  const ended = new Promise<void>((resolve, reject) => {
    process.output.on('end', resolve);
    process.output.on('error', reject);
  });
  process.input.end(data);
  await Promise.all([process.done, ended]);
  return Buffer.concat(chunks);
}
