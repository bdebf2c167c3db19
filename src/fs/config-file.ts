import path from 'node:path/posix';
import { UserError } from '../util/errors.js';
import type { Entry, FsEditor } from './editor.js';

/** Configuration files (fstab, hostname, os-release) are a few kilobytes; more is a damaged or hostile image. */
export const CONFIG_FILE_MAX_BYTES = 1024 * 1024;
const MAX_SYMLINK_HOPS = 16;

export type ConfigFile =
  | { found: true; text: string }
  /** Absent, or not a regular file (a directory, a device, a symlink loop …) where a file was expected. */
  | { found: false; reason?: string };

/**
 * The text of a configuration file in an image, read only when it is what its name promises: a
 * regular file of plausible size. `followSymlinks: false` for a file the conversion rewrites, so
 * that what a symlink points at (say /etc/shadow) never ends up in the rewritten file; the
 * symlink is reported instead. Too large a file is an error naming it, before anything is read.
 */
export async function readConfigFile(editor: FsEditor, file: string, options: { followSymlinks: boolean }): Promise<ConfigFile> {
  const target = await regularFileAt(editor, file, options);
  if (!target.found) return target;
  if (target.entry.size > CONFIG_FILE_MAX_BYTES) {
    throw new UserError(`${file} in the image is ${target.entry.size} bytes; a file of its kind holds a few lines (${CONFIG_FILE_MAX_BYTES} bytes at most are read).`, {
      hint: 'The image is damaged or not what it claims to be: fix that file in the golden image, or start from another image.',
    });
  }
  return { found: true, text: await editor.readText(target.path) };
}

/**
 * The regular file a path names, its symlinks followed inside the filesystem (when asked) up to
 * a bound, so a loop or a dangling link is an answer with its reason, not an error or a hang.
 */
export async function regularFileAt(editor: FsEditor, file: string, options: { followSymlinks: boolean }): Promise<{ found: true; path: string; entry: Entry } | { found: false; reason?: string }> {
  let current = file;
  for (let hop = 0; ; hop++) {
    const entry = await editor.stat(current);
    if (!entry) return { found: false, reason: current === file ? undefined : `${file} is a symlink to ${current}, which does not exist` };
    if (entry.type === 'symlink') {
      if (!options.followSymlinks) return { found: false, reason: `${file} is a symlink (to ${entry.target})` };
      if (hop >= MAX_SYMLINK_HOPS) return { found: false, reason: `${file} is a symlink loop` };
      current = path.resolve(path.dirname(current), entry.target ?? '');
      continue;
    }
    if (entry.type !== 'file') return { found: false, reason: `${file} is a ${entry.type === 'dir' ? 'directory' : 'special file'}, not a file` };
    return { found: true, path: current, entry };
  }
}
