import { createHash } from 'node:crypto';
import { UserError } from '../util/errors.js';

/**
 * The disk's and partitions' identities (MBR disk identifier, GPT disk GUID and partition
 * UUIDs, the data filesystem's UUID) belong to the fleet, not to a release: every device flashed
 * with release N must find, in release N+1's fstab and boot configuration, the partitions it
 * has. So they are derived from a fleet seed (never from the golden image or the artifact name),
 * and each can be pinned to what devices already in the field carry.
 */

/** The partitions of the Mender layout, by number, with the knob that pins each one's device. */
export const PARTITION_ROLES = [
  { number: 1, name: 'boot', knob: 'storage.boot_part' },
  { number: 2, name: 'rootfs A', knob: 'storage.rootfs_a_part' },
  { number: 3, name: 'rootfs B', knob: 'storage.rootfs_b_part' },
  { number: 4, name: 'data', knob: 'storage.data_part' },
] as const;

export type PartitionKnob = (typeof PARTITION_ROLES)[number]['knob'];

export interface IdentityRequest {
  /** What every derived identity comes from; the same seed, the same identities. */
  seed: string;
  scheme: 'dos' | 'gpt';
  partuuid: boolean;
  deviceBase: string;
  /** storage.disk_id: MBR disk identifier (8 hex digits) or GPT disk GUID; '' to derive it. */
  diskId: string;
  /** The device each partition is pinned to (upstream's MENDER_BOOT_PART …); '' to derive it. */
  parts: Readonly<Record<PartitionKnob, string>>;
  /** Where each knob was set, for messages. */
  sourceOf?: (knob: string) => string | undefined;
}

export interface Identities {
  /** MBR disk identifier, 8 lower-case hex digits (dos). */
  diskId?: string;
  /** GPT: entry 0 is the disk GUID, 1–4 the partitions' UUIDs. */
  partUuids: Record<number, string>;
  /** The data partition's ext4 UUID and directory hash seed. */
  dataFsUuid: string;
  dataHashSeed: string;
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const MBR_ID = /^(?:0x)?([0-9a-f]{8})$/;
const BY_PARTUUID = '/dev/disk/by-partuuid/';

/** A UUID (RFC 4122 layout, version 4 bits, 10xx variant) from a seed and a purpose. */
export function seededUuid(seed: string, purpose: string): string {
  const hex = createHash('sha256').update(`mender-convert identity\0${seed}\0${purpose}`).digest('hex');
  const variant = ((parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** The default fleet seed: the device types, whose Artifacts the fleet installs. */
export function defaultIdentitySeed(deviceTypes: readonly string[]): string {
  return `device-types:${[...deviceTypes].sort().join(' ')}`;
}

function mbrIdFrom(seed: string): string {
  // Zero means "no identifier" to some tools; the next derivation is taken then.
  for (let i = 0; ; i++) {
    const id = seededUuid(seed, `mbr-disk-id-${i}`).slice(0, 8);
    if (id !== '00000000') return id;
  }
}

export function decideIdentities(request: IdentityRequest): Identities {
  const { seed, scheme } = request;
  const where = (knob: string) => {
    const source = request.sourceOf?.(knob);
    return source ? ` (${source})` : '';
  };
  const pinned = pinnedPartitions(request, where);
  const partUuids: Record<number, string> = {};
  partUuids[0] = seededUuid(seed, 'gpt-disk-guid');
  for (const { number } of PARTITION_ROLES) partUuids[number] = seededUuid(seed, `gpt-partition-${number}`);
  let diskId: string | undefined;
  const configuredId = request.diskId.trim().toLowerCase();
  if (scheme === 'gpt') {
    if (configuredId) {
      if (!GUID.test(configuredId)) {
        throw new UserError(`storage.disk_id '${request.diskId}'${where('storage.disk_id')} is not a GPT disk GUID.`, {
          hint: 'Give it as 8-4-4-4-12 hex digits (sfdisk --disk-id prints the one of a GPT disk), or leave it empty to derive it.',
        });
      }
      partUuids[0] = configuredId;
    }
    Object.assign(partUuids, pinned.uuids);
    const seen = new Map<string, number>();
    for (const [number, uuid] of Object.entries(partUuids)) {
      const other = seen.get(uuid);
      if (other !== undefined) {
        throw new UserError(`The GPT identity ${uuid} is given to ${identityName(other)} and ${identityName(Number(number))}.`, {
          hint: 'Every partition and the disk need their own UUID; check storage.disk_id and the storage.*_part settings.',
        });
      }
      seen.set(uuid, Number(number));
    }
  } else {
    let id = configuredId;
    if (id) {
      const match = MBR_ID.exec(id);
      if (!match || match[1] === '00000000') {
        throw new UserError(`storage.disk_id '${request.diskId}'${where('storage.disk_id')} is not an MBR disk identifier.`, {
          hint: 'Give it as 8 hex digits, e.g. 0x1a2b3c4d (sfdisk --disk-id prints the one of an MBR disk), or leave it empty to derive it.',
        });
      }
      id = match[1]!;
    }
    if (pinned.mbrId) {
      if (id && id !== pinned.mbrId.id) {
        throw new UserError(`${pinned.mbrId.knob} names disk identifier ${pinned.mbrId.id}, but storage.disk_id is 0x${id}${where('storage.disk_id')}.`, {
          hint: 'On an MBR disk every PARTUUID is <disk identifier>-<partition number>: make them agree, or leave storage.disk_id empty.',
        });
      }
      id = pinned.mbrId.id;
    }
    diskId = id || mbrIdFrom(seed);
  }
  return { diskId, partUuids, dataFsUuid: seededUuid(seed, 'data-filesystem'), dataHashSeed: seededUuid(seed, 'data-hash-seed') };
}

function identityName(number: number): string {
  return number === 0 ? 'the disk' : `partition ${number} (${PARTITION_ROLES[number - 1]!.name})`;
}

/** The partitions pinned by device name: their GPT UUIDs or the MBR disk identifier they share. */
function pinnedPartitions(request: IdentityRequest, where: (knob: string) => string): { uuids: Record<number, string>; mbrId?: { id: string; knob: string } } {
  const uuids: Record<number, string> = {};
  let mbrId: { id: string; knob: string } | undefined;
  for (const { number, name, knob } of PARTITION_ROLES) {
    const device = request.parts[knob].trim();
    if (!device) continue;
    const at = `${knob} '${device}'${where(knob)}`;
    if (!request.partuuid) {
      const expected = `${request.deviceBase}${number}`;
      if (device !== expected) {
        throw new UserError(`${at} is not the ${name} partition's device: partitions are named storage.device_base + number, here ${expected}.`, {
          hint: `Set storage.device_base to the device's prefix (the ${name} partition is always number ${number}), or set storage.partuuid: true to name partitions by /dev/disk/by-partuuid/….`,
        });
      }
      continue;
    }
    const uuid = device.startsWith(BY_PARTUUID) ? device.slice(BY_PARTUUID.length).toLowerCase() : undefined;
    if (request.scheme === 'gpt') {
      if (!uuid || !GUID.test(uuid)) {
        throw new UserError(`${at} is not a GPT partition's PARTUUID device.`, {
          hint: `With storage.partuuid on a GPT disk give ${knob} as /dev/disk/by-partuuid/<8-4-4-4-12 hex digits>, or leave it empty to derive it.`,
        });
      }
      uuids[number] = uuid;
      continue;
    }
    const dos = uuid ? /^([0-9a-f]{8})-([0-9a-f]{2})$/.exec(uuid) : null;
    if (!dos) {
      throw new UserError(`${at} is not an MBR partition's PARTUUID device.`, {
        hint: `With storage.partuuid on an MBR disk give ${knob} as /dev/disk/by-partuuid/<disk identifier>-0${number}, or leave it empty.`,
      });
    }
    if (parseInt(dos[2]!, 16) !== number) {
      throw new UserError(`${at} names partition ${parseInt(dos[2]!, 16)}, but the ${name} partition is number ${number}.`, {
        hint: `Write it as ${BY_PARTUUID}${dos[1]}-0${number}: mender-convert always lays out boot, rootfs A, rootfs B and data as partitions 1 to 4.`,
      });
    }
    if (mbrId && mbrId.id !== dos[1]) {
      throw new UserError(`${at} names disk identifier ${dos[1]}, but ${mbrId.knob} names ${mbrId.id}.`, {
        hint: 'The partitions of one MBR disk share its disk identifier: make them agree.',
      });
    }
    if (dos[1] === '00000000') throw new UserError(`${at} names disk identifier 00000000, which means none.`, { hint: 'Give the disk identifier the devices carry.' });
    mbrId = { id: dos[1]!, knob };
  }
  return { uuids, mbrId };
}
