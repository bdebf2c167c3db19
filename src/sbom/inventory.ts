import { createHash } from 'node:crypto';
import { parseMd5sums } from '../deb/control.js';
import { DpkgDatabase, infoFile, type DpkgPackage } from '../deb/install.js';
import type { FsEditor } from '../fs/editor.js';
import { parseOsRelease, type OsRelease } from '../image/probe.js';
import { declaredLicense, type DeclaredLicense } from './licenses.js';

/**
 * What a root filesystem says about its software, read through an FsEditor in a few batched
 * reads: os-release, dpkg's status, every package's md5sums and copyright file.
 */

export interface InventoryPackage extends Pick<DpkgPackage, 'name' | 'version' | 'architecture' | 'state' | 'source' | 'maintainer' | 'homepage' | 'summary'> {
  license: DeclaredLicense;
  /** Files dpkg recorded an md5 for (md5sums and conffiles), sorted by path. */
  files: { path: string; md5: string }[];
  /** Present packages this one depends on (Depends, Pre-Depends; the first alternative present), as keys. */
  depends: string[];
  preDepends: string[];
}

export interface RootfsInventory {
  os: OsRelease;
  /** /etc/mender/artifact_info's artifact_name, on a Mender root filesystem. */
  artifactName?: string;
  /** Sorted by name, then architecture. */
  packages: InventoryPackage[];
}

/** A file's sha256 and sha1 (SPDX requires SHA1 for files). */
export interface FileDigests {
  sha256: string;
  sha1: string;
  size: number;
}

/** The identity of a package inside a document: name:architecture. */
export function packageKey(p: { name: string; architecture: string }): string {
  return `${p.name}:${p.architecture}`;
}

function resolveRelations(groups: DpkgPackage['depends'], self: DpkgPackage, byName: Map<string, DpkgPackage[]>, providers: Map<string, DpkgPackage[]>): string[] {
  const keys = new Set<string>();
  for (const group of groups) {
    for (const alternative of group) {
      const candidates = byName.get(alternative.name) ?? providers.get(alternative.name) ?? [];
      const chosen = candidates.find((c) => c.architecture === self.architecture) ?? candidates.find((c) => c.architecture === 'all') ?? candidates[0];
      if (chosen && chosen !== self) {
        keys.add(packageKey(chosen));
        break;
      }
    }
  }
  return [...keys].sort();
}

function digestsOf(data: Buffer): FileDigests {
  return { sha256: createHash('sha256').update(data).digest('hex'), sha1: createHash('sha1').update(data).digest('hex'), size: data.length };
}

/**
 * The inventory of a root filesystem; `digest` names further files to hash in the same batch
 * (the files a conversion wrote), whose digests come back in `digests` (missing ones left out).
 */
export async function readInventory(rootfs: FsEditor, digest: readonly string[] = []): Promise<RootfsInventory & { digests: Map<string, FileDigests> }> {
  const db = await DpkgDatabase.open(rootfs);
  const packages = db.packages();
  const copyrightPath = (p: DpkgPackage) => `/usr/share/doc/${p.name}/copyright`;
  // One batch for everything: a debugfs call per directory level, one to read.
  const read = await rootfs.readFiles([
    '/etc/os-release',
    '/usr/lib/os-release',
    '/etc/mender/artifact_info',
    ...packages.flatMap((p) => [copyrightPath(p), infoFile(p, 'md5sums')]),
    ...digest,
  ]);
  const osRelease = read.get('/etc/os-release') ?? read.get('/usr/lib/os-release');
  const artifactInfo = read.get('/etc/mender/artifact_info')?.toString('utf8');

  const byName = new Map<string, DpkgPackage[]>();
  const providers = new Map<string, DpkgPackage[]>();
  for (const p of packages) {
    byName.set(p.name, [...(byName.get(p.name) ?? []), p]);
    for (const [provided] of (p.provides ?? '').split(',').map((item) => /^\s*([a-z0-9][a-z0-9+.-]*)/.exec(item)?.slice(1) ?? [])) {
      if (provided) providers.set(provided, [...(providers.get(provided) ?? []), p]);
    }
  }
  // A license text is often shared (every binary of a source package): parse each distinct one once.
  const licenses = new Map<string | undefined, DeclaredLicense>();
  const licenseOf = (text: string | undefined) => {
    if (!licenses.has(text)) licenses.set(text, declaredLicense(text));
    return licenses.get(text)!;
  };

  const described = packages.map((p): InventoryPackage => {
    const files = parseMd5sums(read.get(infoFile(p, 'md5sums'))?.toString('utf8') ?? '');
    for (const [file, md5] of p.conffiles) files.set(file, md5);
    return {
      name: p.name,
      version: p.version,
      architecture: p.architecture,
      state: p.state,
      source: p.source,
      maintainer: p.maintainer,
      homepage: p.homepage,
      summary: p.summary,
      license: licenseOf(read.get(copyrightPath(p))?.toString('utf8')),
      files: [...files].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([file, md5]) => ({ path: file, md5 })),
      depends: resolveRelations(p.depends, p, byName, providers),
      preDepends: resolveRelations(p.preDepends, p, byName, providers),
    };
  });
  described.sort((a, b) => (packageKey(a) < packageKey(b) ? -1 : packageKey(a) > packageKey(b) ? 1 : 0));
  return {
    os: parseOsRelease(osRelease?.toString('utf8') ?? ''),
    artifactName: artifactInfo ? /^artifact_name=(.*)$/m.exec(artifactInfo)?.[1]?.trim() : undefined,
    packages: described,
    digests: new Map(digest.filter((file) => read.has(file)).map((file) => [file, digestsOf(read.get(file)!)])),
  };
}

/** sha256 and sha1 of files in a filesystem, read in one batch; missing paths are left out. */
export async function digestFiles(editor: FsEditor, paths: readonly string[]): Promise<Map<string, FileDigests>> {
  const contents = await editor.readFiles(paths);
  return new Map([...contents].map(([file, data]) => [file, digestsOf(data)]));
}
