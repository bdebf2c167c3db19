import { createHash } from 'node:crypto';
import { buffer } from 'node:stream/consumers';
import type { FsEditor } from '../fs/editor.js';
import { silentLogger, type Logger } from '../util/log.js';
import { field, formatParagraph, parseParagraphs, parseRelations, type Paragraph, type Relation } from './control.js';
import type { DebPackage } from './package.js';
import { enableUnit, unitsEnabledBy } from './systemd.js';

/**
 * Installing .deb packages into a root filesystem without running anything from them: files
 * from data.tar through the editor, the dpkg database written as dpkg writes it, debhelper's
 * systemd enablement applied offline. Maintainer-script work that cannot be done offline is
 * left to dpkg on the device: such packages are recorded as unpacked, and a one-shot unit runs
 * `dpkg --configure -a` on first boot, before the Mender client starts.
 */

export interface InstalledPackage {
  name: string;
  version: string;
  architecture: string;
  state: 'installed' | 'unpacked';
  /** Why configuring was left to the device. */
  deferredReason?: string;
}

const STATUS = '/var/lib/dpkg/status';
const INFO = '/var/lib/dpkg/info';
export const CONFIGURE_UNIT = 'mender-convert-dpkg-configure.service';
const CONFIGURE_MARKER = '/var/lib/mender-convert/dpkg-configure-pending';

/** debhelper snippets whose effect on a fresh offline install is nil or done here. */
const HARMLESS_SNIPPETS = new Set(['dh_installsystemd', 'dh_systemd_enable', 'dh_systemd_start', 'dh_installinit', 'dh_installdeb', 'dh_makeshlibs', 'dh_installsystemduser']);

/** What is left of a maintainer script once the harmless debhelper snippets and boilerplate are removed. */
export function scriptResidue(script: string): string {
  const kept: string[] = [];
  let skipping = false;
  for (const line of script.split('\n')) {
    const start = /^# Automatically added by (dh_[a-z_]+)/.exec(line);
    if (start) {
      skipping = HARMLESS_SNIPPETS.has(start[1]!);
      if (!skipping) kept.push(line);
      continue;
    }
    if (/^# End automatically added section/.test(line)) {
      skipping = false;
      continue;
    }
    if (!skipping) kept.push(line);
  }
  return kept
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#') && !/^(set -e|exit 0|;;|esac|\*\)|configure\)|abort-upgrade\|abort-remove\|abort-deconfigure\)|case "\$1" in)$/.test(line))
    .join('\n');
}

/** dpkg's field order in /var/lib/dpkg/status. */
const STATUS_ORDER = [
  'Package', 'Status', 'Priority', 'Section', 'Installed-Size', 'Maintainer', 'Architecture', 'Multi-Arch', 'Source', 'Version',
  'Replaces', 'Provides', 'Depends', 'Pre-Depends', 'Recommends', 'Suggests', 'Breaks', 'Conflicts', 'Enhances', 'Conffiles',
  'Description', 'Homepage', 'Built-Using',
];

function statusParagraph(control: Paragraph, state: InstalledPackage['state'], conffiles: string): Paragraph {
  const fields = new Map(control);
  fields.set('Status', `install ok ${state}`);
  if (conffiles) fields.set('Conffiles', `\n${conffiles}`);
  const ordered: Paragraph = new Map();
  for (const name of STATUS_ORDER) if (fields.has(name)) ordered.set(name, fields.get(name)!);
  for (const [name, value] of fields) if (!ordered.has(name)) ordered.set(name, value);
  return ordered;
}

export interface InstallOptions {
  logger?: Logger;
  /** Seconds since the epoch for files written into the dpkg database. */
  mtime?: number;
}

/** A file of dpkg's database about one package: info/<name>.<kind>, info/<name>:<arch>.<kind> for Multi-Arch: same. */
export function infoFile(p: { name: string; architecture: string; multiArch?: string }, kind: string): string {
  return `${INFO}/${p.multiArch === 'same' ? `${p.name}:${p.architecture}` : p.name}.${kind}`;
}

/** A package dpkg considers present, with what its status paragraph says about it. */
export interface DpkgPackage {
  name: string;
  version: string;
  architecture: string;
  /** installed, unpacked or half-configured. */
  state: string;
  /** The source package and its version (the binary's name and version when the field is absent). */
  source: { name: string; version: string };
  maintainer?: string;
  homepage?: string;
  /** The first line of the description. */
  summary?: string;
  provides?: string;
  multiArch?: string;
  depends: Relation[][];
  preDepends: Relation[][];
  /** Conffiles dpkg recorded: path → md5 of the version installed. */
  conffiles: Map<string, string>;
}

function describe(paragraph: Paragraph): DpkgPackage {
  const name = field(paragraph, 'Package')!;
  const version = field(paragraph, 'Version') ?? '';
  // Source: name [(version)]
  const source = /^(\S+)(?:\s*\(([^)]+)\))?/.exec(field(paragraph, 'Source') ?? '');
  const conffiles = new Map<string, string>();
  for (const line of (field(paragraph, 'Conffiles') ?? '').split('\n')) {
    const match = /^\s*(\/\S+)\s+([0-9a-f]{32})(?:\s|$)/.exec(line);
    if (match) conffiles.set(match[1]!, match[2]!);
  }
  return {
    name,
    version,
    architecture: field(paragraph, 'Architecture') ?? 'all',
    state: (field(paragraph, 'Status') ?? '').split(/\s+/).pop() ?? '',
    source: { name: source?.[1] ?? name, version: source?.[2] ?? version },
    maintainer: field(paragraph, 'Maintainer'),
    homepage: field(paragraph, 'Homepage'),
    summary: field(paragraph, 'Description')?.split('\n')[0]?.trim() || undefined,
    provides: field(paragraph, 'Provides'),
    multiArch: field(paragraph, 'Multi-Arch'),
    depends: relationsOf(paragraph, 'Depends'),
    preDepends: relationsOf(paragraph, 'Pre-Depends'),
    conffiles,
  };
}

/** A relation field; one that does not parse (a hand-edited status file) counts as empty. */
function relationsOf(paragraph: Paragraph, name: string): Relation[][] {
  try {
    return parseRelations(field(paragraph, name));
  } catch {
    return [];
  }
}

/** The dpkg database of a root filesystem, edited in memory and written back once. */
export class DpkgDatabase {
  private constructor(private readonly rootfs: FsEditor, private readonly paragraphs: Paragraph[]) {}

  static async open(rootfs: FsEditor): Promise<DpkgDatabase> {
    const text = (await rootfs.readFiles([STATUS])).get(STATUS)?.toString('utf8') ?? '';
    return new DpkgDatabase(rootfs, parseParagraphs(text));
  }

  /** Packages dpkg considers present (installed or unpacked, not removed), in the status file's order. */
  packages(): DpkgPackage[] {
    return this.paragraphs.filter((p) => /\s(installed|unpacked|half-configured)$/.test(field(p, 'Status') ?? '')).map(describe);
  }

  installed(): { name: string; version: string; architecture: string; provides?: string; multiArch?: string }[] {
    return this.packages().map(({ name, version, architecture, provides, multiArch }) => ({ name, version, architecture, provides, multiArch }));
  }

  set(paragraph: Paragraph): void {
    const name = paragraph.get('Package');
    const arch = paragraph.get('Architecture');
    const index = this.paragraphs.findIndex((p) => field(p, 'Package') === name && (field(p, 'Architecture') === arch || field(p, 'Multi-Arch') !== 'same'));
    if (index >= 0) this.paragraphs[index] = paragraph;
    else this.paragraphs.push(paragraph);
  }

  async save(): Promise<void> {
    const sorted = [...this.paragraphs].sort((a, b) => (field(a, 'Package')! < field(b, 'Package')! ? -1 : 1));
    await this.rootfs.mkdir('/var/lib/dpkg', { uid: 0, gid: 0, mode: 0o755 });
    await this.rootfs.writeFile(STATUS, sorted.map(formatParagraph).join('\n'), { uid: 0, gid: 0, mode: 0o644 });
  }
}

/** Unpack one package into the root filesystem and record it; returns what it became. */
export async function installPackage(rootfs: FsEditor, db: DpkgDatabase, deb: DebPackage, options: InstallOptions = {}): Promise<InstalledPackage> {
  const logger = options.logger ?? silentLogger;
  const what = `${deb.name} ${deb.version}`;
  const listed: string[] = ['/.'];
  const conffileSums = new Map<string, string>();
  const conffiles = new Set(deb.control.conffiles);
  let hardlinks = 0;
  await deb.walkData(async (entry, content) => {
    if (entry.path === '/') return;
    listed.push(entry.path);
    const owner = { mode: entry.mode & 0o7777, uid: entry.uid, gid: entry.gid, mtime: entry.mtime };
    switch (entry.type) {
      case 'directory': {
        const existing = await rootfs.stat(entry.path);
        // An existing directory (or a symlink to one, as in merged /usr) is kept as it is.
        if (!existing) await rootfs.mkdir(entry.path, owner);
        break;
      }
      case 'file': {
        const data = await buffer(content);
        await rootfs.writeFile(entry.path, data, owner);
        if (conffiles.has(entry.path)) conffileSums.set(entry.path, createHash('md5').update(data).digest('hex'));
        break;
      }
      case 'symlink':
        await rootfs.symlink(entry.path, entry.linkTarget!, owner);
        break;
      case 'link': {
        // The editors have no hard links: the linked file is written again (same content).
        const source = await rootfs.stat(entry.linkTarget!);
        await rootfs.writeFile(entry.path, await rootfs.readFile(entry.linkTarget!), { ...owner, mode: source?.mode ?? owner.mode });
        hardlinks++;
        break;
      }
    }
  });
  if (hardlinks) logger.info(`${what}: ${hardlinks} hard links written as copies`);

  // The dpkg database: info/<pkg>[:arch].*, then the status paragraph.
  const described = { name: deb.name, architecture: deb.architecture, multiArch: deb.control.fields.get('Multi-Arch') };
  const root = { uid: 0, gid: 0, mtime: options.mtime };
  await rootfs.mkdir(INFO, { ...root, mode: 0o755 });
  await rootfs.writeFile(infoFile(described, 'list'), `${listed.join('\n')}\n`, { ...root, mode: 0o644 });
  for (const [name, data] of deb.control.files) {
    const executable = ['preinst', 'postinst', 'prerm', 'postrm', 'config'].includes(name);
    await rootfs.writeFile(infoFile(described, name), data, { ...root, mode: executable ? 0o755 : 0o644 });
  }

  const postinst = deb.control.files.get('postinst')?.toString('utf8') ?? '';
  for (const unit of unitsEnabledBy(postinst)) {
    const links = await enableUnit(rootfs, unit);
    logger.info(`${what}: enabled ${unit} (${links.join(', ') || 'no [Install] links'})`);
  }
  const residue = ['preinst', 'postinst']
    .map((script) => [script, scriptResidue(deb.control.files.get(script)?.toString('utf8') ?? '')] as const)
    .filter(([, rest]) => rest.length > 0);
  const triggers = deb.control.files.has('triggers');
  const deferredReason = residue.length > 0
    ? `its ${residue.map(([script]) => script).join(' and ')} does work that only the device can do`
    : triggers
      ? 'it has dpkg triggers'
      : undefined;
  const state = deferredReason ? 'unpacked' : 'installed';
  const conffileLines = [...conffiles].map((file) => ` ${file} ${conffileSums.get(file) ?? 'newconffile'}`).join('\n');
  db.set(statusParagraph(deb.control.fields, state, conffileLines));
  if (deferredReason) logger.info(`${what}: recorded as unpacked, configured on first boot: ${deferredReason}`);
  return { name: deb.name, version: deb.version, architecture: deb.architecture, state, deferredReason };
}

/** The first-boot unit that lets dpkg finish what could not be done offline. */
export async function installConfigureUnit(rootfs: FsEditor, beforeUnits: string[]): Promise<void> {
  const root = { uid: 0, gid: 0 };
  const unit = `[Unit]
Description=Configure packages that mender-convert installed offline
DefaultDependencies=no
After=local-fs.target
Before=${beforeUnits.join(' ')}
ConditionPathExists=${CONFIGURE_MARKER}

[Service]
Type=oneshot
Environment=DEBIAN_FRONTEND=noninteractive
ExecStart=/usr/bin/dpkg --configure -a
ExecStartPost=/bin/rm -f ${CONFIGURE_MARKER}

[Install]
WantedBy=multi-user.target
`;
  await rootfs.mkdir('/lib/systemd/system', { ...root, mode: 0o755 });
  await rootfs.writeFile(`/lib/systemd/system/${CONFIGURE_UNIT}`, unit, { ...root, mode: 0o644 });
  await rootfs.mkdir('/etc/systemd/system/multi-user.target.wants', { ...root, mode: 0o755 });
  await rootfs.symlink(`/etc/systemd/system/multi-user.target.wants/${CONFIGURE_UNIT}`, `/lib/systemd/system/${CONFIGURE_UNIT}`, root);
  await rootfs.mkdir('/var/lib/mender-convert', { ...root, mode: 0o755 });
  await rootfs.writeFile(CONFIGURE_MARKER, '', { ...root, mode: 0o644 });
}
