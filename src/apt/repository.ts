import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { parseParagraphs, parseRelations, type Paragraph, type Relation } from '../deb/control.js';
import { writeAtomically } from '../util/atomic.js';
import { run } from '../util/exec.js';
import { UserError } from '../util/errors.js';
import { silentLogger, type Logger } from '../util/log.js';
import { makeDirectory } from '../util/directories.js';

/**
 * A Debian APT repository, read as apt does and checked the whole way: the Release file must
 * carry a valid signature by the given key (gpgv; fail closed), the Packages index must have
 * the SHA256 the signed Release lists, every .deb the SHA256 the index lists. Everything
 * downloaded is cached by checksum, so a second run works without the network.
 */

export interface RepositorySpec {
  /** e.g. http://deb.debian.org/debian */
  url: string;
  suite: string;
  components: string[];
  architecture: string;
  /** OpenPGP keyrings (binary or armored) one of which must have signed the Release; null: unsigned, by explicit choice. */
  keyrings: string[] | null;
}

export interface PackageRecord {
  name: string;
  version: string;
  architecture: string;
  depends: Relation[][];
  preDepends: Relation[][];
  provides: Relation[][];
  multiArch?: string;
  filename: string;
  sha256: string;
  size: number;
  repository: RepositorySpec;
  fields: Paragraph;
}

export interface RepositoryOptions {
  cacheDir: string;
  logger?: Logger;
  /** Time limit of one download, in milliseconds. */
  timeoutMs?: number;
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function cacheKey(spec: RepositorySpec): string {
  return createHash('sha256').update(`${spec.url}|${spec.suite}`).digest('hex').slice(0, 16);
}

async function download(url: string, timeoutMs: number): Promise<Buffer> {
  let response: Response;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  } catch (error) {
    throw new DownloadError(`cannot reach ${url}: ${(error as Error).cause ?? (error as Error).message}`);
  }
  if (!response.ok) throw new DownloadError(`${url}: HTTP ${response.status}`, response.status);
  return Buffer.from(await response.arrayBuffer());
}

class DownloadError extends Error {
  constructor(message: string, readonly status?: number) {
    super(message);
  }
}

async function writeAtomic(file: string, data: Buffer): Promise<void> {
  await makeDirectory(path.dirname(file), 'The cache directory', { mode: 0o700 });
  await writeAtomically(file, (partial) => fs.writeFile(partial, data, { mode: 0o600 }));
}

/** A keyring gpgv can read: armored keys are dearmored into the cache first. */
async function usableKeyring(keyring: string, cacheDir: string): Promise<string> {
  let data: Buffer;
  try {
    data = await fs.readFile(keyring);
  } catch {
    throw new UserError(`The repository signing key ${keyring} cannot be read.`);
  }
  if (!data.toString('latin1', 0, 40).includes('-----BEGIN PGP')) return keyring;
  const file = path.join(cacheDir, 'keyrings', `${sha256(data)}.gpg`);
  if (!(await fs.stat(file).catch(() => undefined))) {
    const tmp = `${file}.tmp-${process.pid}`;
    await makeDirectory(path.dirname(file), 'The cache directory', { mode: 0o700 });
    await run('gpg', ['--batch', '--yes', '--dearmor', '--output', tmp, keyring], { doing: `reading the key ${keyring}` });
    await fs.rename(tmp, file);
  }
  return file;
}

/** The signed text of an InRelease file (or of Release, given its detached signature). */
async function verifyRelease(spec: RepositorySpec, files: { inRelease?: string; release?: string; signature?: string }, cacheDir: string): Promise<string> {
  if (spec.keyrings === null) {
    const file = files.inRelease ?? files.release!;
    const text = await fs.readFile(file, 'utf8');
    // Without verification only the cleartext body of an InRelease is used.
    return /-----BEGIN PGP SIGNED MESSAGE-----/.test(text) ? text.split(/\n\n/).slice(1).join('\n\n').split('\n-----BEGIN PGP SIGNATURE-----')[0]! : text;
  }
  if (spec.keyrings.length === 0) throw new UserError(`No signing key is known for ${spec.url} ${spec.suite}.`, { hint: 'Give the repository a signed-by key.' });
  const keyrings = await Promise.all(spec.keyrings.map((keyring) => usableKeyring(keyring, cacheDir)));
  const keyArgs = keyrings.flatMap((keyring) => ['--keyring', keyring]);
  const output = path.join(cacheDir, `verified-${process.pid}-${Date.now()}`);
  const args = files.inRelease ? [...keyArgs, '--output', output, files.inRelease] : [...keyArgs, files.signature!, files.release!];
  const result = await run('gpgv', args, { okExitCodes: [1, 2] });
  if (result.exitCode !== 0) {
    await fs.rm(output, { force: true });
    const why = result.stderr.split('\n').find((line) => /BAD signature|No public key|no valid OpenPGP|not a detached signature|verify signatures failed/i.test(line)) ?? result.stderr.trim().split('\n').pop();
    throw new UserError(`The Release file of ${spec.url} ${spec.suite} does not carry a valid signature by ${spec.keyrings.join(', ')}: ${why}`, {
      hint: 'Check the repository and its signing key; refusing to install from an unverified repository.',
    });
  }
  if (!files.inRelease) return fs.readFile(files.release!, 'utf8');
  const text = await fs.readFile(output, 'utf8');
  await fs.rm(output, { force: true });
  return text;
}

interface ReleaseIndexEntry {
  sha256: string;
  size: number;
}

function parseReleaseSums(text: string): Map<string, ReleaseIndexEntry> {
  const release = parseParagraphs(text)[0];
  const block = release?.get('SHA256');
  if (!block) throw new UserError('The Release file has no SHA256 checksums.');
  const entries = new Map<string, ReleaseIndexEntry>();
  for (const line of block.split('\n')) {
    const [sum, size, name] = line.trim().split(/\s+/);
    if (sum && size && name) entries.set(name, { sha256: sum.toLowerCase(), size: Number(size) });
  }
  return entries;
}

/** Downloaded Release files that will not be kept. */
async function discard(files: { inRelease?: string; release?: string; signature?: string }): Promise<void> {
  await Promise.all(Object.values(files).map((file) => fs.rm(file, { force: true })));
}

/** Release downloads of this process so far, naming each one's files apart. */
let freshLoads = 0;

export class AptRepository {
  private constructor(readonly spec: RepositorySpec, readonly packages: PackageRecord[], private readonly options: RepositoryOptions) {}

  /** Fetch (or take from the cache) and verify the repository's Release and Packages indexes. */
  static async load(spec: RepositorySpec, options: RepositoryOptions): Promise<AptRepository> {
    const logger = options.logger ?? silentLogger;
    const timeout = options.timeoutMs ?? 60_000;
    const base = spec.url.replace(/\/$/, '');
    const dist = `${base}/dists/${spec.suite}`;
    const releaseDir = path.join(options.cacheDir, 'releases', cacheKey(spec));
    await makeDirectory(releaseDir, 'The cache directory', { mode: 0o700 });

    let files: { inRelease?: string; release?: string; signature?: string } = {};
    let offline = false;
    // What this load downloaded is verified under names of its own: conversions sharing the
    // cache would otherwise verify, or move into place, each other's files.
    const fresh = (name: string) => path.join(releaseDir, `${name}.new-${process.pid}-${++freshLoads}`);
    try {
      try {
        const inRelease = await download(`${dist}/InRelease`, timeout);
        files = { inRelease: fresh('InRelease') };
        await writeAtomic(files.inRelease!, inRelease);
      } catch (error) {
        if (!(error instanceof DownloadError) || error.status !== 404) throw error;
        const release = await download(`${dist}/Release`, timeout);
        files = { release: fresh('Release'), signature: fresh('Release.gpg') };
        await writeAtomic(files.release!, release);
        if (spec.keyrings !== null) await writeAtomic(files.signature!, await download(`${dist}/Release.gpg`, timeout));
      }
    } catch (error) {
      await discard(files);
      if (!(error instanceof DownloadError)) throw error;
      // No network: the last verified Release from the cache, verified again.
      const cached = ['InRelease', 'Release'].map((name) => path.join(releaseDir, name));
      const have = await Promise.all(cached.map((file) => fs.stat(file).then(() => true, () => false)));
      if (!have[0] && !have[1]) {
        throw new UserError(`Cannot download from ${spec.url} (${error.message}) and nothing is cached for it yet.`, {
          hint: 'Connect to the network once; later conversions work offline from the cache.',
        });
      }
      files = have[0] ? { inRelease: cached[0] } : { release: cached[1], signature: path.join(releaseDir, 'Release.gpg') };
      offline = true;
      logger.warn(`${spec.url}: offline, using the cached Release (${error.message})`);
    }

    const releaseText = await verifyRelease(spec, files, options.cacheDir).catch(async (error: unknown) => {
      if (!offline) await discard(files);
      throw error;
    });
    if (!offline) {
      // Keep the verified Release for offline runs.
      for (const [from, to] of [[files.inRelease, 'InRelease'], [files.release, 'Release'], [files.signature, 'Release.gpg']] as const) {
        if (from) await fs.rename(from, path.join(releaseDir, to));
      }
    }
    const sums = parseReleaseSums(releaseText);

    const packages: PackageRecord[] = [];
    for (const component of spec.components) {
      const stem = `${component}/binary-${spec.architecture}/Packages`;
      const variant = ['.xz', '.gz', ''].find((suffix) => sums.has(`${stem}${suffix}`));
      if (variant === undefined) {
        throw new UserError(`${spec.url} ${spec.suite} has no ${component} packages for ${spec.architecture}.`, { hint: 'Check the suite, component and architecture.' });
      }
      const entry = sums.get(`${stem}${variant}`)!;
      const cached = path.join(options.cacheDir, 'indexes', entry.sha256);
      let data: Buffer | undefined = await fs.readFile(cached).catch(() => undefined);
      if (!data) {
        data = await download(`${dist}/${stem}${variant}`, timeout * 5).catch((error: Error) => {
          throw new UserError(`Cannot download the package index of ${spec.url} ${spec.suite}: ${error.message}`);
        });
        if (sha256(data) !== entry.sha256) {
          throw new UserError(`The package index ${stem}${variant} of ${spec.url} does not match the checksum in its signed Release file.`, {
            hint: 'The repository or a proxy served altered data; refusing it.',
          });
        }
        await writeAtomic(cached, data);
      }
      const text = variant === '.xz' ? (await run('xz', ['-dc'], { input: data, quiet: true })).stdout : variant === '.gz' ? gunzipSync(data).toString('utf8') : data.toString('utf8');
      for (const p of parseParagraphs(text)) {
        const name = p.get('Package');
        const sha = p.get('SHA256');
        const filename = p.get('Filename');
        if (!name || !sha || !filename) continue;
        packages.push({
          name,
          version: p.get('Version') ?? '',
          architecture: p.get('Architecture') ?? 'all',
          depends: parseRelations(p.get('Depends')),
          preDepends: parseRelations(p.get('Pre-Depends')),
          provides: parseRelations(p.get('Provides')),
          multiArch: p.get('Multi-Arch'),
          filename,
          sha256: sha.toLowerCase(),
          size: Number(p.get('Size') ?? 0),
          repository: spec,
          fields: p,
        });
      }
    }
    logger.info(`${spec.url} ${spec.suite} ${spec.components.join(' ')} (${spec.architecture}): ${packages.length} packages${offline ? ' (from cache)' : ''}`);
    return new AptRepository(spec, packages, options);
  }

  /** Where a package of this repository is downloaded from. */
  packageUrl(record: PackageRecord): string {
    return `${this.spec.url.replace(/\/$/, '')}/${record.filename}`;
  }

  /** The .deb of a package, from the cache or downloaded, checked against the index's SHA256. */
  async fetchPackage(record: PackageRecord): Promise<string> {
    const file = path.join(this.options.cacheDir, 'debs', `${record.sha256}.deb`);
    if (await fs.stat(file).catch(() => undefined)) return file;
    const url = this.packageUrl(record);
    const data = await download(url, (this.options.timeoutMs ?? 60_000) * 5).catch((error) => {
      throw new UserError(`Cannot download ${record.name} ${record.version}: ${error.message}`);
    });
    if (sha256(data) !== record.sha256) {
      throw new UserError(`${record.name} ${record.version} from ${url} does not match the SHA256 in the signed package index.`, {
        hint: 'The repository or a proxy served an altered package; refusing it.',
      });
    }
    await writeAtomic(file, data);
    return file;
  }
}
