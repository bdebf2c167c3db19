import fs from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../util/log.js';
import type { Compression } from '../util/compression.js';
import type { ArtifactCompression } from './compress.js';
import type { HeaderFields, SoftwareVersion } from './header.js';
import type { StateScript } from './scripts.js';
import { writeArtifact, type ArtifactResult, type PayloadSource } from './writer.js';

export type { ArtifactCompression } from './compress.js';
export { softwareVersionKey, type ArtifactKind, type HeaderFields, type SoftwareVersion } from './header.js';
export { readArtifact, type ArtifactInfo, type PayloadFileInfo, type PayloadInfo, type ReadOptions } from './reader.js';
export { checkScriptName, stateScriptsIn, type StateScript } from './scripts.js';
export { defaultMtime, writeArtifact, type ArtifactResult, type ArtifactSpec, type PayloadSource } from './writer.js';

/** The header fields every convenience writer takes as they are. */
type SharedHeaderFields = Pick<HeaderFields,
  'artifactName' | 'deviceTypes' | 'artifactGroup' | 'dependsArtifactNames' | 'dependsGroups' | 'depends' | 'provides' | 'clearsProvides' | 'defaultClearsProvides'>;

/** What the convenience writers share; see ArtifactSpec for the full set. */
export interface CommonOptions extends SharedHeaderFields {
  output: string;
  /** An algorithm name (with `level` beside it) or { algorithm, level }. */
  compression: Compression | ArtifactCompression;
  level?: number;
  /** Private key (PEM, RSA 2048-4096 or ECDSA P-256) to sign with. */
  signingKey?: string;
  /** Seconds since the epoch for every timestamp; default SOURCE_DATE_EPOCH, else now. */
  mtime?: number;
  scripts?: StateScript[];
  onProgress?: (done: number, total: number) => void;
  logger?: Logger;
}

function compressionOf(options: CommonOptions): ArtifactCompression {
  return typeof options.compression === 'string' ? { algorithm: options.compression, level: options.level } : options.compression;
}

function common(options: CommonOptions): Omit<HeaderFields, 'kind'> & Omit<CommonOptions, 'compression' | 'level'> & { compression: ArtifactCompression } {
  const { level: _level, ...rest } = options;
  return { ...rest, compression: compressionOf(options) };
}

export interface RootfsArtifactOptions extends CommonOptions {
  /** The filesystem image: the payload, stored under its base name. */
  payload: string;
  /** The payload's bytes when something else reads the file for the writer (one read serving several uses). */
  payloadBytes?: AsyncIterable<Uint8Array>;
  software?: SoftwareVersion | false;
  checksumProvide?: HeaderFields['checksumProvide'];
}

/**
 * A rootfs-image Artifact as `mender-artifact write rootfs-image` makes it: provides
 * rootfs-image.version (the artifact name unless `software` says otherwise) and
 * rootfs-image.checksum (the payload's sha256, also returned as `sha256`).
 */
export async function writeRootfsImageArtifact(options: RootfsArtifactOptions): Promise<ArtifactResult & { sha256: string }> {
  const name = path.basename(options.payload);
  const { payload, payloadBytes, ...rest } = options;
  const file: PayloadSource = payloadBytes ? { name, size: (await fs.stat(payload)).size, stream: payloadBytes } : { name, path: payload };
  const result = await writeArtifact({ ...common(rest), kind: 'rootfs-image', files: [file] });
  return { ...result, sha256: result.payloadSha256[name]! };
}

export interface ModuleArtifactOptions extends CommonOptions {
  /** The update module that installs it (the payload type). */
  type: string;
  /** Payload files, stored under their base names. */
  files: string[];
  /** headers/0000/meta-data: a JSON object for the update module. */
  metaData?: Record<string, unknown>;
  software?: SoftwareVersion | false;
}

/** A module-image Artifact: any number of files for an update module on the device. */
export async function writeModuleImageArtifact(options: ModuleArtifactOptions): Promise<ArtifactResult> {
  const { type, files, ...rest } = options;
  return writeArtifact({
    ...common(rest),
    kind: 'module-image',
    moduleType: type,
    files: files.map((file) => ({ name: path.basename(file), path: file })),
  });
}

export interface BootstrapArtifactOptions extends CommonOptions {
  /** e.g. { 'rootfs-image.version': name, 'rootfs-image.checksum': sha256 of the rootfs }. */
  provides: Record<string, string>;
}

/**
 * A bootstrap Artifact (empty payload, as `mender-artifact write bootstrap-artifact` makes it):
 * tells a first-booting client what is installed. Pass clearsProvides ['rootfs-image.*'].
 */
export async function writeBootstrapArtifact(options: BootstrapArtifactOptions): Promise<ArtifactResult> {
  return writeArtifact({ ...common(options), kind: 'bootstrap', files: [] });
}
