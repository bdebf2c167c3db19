/** Paths inside a filesystem image: always absolute, '/'-separated, never touching the host. */

export function splitPath(p: string): string[] {
  return p.split('/').filter((part) => part !== '' && part !== '.');
}

export function joinPath(parts: readonly string[]): string {
  return `/${parts.join('/')}`;
}

/** Lexically normalised absolute path: `..` stops at the root (as inside a chroot). */
export function normalizePath(p: string): string {
  const out: string[] = [];
  for (const part of splitPath(p)) {
    if (part === '..') out.pop();
    else out.push(part);
  }
  return joinPath(out);
}
