import fs from 'node:fs/promises';

/**
 * Files and directories appear under their final name complete or not at all: they are written
 * under a partial name in the same directory (so the rename is atomic), renamed on success and
 * removed on failure.
 */

/** Marks every partial name; what follows it says whose (a process, a conversion run). */
export const PARTIAL_MARKER = '.partial-';

/** The name `finalPath` is written under until it is complete. */
export function partialPath(finalPath: string, tag = String(process.pid)): string {
  return `${finalPath}${PARTIAL_MARKER}${tag}`;
}

/** The final name a partial one stands for (a name that is not partial stands for itself). */
export function finalPathOf(file: string): string {
  const at = file.lastIndexOf(PARTIAL_MARKER);
  return at === -1 ? file : file.slice(0, at);
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
