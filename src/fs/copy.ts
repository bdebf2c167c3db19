import { UserError } from '../util/errors.js';
import type { Entry, FsEditor } from './editor.js';

export interface CopyTreeOptions {
  /** Entries to copy (a directory left out is left out with everything under it); default: all. */
  include?: (entry: Entry) => boolean;
  /** Called for a device, FIFO or socket, which no editor can create; it should throw. Default: a UserError naming it. */
  onSpecial?: (entry: Entry) => never;
}

/**
 * Copy the tree under `fromDir` into the existing `toDir` of another filesystem, keeping modes,
 * owners, times and symlinks (as far as `to` can hold them). Returns the number of entries copied.
 */
export async function copyTree(from: FsEditor, fromDir: string, to: FsEditor, toDir: string, options: CopyTreeOptions = {}): Promise<number> {
  let count = 0;
  for (const entry of await from.list(fromDir)) {
    if (options.include && !options.include(entry)) continue;
    const target = `${toDir === '/' ? '' : toDir}/${entry.name}`;
    const owner = { mode: entry.mode, uid: entry.uid, gid: entry.gid, mtime: entry.mtime };
    if (entry.type === 'dir') {
      await to.mkdir(target, owner);
      count += await copyTree(from, entry.path, to, target, options);
    } else if (entry.type === 'symlink') {
      await to.symlink(target, entry.target ?? '', owner);
    } else if (entry.type === 'file') {
      await to.writeFile(target, await from.readFile(entry.path), owner);
    } else {
      if (options.onSpecial) options.onSpecial(entry);
      throw new UserError(`${entry.path} is a special file (device, FIFO or socket); it cannot be copied.`);
    }
    count++;
  }
  return count;
}
