/**
 * What a root filesystem holds, path by path, read with debugfs (rdump) rather than the project's
 * own ext4 code: type, mode, owner and, for regular files, the sha256 of the content; for symlinks,
 * the target. Two listings compare a conversion's root filesystem with its golden image's.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { tool } from './images.js';

/** Path → "type mode uid:gid content" for every entry below the filesystem's root. */
export type TreeListing = Map<string, string>;

function walk(dir: string, prefix: string, out: TreeListing): void {
  for (const name of fs.readdirSync(dir).sort()) {
    const host = path.join(dir, name);
    const at = `${prefix}/${name}`;
    const st = fs.lstatSync(host);
    const head = `${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`;
    if (st.isSymbolicLink()) out.set(at, `symlink ${head} -> ${fs.readlinkSync(host)}`);
    else if (st.isDirectory()) {
      out.set(at, `dir ${head}`);
      walk(host, at, out);
    } else if (st.isFile()) out.set(at, `file ${head} ${crypto.createHash('sha256').update(fs.readFileSync(host)).digest('hex')}`);
    else out.set(at, `special ${head}`);
  }
}

/** The listing of the ext2/3/4 filesystem in `image` (at byte `offset`, `bytes` long; default: the whole file). */
export async function ext4Listing(image: string, scratch: string, place?: { offset: number; bytes: number }): Promise<TreeListing> {
  fs.mkdirSync(scratch, { recursive: true });
  let file = image;
  if (place) {
    file = path.join(scratch, 'fs.img');
    const fd = fs.openSync(image, 'r');
    const out = fs.openSync(file, 'w');
    try {
      const buffer = Buffer.alloc(1024 * 1024);
      for (let done = 0; done < place.bytes; done += buffer.length) {
        const n = fs.readSync(fd, buffer, 0, Math.min(buffer.length, place.bytes - done), place.offset + done);
        fs.writeSync(out, buffer, 0, n, done);
      }
    } finally {
      fs.closeSync(fd);
      fs.closeSync(out);
    }
  }
  const tree = path.join(scratch, 'tree');
  fs.mkdirSync(tree);
  await tool('debugfs', ['-R', `rdump / ${tree}`, file]);
  const listing: TreeListing = new Map();
  walk(tree, '', listing);
  fs.rmSync(scratch, { recursive: true, force: true });
  return listing;
}

/** Entries that differ between two listings: added, removed or changed, each with both sides. */
export function listingChanges(before: TreeListing, after: TreeListing): { path: string; before?: string; after?: string }[] {
  const paths = [...new Set([...before.keys(), ...after.keys()])].sort();
  return paths.filter((p) => before.get(p) !== after.get(p)).map((p) => ({ path: p, before: before.get(p), after: after.get(p) }));
}
