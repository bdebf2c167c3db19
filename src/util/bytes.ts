const ZEROS = Buffer.alloc(1024 * 1024);

/** Whether `buffer[start, end)` holds only zero bytes (no allocation: compares against a shared zero buffer). */
export function isZero(buffer: Buffer, start = 0, end = buffer.length): boolean {
  for (let at = start; at < end; at += ZEROS.length) {
    const to = Math.min(end, at + ZEROS.length);
    if (ZEROS.compare(buffer, at, to, 0, to - at) !== 0) return false;
  }
  return true;
}
