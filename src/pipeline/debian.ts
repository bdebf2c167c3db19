import fs from 'node:fs/promises';
import path from 'node:path';
import { AptRepository } from '../apt/repository.js';
import { DebPackage } from '../deb/package.js';
import { compareVersions } from '../deb/version.js';
import { UserError } from '../util/errors.js';
import type { ConversionContext } from './context.js';

export const DEBIAN_MIRROR = 'http://deb.debian.org/debian';
export const HOST_DEBIAN_KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';

/** Where the APT client keeps package indexes and packages between runs. */
export function aptCacheDir(ctx: ConversionContext): string {
  return path.join(ctx.cacheDir, 'apt');
}

export interface FetchedDebianPackage {
  deb: DebPackage;
  version: string;
  sha256: string;
}

/** The release Debian packages for the target come from: the image's own when it is Debian, else bookworm. */
export function debianSuiteFor(ctx: ConversionContext): string {
  const os = ctx.facts!.os;
  return os.id === 'debian' && os.versionCodename ? os.versionCodename : 'bookworm';
}

/**
 * The newest `name` of a Debian release for `architecture`, from Debian's mirror through the
 * APT client (signature and checksums verified, cached by checksum in the conversion's cache).
 */
export async function fetchDebianPackage(ctx: ConversionContext, name: string, architecture: string, suite: string): Promise<FetchedDebianPackage> {
  if (!(await fs.stat(HOST_DEBIAN_KEYRING).catch(() => undefined))) {
    throw new UserError(`Debian's archive keyring is missing (${HOST_DEBIAN_KEYRING}): ${name} cannot be verified.`, { hint: 'Install it with: sudo apt-get install debian-archive-keyring' });
  }
  const repository = await AptRepository.load(
    { url: DEBIAN_MIRROR, suite, components: ['main'], architecture, keyrings: [HOST_DEBIAN_KEYRING] },
    { cacheDir: aptCacheDir(ctx), logger: ctx.logger },
  );
  const record = repository.packages.filter((p) => p.name === name).sort((a, b) => compareVersions(b.version, a.version))[0];
  if (!record) throw new UserError(`Debian's ${suite} has no package ${name} for ${architecture}.`);
  const deb = await DebPackage.open(await repository.fetchPackage(record));
  ctx.logger.info(`debian: ${name} ${record.version} ${architecture} from ${suite} (sha256 ${record.sha256})`);
  return { deb, version: record.version, sha256: record.sha256 };
}
