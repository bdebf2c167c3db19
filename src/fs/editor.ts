/**
 * The small API every filesystem editor offers (ext4 through e2fsprogs, FAT through mtools),
 * used by the pipeline, the package installer, bootloader code and user hooks alike.
 *
 * Paths are absolute paths inside the filesystem ("/etc/fstab"). Symlinks are resolved inside
 * the filesystem, never on the host: an absolute target such as "/" means the filesystem root.
 * Mutations may be queued and applied in batches (one tool process per batch); every read
 * sees all earlier writes, and `flush()` applies whatever is queued.
 */

export type EntryType = 'file' | 'dir' | 'symlink' | 'other';

export interface Entry {
  /** Absolute path inside the filesystem, where the entry is: symlinked directories on the way resolved. */
  path: string;
  name: string;
  type: EntryType;
  /** Permission bits (e.g. 0o644), without the file type bits. */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Seconds since the epoch. */
  mtime: number;
  /** Symlink target, for symlinks. */
  target?: string;
}

export interface Ownership {
  mode?: number;
  uid?: number;
  gid?: number;
  /** Seconds since the epoch; defaults to the editor's clock (SOURCE_DATE_EPOCH when set). */
  mtime?: number;
}

export interface CopyInOptions {
  /** Owner of everything copied in; default root:root (0:0). */
  uid?: number;
  gid?: number;
}

export interface FsEditor {
  /** File content; symlinks (also in parent directories) are followed inside the filesystem. */
  readFile(path: string): Promise<Buffer>;
  readText(path: string): Promise<string>;
  /**
   * Many files at once (editors read them in one batch where they can): path → content, as
   * asked for; paths that do not exist or are not regular files are left out.
   */
  readFiles(paths: readonly string[]): Promise<Map<string, Buffer>>;
  exists(path: string): Promise<boolean>;
  /** lstat semantics: a symlink is reported as such; null when the path does not exist. */
  stat(path: string): Promise<Entry | null>;
  /** Directory entries without "." and "..", sorted by name. */
  list(dir: string): Promise<Entry[]>;
  /** Create or replace a file; parent directories must exist (use mkdir first). */
  writeFile(path: string, data: string | Uint8Array, options?: Ownership): Promise<void>;
  /** mkdir -p; existing directories are left as they are. */
  mkdir(path: string, options?: Ownership): Promise<void>;
  /** Create or replace a symlink at `path` pointing to `target` (stored verbatim). */
  symlink(path: string, target: string, options?: Ownership): Promise<void>;
  /** Remove a file, symlink or (with recursive) a directory tree; missing paths are not an error. */
  remove(path: string, options?: { recursive?: boolean }): Promise<void>;
  /** Copy a host directory tree into `destDir` (an overlay): modes, symlinks, files, directories. */
  copyIn(hostDir: string, destDir: string, options?: CopyInOptions): Promise<void>;
  /** Apply queued changes now. */
  flush(): Promise<void>;
}
