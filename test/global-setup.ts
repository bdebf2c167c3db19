import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

// Every test makes its scratch directories under os.tmpdir(): point that at one directory per
// run, so a run leaves nothing behind however its tests end (images are hundreds of MiB each).
// KEEP_TEST_FILES=1 keeps it for a look afterwards.
export default function setup(): () => void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mender-convert-tests-'));
  // Open to all, sticky, like /tmp itself: one test converts as an unprivileged user.
  fs.chmodSync(dir, 0o1777);
  process.env.TMPDIR = dir;
  return () => {
    if (process.env.KEEP_TEST_FILES) {
      console.log(`test files kept in ${dir}`);
      return;
    }
    // Trees copied out of images may hold read-only directories.
    spawnSync('chmod', ['-R', 'u+rwX', dir], { stdio: 'ignore' });
    fs.rmSync(dir, { recursive: true, force: true });
  };
}
