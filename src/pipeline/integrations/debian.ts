import fs from 'node:fs/promises';
import path from 'node:path';
import { AptRepository } from '../../apt/repository.js';
import { DebPackage } from '../../deb/package.js';
import { compareVersions } from '../../deb/version.js';
import type { ImageFacts } from '../../image/probe.js';
import { UserError } from '../../util/errors.js';
import type { RunEnv } from '../types.js';

/** Debian's archive, where integrations fetch what they install for the image's architecture. */

export const DEBIAN_MIRROR = 'http://deb.debian.org/debian';
export const HOST_DEBIAN_KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';

/** Where the APT client keeps package indexes and packages between runs. */
export function aptCacheDir(env: Pick<RunEnv, 'cacheDir'>): string {
  return path.join(env.cacheDir, 'apt');
}

export interface FetchedDebianPackage {
  deb: DebPackage;
  version: string;
  sha256: string;
}

/** The release Debian packages for the target come from: the image's own when it is Debian, else bookworm. */
export function debianSuiteFor(facts: ImageFacts): string {
  return facts.os.id === 'debian' && facts.os.versionCodename ? facts.os.versionCodename : 'bookworm';
}

/**
 * The newest `name` of a Debian release for `architecture`, from Debian's mirror through the
 * APT client (signature and checksums verified, cached by checksum in the conversion's cache).
 */
export async function fetchDebianPackage(env: Pick<RunEnv, 'cacheDir' | 'logger'>, name: string, architecture: string, suite: string): Promise<FetchedDebianPackage> {
  if (!(await fs.stat(HOST_DEBIAN_KEYRING).catch(() => undefined))) {
    throw new UserError(`Debian's archive keyring is missing (${HOST_DEBIAN_KEYRING}): ${name} cannot be verified.`, { hint: 'Install it with: sudo apt-get install debian-archive-keyring' });
  }
  const repository = await AptRepository.load(
    { url: DEBIAN_MIRROR, suite, components: ['main'], architecture, keyrings: [HOST_DEBIAN_KEYRING] },
    { cacheDir: aptCacheDir(env), logger: env.logger },
  );
  const record = repository.packages.filter((p) => p.name === name).sort((a, b) => compareVersions(b.version, a.version))[0];
  if (!record) throw new UserError(`Debian's ${suite} has no package ${name} for ${architecture}.`);
  const deb = await DebPackage.open(await repository.fetchPackage(record));
  env.logger.info(`debian: ${name} ${record.version} ${architecture} from ${suite} (sha256 ${record.sha256})`);
  return { deb, version: record.version, sha256: record.sha256 };
}
