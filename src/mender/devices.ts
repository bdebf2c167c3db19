/** Device names the image refers to its partitions by (contract, "Partition layout"). */

export interface DeviceNaming {
  deviceBase: string;
  partuuid: boolean;
  scheme: 'dos' | 'gpt';
  /** MBR disk identifier, 8 hex digits (dos). */
  diskId?: string;
  /** GPT: the disk GUID (0) and partition UUIDs by partition number. */
  partUuids?: Record<number, string>;
}

/** The partition's PARTUUID as the kernel and udev know it (GPT: its UUID; MBR: <disk id>-<NN>). */
export function partitionUuid(number: number, naming: DeviceNaming): string {
  if (naming.scheme === 'gpt') {
    const uuid = naming.partUuids?.[number];
    if (!uuid) throw new Error(`no PARTUUID known for partition ${number}`);
    return uuid.toLowerCase();
  }
  if (!naming.diskId) throw new Error('no MBR disk identifier known');
  return `${naming.diskId.toLowerCase()}-${String(number).padStart(2, '0')}`;
}

/** The disk's identifier as sfdisk writes and prints it: 0x<8 hex digits> (MBR) or the GPT disk GUID. */
export function diskIdentifier(naming: DeviceNaming): string {
  const id = naming.scheme === 'gpt' ? naming.partUuids?.[0] : naming.diskId && `0x${naming.diskId.toLowerCase()}`;
  if (!id) throw new Error(`no ${naming.scheme === 'gpt' ? 'GPT disk GUID' : 'MBR disk identifier'} known`);
  return id;
}

export function partitionDevice(number: number, naming: DeviceNaming): string {
  return naming.partuuid ? `/dev/disk/by-partuuid/${partitionUuid(number, naming)}` : `${naming.deviceBase}${number}`;
}
