import fs from 'node:fs/promises';
import type { Options } from 'execa';
import { UserError } from '../util/errors.js';
import { spawn } from '../util/exec.js';

/**
 * Copies the kernel makes itself (copy_file_range, through xfs_io's `copy_range`): the bytes never
 * pass through our memory, so neither a read into a buffer nor a write out of it is paid for, and
 * where the filesystem can (XFS, btrfs) the copy shares the source's extents instead of writing
 * them. Only the ranges named are copied: what lies between them stays as it is (holes stay holes).
 */

/** `length` bytes from offset `from` of the source to offset `to` of the destination. */
export interface Move {
  from: number;
  to: number;
  length: number;
}

/** copy_range commands per xfs_io run: long enough to cost little, short enough for any argument list. */
const MOVES_PER_RUN = 1024;

/** The source as xfs_io opens it: its command parser splits on every space, so it is given the source as its standard input. */
const SOURCE = '/dev/stdin';

/**
 * Copy `moves` of `source` into `dest` (which must exist) in the kernel. Resolves false when the
 * kernel cannot copy between them (no copy_file_range there, different filesystems, no xfs_io):
 * the destination may then hold some of the moves, and the caller copies them itself.
 */
export async function kernelCopy(source: string, dest: string, moves: readonly Move[], onProgress?: (done: number) => void): Promise<boolean> {
  const input = await fs.open(source, 'r');
  let done = 0;
  try {
    for (let first = 0; first < moves.length; first += MOVES_PER_RUN) {
      const batch = moves.slice(first, first + MOVES_PER_RUN);
      const commands = batch.flatMap(({ from, to, length }) => ['-c', `copy_range -s ${from} -d ${to} -l ${length} ${SOURCE}`]);
      const result = await spawn('xfs_io', [...commands, dest], {
        // Any descriptor is passed on as it is; execa's types name only the standard ones.
        stdin: input.fd as Options['stdin'],
        buffer: true,
        reject: false,
      });
      if (result.isCanceled) throw new UserError('Interrupted.');
      // xfs_io exits 0 after a failed copy_range: its message on standard error is what tells.
      if (result.exitCode !== 0 || String(result.stderr ?? '').trim() !== '') return false;
      done += batch.reduce((sum, move) => sum + move.length, 0);
      onProgress?.(done);
    }
    return true;
  } finally {
    await input.close();
  }
}
