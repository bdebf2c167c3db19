import path from 'node:path';
import { MiB } from '../../disk/layout.js';
import { partitionDevice } from '../../mender/devices.js';
import type { Modified, RunEnv, Target } from '../types.js';

/** deploy/<name>.cfg: KEY="value" lines Mender's image acceptance tests read. */
export function testsConfig(env: RunEnv, target: Target, modified: Modified): string {
  const { layout, naming } = target;
  const bootloader = target.bootloader.integration.testsConfig;
  const features = ['mender-convert', bootloader.feature, ...(modified.clientInstalled ? ['mender-client-install'] : [])];
  const deviceType = target.deviceTypes.join(' ');
  const values: [string, string | number][] = [
    ['MENDER_BOOT_PART', partitionDevice(1, naming)],
    ['MENDER_ROOTFS_PART_A', partitionDevice(2, naming)],
    ['MENDER_ROOTFS_PART_B', partitionDevice(3, naming)],
    ['MENDER_DATA_PART', partitionDevice(4, naming)],
    ['MENDER_BOOT_PART_MOUNT_LOCATION', target.bootMountpoint],
    ['MENDER_BOOT_PART_SIZE_MB', layout.boot.size / MiB],
    ['MENDER_DATA_PART_SIZE_MB', layout.data.size / MiB],
    ['MENDER_DEVICE_TYPE', deviceType],
    ['MENDER_PARTITIONING_OVERHEAD_KB', layout.overheadBytes / 1024],
    ['MENDER_PARTITION_ALIGNMENT', layout.alignment],
    ['MENDER_STORAGE_TOTAL_SIZE_MB', env.config['storage.total_size_mb']],
    ['MENDER_ARTIFACT_NAME', env.config['artifact.name']],
    ['MENDER_FEATURES', features.join(' ')],
    ['DEPLOY_DIR_IMAGE', path.resolve(env.outputDir)],
    ['MENDER_MACHINE', deviceType],
    ...(naming.partuuid ? [] : ([['MENDER_STORAGE_DEVICE_BASE', naming.deviceBase]] as [string, string][])),
    ['IMAGE_FSTYPES', `ext4 mender ${bootloader.imageType}`],
    ['ARTIFACTIMG_FSTYPE', 'ext4'],
  ];
  return values.map(([key, value]) => `${key}="${value}"`).join('\n') + '\n';
}
