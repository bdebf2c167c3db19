import fs from 'node:fs/promises';
import path from 'node:path';
import { UserError } from './errors.js';

/** Why mkdir(2) failed, in words, for the errors a user's path can cause. */
const REASONS: Record<string, string> = {
  ENOENT: 'its filesystem refuses a new directory there, as /proc and /sys do',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'a read-only filesystem',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  ENAMETOOLONG: 'name too long',
  ELOOP: 'too many levels of symbolic links',
};

/**
 * mkdir -p for a directory a user names (--output-dir, --work-dir, the cache), one level at a
 * time. Node's recursive mkdir takes ENOENT to mean "the parent is missing" and tries again,
 * forever, where the parent exists but cannot hold the child — under a symlink that leads
 * nowhere, in /proc —, spinning at full CPU. Here each failure is a message naming the level
 * that failed and why, and a directory this user cannot write to is refused before any work is
 * done. `what` names the directory ("The output directory (--output-dir)").
 */
export async function makeDirectory(dir: string, what: string, options: { mode?: number } = {}): Promise<void> {
  const target = path.resolve(dir);
  if (!(await fs.stat(target).catch(() => undefined))?.isDirectory()) await makeLevels(target, what, options.mode);
  // Checked before the work, not at the end of it: a read-only volume or someone else's directory.
  await fs.access(target, fs.constants.W_OK | fs.constants.X_OK).catch((error: NodeJS.ErrnoException) => {
    throw new UserError(`${what} ${target} cannot be written to (${REASONS[error.code ?? ''] ?? (error.code || String(error))}).`, {
      hint: 'Choose a directory on a writable filesystem that this user may write to.',
    });
  });
}

async function makeLevels(target: string, what: string, mode: number | undefined): Promise<void> {
  const cannot = (at: string, why: string) => new UserError(`${what} ${target} cannot be created (${at}: ${why}).`, { hint: 'Check the path, or choose another directory.' });
  let at = path.parse(target).root;
  for (const part of target.slice(at.length).split(path.sep).filter(Boolean)) {
    at = path.join(at, part);
    try {
      await fs.mkdir(at, { mode });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? '';
      if (code !== 'EEXIST') throw cannot(at, REASONS[code] ?? (code || String(error)));
      const stat = await fs.stat(at).catch(() => undefined);
      if (stat?.isDirectory()) continue;
      throw cannot(at, stat ? 'a file, not a directory' : 'a symlink that leads nowhere');
    }
  }
}
