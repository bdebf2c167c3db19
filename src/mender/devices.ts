/** Device names the image refers to its partitions by (contract, "Partition layout"). */

export interface DeviceNaming {
  deviceBase: string;
  partuuid: boolean;
  scheme: 'dos' | 'gpt';
  /** MBR disk identifier, 8 hex digits (dos with PARTUUIDs). */
  diskId?: string;
  /** GPT partition GUIDs by partition number (gpt with PARTUUIDs). */
  partUuids?: Record<number, string>;
}

export function partitionDevice(number: number, naming: DeviceNaming): string {
  if (!naming.partuuid) return `${naming.deviceBase}${number}`;
  if (naming.scheme === 'gpt') {
    const uuid = naming.partUuids?.[number];
    if (!uuid) throw new Error(`no PARTUUID known for partition ${number}`);
    return `/dev/disk/by-partuuid/${uuid.toLowerCase()}`;
  }
  if (!naming.diskId) throw new Error('no MBR disk identifier known');
  return `/dev/disk/by-partuuid/${naming.diskId.toLowerCase()}-${String(number).padStart(2, '0')}`;
}
