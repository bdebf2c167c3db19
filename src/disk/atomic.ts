import fs from 'node:fs/promises';

/**
 * Outputs appear under their final name complete or not at all: they are written to a partial name
 * in the same directory (so the rename is atomic), renamed on success and removed on failure.
 */

/** The name an output is written under until it is complete. */
export function partialPath(finalPath: string): string {
  return `${finalPath}.partial-${process.pid}`;
}

/** Run `write` on a partial name, then give the result its final name; on any failure, leave nothing behind. */
export async function writeAtomically<T>(finalPath: string, write: (partial: string) => Promise<T>): Promise<T> {
  const partial = partialPath(finalPath);
  try {
    const result = await write(partial);
    await fs.rename(partial, finalPath);
    return result;
  } catch (error) {
    await fs.rm(partial, { force: true, recursive: true });
    throw error;
  }
}
