import fs from 'node:fs/promises';
import { detectFormat } from '../../disk/input.js';
import { UserError } from '../../util/errors.js';
import type { RunEnv } from '../types.js';

/**
 * A preflight estimate of the disk space a conversion needs, checked before minutes of I/O are
 * spent. Work files are sparse copies of the input's partitions; the outputs hold the root
 * filesystem up to three times (image A and B, .ext4) plus a compressed Artifact. The input's
 * allocated size stands for its content; a compressed input is assumed to expand threefold.
 */

const MiB = 1024 * 1024;
const COMPRESSION_RATIO = 3;

async function freeBytes(dir: string): Promise<number> {
  const stat = await fs.statfs(dir);
  return stat.bavail * stat.bsize;
}

export async function checkSpace(env: RunEnv): Promise<void> {
  const stat = await fs.stat(env.inputPath);
  const compressed = (await detectFormat(env.inputPath)) !== 'raw';
  const content = compressed ? stat.size * COMPRESSION_RATIO : stat.blocks * 512;
  const needs = [
    { what: 'work', dir: env.runDir, bytes: content },
    { what: 'output', dir: env.outputDir, bytes: 2 * content },
  ];
  const free = await Promise.all(needs.map(async (need) => ({ ...need, free: await freeBytes(need.dir) })));
  // Both on one filesystem: they add up.
  const [work, output] = free as [(typeof free)[0], (typeof free)[0]];
  const sameFilesystem = (await fs.stat(work.dir)).dev === (await fs.stat(output.dir)).dev;
  const checks = sameFilesystem ? [{ ...work, what: 'work and output', bytes: work.bytes + output.bytes }] : [work, output];
  for (const check of checks) {
    env.logger.info(`space: ${check.what} needs about ${Math.ceil(check.bytes / MiB)} MiB, ${Math.floor(check.free / MiB)} MiB free in ${check.dir}`);
    if (check.free < check.bytes) {
      throw new UserError(
        `Not enough disk space: the ${check.what} director${sameFilesystem ? 'ies need' : 'y needs'} about ${Math.ceil(check.bytes / MiB)} MiB, but ${check.dir} has ${Math.floor(check.free / MiB)} MiB free.`,
        { hint: 'Free some space, or choose other directories with --work-dir and --output-dir.' },
      );
    }
  }
}
