/**
 * Bytes written into a disk image outside its partitions (a board's boot loader at fixed sectors),
 * checked against what they must leave intact: the partition table, the partitions, anything
 * else kept there (a boot environment), and each other.
 */

export const SECTOR_BYTES = 512;

/** A byte range of the disk and what it is, for messages ("partition 1", "idbloader.img"). */
export interface Region {
  readonly what: string;
  readonly start: number;
  readonly size: number;
}

export type PlacementProblem =
  /** It ends past the end of the disk. */
  | { readonly kind: 'beyond-disk'; readonly region: Region; readonly diskBytes: number }
  /** It lies past the area before the first partition (where nothing else is kept) without overlapping a partition. */
  | { readonly kind: 'beyond-gap'; readonly region: Region; readonly gapEnd: number }
  | { readonly kind: 'overlap'; readonly region: Region; readonly other: Region };

export function regionEnd(region: Region): number {
  return region.start + region.size;
}

export function overlaps(a: Region, b: Region): boolean {
  return a.size > 0 && b.size > 0 && a.start < regionEnd(b) && b.start < regionEnd(a);
}

/** The partition table's own sectors at the start of the disk: the MBR, or GPT's protective MBR, header and 128 entries. */
export function partitionTableRegion(scheme: 'dos' | 'gpt'): Region {
  return scheme === 'gpt'
    ? { what: 'the GPT partition table (sectors 0-33)', start: 0, size: 34 * SECTOR_BYTES }
    : { what: 'the MBR partition table (sector 0)', start: 0, size: SECTOR_BYTES };
}

/**
 * The first problem with writing `placed`, in order, on a disk of `diskBytes` whose first
 * partition starts at `gapEnd`: past the disk's end, over one of `occupied` (checked in its
 * order), past the gap, or over an earlier one of `placed`. None: undefined.
 */
export function placementProblem(placed: readonly Region[], occupied: readonly Region[], gapEnd: number, diskBytes: number): PlacementProblem | undefined {
  for (const [index, region] of placed.entries()) {
    if (region.start < 0 || regionEnd(region) > diskBytes) return { kind: 'beyond-disk', region, diskBytes };
    const other = occupied.find((candidate) => overlaps(region, candidate));
    if (other) return { kind: 'overlap', region, other };
    if (regionEnd(region) > gapEnd) return { kind: 'beyond-gap', region, gapEnd };
    const earlier = placed.slice(0, index).find((candidate) => overlaps(region, candidate));
    if (earlier) return { kind: 'overlap', region, other: earlier };
  }
  return undefined;
}
