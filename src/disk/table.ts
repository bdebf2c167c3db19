import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { run } from '../util/exec.js';
import { UserError } from '../util/errors.js';

/**
 * Partition tables (MBR and GPT) as sfdisk reads them, plus the checks that refuse the shapes we
 * cannot convert. Offsets and sizes are in bytes.
 */

export interface PartitionInfo {
  number: number;
  start: number;
  size: number;
  /** MBR: the type byte in lower-case hex as sfdisk writes it ("c", "83"); GPT: the type GUID, lower case. */
  type: string;
  /** GPT: the partition GUID; MBR: "<disk id>-<number as 2 hex digits>", as blkid and the kernel name it. */
  partuuid: string;
  /** GPT partition name. */
  name?: string;
  /** GPT attributes as sfdisk writes them ("LegacyBIOSBootable", "GUID:63"). */
  attrs?: string;
  /** MBR boot flag; GPT LegacyBIOSBootable attribute. */
  bootable: boolean;
}

export interface PartitionTable {
  label: 'dos' | 'gpt';
  /** MBR disk identifier (8 lower-case hex digits, no 0x) or GPT disk GUID (lower case). */
  id: string;
  sectorSize: number;
  /** Sorted by start (disk order), whatever their numbers. */
  partitions: PartitionInfo[];
  /** First byte after the table itself: 512 for MBR, the end of the primary entry array for GPT. */
  tableEnd: number;
  /** The bytes between the table and the first partition, [start, end); empty when start = end. */
  bootGap: { start: number; end: number };
  /** GPT only: the primary header or entries were damaged and sfdisk read the backup copy. */
  usedBackupGpt: boolean;
  /** What sfdisk had to say (a recovered GPT, a size mismatch), in its words. */
  warnings: string[];
}

const SECTOR = 512;
const MiB = 1024 * 1024;
/** Enough head to read any ordinary MBR or GPT; a GPT whose entries lie further asks for more. */
export const TABLE_HEAD_BYTES = MiB;
/** A GPT whose entry array ends beyond this is treated as damaged rather than read. */
const MAX_TABLE_HEAD_BYTES = 32 * MiB;
/** Apparent size of a head-only copy of an MBR image: beyond the end of any MBR partition (2^32 sectors × 2). */
const MBR_HEAD_DISK_BYTES = 2 ** 43;
const EXTENDED_TYPES = new Set(['5', 'f', '85']);
const PROTECTIVE_TYPE = 'ee';
const LEGACY_BOOTABLE = 'LegacyBIOSBootable';

/** What the first sectors say about the table, before sfdisk reads it. */
export interface TableHeadFacts {
  /** The MBR holds a protective (0xEE) entry: the disk is meant to be GPT. */
  protective: boolean;
  /** A GPT header signature sits at LBA 1 of 512-byte sectors. */
  gptHeader: boolean;
  /** A GPT header sits at LBA 1 of 4096-byte sectors only: a 4Kn disk image. */
  gpt4k: boolean;
  /** End of the primary GPT entry array, from its header. */
  gptEntriesEnd?: number;
  /** Size of the disk the table was written for (GPT backup header LBA + 1, else the protective entry's end). */
  diskSize?: number;
  /** How many bytes from the start sfdisk needs to read the primary table. */
  bytesNeeded: number;
}

/** Read the handful of fields that size the table; sfdisk does the real parsing. */
export function tableHeadFacts(head: Buffer): TableHeadFacts {
  const facts: TableHeadFacts = { protective: false, gptHeader: false, gpt4k: false, bytesNeeded: TABLE_HEAD_BYTES };
  if (head.length < SECTOR || head.readUInt16LE(510) !== 0xaa55) return facts;
  let protectiveEnd: number | undefined;
  for (let entry = 446; entry < 510; entry += 16) {
    if (head[entry + 4] === 0xee) {
      facts.protective = true;
      const start = head.readUInt32LE(entry + 8);
      const sectors = head.readUInt32LE(entry + 12);
      if (sectors !== 0xffffffff) protectiveEnd = (start + sectors) * SECTOR;
    }
  }
  const signature = (at: number) => head.length >= at + 8 && head.toString('latin1', at, at + 8) === 'EFI PART';
  facts.gptHeader = signature(SECTOR);
  facts.gpt4k = !facts.gptHeader && signature(4096);
  if (facts.gptHeader && head.length >= 2 * SECTOR) {
    const alternateLba = Number(head.readBigUInt64LE(SECTOR + 32));
    const entriesLba = Number(head.readBigUInt64LE(SECTOR + 72));
    const entries = head.readUInt32LE(SECTOR + 80);
    const entrySize = head.readUInt32LE(SECTOR + 84);
    if (entriesLba >= 2 && entries > 0 && entries <= 4096 && entrySize >= 128 && entrySize <= 4096) {
      const end = entriesLba * SECTOR + Math.ceil((entries * entrySize) / SECTOR) * SECTOR;
      if (end <= MAX_TABLE_HEAD_BYTES) {
        facts.gptEntriesEnd = end;
        facts.bytesNeeded = Math.max(TABLE_HEAD_BYTES, end);
      }
      if (alternateLba * SECTOR > end && alternateLba * SECTOR < MBR_HEAD_DISK_BYTES) facts.diskSize = (alternateLba + 1) * SECTOR;
    }
  }
  facts.diskSize ??= protectiveEnd;
  return facts;
}

interface SfdiskJson {
  partitiontable: {
    label: string;
    id?: string;
    device: string;
    firstlba?: number;
    sectorsize?: number;
    partitions?: { node: string; start: number; size: number; type: string; uuid?: string; name?: string; attrs?: string; bootable?: boolean }[];
  };
}

/** sfdisk's view of a table, before our checks. `protectiveOnly`: a protective MBR sfdisk found no GPT behind. */
export interface SfdiskTable {
  table: Omit<PartitionTable, 'tableEnd' | 'bootGap'> & { firstLba?: number };
  protectiveOnly: boolean;
}

/** Lines sfdisk prints about a table read from a copy holding only its head, which mean nothing there. */
const HEAD_COPY_NOISE = /PMBR size mismatch|backup GPT table is (corrupt|not on the end)|size of this disk is|DOS partition table format cannot be used/;

/** Parse `sfdisk --json` output (and its warnings on stderr); undefined when sfdisk found no table. */
export function parseSfdiskJson(stdout: string, stderr: string): SfdiskTable | undefined {
  if (!stdout.trim()) return undefined;
  const parsed = (JSON.parse(stdout) as SfdiskJson).partitiontable;
  const sectorSize = parsed.sectorsize ?? SECTOR;
  const label = parsed.label === 'dos' || parsed.label === 'gpt' ? parsed.label : undefined;
  if (!label) throw new UserError(`The image has a '${parsed.label}' partition table; only MBR (dos) and GPT are supported.`);
  const id = (parsed.id ?? '').replace(/^0x/i, '').toLowerCase();
  const warnings = stderr.split('\n').map((line) => line.replace(/^sfdisk: /, '').trim()).filter(Boolean);
  const partitions: PartitionInfo[] = (parsed.partitions ?? []).map((p) => {
    const number = Number(/(\d+)$/.exec(p.node)?.[1] ?? NaN);
    return {
      number,
      start: p.start * sectorSize,
      size: p.size * sectorSize,
      type: p.type.toLowerCase(),
      partuuid: label === 'gpt' ? (p.uuid ?? '').toLowerCase() : `${id}-${number.toString(16).padStart(2, '0')}`,
      ...(p.name !== undefined ? { name: p.name } : {}),
      ...(p.attrs !== undefined ? { attrs: p.attrs } : {}),
      bootable: label === 'dos' ? Boolean(p.bootable) : (p.attrs ?? '').split(/\s+/).includes(LEGACY_BOOTABLE),
    };
  });
  partitions.sort((a, b) => a.start - b.start || a.number - b.number);
  return {
    table: {
      label,
      id,
      sectorSize,
      partitions,
      usedBackupGpt: label === 'gpt' && warnings.some((line) => /primary GPT table is corrupt/.test(line)),
      warnings,
      firstLba: parsed.firstlba,
    },
    protectiveOnly: label === 'dos' && partitions.some((p) => p.type === PROTECTIVE_TYPE),
  };
}

async function sfdiskRead(file: string): Promise<SfdiskTable | undefined> {
  const result = await run('sfdisk', ['--json', file], { okExitCodes: [1], doing: `reading the partition table of ${file}` });
  return result.exitCode === 0 ? parseSfdiskJson(result.stdout, result.stderr) : undefined;
}

/** Why a file without a partition table is not a disk image, when its first bytes say what it is. */
function whatItIs(head: Buffer): string {
  if (head.length >= 1082 && head.readUInt16LE(1080) === 0xef53) return 'it is a single ext2/3/4 filesystem, not a whole-disk image';
  if (head.length >= 90 && head.readUInt16LE(510) === 0xaa55 && /FAT(12|16|32)?/.test(head.toString('latin1', 54, 62) + head.toString('latin1', 82, 90))) {
    return 'it is a single FAT filesystem, not a whole-disk image';
  }
  return 'it has no partition table sfdisk can read';
}

/**
 * Our checks on what sfdisk read, in the image's terms: refuse extended/logical partitions,
 * overlaps, a partition over the table itself; work out the table end and the boot gap.
 */
export function finishTable(read: SfdiskTable, facts: TableHeadFacts, displayName: string, head?: Buffer): PartitionTable {
  const { table } = read;
  if (read.protectiveOnly) throw noGptError(displayName);
  if (table.partitions.length === 0) {
    throw new UserError(`${displayName} has an empty partition table${head ? `: ${whatItIs(head)}` : ''}.`, {
      hint: 'Pass a whole-disk image (.img, possibly compressed) with boot and root partitions.',
    });
  }
  if (table.label === 'dos') {
    const logical = table.partitions.find((p) => EXTENDED_TYPES.has(p.type) || p.number > 4);
    if (logical) {
      throw new UserError(`${displayName} uses an extended partition with logical partitions inside (partition ${logical.number}), which cannot be converted.`, {
        hint: 'Convert an image whose boot and root filesystems are primary partitions.',
      });
    }
  }
  const tableEnd = table.label === 'dos' ? SECTOR : !table.usedBackupGpt && facts.gptEntriesEnd ? facts.gptEntriesEnd : (table.firstLba ?? 34) * table.sectorSize;
  const sorted = table.partitions;
  if (sorted[0]!.start < tableEnd) {
    throw new UserError(`${displayName}: partition ${sorted[0]!.number} starts at byte ${sorted[0]!.start}, inside the partition table itself: the table is corrupt.`);
  }
  for (let i = 1; i < sorted.length; i++) {
    const previous = sorted[i - 1]!;
    const current = sorted[i]!;
    if (current.start < previous.start + previous.size) {
      throw new UserError(
        `${displayName} has overlapping partitions: ${previous.number} (bytes ${previous.start}-${previous.start + previous.size}) and ${current.number} (from byte ${current.start}).`,
        { hint: 'The partition table is corrupt; fix it (or get a good copy of the image) before converting.' },
      );
    }
  }
  const { firstLba: _firstLba, ...rest } = table;
  return { ...rest, tableEnd, bootGap: { start: tableEnd, end: sorted[0]!.start } };
}

/** Refuse a table whose partitions do not all lie inside an image of `imageSize` bytes. */
export function checkPartitionsFit(table: PartitionTable, imageSize: number, displayName: string): void {
  const outside = table.partitions.find((p) => p.start + p.size > imageSize);
  if (outside) {
    throw new UserError(
      `${displayName} is truncated: partition ${outside.number} ends at byte ${outside.start + outside.size} but the image has only ${imageSize} bytes.`,
      { hint: 'The image was cut short (an interrupted download or copy); get a complete copy and check its checksum.' },
    );
  }
}

/**
 * Read a table from the head of an image (a buffer holding at least `tableHeadFacts(head).bytesNeeded`
 * bytes), for a stream where the rest has not arrived yet: the head goes into a sparse scratch file
 * as large as the disk the table describes, so sfdisk sees a primary GPT at home (its backup is a
 * hole: what sfdisk says about that is dropped). With `tail` (the image's last bytes) and `imageSize`,
 * the scratch file is the whole image minus its middle, which lets sfdisk use a backup GPT.
 * Returns undefined when there is only a protective MBR (a backup GPT may still be at the end).
 */
export async function readTableFromHead(
  head: Buffer,
  scratchDir: string,
  displayName: string,
  end?: { tail: Buffer; imageSize: number },
): Promise<PartitionTable | undefined> {
  const facts = tableHeadFacts(head);
  if (facts.gpt4k) throw gpt4kError(displayName);
  const file = path.join(await fs.mkdtemp(path.join(scratchDir, 'table-')), 'head.img');
  try {
    const size = end ? end.imageSize : facts.protective ? facts.diskSize ?? MBR_HEAD_DISK_BYTES : MBR_HEAD_DISK_BYTES;
    const handle = await fs.open(file, 'w', 0o600);
    try {
      await handle.truncate(size);
      await handle.write(head, 0, Math.min(head.length, size), 0);
      if (end) await handle.write(end.tail, 0, end.tail.length, end.imageSize - end.tail.length);
    } finally {
      await handle.close();
    }
    const read = await sfdiskRead(file);
    if (!read) throw noTableError(displayName, head);
    if (read.protectiveOnly) return undefined;
    if (!end) read.table.warnings = read.table.warnings.filter((line) => !HEAD_COPY_NOISE.test(line));
    return finishTable(read, facts, displayName, head);
  } finally {
    await fs.rm(path.dirname(file), { recursive: true, force: true });
  }
}

/** A protective MBR with no readable GPT behind it, primary or backup. */
export function noGptError(displayName: string): UserError {
  return new UserError(`${displayName} has a protective MBR but no valid GPT: both the primary and the backup GPT are unreadable.`, {
    hint: 'The image is damaged; download or copy it again and check its checksum.',
  });
}

function noTableError(displayName: string, head: Buffer): UserError {
  return new UserError(`${displayName} is not a disk image: ${whatItIs(head)}.`, {
    hint: 'Pass a whole-disk image (.img, possibly compressed as .gz/.xz/.zst/.zip), not a single filesystem or another file.',
  });
}

function gpt4kError(displayName: string): UserError {
  return new UserError(`${displayName} has a GPT for 4096-byte sectors, which is not supported.`, {
    hint: 'Convert an image made for 512-byte sectors (SD cards, USB sticks and most disks).',
  });
}

async function readHead(file: string, bytes: number): Promise<Buffer> {
  const handle = await fs.open(file, 'r');
  try {
    const buffer = Buffer.alloc(bytes);
    const { bytesRead } = await handle.read(buffer, 0, bytes, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/**
 * Read the partition table of an uncompressed image file (read-only). Refuses what cannot be
 * converted; a GPT image cut short after its last partition (backup GPT gone) still reads, with a
 * warning — `checkPartitionsFit` tells whether anything that matters was lost.
 */
export async function readPartitionTable(file: string, displayName = path.basename(file)): Promise<PartitionTable> {
  const imageSize = (await fs.stat(file)).size;
  let head = await readHead(file, TABLE_HEAD_BYTES);
  let facts = tableHeadFacts(head);
  if (facts.bytesNeeded > head.length && imageSize > head.length) {
    head = await readHead(file, facts.bytesNeeded);
    facts = tableHeadFacts(head);
  }
  if (facts.gpt4k) throw gpt4kError(displayName);
  const read = await sfdiskRead(file);
  if (!read) throw noTableError(displayName, head);
  if (read.protectiveOnly && facts.diskSize && facts.diskSize > imageSize) {
    // sfdisk rejects a primary GPT that describes a disk larger than the file; read it where it fits.
    const table = await readTableFromHead(head, os.tmpdir(), displayName);
    if (table) {
      table.warnings.push(`The image (${imageSize} bytes) is shorter than the disk its GPT describes (${facts.diskSize} bytes): the backup GPT is missing.`);
      return table;
    }
  }
  return finishTable(read, facts, displayName, head);
}
