import fs from 'node:fs/promises';
import path from 'node:path';
import type { CopyInOptions, Entry, FsEditor, Ownership } from './editor.js';

/** One change a conversion makes to a filesystem, for `plan` and --dry-run. */
export interface Change {
  action: 'add' | 'change' | 'remove';
  path: string;
  what: 'file' | 'dir' | 'symlink';
}

/**
 * Wraps an editor and records every change made through it (the changes still happen, to the
 * work copy, so that later steps see them). Paths are reported as the caller wrote them.
 */
export class RecordingEditor implements FsEditor {
  readonly changes: Change[] = [];

  constructor(private readonly inner: FsEditor) {}

  private async note(p: string, what: Change['what']): Promise<void> {
    this.changes.push({ action: (await this.inner.exists(p)) ? 'change' : 'add', path: p, what });
  }

  readFile(p: string): Promise<Buffer> {
    return this.inner.readFile(p);
  }
  readText(p: string): Promise<string> {
    return this.inner.readText(p);
  }
  readFiles(paths: readonly string[]): Promise<Map<string, Buffer>> {
    return this.inner.readFiles(paths);
  }
  exists(p: string): Promise<boolean> {
    return this.inner.exists(p);
  }
  stat(p: string): Promise<Entry | null> {
    return this.inner.stat(p);
  }
  list(dir: string): Promise<Entry[]> {
    return this.inner.list(dir);
  }
  flush(): Promise<void> {
    return this.inner.flush();
  }

  async writeFile(p: string, data: string | Uint8Array, options?: Ownership): Promise<void> {
    await this.note(p, 'file');
    await this.inner.writeFile(p, data, options);
  }

  async mkdir(p: string, options?: Ownership): Promise<void> {
    if (!(await this.inner.exists(p))) this.changes.push({ action: 'add', path: p, what: 'dir' });
    await this.inner.mkdir(p, options);
  }

  async symlink(p: string, target: string, options?: Ownership): Promise<void> {
    await this.note(p, 'symlink');
    await this.inner.symlink(p, target, options);
  }

  async remove(p: string, options?: { recursive?: boolean }): Promise<void> {
    const entry = await this.inner.stat(p);
    if (entry) this.changes.push({ action: 'remove', path: p, what: entry.type === 'dir' ? 'dir' : entry.type === 'symlink' ? 'symlink' : 'file' });
    await this.inner.remove(p, options);
  }

  async copyIn(hostDir: string, destDir: string, options?: CopyInOptions): Promise<void> {
    const walk = async (dir: string, into: string): Promise<void> => {
      for (const name of (await fs.readdir(dir)).sort()) {
        const stat = await fs.lstat(path.join(dir, name));
        const target = `${into === '/' ? '' : into}/${name}`;
        const exists = await this.inner.exists(target);
        if (stat.isDirectory()) {
          if (!exists) this.changes.push({ action: 'add', path: target, what: 'dir' });
          await walk(path.join(dir, name), target);
        } else {
          this.changes.push({ action: exists ? 'change' : 'add', path: target, what: stat.isSymbolicLink() ? 'symlink' : 'file' });
        }
      }
    };
    await walk(hostDir, destDir);
    await this.inner.copyIn(hostDir, destDir, options);
  }
}
