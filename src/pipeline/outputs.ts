import fs from 'node:fs/promises';
import path from 'node:path';
import { PARTIAL_MARKER, partialPath } from '../util/atomic.js';

/**
 * The outputs of one conversion: each is written under a partial name of this run, and all are
 * renamed to their final names together, once every one of them is complete. A failed or
 * interrupted run leaves nothing under a final name, and its partial files are removed.
 */

export interface OutputFile {
  kind: 'image' | 'rootfs' | 'artifact' | 'tests-config' | 'bmap' | 'sbom' | 'results';
  path: string;
  bytes: number;
  /** Its sha256 when known without reading it again (computed while it was written). */
  sha256?: Promise<string>;
}

interface Pending {
  kind: OutputFile['kind'];
  partial: string;
  path: string;
  sha256?: Promise<string>;
}

export class OutputSet {
  private readonly pending: Pending[] = [];

  /** `tag` names this run in every partial name (the run directory's name: unique in the work directory). */
  constructor(readonly dir: string, private readonly tag: string) {}

  /** The name `finalPath` is written under until every output is complete. */
  partial(finalPath: string): string {
    return partialPath(finalPath, this.tag);
  }

  /** An output now complete under partial(finalPath), to be published with the others. */
  add(kind: OutputFile['kind'], finalPath: string, sha256?: Promise<string>): void {
    this.pending.push({ kind, partial: this.partial(finalPath), path: finalPath, sha256 });
  }

  /** Every output renamed to its final name, as ordinary readable files. */
  async publish(): Promise<OutputFile[]> {
    const published: OutputFile[] = [];
    for (const output of this.pending) {
      // Work files are private while the run lasts; published outputs are ordinary files.
      await fs.chmod(output.partial, 0o644);
      await fs.rename(output.partial, output.path);
      published.push({ kind: output.kind, path: output.path, bytes: (await fs.stat(output.path)).size, sha256: output.sha256 });
    }
    this.pending.length = 0;
    return published;
  }

  /** After a failure: this run's partial files removed from the output directory. */
  async discard(): Promise<void> {
    const marker = `${PARTIAL_MARKER}${this.tag}`;
    const names = await fs.readdir(this.dir).catch(() => [] as string[]);
    await Promise.all(names.filter((name) => name.endsWith(marker)).map((name) => fs.rm(path.join(this.dir, name), { force: true })));
  }
}
