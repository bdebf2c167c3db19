import fs from 'node:fs/promises';
import path from 'node:path';
import { UserError } from '../util/errors.js';

/** One conversion at a time per work directory: a lock file holding the owner's PID. */
export async function lockWorkDir(workDir: string): Promise<() => Promise<void>> {
  const lock = path.join(workDir, '.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await fs.writeFile(lock, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
      return () => fs.rm(lock, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = Number((await fs.readFile(lock, 'utf8').catch(() => '')).trim());
      let alive = false;
      try {
        process.kill(owner, 0);
        alive = owner > 0;
      } catch (probe) {
        alive = (probe as NodeJS.ErrnoException).code === 'EPERM';
      }
      if (alive) {
        throw new UserError(`Another conversion (process ${owner}) is using the work directory ${workDir}.`, {
          hint: 'Wait for it to finish, or give this one its own directory with --work-dir.',
        });
      }
      // The owner died without cleaning up: the lock is stale.
      await fs.rm(lock, { force: true });
    }
  }
  throw new UserError(`Cannot lock the work directory ${workDir}.`);
}
