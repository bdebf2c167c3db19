import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { run, runForBytes } from '../util/exec.js';
import { UserError } from '../util/errors.js';
import { silentLogger, type Logger } from '../util/log.js';
import type { CopyInOptions, Entry, EntryType, FsEditor, Ownership } from './editor.js';
import { joinPath, splitPath } from './paths.js';

/**
 * FsEditor over a standalone ext2/3/4 image file, through e2fsprogs' debugfs.
 *
 * debugfs follows symlinks inconsistently (reads follow them, mkdir/rm in a symlinked parent do
 * not), so every path is resolved here, inside the image, to a symlink-free path before a command
 * sees it: an absolute link target means the image's root, `..` stops at the root, and nothing on
 * the host is ever looked at. Mutations are queued and applied by one `debugfs -w -f` per batch;
 * directory listings are cached and kept up to date by the queued mutations, so resolving paths
 * does not force a flush. debugfs exits 0 when a command fails: its error output is checked.
 */

interface Node {
  type: EntryType;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime?: number;
  inode?: number;
  target?: string;
}

const S_IFMT = 0o170000;
const TYPE_BITS: Record<EntryType, number> = { file: 0o100000, dir: 0o040000, symlink: 0o120000, other: 0 };
const MAX_SYMLINKS = 40;

function typeOfMode(mode: number): EntryType {
  switch (mode & S_IFMT) {
    case 0o100000:
      return 'file';
    case 0o040000:
      return 'dir';
    case 0o120000:
      return 'symlink';
    default:
      return 'other';
  }
}

/** debugfs reads its script with its own tokenizer: double quotes group words; names with quotes or newlines cannot be expressed. */
function quote(p: string): string {
  if (/["\n\r]/.test(p)) {
    throw new UserError(`The path ${JSON.stringify(p)} in the image contains a quote or newline, which debugfs (e2fsprogs) cannot name.`, {
      hint: 'Rename or remove that file in the golden image.',
    });
  }
  return `"${p}"`;
}

export interface Ext4EditorOptions {
  logger?: Logger;
  /** Seconds since the epoch for timestamps of what we write (default: SOURCE_DATE_EPOCH or now). */
  clock?: () => number;
}

function defaultClock(): number {
  const epoch = process.env.SOURCE_DATE_EPOCH;
  return epoch && /^\d+$/.test(epoch) ? Number(epoch) : Math.floor(Date.now() / 1000);
}

/** Lines of debugfs' error output that are not its version banner. */
function debugfsErrors(stderr: string): string[] {
  return stderr
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !/^debugfs \d+\.\d+/.test(line));
}

/**
 * Collects the keys asked for during one turn of the event loop and loads them with one call:
 * path lookups that run side by side (readFiles) share one debugfs process per directory level.
 */
class Batch<K> {
  private pending?: { keys: Set<K>; loaded: Promise<void> };

  constructor(private readonly load: (keys: K[]) => Promise<void>) {}

  request(key: K): Promise<void> {
    if (!this.pending) {
      const pending = { keys: new Set<K>(), loaded: Promise.resolve() };
      pending.loaded = new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
        this.pending = undefined;
        return this.load([...pending.keys]);
      });
      this.pending = pending;
    }
    this.pending.keys.add(key);
    return this.pending.loaded;
  }
}

export class Ext4Editor implements FsEditor {
  private readonly queue: string[] = [];
  private readonly dirs = new Map<string, Map<string, Node>>();
  private staging?: string;
  private stagedFiles = 0;
  private readonly logger: Logger;
  private readonly clock: () => number;
  private readonly listingBatch = new Batch<string>((dirs) => this.loadListings(dirs));
  private readonly detailBatch = new Batch<Node>((nodes) => this.loadDetails(nodes));

  private constructor(readonly image: string, options: Ext4EditorOptions) {
    this.logger = options.logger ?? silentLogger;
    this.clock = options.clock ?? defaultClock;
  }

  static async open(image: string, options: Ext4EditorOptions = {}): Promise<Ext4Editor> {
    const editor = new Ext4Editor(image, options);
    await editor.listing('/');
    return editor;
  }

  // ---- running debugfs ----------------------------------------------------------------------

  /** Run read-only commands; returns stdout. Any error output is a failure. */
  private async query(commands: string[], allowErrors = false): Promise<{ stdout: string; errors: string[] }> {
    const result = await run('debugfs', ['-f', '-', this.image], { input: `${commands.join('\n')}\n`, quiet: true, doing: `reading ${this.image}` });
    const errors = debugfsErrors(result.stderr);
    if (errors.length > 0 && !allowErrors) {
      throw new UserError(`debugfs could not read ${path.basename(this.image)}: ${errors.slice(0, 3).join('; ')}`, {
        detail: `commands: ${commands.slice(0, 5).join(' | ')}${commands.length > 5 ? ' …' : ''}`,
      });
    }
    return { stdout: result.stdout, errors };
  }

  private async doFlush(): Promise<void> {
    if (this.queue.length === 0) return;
    const commands = this.queue.splice(0, this.queue.length);
    const script = path.join(await this.stagingDir(), 'batch.txt');
    await fs.writeFile(script, `${commands.join('\n')}\n`, { mode: 0o600 });
    this.logger.debug(`debugfs batch of ${commands.length} commands on ${this.image}`);
    const result = await run('debugfs', ['-w', '-f', script, this.image], { quiet: true, doing: `editing ${this.image}` });
    const errors = debugfsErrors(result.stderr);
    await this.clearStaging();
    if (errors.length > 0) {
      this.dirs.clear();
      throw new UserError(`Editing ${path.basename(this.image)} failed: ${errors.slice(0, 3).join('; ')}`, {
        detail: `${errors.length} error(s) from debugfs in a batch of ${commands.length} commands`,
      });
    }
  }

  private async stagingDir(): Promise<string> {
    this.staging ??= await fs.mkdtemp(path.join(os.tmpdir(), 'mender-convert-debugfs-'));
    return this.staging;
  }

  private async clearStaging(): Promise<void> {
    if (!this.staging) return;
    await fs.rm(this.staging, { recursive: true, force: true });
    this.staging = undefined;
  }

  private async stage(data: string | Uint8Array): Promise<string> {
    const file = path.join(await this.stagingDir(), `data-${this.stagedFiles++}`);
    await fs.writeFile(file, data, { mode: 0o600 });
    return file;
  }

  // ---- directory listings and path resolution -------------------------------------------------

  /** Entries of a symlink-free directory path (cached; loaded after applying queued changes). */
  private async listing(dir: string): Promise<Map<string, Node>> {
    const cached = this.dirs.get(dir);
    if (cached) return cached;
    await this.listingBatch.request(dir);
    return this.dirs.get(dir)!;
  }

  /** `ls -p` of every directory asked for in one turn: one debugfs call. */
  private async loadListings(dirs: string[]): Promise<void> {
    const wanted = dirs.filter((dir) => !this.dirs.has(dir));
    if (wanted.length === 0) return;
    await this.doFlush();
    const listings = await this.listMany(wanted, false);
    wanted.forEach((dir, index) => this.dirs.set(dir, listings[index]!));
  }

  /** One debugfs call listing directories (`ls -p`), in the order asked. */
  private async listMany(dirs: string[], allowErrors: boolean): Promise<Map<string, Node>[]> {
    const { stdout } = await this.query(dirs.map((dir) => `ls -p ${quote(dir)}`), allowErrors);
    // debugfs echoes each command ("debugfs: ls -p …") before its output.
    const blocks = stdout.split(/^debugfs: /m).slice(1);
    if (blocks.length !== dirs.length) throw new Error(`debugfs answered ${blocks.length} of ${dirs.length} listings of ${this.image}`);
    return blocks.map((block) => {
      const entries = new Map<string, Node>();
      // Records are /inode/mode/uid/gid/name/size/ and a newline. A name holds no '/' but may
      // hold newlines, so records are matched in the whole answer (after the echoed command),
      // not line by line.
      const records = block.slice(block.indexOf('\n') + 1);
      for (const match of records.matchAll(/^\/(\d+)\/([0-7]+)\/(\d+)\/(\d+)\/([^/]*)\/(\d*)\/\n/gm)) {
        const [, inode, mode, uid, gid, name, size] = match as unknown as string[];
        // Inode 0: a deleted entry that starts a directory block keeps its old name; it is no file
        // (the name may well exist again elsewhere in the directory).
        if (name === '.' || name === '..' || inode === '0') continue;
        const fullMode = parseInt(mode!, 8);
        entries.set(name!, {
          type: typeOfMode(fullMode),
          mode: fullMode & 0o7777,
          uid: Number(uid),
          gid: Number(gid),
          size: Number(size || 0),
          inode: Number(inode),
        });
      }
      return entries;
    });
  }

  /**
   * Lists, in one debugfs call, every directory on the way to the given paths as if none were a
   * symlink, and keeps each listing that the listings themselves prove lies on real directories
   * all the way down (what lies behind a symlink is left to path resolution).
   */
  private async prefetchListings(paths: readonly string[]): Promise<void> {
    const wanted = new Set<string>();
    for (const p of paths) {
      const parts = splitPath(p);
      for (let depth = 1; depth < parts.length; depth++) wanted.add(joinPath(parts.slice(0, depth)));
    }
    const missing = [...wanted].filter((dir) => !this.dirs.has(dir));
    if (missing.length < 2) return;
    await this.doFlush();
    const listings = new Map((await this.listMany(missing, true)).map((entries, index) => [missing[index]!, entries]));
    const isRealDir = (dir: string): boolean => {
      if (dir === '/') return true;
      const parts = splitPath(dir);
      const name = parts.pop()!;
      const parent = joinPath(parts);
      const siblings = this.dirs.get(parent) ?? listings.get(parent);
      return siblings?.get(name)?.type === 'dir' && isRealDir(parent);
    };
    for (const [dir, entries] of listings) if (isRealDir(dir)) this.dirs.set(dir, entries);
  }

  /** Fill in symlink targets and mtimes of nodes from `stat` (one debugfs call for all asked in one turn). */
  private async details(items: { path: string; node: Node }[]): Promise<void> {
    const missing = items.filter(({ node }) => node.inode !== undefined && (node.mtime === undefined || (node.type === 'symlink' && node.target === undefined)));
    await Promise.all(missing.map(({ node }) => this.detailBatch.request(node)));
  }

  private async loadDetails(nodes: Node[]): Promise<void> {
    const missing = nodes.filter((node) => node.mtime === undefined || (node.type === 'symlink' && node.target === undefined));
    if (missing.length === 0) return;
    await this.doFlush();
    const { stdout } = await this.query(missing.map((node) => `stat <${node.inode}>`));
    const blocks = stdout.split(/^debugfs: /m).slice(1);
    const slow: Node[] = [];
    missing.forEach((node, index) => {
      const block = blocks[index] ?? '';
      const mtime = /^\s*mtime: 0x([0-9a-f]+)/m.exec(block);
      node.mtime = mtime ? parseInt(mtime[1]!, 16) : 0;
      if (node.type === 'symlink') {
        const fast = /Fast link dest: "(.*)"$/m.exec(block);
        if (fast) node.target = fast[1]!;
        else slow.push(node);
      }
    });
    for (const node of slow) {
      const { stdout: target } = await runForBytes('debugfs', ['-R', `cat <${node.inode}>`, this.image]);
      node.target = target.toString('utf8', 0, node.size || target.length);
    }
  }

  /**
   * The symlink-free path `p` refers to inside the image. Intermediate symlinks are always
   * followed; the last one only when `followLast`.
   */
  private async resolve(p: string, followLast: boolean): Promise<string> {
    let pending = splitPath(p);
    const current: string[] = [];
    let hops = 0;
    while (pending.length > 0) {
      const name = pending.shift()!;
      if (name === '.') continue;
      if (name === '..') {
        current.pop();
        continue;
      }
      const parent = joinPath(current);
      const parentNode = current.length === 0 ? undefined : await this.nodeAt(parent);
      if (current.length > 0 && parentNode?.type !== 'dir') {
        // A missing or non-directory parent: the rest cannot be resolved further.
        return joinPath([...current, name, ...pending]);
      }
      const node = (await this.listing(parent)).get(name);
      const isLast = pending.length === 0;
      if (node?.type === 'symlink' && (!isLast || followLast)) {
        if (++hops > MAX_SYMLINKS) throw new UserError(`Too many levels of symbolic links at ${p} in the image.`);
        await this.details([{ path: joinPath([...current, name]), node }]);
        const target = node.target ?? '';
        if (target.startsWith('/')) current.length = 0;
        pending = [...splitPath(target), ...pending];
        continue;
      }
      current.push(name);
    }
    return joinPath(current);
  }

  /** The node at a symlink-free path, or undefined. */
  private async nodeAt(p: string): Promise<Node | undefined> {
    if (p === '/') return { type: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0 };
    const parts = splitPath(p);
    const name = parts.pop()!;
    const parent = joinPath(parts);
    if (parts.length > 0 && (await this.nodeAt(parent))?.type !== 'dir') return undefined;
    return (await this.listing(parent)).get(name);
  }

  private toEntry(p: string, node: Node): Entry {
    return {
      path: p,
      name: p === '/' ? '/' : p.slice(p.lastIndexOf('/') + 1),
      type: node.type,
      mode: node.mode,
      uid: node.uid,
      gid: node.gid,
      size: node.size,
      mtime: node.mtime ?? 0,
      target: node.target,
    };
  }

  // ---- queued mutations --------------------------------------------------------------------

  private setAttributes(p: string, type: EntryType, options: Ownership, defaultMode: number): Node {
    const mode = options.mode ?? defaultMode;
    const uid = options.uid ?? 0;
    const gid = options.gid ?? 0;
    const mtime = options.mtime ?? this.clock();
    const q = quote(p);
    if (type !== 'symlink') this.queue.push(`sif ${q} mode 0${(TYPE_BITS[type] | (mode & 0o7777)).toString(8)}`);
    this.queue.push(`sif ${q} uid ${uid}`, `sif ${q} gid ${gid}`);
    for (const field of ['mtime', 'ctime', 'atime', 'crtime']) this.queue.push(`sif ${q} ${field} @${mtime}`);
    return { type, mode: type === 'symlink' ? 0o777 : mode & 0o7777, uid, gid, size: 0, mtime };
  }

  private async cacheEntry(p: string, node: Node): Promise<void> {
    const parts = splitPath(p);
    const name = parts.pop()!;
    (await this.listing(joinPath(parts))).set(name, node);
    if (node.type === 'dir') this.dirs.set(p, this.dirs.get(p) ?? new Map());
  }

  /** Remove whatever is at a symlink-free path (recursively for directories). */
  private async removeResolved(p: string, recursive: boolean): Promise<void> {
    const node = await this.nodeAt(p);
    if (!node) return;
    if (node.type === 'dir') {
      const children = await this.listing(p);
      if (children.size > 0 && !recursive) throw new UserError(`Cannot remove ${p} from the image: the directory is not empty.`);
      for (const child of [...children.keys()]) await this.removeResolved(joinPath([...splitPath(p), child]), true);
      this.queue.push(`rmdir ${quote(p)}`);
      this.dirs.delete(p);
    } else {
      this.queue.push(`rm ${quote(p)}`);
    }
    const parts = splitPath(p);
    const name = parts.pop()!;
    (await this.listing(joinPath(parts))).delete(name);
  }

  /** Parent directory (resolved, must exist) and final name of a path to create. */
  private async placeFor(p: string): Promise<{ parent: string; target: string }> {
    const parts = splitPath(p);
    if (parts.length === 0) throw new UserError('Cannot replace the root directory of the image.');
    const name = parts.pop()!;
    const parent = await this.resolve(joinPath(parts), true);
    const parentNode = await this.nodeAt(parent);
    if (parentNode?.type !== 'dir') throw new UserError(`Cannot create ${p} in the image: ${joinPath(parts)} is not a directory.`);
    return { parent, target: joinPath([...splitPath(parent), name]) };
  }

  // ---- FsEditor: one operation at a time (the caches and the queue are shared state) -------

  private lock: Promise<unknown> = Promise.resolve();

  private exclusive<T>(operation: () => Promise<T>): Promise<T> {
    const result = this.lock.then(operation);
    this.lock = result.catch(() => undefined);
    return result;
  }

  readFile(p: string): Promise<Buffer> {
    return this.exclusive(() => this.doReadFile(p));
  }
  readText(p: string): Promise<string> {
    return this.exclusive(() => this.doReadText(p));
  }
  readFiles(paths: readonly string[]): Promise<Map<string, Buffer>> {
    return this.exclusive(() => this.doReadFiles(paths));
  }
  exists(p: string): Promise<boolean> {
    return this.exclusive(() => this.doExists(p));
  }
  stat(p: string): Promise<Entry | null> {
    return this.exclusive(() => this.doStat(p));
  }
  list(dir: string): Promise<Entry[]> {
    return this.exclusive(() => this.doList(dir));
  }
  writeFile(p: string, data: string | Uint8Array, options: Ownership = {}): Promise<void> {
    return this.exclusive(() => this.doWriteFile(p, data, options));
  }
  mkdir(p: string, options: Ownership = {}): Promise<void> {
    return this.exclusive(() => this.doMkdir(p, options));
  }
  symlink(p: string, target: string, options: Ownership = {}): Promise<void> {
    return this.exclusive(() => this.doSymlink(p, target, options));
  }
  remove(p: string, options: { recursive?: boolean } = {}): Promise<void> {
    return this.exclusive(() => this.doRemove(p, options));
  }
  copyIn(hostDir: string, destDir: string, options: CopyInOptions = {}): Promise<void> {
    return this.exclusive(() => this.doCopyIn(hostDir, destDir, options));
  }
  flush(): Promise<void> {
    return this.exclusive(() => this.doFlush());
  }

  // ---- implementations ----------------------------------------------------------------------

  private async doReadFile(p: string): Promise<Buffer> {
    const resolved = await this.resolve(p, true);
    const node = await this.nodeAt(resolved);
    if (!node) throw new UserError(`${p} does not exist in the image.`);
    if (node.type !== 'file') throw new UserError(`${p} in the image is not a regular file.`);
    await this.doFlush();
    const { stdout, stderr } = await runForBytes('debugfs', ['-R', `cat ${quote(resolved)}`, this.image]);
    const errors = debugfsErrors(stderr);
    if (errors.length > 0) throw new UserError(`Reading ${p} from the image failed: ${errors.join('; ')}`);
    return stdout;
  }

  /**
   * The directories on the way are listed in one debugfs call, every path is then resolved side
   * by side (what symlinks add costs a call per level, not per file), and one more call dumps
   * all the files into a staging directory.
   */
  private async doReadFiles(paths: readonly string[]): Promise<Map<string, Buffer>> {
    await this.prefetchListings(paths);
    const found = await Promise.all(paths.map(async (p) => {
      const resolved = await this.resolve(p, true);
      return (await this.nodeAt(resolved))?.type === 'file' ? { p, resolved } : undefined;
    }));
    const files = found.filter((item) => item !== undefined);
    const unique = [...new Set(files.map(({ resolved }) => resolved))];
    const contents = new Map<string, Buffer>();
    if (unique.length === 0) return contents;
    await this.doFlush();
    const staging = await fs.mkdtemp(path.join(os.tmpdir(), 'mender-convert-read-'));
    try {
      const { errors } = await this.query(unique.map((resolved, index) => `dump ${quote(resolved)} ${quote(path.join(staging, String(index)))}`), true);
      if (errors.length > 0) throw new UserError(`Reading files from ${path.basename(this.image)} failed: ${errors.slice(0, 3).join('; ')}`);
      // Small files, many of them: read synchronously (a thread-pool round trip each costs more).
      unique.forEach((resolved, index) => contents.set(resolved, readFileSync(path.join(staging, String(index)))));
    } finally {
      await fs.rm(staging, { recursive: true, force: true });
    }
    return new Map(files.map(({ p, resolved }) => [p, contents.get(resolved)!]));
  }

  private async doReadText(p: string): Promise<string> {
    return (await this.doReadFile(p)).toString('utf8');
  }

  private async doExists(p: string): Promise<boolean> {
    return (await this.nodeAt(await this.resolve(p, true))) !== undefined;
  }

  private async doStat(p: string): Promise<Entry | null> {
    const resolved = await this.resolve(p, false);
    const node = await this.nodeAt(resolved);
    if (!node) return null;
    await this.details([{ path: resolved, node }]);
    return this.toEntry(resolved, node);
  }

  private async doList(dir: string): Promise<Entry[]> {
    const resolved = await this.resolve(dir, true);
    const node = await this.nodeAt(resolved);
    if (node?.type !== 'dir') throw new UserError(`${dir} is not a directory in the image.`);
    const entries = [...(await this.listing(resolved)).entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const items = entries.map(([name, child]) => ({ path: joinPath([...splitPath(resolved), name]), node: child }));
    await this.details(items);
    return items.map(({ path: p, node: child }) => this.toEntry(p, child));
  }

  private async doWriteFile(p: string, data: string | Uint8Array, options: Ownership = {}): Promise<void> {
    const { target } = await this.placeFor(p);
    const existing = await this.nodeAt(target);
    if (existing?.type === 'dir') throw new UserError(`Cannot write ${p} in the image: it is a directory.`);
    if (existing) await this.removeResolved(target, false);
    const staged = await this.stage(data);
    this.queue.push(`write ${quote(staged)} ${quote(target)}`);
    const node = this.setAttributes(target, 'file', options, 0o644);
    node.size = typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength;
    await this.cacheEntry(target, node);
  }

  private async doMkdir(p: string, options: Ownership = {}): Promise<void> {
    const parts = splitPath(p);
    for (let depth = 1; depth <= parts.length; depth++) {
      const prefix = joinPath(parts.slice(0, depth));
      const resolved = await this.resolve(prefix, true);
      const node = await this.nodeAt(resolved);
      if (node?.type === 'dir') continue;
      if (node) throw new UserError(`Cannot create directory ${prefix} in the image: a ${node.type} is in the way.`);
      const { target } = await this.placeFor(prefix);
      this.queue.push(`mkdir ${quote(target)}`);
      await this.cacheEntry(target, this.setAttributes(target, 'dir', options, 0o755));
    }
  }

  private async doSymlink(p: string, target: string, options: Ownership = {}): Promise<void> {
    if (/[\n"]/.test(target)) throw new UserError(`The symlink target ${JSON.stringify(target)} contains a quote or newline.`);
    const { target: place } = await this.placeFor(p);
    const existing = await this.nodeAt(place);
    if (existing?.type === 'dir') throw new UserError(`Cannot create symlink ${p} in the image: a directory is in the way.`);
    if (existing) await this.removeResolved(place, false);
    this.queue.push(`symlink ${quote(place)} ${quote(target)}`);
    const node = this.setAttributes(place, 'symlink', options, 0o777);
    node.target = target;
    node.size = Buffer.byteLength(target);
    await this.cacheEntry(place, node);
  }

  private async doRemove(p: string, options: { recursive?: boolean } = {}): Promise<void> {
    const parts = splitPath(p);
    if (parts.length === 0) throw new UserError('Refusing to remove the root directory of the image.');
    const name = parts.pop()!;
    const parent = await this.resolve(joinPath(parts), true);
    if ((await this.nodeAt(parent))?.type !== 'dir') return;
    await this.removeResolved(joinPath([...splitPath(parent), name]), options.recursive ?? false);
  }

  private async doCopyIn(hostDir: string, destDir: string, options: CopyInOptions = {}): Promise<void> {
    const owner = { uid: options.uid ?? 0, gid: options.gid ?? 0 };
    await this.doMkdir(destDir, owner);
    const walk = async (hostPath: string, imagePath: string): Promise<void> => {
      const names = (await fs.readdir(hostPath)).sort();
      for (const name of names) {
        const source = path.join(hostPath, name);
        const target = `${imagePath === '/' ? '' : imagePath}/${name}`;
        const stat = await fs.lstat(source);
        const mode = stat.mode & 0o7777;
        if (stat.isDirectory()) {
          const existing = await this.nodeAt(await this.resolve(target, true));
          if (!existing) await this.doMkdir(target, { ...owner, mode });
          else if (existing.type !== 'dir') {
            await this.doRemove(target, { recursive: true });
            await this.doMkdir(target, { ...owner, mode });
          }
          await walk(source, target);
        } else if (stat.isSymbolicLink()) {
          await this.doSymlink(target, await fs.readlink(source), owner);
        } else if (stat.isFile()) {
          const resolved = await this.resolve(target, true);
          if ((await this.nodeAt(resolved))?.type === 'dir') await this.doRemove(target, { recursive: true });
          const { target: place } = await this.placeFor(target);
          const existing = await this.nodeAt(place);
          if (existing) await this.removeResolved(place, false);
          this.queue.push(`write ${quote(source)} ${quote(place)}`);
          const node = this.setAttributes(place, 'file', { ...owner, mode }, mode);
          node.size = stat.size;
          await this.cacheEntry(place, node);
        } else {
          throw new UserError(`${source} is a special file; overlays may hold files, directories and symlinks only.`);
        }
      }
    };
    await walk(hostDir, (await this.resolve(destDir, true)) || '/');
    await this.doFlush();
  }
}
