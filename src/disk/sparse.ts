import fs from 'node:fs/promises';

const BLOCK = 4096;
const ZERO = Buffer.alloc(BLOCK);

/** Non-zero runs of a buffer, in whole 4 KiB blocks (the tail block may be shorter). */
export function* dataRuns(buffer: Buffer): Generator<[start: number, end: number]> {
  let runStart = -1;
  for (let at = 0; at < buffer.length; at += BLOCK) {
    const end = Math.min(at + BLOCK, buffer.length);
    const block = buffer.subarray(at, end);
    const zero = block.length === BLOCK ? block.equals(ZERO) : block.equals(ZERO.subarray(0, block.length));
    if (!zero && runStart < 0) runStart = at;
    if (zero && runStart >= 0) {
      yield [runStart, at];
      runStart = -1;
    }
  }
  if (runStart >= 0) yield [runStart, buffer.length];
}

/**
 * Writes a file of a fixed size sparsely: all-zero blocks are skipped, so they stay holes and
 * cost no disk space or write bandwidth.
 */
export class SparseWriter {
  private dataEnd = 0;

  private constructor(private readonly handle: fs.FileHandle) {}

  static async create(file: string, size: number): Promise<SparseWriter> {
    const handle = await fs.open(file, 'w', 0o600);
    await handle.truncate(size);
    return new SparseWriter(handle);
  }

  async write(buffer: Buffer, offset: number): Promise<void> {
    for (const [start, end] of dataRuns(buffer)) {
      await this.handle.write(buffer, start, end - start, offset + start);
      this.dataEnd = Math.max(this.dataEnd, offset + end);
    }
  }

  /** Closes the file; returns the end of the last non-zero data written. */
  async close(): Promise<number> {
    await this.handle.close();
    return this.dataEnd;
  }
}
