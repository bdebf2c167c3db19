import path from 'node:path';
import { writeArtifact, type ArtifactCompression, type ArtifactResult, type ArtifactSpec, type StateScript } from './writer.js';

export { readArtifact, type ArtifactInfo, type PayloadInfo } from './reader.js';
export { writeArtifact, type ArtifactCompression, type ArtifactResult, type ArtifactSpec, type StateScript } from './writer.js';

/** What every kind of Artifact can carry besides its payload. */
export interface CommonOptions {
  output: string;
  artifactName: string;
  deviceTypes: string[];
  group?: string;
  dependsArtifactNames?: string[];
  dependsGroups?: string[];
  /** type-info artifact_depends. */
  depends?: Record<string, string>;
  /** type-info artifact_provides, added to the defaults of the kind. */
  provides?: Record<string, string>;
  /** clears_artifact_provides, before the kind's defaults. */
  clearsProvides?: string[];
  /** Add the kind's default clears_artifact_provides (as mender-artifact does); default true. */
  defaultClearsProvides?: boolean;
  scripts?: StateScript[];
  compression: ArtifactCompression;
  level?: number;
  signingKey?: string;
  /** Seconds since the epoch for every timestamp (SOURCE_DATE_EPOCH). */
  mtime: number;
  onProgress?: (done: number, total: number) => void;
}

function clears(options: CommonOptions, defaults: string[]): string[] {
  const all = [...(options.clearsProvides ?? []), ...(options.defaultClearsProvides === false ? [] : defaults)];
  return [...new Set(all)];
}

function common(options: CommonOptions): Omit<ArtifactSpec, 'payloadType' | 'files' | 'typeInfoProvides' | 'clearsProvides'> {
  return {
    output: options.output,
    artifactName: options.artifactName,
    deviceTypes: options.deviceTypes,
    group: options.group,
    dependsArtifactNames: options.dependsArtifactNames,
    dependsGroups: options.dependsGroups,
    typeInfoDepends: options.depends,
    scripts: options.scripts,
    compression: options.compression,
    level: options.level,
    signingKey: options.signingKey,
    mtime: options.mtime,
    onProgress: options.onProgress,
  };
}

export interface RootfsArtifactOptions extends CommonOptions {
  /** The filesystem image file (the payload). */
  payload: string;
  /** As mender-artifact: the version is provided as <filesystem>[.<name>].version. */
  softwareName?: string;
  softwareFilesystem?: string;
  softwareVersion?: string;
}

/** A rootfs-image Artifact with the provides mender-artifact sets (software version, checksum). */
export async function writeRootfsImageArtifact(options: RootfsArtifactOptions): Promise<ArtifactResult & { sha256: string }> {
  const name = path.basename(options.payload);
  const software = [options.softwareFilesystem ?? 'rootfs-image', ...(options.softwareName ? [options.softwareName] : [])].join('.');
  const defaultClears = options.softwareName || options.softwareFilesystem ? [`${software}.*`] : ['artifact_group', 'rootfs_image_checksum', 'rootfs-image.*'];
  const result = await writeArtifact({
    ...common(options),
    payloadType: 'rootfs-image',
    files: [{ name, path: options.payload }],
    typeInfoProvides: (sums) => ({
      ...options.provides,
      'rootfs-image.checksum': sums[name]!,
      [`${software}.version`]: options.softwareVersion ?? options.artifactName,
    }),
    clearsProvides: clears(options, defaultClears),
    metaData: '',
  });
  return { ...result, sha256: result.payloadSha256[name]! };
}

export interface ModuleArtifactOptions extends CommonOptions {
  /** The update module that installs it (module-image type). */
  type: string;
  files: string[];
  /** headers/0000/meta-data: a JSON object. */
  metaData?: Record<string, unknown>;
  softwareName?: string;
  softwareVersion?: string;
}

/** A module-image Artifact: any number of files for an update module on the device. */
export async function writeModuleImageArtifact(options: ModuleArtifactOptions): Promise<ArtifactResult> {
  const software = `rootfs-image.${options.softwareName ?? options.type}`;
  return writeArtifact({
    ...common(options),
    payloadType: options.type,
    files: options.files.map((file) => ({ name: path.basename(file), path: file })),
    typeInfoProvides: { ...options.provides, [`${software}.version`]: options.softwareVersion ?? options.artifactName },
    clearsProvides: clears(options, [`${software}.*`]),
    metaData: options.metaData ? JSON.stringify(options.metaData) : '',
  });
}

export interface BootstrapArtifactOptions extends CommonOptions {
  provides: Record<string, string>;
}

/** A bootstrap Artifact (empty payload): tells a first-booting client what is installed. */
export async function writeBootstrapArtifact(options: BootstrapArtifactOptions): Promise<ArtifactResult> {
  return writeArtifact({
    ...common(options),
    payloadType: null,
    files: [],
    typeInfoProvides: options.provides,
    clearsProvides: clears(options, []),
  });
}
