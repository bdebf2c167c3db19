import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { AptRepository, type PackageRecord, type RepositorySpec } from '../../../apt/repository.js';
import { Resolver } from '../../../apt/resolve.js';
import { parseOneLineSources, readImageSources, type SourceEntry } from '../../../apt/sources.js';
import type { Config } from '../../../config/knobs.js';
import { parseRelations } from '../../../deb/control.js';
import { DpkgDatabase, installConfigureUnit, installPackage, type InstalledPackage } from '../../../deb/install.js';
import { DebPackage } from '../../../deb/package.js';
import { compareVersions } from '../../../deb/version.js';
import type { FsEditor } from '../../../fs/editor.js';
import { configureClient } from '../../../mender/client-config.js';
import { CLIENT_SERVICES } from '../../../mender/units.js';
import { UserError } from '../../../util/errors.js';
import { run } from '../../../util/exec.js';
import type { ModifyInput, RunEnv } from '../../types.js';
import { aptCacheDir, DEBIAN_MIRROR, HOST_DEBIAN_KEYRING } from '../debian.js';
import type { ClientIntegration } from '../integration.js';
import { makeDirectory } from '../../../util/directories.js';

/**
 * The client install: repositories from the config and the image, verified; what the image
 * lacks resolved and installed offline; the client configured (mender.conf, identity and
 * inventory scripts); a note when the image has no clock synchronisation.
 */

/** What upstream installs from Mender's repository; the first three follow client.version. */
const MENDER_CLIENT_PACKAGES = ['mender-client4', 'mender-auth', 'mender-update'];
const MENDER_TOOL_PACKAGES = ['mender-flash', 'mender-setup', 'mender-snapshot'];
const TIME_SYNC = ['systemd-timesyncd', 'chrony', 'ntpsec', 'ntp', 'openntpd'];

/** Key files named in the image (signed-by, trusted.gpg.d) copied out so that gpgv can read them. */
async function imageKeys(env: RunEnv, rootfs: FsEditor, entry: SourceEntry): Promise<string[]> {
  const dir = path.join(aptCacheDir(env), 'image-keys');
  await makeDirectory(dir, 'The cache directory', { mode: 0o700 });
  const copy = async (data: Buffer) => {
    const file = path.join(dir, `${createHash('sha256').update(data).digest('hex').slice(0, 16)}${data.includes('BEGIN PGP') ? '.asc' : '.gpg'}`);
    await fs.writeFile(file, data, { mode: 0o600 });
    return file;
  };
  if (entry.signedBy.length > 0) {
    const keys: string[] = [];
    for (const key of entry.signedBy) {
      if (key.includes('BEGIN PGP')) keys.push(await copy(Buffer.from(key.split('\n').map((l) => l.trim().replace(/^\.$/, '')).join('\n'))));
      else if (await rootfs.exists(key)) keys.push(await copy(await rootfs.readFile(key)));
    }
    return keys;
  }
  const keys: string[] = [];
  if (await rootfs.exists('/etc/apt/trusted.gpg')) keys.push(await copy(await rootfs.readFile('/etc/apt/trusted.gpg')));
  if (await rootfs.exists('/etc/apt/trusted.gpg.d')) {
    for (const file of await rootfs.list('/etc/apt/trusted.gpg.d')) {
      if (/\.(gpg|asc)$/.test(file.name)) keys.push(await copy(await rootfs.readFile(file.path)));
    }
  }
  return keys;
}

/** Mender's signing key, from its URL (cached for offline runs) or a file, checked against the pinned fingerprint. */
async function menderKey(env: RunEnv): Promise<string> {
  const source = env.config['client.mender_key'];
  const dir = path.join(aptCacheDir(env), 'mender-key');
  await makeDirectory(dir, 'The cache directory', { mode: 0o700 });
  let file = source;
  if (/^https?:\/\//.test(source)) {
    file = path.join(dir, `${createHash('sha256').update(source).digest('hex').slice(0, 16)}.asc`);
    try {
      const response = await fetch(source, { signal: AbortSignal.timeout(60_000) });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      await fs.writeFile(file, Buffer.from(await response.arrayBuffer()), { mode: 0o600 });
    } catch (error) {
      if (!(await fs.stat(file).catch(() => undefined))) {
        throw new UserError(`Cannot download Mender's repository key from ${source}: ${(error as Error).message}.`, {
          hint: 'Connect to the network once, or set client.mender_key to a key file.',
        });
      }
      env.logger.warn(`offline: using the cached Mender repository key (${(error as Error).message})`);
    }
  }
  const { stdout } = await run('gpg', ['--batch', '--show-keys', '--with-colons', '--with-fingerprint', file], { doing: `reading the key ${source}` });
  const fingerprints = [...stdout.matchAll(/^fpr:+([0-9A-F]{40}):/gm)].map((m) => m[1]!);
  const pinned = env.config['client.mender_key_fingerprint'].toUpperCase();
  if (!fingerprints.includes(pinned)) {
    throw new UserError(`The key ${source} is not Mender's repository key: its fingerprint is ${fingerprints.join(', ') || 'unreadable'}, not ${pinned}.`, {
      hint: 'Refusing to trust it; check client.mender_key and client.mender_key_fingerprint.',
    });
  }
  return file;
}

/** The newest repository version of a package matching a wanted version (latest, x.y or x.y.z). */
function pickVersion(records: PackageRecord[], name: string, wanted: string): string | undefined {
  const upstream = (version: string) => version.replace(/^\d+:/, '').replace(/-[^-]*$/, '');
  const matching = records.filter((r) => r.name === name && (wanted === 'latest' || wanted === 'auto' || upstream(r.version) === wanted || upstream(r.version).startsWith(`${wanted}.`)));
  return matching.sort((a, b) => compareVersions(b.version, a.version))[0]?.version;
}

/** Add-ons whose version a knob pins, whatever repository has them. */
const ADDON_VERSIONS: Record<string, 'client.connect_version' | 'client.configure_version'> = {
  'mender-connect': 'client.connect_version',
  'mender-configure': 'client.configure_version',
};

/**
 * What to ask the resolver for to install a package: the client's packages from Mender's
 * repository at client.version, the add-ons at their pinned versions, anything else by name.
 */
export function packageRequest(config: Readonly<Config>, records: PackageRecord[], name: string): string {
  const client = config['client.source'] === 'mender' && MENDER_CLIENT_PACKAGES.includes(name);
  const knob = client ? 'client.version' : ADDON_VERSIONS[name];
  if (!knob || (!client && config[knob] === 'latest')) return name;
  const wanted = config[knob];
  const version = pickVersion(records, name, wanted);
  if (version) return `${name} (= ${version})`;
  if (client) throw new UserError(`Mender's repository has no ${name} ${wanted === 'latest' ? '' : `${wanted} `}for this image.`, { hint: 'Check client.version.' });
  const have = records.filter((r) => r.name === name).map((r) => r.version);
  throw new UserError(`No repository has ${name} ${wanted} for this image (${have.length ? `they have ${have.join(', ')}` : 'they have none'}).`, {
    hint: `Check ${knob}; Mender's repository (client.source: mender) has every version.`,
  });
}

async function repositories(input: ModifyInput, extraPackages: readonly string[]): Promise<RepositorySpec[]> {
  const { env, extracted } = input;
  const { config } = env;
  const { facts, rootfs } = extracted;
  const arch = facts.arch;
  const specs: RepositorySpec[] = [];
  const allowUnsigned = config['client.allow_unsigned'];
  const keyringsFor = (entry: SourceEntry, keys: string[]) => (entry.trusted || (allowUnsigned && keys.length === 0) ? null : keys);
  if (config['client.install'] && config['client.source'] === 'mender') {
    const os = facts.os;
    if (!os.versionCodename) throw new UserError('The image does not name its release (VERSION_CODENAME in /etc/os-release), which Mender\'s repository needs.');
    specs.push({ url: config['client.mender_repository'], suite: `${os.id}/${os.versionCodename}/stable`, components: ['main'], architecture: arch, keyrings: [await menderKey(env)] });
  }
  for (const line of config['client.repositories']) {
    const [entry] = parseOneLineSources(line);
    if (!entry) throw new UserError(`client.repositories: '${line}' is not a "deb [signed-by=KEY] URL SUITE COMPONENT…" line.`);
    specs.push({ url: entry.url, suite: entry.suite, components: entry.components, architecture: arch, keyrings: keyringsFor(entry, entry.signedBy) });
  }
  const needsImageSources = config['client.source'] === 'distro' || config['client.extra_packages'].length > 0 || config['client.timesyncd']
    || config['client.connect'] || config['client.configure'] || extraPackages.length > 0;
  if (needsImageSources) {
    const image = await readImageSources(rootfs);
    for (const entry of image) {
      const keys = await imageKeys(env, rootfs, entry);
      if (keys.length === 0 && /deb\.debian\.org|security\.debian\.org/.test(entry.url) && (await fs.stat(HOST_DEBIAN_KEYRING).catch(() => undefined))) keys.push(HOST_DEBIAN_KEYRING);
      specs.push({ url: entry.url, suite: entry.suite, components: entry.components, architecture: arch, keyrings: keyringsFor(entry, keys) });
    }
    const codename = facts.os.versionCodename;
    if (image.length === 0 && facts.os.id === 'debian' && codename) {
      env.notes.push(`The image lists no APT sources: packages come from Debian's mirror (${codename}).`);
      const keys = (await fs.stat(HOST_DEBIAN_KEYRING).catch(() => undefined)) ? [HOST_DEBIAN_KEYRING] : [];
      specs.push({ url: DEBIAN_MIRROR, suite: codename, components: ['main'], architecture: arch, keyrings: keys });
    }
  }
  for (const spec of specs) {
    if (spec.keyrings === null) {
      env.logger.warn(`UNVERIFIED repository ${spec.url} ${spec.suite}: its packages are installed without a signature check`);
      env.notes.push(`WARNING: ${spec.url} ${spec.suite} was used without verifying its signature.`);
    }
  }
  return specs;
}

/** The packages this conversion installs: the client (by source), the bootloader's, extras, time sync when asked. */
function requestedPackages(config: Readonly<Config>, extraPackages: readonly string[], hasTimeSync: boolean): { names: string[]; files: string[] } {
  const names: string[] = [];
  const files: string[] = [];
  if (config['client.install']) {
    if (config['client.source'] === 'distro') names.push(...config['client.packages']);
    else if (config['client.source'] === 'mender') names.push(...MENDER_CLIENT_PACKAGES, ...MENDER_TOOL_PACKAGES);
    else files.push(...config['client.local_debs']);
  }
  names.push(...extraPackages);
  if (config['client.connect']) names.push('mender-connect');
  if (config['client.configure']) names.push('mender-configure');
  for (const item of config['client.extra_packages']) (item.endsWith('.deb') ? files : names).push(item);
  if (!hasTimeSync && config['client.timesyncd']) names.push('systemd-timesyncd');
  return { names, files };
}

/** The package files named in the configuration (client.local_debs, .deb extra packages). */
function localPackageFiles(config: Readonly<Config>): string[] {
  return [...(config['client.install'] && config['client.source'] === 'local' ? config['client.local_debs'] : []), ...config['client.extra_packages'].filter((item) => item.endsWith('.deb'))];
}

/** Installs what is requested and missing; returns what it installed (and from where) and what the image already had. */
async function installPackages(input: ModifyInput, extraPackages: readonly string[], report: (status: string) => void): Promise<{ installed: (InstalledPackage & { from: string })[]; present: ReturnType<DpkgDatabase['installed']> }> {
  const { env, extracted } = input;
  const { config } = env;
  const { rootfs, facts } = extracted;
  const db = await DpkgDatabase.open(rootfs);
  const present = db.installed();
  const hasTimeSync = present.some((p) => TIME_SYNC.includes(p.name));
  const { names, files } = requestedPackages(config, extraPackages, hasTimeSync);
  if (!hasTimeSync && !config['client.timesyncd']) {
    env.notes.push('The image has no time synchronisation (systemd-timesyncd, chrony, ntp): the client needs a correct clock for TLS. Set client.timesyncd: true to install systemd-timesyncd.');
  }
  if (names.length === 0 && files.length === 0) return { installed: [], present };

  const local = await Promise.all(files.map((file) => DebPackage.open(file)));
  for (const deb of local) {
    if (deb.architecture !== 'all' && deb.architecture !== facts.arch) throw new UserError(`${deb.file} is built for ${deb.architecture}, but the image is ${facts.arch}.`);
  }

  report('reading package repositories');
  const repos: AptRepository[] = [];
  for (const spec of await repositories(input, extraPackages)) repos.push(await AptRepository.load(spec, { cacheDir: aptCacheDir(env), logger: env.logger }));
  const records = repos.flatMap((repo) => repo.packages);
  const localRecords: PackageRecord[] = local.map((deb) => ({
    name: deb.name,
    version: deb.version,
    architecture: deb.architecture,
    depends: parseRelations(deb.control.fields.get('Depends')),
    preDepends: parseRelations(deb.control.fields.get('Pre-Depends')),
    provides: parseRelations(deb.control.fields.get('Provides')),
    filename: deb.file,
    sha256: '',
    size: 0,
    repository: { url: 'file:', suite: '', components: [], architecture: deb.architecture, keyrings: null },
    fields: deb.control.fields,
  }));
  const resolver = new Resolver(present, [...localRecords, ...records], facts.arch);
  const requests = names.map((name) => packageRequest(config, records, name));
  const plan = resolver.resolve([...local.map((deb) => `${deb.name} (= ${deb.version})`), ...requests]);
  env.logger.info(`packages to install: ${plan.map((p) => `${p.name} ${p.version}`).join(', ') || '(none)'}`);

  const installed: (InstalledPackage & { from: string })[] = [];
  for (const record of plan) {
    report(`${record.name} ${record.version}`);
    const repo = record.sha256 === '' ? undefined : repos.find((r) => r.spec === record.repository)!;
    const deb = repo ? await DebPackage.open(await repo.fetchPackage(record)) : local.find((d) => d.file === record.filename)!;
    installed.push({ ...(await installPackage(rootfs, db, deb, { logger: env.logger, mtime: env.epoch })), from: repo ? repo.packageUrl(record) : `file:${record.filename}` });
  }
  await db.save();
  const deferred = installed.filter((p) => p.state === 'unpacked');
  if (deferred.length > 0) {
    await installConfigureUnit(rootfs, CLIENT_SERVICES);
    env.notes.push(`Configured on first boot by dpkg: ${deferred.map((p) => `${p.name} (${p.deferredReason})`).join('; ')}.`);
  }
  await rootfs.flush();
  return { installed, present };
}

export const clientIntegration: ClientIntegration = {
  tools: (config) => (config['client.install'] || config['client.extra_packages'].length > 0 ? ['gpgv', 'gpg', 'xz'] : []),

  async verify(env) {
    for (const file of localPackageFiles(env.config)) {
      if (!(await fs.stat(file).catch(() => undefined))) throw new UserError(`The package file ${file} does not exist.`, { hint: 'Check client.local_debs / client.extra_packages.' });
    }
  },

  async apply(input, extraPackages, report) {
    const { env, extracted } = input;
    const { config } = env;
    const { installed, present } = await installPackages(input, extraPackages, report);
    const clientInstalled = config['client.install'] && installed.length + present.filter((p) => p.name.startsWith('mender')).length > 0;
    if (clientInstalled || config['server.url']) {
      const written = await configureClient(extracted.rootfs, {
        url: config['server.url'],
        tenantToken: config['server.tenant_token'],
        certificate: config['server.certificate'],
        updatePollSeconds: config['server.update_poll_seconds'],
        inventoryPollSeconds: config['server.inventory_poll_seconds'],
        retryPollSeconds: config['server.retry_poll_seconds'],
      });
      env.logger.info(`client configuration: ${written.join(', ')}`);
    }
    return { packages: installed.map(({ name, version, architecture, from }) => ({ name, version, architecture, from })), clientInstalled };
  },
};
