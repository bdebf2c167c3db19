import fs from 'node:fs/promises';
import { run } from '../util/exec.js';
import { crc32cExt4 } from '../util/crc32c.js';
import { UserError } from '../util/errors.js';

/** Creating, checking, resizing and stamping ext2/3/4 filesystems held in standalone image files. */

export interface Ext4Info {
  blockSize: number;
  blockCount: number;
  freeBlocks: number;
  usedBytes: number;
  uuid: string;
  state: string;
  features: string[];
  needsRecovery: boolean;
}

export async function ext4Info(image: string): Promise<Ext4Info> {
  const { stdout } = await run('dumpe2fs', ['-h', image], { doing: `reading the superblock of ${image}` });
  const field = (name: string) => new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(stdout)?.[1]?.trim() ?? '';
  const blockSize = Number(field('Block size'));
  const blockCount = Number(field('Block count'));
  const freeBlocks = Number(field('Free blocks'));
  const features = field('Filesystem features').split(/\s+/).filter(Boolean);
  return {
    blockSize,
    blockCount,
    freeBlocks,
    usedBytes: (blockCount - freeBlocks) * blockSize,
    uuid: field('Filesystem UUID'),
    state: field('Filesystem state'),
    features,
    needsRecovery: features.includes('needs_recovery'),
  };
}

const SUPERBLOCK = 1024;
const INCOMPAT_RECOVER = 0x4;

/**
 * Replay an unreplayed journal (a golden image copied from a running device): edits made
 * before the replay would be undone by it at the first mount. The superblock's needs_recovery
 * flag is read from its bytes, not through dumpe2fs, which gives up on a damaged superblock
 * that e2fsck then reads from a backup and reports on.
 */
export async function replayJournal(image: string): Promise<{ replayed: boolean; summary: string }> {
  const handle = await fs.open(image, 'r');
  const sb = Buffer.alloc(1024);
  try {
    await handle.read(sb, 0, sb.length, SUPERBLOCK);
  } finally {
    await handle.close();
  }
  if (sb.readUInt16LE(56) !== 0xef53 || !(sb.readUInt32LE(0x60) & INCOMPAT_RECOVER)) return { replayed: false, summary: 'no journal to replay' };
  const result = await run('e2fsck', ['-E', 'journal_only', '-y', image], { okExitCodes: [1, 2], doing: `replaying the journal of ${image}` });
  return { replayed: true, summary: result.stdout.trim().split('\n').slice(-2).join(' ') };
}

/**
 * The problems e2fsck -n found without counting them in its exit status: it answers every question
 * "no", and some problems it only reports as IGNORED (a wrong group-descriptor checksum) exit 0.
 * Each is named by its question or report, without the answer.
 */
function uncountedProblems(output: string): string[] {
  const problems: string[] = [];
  let previous = '';
  for (const line of output.split('\n').map((text) => text.trim())) {
    if (/\?\s+no$/.test(line)) {
      // The question follows its problem on the same line, or alone on the next.
      const problem = line.replace(/\s*[^.?!]*\?\s+no$/, '');
      problems.push(problem || previous);
    } else if (/\bIGNORED\.?$/.test(line)) {
      problems.push(line.replace(/\s+IGNORED\.?$/, ''));
    }
    if (line) previous = line;
  }
  return problems;
}

/**
 * e2fsck -fn must find nothing, in its exit status or in what it says; with `repair`, problems
 * are fixed (e2fsck -fy) instead of refused.
 */
export async function checkExt4(image: string, options: { repair: boolean; what?: string }): Promise<void> {
  const what = options.what ?? 'the root filesystem';
  const check = await run('e2fsck', ['-fn', image], { okExitCodes: [1, 2, 4, 8, 12], doing: `checking ${what}` });
  // e2fsck's own remarks first ("<argv0>: Superblock invalid, trying backup blocks"), then what it would fix.
  const remarks = check.stdout.split('\n').filter((line) => /^\S*e2fsck: /.test(line)).map((line) => line.replace(/^\S*e2fsck: /, '').trim());
  const uncounted = [...remarks, ...uncountedProblems(check.stdout)];
  if (check.exitCode === 0 && uncounted.length === 0) return;
  const problems = `${check.stdout}\n${check.stderr}`.trim().split('\n').slice(-12).join('\n');
  if (check.exitCode === 8) throw new UserError(`${what} could not be checked: e2fsck failed.`, { detail: problems });
  if (!options.repair) {
    throw new UserError(`e2fsck finds errors in ${what}${uncounted.length > 0 ? `: ${uncounted.slice(0, 3).join(' ')}` : '.'}`, {
      detail: problems,
      hint: 'Set input.repair: true to let e2fsck repair it (check the result), or repair a copy of the golden image (e2fsck -f on its partition) and convert that.',
    });
  }
  const repair = await run('e2fsck', ['-fy', image], { okExitCodes: [1, 2], doing: `repairing ${what}` });
  if (repair.exitCode !== 0 && repair.exitCode !== 1 && repair.exitCode !== 2) throw new UserError(`e2fsck could not repair ${what}.`);
}

/** Resize to exactly `bytes` (a whole number of filesystem blocks), growing or shrinking the file. */
export async function resizeExt4(image: string, bytes: number): Promise<void> {
  const current = (await fs.stat(image)).size;
  if (bytes > current) await fs.truncate(image, bytes);
  const result = await run('resize2fs', ['-f', image, `${Math.floor(bytes / 1024)}K`], { okExitCodes: [1], doing: 'resizing the root filesystem' });
  if (result.exitCode !== 0) {
    const minimum = /minimum \((\d+)\)/.exec(result.stderr + result.stdout);
    throw new UserError(`The root filesystem cannot be resized to ${Math.round(bytes / 1048576)} MiB.`, {
      detail: (result.stderr || result.stdout).trim(),
      hint: minimum ? `It needs at least ${minimum[1]} blocks; raise rootfs.size_kb or the storage size.` : undefined,
    });
  }
  if (bytes < current) await fs.truncate(image, bytes);
}

export interface MakeExt4Options {
  fromDir?: string;
  label?: string;
  uuid?: string;
  hashSeed?: string;
  extraOptions?: string[];
  /** Seconds since the epoch for every timestamp mke2fs writes (reproducible images). */
  timestamp?: number;
}

export async function makeExt4(image: string, bytes: number, options: MakeExt4Options = {}): Promise<void> {
  await fs.rm(image, { force: true });
  const extended = ['root_owner=0:0', ...(options.hashSeed ? [`hash_seed=${options.hashSeed}`] : [])];
  const args = [
    '-q', '-F', '-t', 'ext4',
    ...(options.label ? ['-L', options.label] : []),
    ...(options.uuid ? ['-U', options.uuid] : []),
    '-E', extended.join(','),
    ...(options.fromDir ? ['-d', options.fromDir] : []),
    ...(options.extraOptions ?? []),
    image,
    `${Math.floor(bytes / 1024)}k`,
  ];
  const env = options.timestamp !== undefined ? { E2FSPROGS_FAKE_TIME: String(options.timestamp) } : undefined;
  await run('mke2fs', args, { env, doing: `creating the ext4 filesystem ${image}` });
}

/**
 * Punch out the free blocks of an ext4 image (e2fsck's discard on a file makes them holes): the
 * golden image's deleted data then neither costs copy time nor Artifact size.
 */
export async function discardFreeBlocks(image: string): Promise<void> {
  await run('e2fsck', ['-fy', '-E', 'discard', image], { okExitCodes: [1], doing: `discarding the free blocks of ${image}` });
}

const S_WTIME = 0x30;
const S_LASTCHECK = 0x40;
const S_WTIME_HI = 0x274;
const S_LASTCHECK_HI = 0x277;
const S_CHECKSUM = 0x3fc;
const RO_COMPAT_METADATA_CSUM = 0x400;

/**
 * Set the primary superblock's last-write and last-check times to `epoch`: debugfs and resize2fs
 * stamp the host's clock there, which would make two otherwise identical conversions differ.
 * The superblock checksum is recomputed when the filesystem has metadata checksums.
 */
export async function stampSuperblock(image: string, epoch: number): Promise<void> {
  const handle = await fs.open(image, 'r+');
  try {
    const sb = Buffer.alloc(1024);
    await handle.read(sb, 0, 1024, SUPERBLOCK);
    if (sb.readUInt16LE(56) !== 0xef53) throw new UserError(`${image} has no ext2/3/4 superblock.`);
    sb.writeUInt32LE(epoch % 2 ** 32, S_WTIME);
    sb.writeUInt32LE(epoch % 2 ** 32, S_LASTCHECK);
    sb.writeUInt8(Math.floor(epoch / 2 ** 32), S_WTIME_HI);
    sb.writeUInt8(Math.floor(epoch / 2 ** 32), S_LASTCHECK_HI);
    if (sb.readUInt32LE(0x64) & RO_COMPAT_METADATA_CSUM) sb.writeUInt32LE(crc32cExt4(sb.subarray(0, S_CHECKSUM)), S_CHECKSUM);
    await handle.write(sb, 0, 1024, SUPERBLOCK);
  } finally {
    await handle.close();
  }
}
