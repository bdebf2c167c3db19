import type { FsEditor } from '../fs/editor.js';

/**
 * What debhelper's postinst snippets do for systemd units, done offline: `deb-systemd-helper
 * enable` creates the [Install] symlinks (WantedBy/RequiredBy/Alias) under /etc/systemd/system
 * and records them in its state directory, so that a later purge or `deb-systemd-helper` run on
 * the device knows about them.
 */

const UNIT_DIRS = ['/etc/systemd/system', '/lib/systemd/system', '/usr/lib/systemd/system'];
const STATE_DIR = '/var/lib/systemd/deb-systemd-helper-enabled';

/** Units a postinst enables through deb-systemd-helper (the dh_installsystemd snippet). */
export function unitsEnabledBy(postinst: string): string[] {
  const units = new Set<string>();
  for (const match of postinst.matchAll(/deb-systemd-helper\s+(?:--quiet\s+)?enable\s+((?:['"]?[\w@.:-]+['"]?\s*)+)/g)) {
    for (const unit of match[1]!.split(/\s+/).map((u) => u.replace(/['"]/g, '')).filter((u) => /\.(service|socket|timer|path|target|mount)$/.test(u))) {
      units.add(unit);
    }
  }
  return [...units];
}

interface InstallSection {
  wantedBy: string[];
  requiredBy: string[];
  alias: string[];
  also: string[];
}

export function parseInstallSection(unit: string): InstallSection {
  const section: InstallSection = { wantedBy: [], requiredBy: [], alias: [], also: [] };
  let inInstall = false;
  for (const raw of unit.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('[')) {
      inInstall = line === '[Install]';
      continue;
    }
    if (!inInstall || !line.includes('=')) continue;
    const [key, value] = [line.slice(0, line.indexOf('=')).trim(), line.slice(line.indexOf('=') + 1).trim()];
    const values = value.split(/\s+/).filter(Boolean);
    if (key === 'WantedBy') section.wantedBy.push(...values);
    else if (key === 'RequiredBy') section.requiredBy.push(...values);
    else if (key === 'Alias') section.alias.push(...values);
    else if (key === 'Also') section.also.push(...values);
  }
  return section;
}

async function findUnit(rootfs: FsEditor, unit: string): Promise<string | undefined> {
  for (const dir of UNIT_DIRS) if (await rootfs.exists(`${dir}/${unit}`)) return `${dir}/${unit}`;
  return undefined;
}

/** Enable a unit as `deb-systemd-helper enable` would; returns the symlinks it made. */
export async function enableUnit(rootfs: FsEditor, unit: string, seen = new Set<string>()): Promise<string[]> {
  if (seen.has(unit)) return [];
  seen.add(unit);
  const file = await findUnit(rootfs, unit);
  if (!file) return [];
  const install = parseInstallSection(await rootfs.readText(file));
  const links: string[] = [];
  const root = { uid: 0, gid: 0 };
  const target = `/lib/systemd/system/${unit}`;
  for (const wanted of [...install.wantedBy.map((t) => [t, 'wants'] as const), ...install.requiredBy.map((t) => [t, 'requires'] as const)]) {
    const dir = `/etc/systemd/system/${wanted[0]}.${wanted[1]}`;
    await rootfs.mkdir(dir, { ...root, mode: 0o755 });
    await rootfs.symlink(`${dir}/${unit}`, target, root);
    links.push(`${dir}/${unit}`);
  }
  for (const alias of install.alias) {
    await rootfs.symlink(`/etc/systemd/system/${alias}`, target, root);
    links.push(`/etc/systemd/system/${alias}`);
  }
  // deb-systemd-helper's bookkeeping: the links it created, and a marker per link.
  await rootfs.mkdir(STATE_DIR, { ...root, mode: 0o755 });
  await rootfs.writeFile(`${STATE_DIR}/${unit}.dsh-also`, links.map((link) => `${link}\n`).join(''), { ...root, mode: 0o644 });
  for (const link of links) {
    const relative = link.slice('/etc/systemd/system/'.length);
    const parent = relative.includes('/') ? `${STATE_DIR}/${relative.slice(0, relative.lastIndexOf('/'))}` : STATE_DIR;
    await rootfs.mkdir(parent, { ...root, mode: 0o755 });
    await rootfs.writeFile(`${STATE_DIR}/${relative}`, '', { ...root, mode: 0o644 });
  }
  for (const also of install.also) links.push(...(await enableUnit(rootfs, also, seen)));
  return links;
}

/** Mask a unit (a symlink to /dev/null in /etc/systemd/system). */
export async function maskUnit(rootfs: FsEditor, unit: string): Promise<void> {
  await rootfs.mkdir('/etc/systemd/system', { uid: 0, gid: 0, mode: 0o755 });
  await rootfs.symlink(`/etc/systemd/system/${unit}`, '/dev/null', { uid: 0, gid: 0 });
}
