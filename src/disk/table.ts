import { run } from '../util/exec.js';
import { UserError } from '../util/errors.js';

/** A partition table as read by sfdisk. Offsets and sizes in bytes. */
export interface PartitionInfo {
  number: number;
  start: number;
  size: number;
  /** MBR type byte in hex ("83") or GPT type GUID. */
  type: string;
  /** GPT partition GUID (MBR PARTUUIDs are derived from the disk id). */
  partuuid?: string;
  name?: string;
  bootable: boolean;
}

export interface PartitionTable {
  label: 'dos' | 'gpt';
  /** MBR disk identifier (8 hex digits, no 0x) or GPT disk GUID. */
  id?: string;
  sectorSize: number;
  partitions: PartitionInfo[];
  /** What sfdisk had to say (e.g. a corrupt primary GPT recovered from its backup). */
  warnings: string[];
}

const EXTENDED_TYPES = new Set(['5', 'f', '85']);
const PROTECTIVE_TYPE = 'ee';

interface SfdiskJson {
  partitiontable: {
    label: string;
    id?: string;
    device: string;
    sectorsize?: number;
    partitions?: { node: string; start: number; size: number; type: string; uuid?: string; name?: string; bootable?: boolean }[];
  };
}

/** Read a partition table with sfdisk (read-only) and refuse the shapes we cannot convert. */
export async function readPartitionTable(file: string, displayName = file): Promise<PartitionTable> {
  const result = await run('sfdisk', ['--json', file], { okExitCodes: [1] });
  if (result.exitCode !== 0 || !result.stdout.trim()) {
    throw new UserError(`${displayName} has no partition table that sfdisk can read: it is not a disk image.`, {
      hint: 'Pass a whole-disk image (.img, possibly compressed), not a single filesystem or another file.',
    });
  }
  const json = JSON.parse(result.stdout) as SfdiskJson;
  const table = json.partitiontable;
  const sectorSize = table.sectorsize ?? 512;
  const warnings = result.stderr.split('\n').map((line) => line.trim()).filter((line) => line && !/PMBR size mismatch|not on the end of the device|backup GPT table is corrupt, but the primary/.test(line));
  if (table.label !== 'dos' && table.label !== 'gpt') {
    throw new UserError(`${displayName} has a ${table.label} partition table; only MBR (dos) and GPT are supported.`);
  }
  const partitions: PartitionInfo[] = (table.partitions ?? []).map((p) => ({
    number: Number(/(\d+)$/.exec(p.node.slice(table.device.length))?.[1] ?? NaN),
    start: p.start * sectorSize,
    size: p.size * sectorSize,
    type: p.type.toLowerCase(),
    partuuid: p.uuid?.toLowerCase(),
    name: p.name,
    bootable: Boolean(p.bootable),
  }));
  if (table.label === 'dos' && partitions.some((p) => p.type === PROTECTIVE_TYPE)) {
    throw new UserError(`${displayName} has a protective MBR but no valid GPT (primary and backup headers are both unreadable).`, {
      hint: 'The image is damaged; download or copy it again.',
    });
  }
  const extended = partitions.filter((p) => table.label === 'dos' && EXTENDED_TYPES.has(p.type));
  if (extended.length > 0) {
    throw new UserError(`${displayName} uses an extended partition (partition ${extended[0]!.number}) with logical partitions inside, which cannot be converted.`, {
      hint: 'Convert an image with primary partitions only (boot and root).',
    });
  }
  const used = partitions.filter((p) => p.size > 0).sort((a, b) => a.start - b.start);
  for (let i = 1; i < used.length; i++) {
    const previous = used[i - 1]!;
    if (used[i]!.start < previous.start + previous.size) {
      throw new UserError(`${displayName} has overlapping partitions ${previous.number} and ${used[i]!.number}: the partition table is corrupt.`);
    }
  }
  if (used.length === 0) throw new UserError(`${displayName} has an empty partition table.`);
  return {
    label: table.label,
    id: table.id?.replace(/^0x/i, '').toLowerCase(),
    sectorSize,
    partitions: used,
    warnings,
  };
}
