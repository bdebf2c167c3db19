import type { FsEditor } from '../fs/editor.js';
import { parseParagraphs } from '../deb/control.js';

/** APT sources as an image (or a user) lists them: one-line `deb …` entries and deb822 .sources files. */

export interface SourceEntry {
  url: string;
  suite: string;
  components: string[];
  /** signed-by: key files (paths as written) or an inline key block. */
  signedBy: string[];
  /** [trusted=yes]: no signature check, by the source's own choice. */
  trusted: boolean;
}

function options(text: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const item of (text ?? '').split(/\s+/).filter(Boolean)) {
    const at = item.indexOf('=');
    if (at > 0) out.set(item.slice(0, at), item.slice(at + 1));
  }
  return out;
}

/** `deb [opts] url suite [components…]` lines; deb-src and comments are skipped. */
export function parseOneLineSources(text: string): SourceEntry[] {
  const entries: SourceEntry[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*$/, '').trim();
    const match = /^deb\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)\s*(.*)$/.exec(line);
    if (!match) continue;
    const opts = options(match[1]);
    entries.push({
      url: match[2]!,
      suite: match[3]!,
      components: match[4]!.split(/\s+/).filter(Boolean),
      signedBy: opts.get('signed-by')?.split(',').filter(Boolean) ?? [],
      trusted: opts.get('trusted') === 'yes',
    });
  }
  return entries;
}

export function parseDeb822Sources(text: string): SourceEntry[] {
  const entries: SourceEntry[] = [];
  for (const p of parseParagraphs(text)) {
    if (!(p.get('Types') ?? '').split(/\s+/).includes('deb')) continue;
    if ((p.get('Enabled') ?? 'yes').toLowerCase() === 'no') continue;
    const signedBy = p.get('Signed-By') ?? '';
    for (const url of (p.get('URIs') ?? '').split(/\s+/).filter(Boolean)) {
      for (const suite of (p.get('Suites') ?? '').split(/\s+/).filter(Boolean)) {
        entries.push({
          url,
          suite,
          components: (p.get('Components') ?? '').split(/\s+/).filter(Boolean),
          signedBy: signedBy.includes('BEGIN PGP') ? [signedBy] : signedBy.split(/\s+/).filter(Boolean),
          trusted: (p.get('Trusted') ?? '').toLowerCase() === 'yes',
        });
      }
    }
  }
  return entries;
}

/** Every source the image's APT configuration lists. */
export async function readImageSources(rootfs: FsEditor): Promise<SourceEntry[]> {
  const entries: SourceEntry[] = [];
  if (await rootfs.exists('/etc/apt/sources.list')) entries.push(...parseOneLineSources(await rootfs.readText('/etc/apt/sources.list')));
  if (await rootfs.exists('/etc/apt/sources.list.d')) {
    for (const entry of await rootfs.list('/etc/apt/sources.list.d')) {
      if (entry.type !== 'file' && entry.type !== 'symlink') continue;
      if (entry.name.endsWith('.list')) entries.push(...parseOneLineSources(await rootfs.readText(entry.path)));
      else if (entry.name.endsWith('.sources')) entries.push(...parseDeb822Sources(await rootfs.readText(entry.path)));
    }
  }
  return entries;
}
