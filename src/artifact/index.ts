import path from 'node:path';
import { writeArtifact, type ArtifactCompression, type ArtifactResult } from './writer.js';

export { writeArtifact, type ArtifactCompression, type ArtifactResult, type ArtifactSpec } from './writer.js';

export interface RootfsArtifactOptions {
  output: string;
  /** The filesystem image file (the payload). */
  payload: string;
  artifactName: string;
  deviceTypes: string[];
  compression: ArtifactCompression;
  mtime: number;
  onProgress?: (done: number, total: number) => void;
}

/** A rootfs-image Artifact, with the provides mender-artifact sets for one (software version and checksum). */
export async function writeRootfsImageArtifact(options: RootfsArtifactOptions): Promise<ArtifactResult & { sha256: string }> {
  const name = path.basename(options.payload);
  const result = await writeArtifact({
    output: options.output,
    artifactName: options.artifactName,
    deviceTypes: options.deviceTypes,
    payloadType: 'rootfs-image',
    files: [{ name, path: options.payload }],
    typeInfoProvides: (sums) => ({ 'rootfs-image.checksum': sums[name]!, 'rootfs-image.version': options.artifactName }),
    clearsProvides: ['artifact_group', 'rootfs_image_checksum', 'rootfs-image.*'],
    metaData: '',
    compression: options.compression,
    mtime: options.mtime,
    onProgress: options.onProgress,
  });
  return { ...result, sha256: result.payloadSha256[name]! };
}

export interface BootstrapArtifactOptions {
  output: string;
  artifactName: string;
  deviceTypes: string[];
  rootfsChecksum: string;
  mtime: number;
}

/** The bootstrap Artifact on the data partition: tells a first-booting client what is installed. */
export async function writeBootstrapArtifact(options: BootstrapArtifactOptions): Promise<ArtifactResult> {
  return writeArtifact({
    output: options.output,
    artifactName: options.artifactName,
    deviceTypes: options.deviceTypes,
    payloadType: null,
    files: [],
    typeInfoProvides: { 'rootfs-image.checksum': options.rootfsChecksum, 'rootfs-image.version': options.artifactName },
    clearsProvides: ['rootfs-image.*'],
    compression: 'gzip',
    mtime: options.mtime,
  });
}
