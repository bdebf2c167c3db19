import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { run, runForBytes } from '../util/exec.js';
import { UserError } from '../util/errors.js';
import { silentLogger, type Logger } from '../util/log.js';
import type { CopyInOptions, Entry, FsEditor, Ownership } from './editor.js';
import { joinPath, normalizePath, splitPath } from './paths.js';

/** Create an empty FAT filesystem of `bytes` in a new image file. */
export async function makeFat(image: string, bytes: number, options: { label?: string; volumeId?: string } = {}): Promise<void> {
  await fs.rm(image, { force: true });
  await fs.writeFile(image, '');
  await fs.truncate(image, bytes);
  const args = [...(options.label ? ['-n', options.label.toUpperCase()] : []), ...(options.volumeId ? ['-i', options.volumeId] : []), image];
  await run('mkfs.vfat', args, { doing: `creating the FAT filesystem ${image}` });
}

/**
 * What fsck.fat -n reports of a filesystem whose files are all as they should be: the dirty bit of
 * one that was not unmounted (a copy of a running device), a backup boot sector that differs from
 * the first (which is the one read), a free-cluster count in FSINFO (only a hint).
 */
const HARMLESS_FAT_FINDINGS = [/^Dirty bit is set/, /^There are differences between boot sector and its backup/, /^This is mostly harmless/, /^Free cluster summary/];

/**
 * fsck.fat -n must find nothing but the harmless (a circular or cross-linked cluster chain, a
 * directory entry past the end: files that would be copied as they are, damaged). `what` names the
 * filesystem in the message. The image is only read.
 */
export async function checkFat(image: string, what: string): Promise<void> {
  const result = await run('fsck.vfat', ['-n', image], { okExitCodes: [1], doing: `checking ${what}` });
  if (result.exitCode === 0) return;
  // A finding is a line at the left margin with the indented lines under it (a path, then what is wrong with it).
  const findings: string[][] = [];
  for (const line of `${result.stdout}\n${result.stderr}`.split('\n')) {
    if (!line.trim() || /^fsck\.fat \d/.test(line) || line.trim() === 'Leaving filesystem unchanged.' || /: \d+ files, \d+\/\d+ clusters$/.test(line)) continue;
    const last = findings[findings.length - 1];
    if (/^\s/.test(line) && last) last.push(line.trim());
    else findings.push([line.trim()]);
  }
  const damage = findings.filter((finding) => !HARMLESS_FAT_FINDINGS.some((harmless) => harmless.test(finding[0]!)));
  if (damage.length === 0 && findings.length > 0) return;
  const listed = damage.length > 0 ? damage : [['fsck.fat found errors it did not name']];
  const named = `${listed.slice(0, 3).map((finding) => finding.join(' ')).join(' ')}${damage.length > 3 ? ` (and ${damage.length - 3} more)` : ''}`;
  throw new UserError(`fsck.fat finds ${what} damaged: ${named}${/[.!]$/.test(named) ? '' : '.'}`, {
    hint: 'Repair a copy of the golden image (fsck.vfat -a on that partition, then check its files) and convert that, or use an intact copy.',
  });
}

/**
 * FsEditor over a standalone FAT image file, through mtools (`-i image ::/path`). FAT has no
 * owners, modes or symlinks: ownership options are ignored and symlinks are refused. The tree's
 * shape is listed once (`mdir -/ -b`) and kept up to date by our own changes; FAT names are
 * case-insensitive, so lookups are too.
 */

const MTOOLS_ENV = { MTOOLS_SKIP_CHECK: '1' };

export interface FatEditorOptions {
  logger?: Logger;
}

export class FatEditor implements FsEditor {
  /** Lower-cased path → { the path as stored, is it a directory }. */
  private tree?: Map<string, { path: string; dir: boolean }>;
  private readonly logger: Logger;

  private constructor(readonly image: string, options: FatEditorOptions) {
    this.logger = options.logger ?? silentLogger;
  }

  static async open(image: string, options: FatEditorOptions = {}): Promise<FatEditor> {
    const editor = new FatEditor(image, options);
    await editor.entries();
    return editor;
  }

  private lock: Promise<unknown> = Promise.resolve();

  /** mtools processes on one image must never overlap: each rewrites the FAT. */
  private serial<T>(operation: () => Promise<T>): Promise<T> {
    const result = this.lock.then(operation);
    this.lock = result.catch(() => undefined);
    return result;
  }

  private mtools(tool: string, args: string[], doing: string) {
    return this.serial(() => run(tool, ['-i', this.image, ...args], { env: MTOOLS_ENV, doing }));
  }

  private async entries(): Promise<Map<string, { path: string; dir: boolean }>> {
    if (this.tree) return this.tree;
    // mdir fails on an empty filesystem ("::/ not found"): check that the image is FAT first.
    await this.mtools('minfo', [], `reading the FAT filesystem ${path.basename(this.image)}`);
    const listing = await this.serial(() => run('mdir', ['-i', this.image, '-a', '-b', '-/', '::/'], { env: MTOOLS_ENV, okExitCodes: [1] }));
    const stdout = listing.exitCode === 0 ? listing.stdout : '';
    const tree = new Map<string, { path: string; dir: boolean }>();
    for (const line of stdout.split('\n')) {
      if (!line.startsWith('::/')) continue;
      const dir = line.endsWith('/');
      const p = normalizePath(line.slice(2));
      tree.set(p.toLowerCase(), { path: p, dir });
    }
    this.tree = tree;
    return tree;
  }

  /** The stored spelling of a path (FAT is case-insensitive), or undefined. */
  private async lookup(p: string): Promise<{ path: string; dir: boolean } | undefined> {
    const normal = normalizePath(p);
    if (normal === '/') return { path: '/', dir: true };
    return (await this.entries()).get(normal.toLowerCase());
  }

  private async requireParentDir(p: string): Promise<void> {
    const parent = joinPath(splitPath(normalizePath(p)).slice(0, -1));
    if (!(await this.lookup(parent))?.dir) throw new UserError(`Cannot create ${p} on the boot partition: ${parent} is not a directory.`);
  }

  async readFile(p: string): Promise<Buffer> {
    const found = await this.lookup(p);
    if (!found || found.dir) throw new UserError(`${p} is not a file on the boot partition.`);
    const { stdout } = await this.serial(() => runForBytes('mcopy', ['-n', '-i', this.image, `::${found.path}`, '-'], { env: MTOOLS_ENV, doing: `reading ${p}` }));
    return stdout;
  }

  async readText(p: string): Promise<string> {
    return (await this.readFile(p)).toString('utf8');
  }

  /** One mcopy per set of files with distinct names (each set copied into one staging directory). */
  async readFiles(paths: readonly string[]): Promise<Map<string, Buffer>> {
    const groups: { path: string; stored: string }[][] = [];
    for (const p of paths) {
      const found = await this.lookup(p);
      if (!found || found.dir) continue;
      const name = found.path.slice(found.path.lastIndexOf('/') + 1).toLowerCase();
      let group = groups.find((g) => !g.some((item) => item.stored.slice(item.stored.lastIndexOf('/') + 1).toLowerCase() === name));
      if (!group) groups.push((group = []));
      group.push({ path: p, stored: found.path });
    }
    const files = new Map<string, Buffer>();
    if (groups.length === 0) return files;
    const staging = await fs.mkdtemp(path.join(os.tmpdir(), 'mender-convert-fat-'));
    try {
      for (const [index, group] of groups.entries()) {
        const dir = path.join(staging, String(index));
        await fs.mkdir(dir);
        await this.mtools('mcopy', ['-n', ...group.map((item) => `::${item.stored}`), dir], `reading ${group.length} files`);
        for (const item of group) files.set(item.path, await fs.readFile(path.join(dir, item.stored.slice(item.stored.lastIndexOf('/') + 1))));
      }
    } finally {
      await fs.rm(staging, { recursive: true, force: true });
    }
    return files;
  }

  async exists(p: string): Promise<boolean> {
    return (await this.lookup(p)) !== undefined;
  }

  async stat(p: string): Promise<Entry | null> {
    const found = await this.lookup(p);
    if (!found) return null;
    const size = found.dir ? 0 : (await this.readFile(found.path)).length;
    return this.entry(found.path, found.dir, size);
  }

  private entry(p: string, dir: boolean, size: number): Entry {
    return { path: p, name: p.slice(p.lastIndexOf('/') + 1) || '/', type: dir ? 'dir' : 'file', mode: dir ? 0o755 : 0o644, uid: 0, gid: 0, size, mtime: 0 };
  }

  async list(dir: string): Promise<Entry[]> {
    const found = await this.lookup(dir);
    if (!found?.dir) throw new UserError(`${dir} is not a directory on the boot partition.`);
    const prefix = found.path === '/' ? '/' : `${found.path}/`;
    const children = [...(await this.entries()).values()].filter(
      (e) => e.path.startsWith(prefix) && e.path !== found.path && !e.path.slice(prefix.length).includes('/'),
    );
    return children
      .sort((a, b) => (a.path < b.path ? -1 : 1))
      .map((e) => this.entry(e.path, e.dir, 0));
  }

  async writeFile(p: string, data: string | Uint8Array, _options?: Ownership): Promise<void> {
    const target = normalizePath(p);
    await this.requireParentDir(target);
    const existing = await this.lookup(target);
    if (existing?.dir) throw new UserError(`Cannot write ${p} on the boot partition: it is a directory.`);
    const staging = await fs.mkdtemp(path.join(os.tmpdir(), 'mender-convert-fat-'));
    try {
      const file = path.join(staging, 'data');
      await fs.writeFile(file, data, { mode: 0o600 });
      await this.mtools('mcopy', ['-o', file, `::${existing?.path ?? target}`], `writing ${p} to the boot partition`);
    } finally {
      await fs.rm(staging, { recursive: true, force: true });
    }
    (await this.entries()).set(target.toLowerCase(), { path: existing?.path ?? target, dir: false });
  }

  async mkdir(p: string, _options?: Ownership): Promise<void> {
    const parts = splitPath(normalizePath(p));
    for (let depth = 1; depth <= parts.length; depth++) {
      const prefix = joinPath(parts.slice(0, depth));
      const found = await this.lookup(prefix);
      if (found?.dir) continue;
      if (found) throw new UserError(`Cannot create directory ${prefix} on the boot partition: a file is in the way.`);
      await this.mtools('mmd', [`::${prefix}`], `creating ${prefix} on the boot partition`);
      (await this.entries()).set(prefix.toLowerCase(), { path: prefix, dir: true });
    }
  }

  async symlink(p: string): Promise<void> {
    throw new UserError(`Cannot create the symlink ${p} on the boot partition: FAT has no symlinks.`);
  }

  async remove(p: string, options: { recursive?: boolean } = {}): Promise<void> {
    const found = await this.lookup(p);
    if (!found || found.path === '/') return;
    const tree = await this.entries();
    if (found.dir) {
      const inside = [...tree.values()].filter((e) => e.path.startsWith(`${found.path}/`));
      if (inside.length > 0 && !options.recursive) throw new UserError(`Cannot remove ${p} from the boot partition: the directory is not empty.`);
      await this.mtools('mdeltree', [`::${found.path}`], `removing ${p} from the boot partition`);
      for (const e of inside) tree.delete(e.path.toLowerCase());
    } else {
      await this.mtools('mdel', [`::${found.path}`], `removing ${p} from the boot partition`);
    }
    tree.delete(found.path.toLowerCase());
  }

  async copyIn(hostDir: string, destDir: string, _options?: CopyInOptions): Promise<void> {
    await this.mkdir(destDir);
    const names = await fs.readdir(hostDir);
    for (const name of names) {
      const stat = await fs.lstat(path.join(hostDir, name));
      if (stat.isSymbolicLink()) throw new UserError(`${path.join(hostDir, name)} is a symlink; FAT boot partitions cannot hold symlinks.`);
    }
    if (names.length === 0) return;
    const dest = (await this.lookup(destDir))!.path;
    // One mcopy for the whole tree; -o overwrites files, directories are merged.
    await this.mtools('mcopy', ['-s', '-o', '-Q', ...names.map((name) => path.join(hostDir, name)), `::${dest}`], `copying ${hostDir} to the boot partition`);
    this.tree = undefined;
    this.logger.debug(`copied ${hostDir} to ${dest} on ${this.image}`);
  }

  async flush(): Promise<void> {
    // Every change is applied at once; nothing is queued.
  }
}
