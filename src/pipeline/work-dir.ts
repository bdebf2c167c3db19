import fs from 'node:fs/promises';
import path from 'node:path';
import { spawn } from '../util/exec.js';
import { UserError } from '../util/errors.js';
import { OutputSet } from './outputs.js';

/** flock(1)'s exit status when another process holds the lock. */
const LOCK_BUSY = 75;

/**
 * One conversion at a time per work directory. The lock is the kernel's (flock on `.lock`), held
 * by a flock(1) child for as long as our end of its standard input is open: when this process
 * ends however it ends (SIGKILL, an OOM kill), the kernel closes the pipe, the child exits and the
 * lock is released. A PID written in a file would outlive its owner, and PIDs are reused.
 * The PID inside the file is only for the message another run prints.
 */
export async function lockWorkDir(workDir: string): Promise<() => Promise<void>> {
  const lock = path.join(workDir, '.lock');
  const holder = spawn('flock', ['--nonblock', '--conflict-exit-code', String(LOCK_BUSY), lock, 'sh', '-c', 'echo locked && exec cat'], {
    // Its own process group: a ^C in the terminal must not release the lock while we clean up.
    stdin: 'pipe', stdout: 'pipe', stderr: 'pipe', reject: false, cancelSignal: undefined, detached: true,
  });
  const locked = await new Promise<boolean>((resolve) => {
    holder.stdout!.once('data', () => resolve(true));
    void holder.then(() => resolve(false));
  });
  if (!locked) {
    const { exitCode, stderr } = await holder;
    if (exitCode === LOCK_BUSY) {
      const owner = (await fs.readFile(lock, 'utf8').catch(() => '')).trim();
      throw new UserError(`Another conversion${/^\d+$/.test(owner) ? ` (process ${owner})` : ''} is using the work directory ${workDir}.`, {
        hint: 'Wait for it to finish, or give this one its own directory with --work-dir.',
      });
    }
    throw new UserError(`Cannot lock the work directory ${workDir}: ${String(stderr).trim() || `flock exited with status ${exitCode}`}.`, {
      hint: 'Check that the directory is writable, or choose another one with --work-dir.',
    });
  }
  await fs.writeFile(lock, `${process.pid}\n`);
  await removeAbandonedRuns(workDir);
  return async () => {
    await fs.writeFile(lock, '');
    holder.stdin!.end();
    await holder;
  };
}

/** A run directory that --keep-work asked to keep is marked so; any other one was abandoned. */
export const KEPT_RUN_MARKER = '.kept';

/** A run directory names its output directory in this file, for whoever removes the run after a kill. */
const OUTPUT_DIR_RECORD = 'output-dir';

/** A new run directory in the (locked) work directory, recording where the run writes its outputs. */
export async function makeRunDir(workDir: string, outputDir: string): Promise<string> {
  const runDir = await fs.mkdtemp(path.join(workDir, 'run-'));
  await fs.chmod(runDir, 0o700);
  await fs.writeFile(path.join(runDir, OUTPUT_DIR_RECORD), outputDir);
  return runDir;
}

/**
 * Run directories of earlier runs that were killed before they could clean up (nobody else can be
 * using them: we hold the lock), and the partial outputs they had begun in their output
 * directories. Kept ones (--keep-work) stay.
 */
async function removeAbandonedRuns(workDir: string): Promise<void> {
  for (const name of await fs.readdir(workDir)) {
    if (!name.startsWith('run-')) continue;
    const dir = path.join(workDir, name);
    const kept = await fs.access(path.join(dir, KEPT_RUN_MARKER)).then(() => true, () => false);
    if (kept) continue;
    const outputDir = await fs.readFile(path.join(dir, OUTPUT_DIR_RECORD), 'utf8').catch(() => undefined);
    if (outputDir) await new OutputSet(outputDir, name).discard();
    await fs.rm(dir, { recursive: true, force: true });
  }
}
