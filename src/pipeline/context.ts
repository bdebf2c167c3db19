import type { Config, KnobKey } from '../config/knobs.js';
import type { Layout } from '../disk/layout.js';
import type { FollowingHash } from '../util/hash.js';
import type { FsEditor } from '../fs/editor.js';
import type { DeviceNaming } from '../mender/devices.js';
import type { Logger } from '../util/log.js';
import type { ImageFacts } from './probe.js';
import type { SbomScan } from './sbom.js';

/** Points in the conversion where integrations (client, bootloader, board, user hooks) run. */
export const HOOK_POINTS = ['pre_modify', 'platform_modify', 'modify', 'overlay_modify', 'post_modify', 'package'] as const;
export type HookPoint = (typeof HOOK_POINTS)[number];

export interface Hook {
  /** Shown in progress and in the error when it fails. */
  name: string;
  run(ctx: ConversionContext): Promise<void>;
}

export interface OutputFile {
  kind: 'image' | 'rootfs' | 'artifact' | 'tests-config' | 'bmap' | 'sbom' | 'results';
  path: string;
  bytes: number;
  /** Its sha256 when known without reading it again (computed while it was written). */
  sha256?: Promise<string>;
}

/** The partition of the input we use for each role, with its standalone filesystem file. */
export interface WorkFiles {
  boot: string;
  rootfs: string;
  data: string;
  /** Non-zero bytes between the input's partition table and its first partition, when kept. */
  bootGap?: { file: string; offset: number };
}

/** Everything the stages share: read it, add to it; one per conversion. */
export interface ConversionContext {
  readonly config: Config;
  readonly sources: Record<KnobKey, string>;
  readonly inputPath: string;
  readonly outputDir: string;
  /** This run's private scratch directory (removed at the end unless --keep-work). */
  readonly runDir: string;
  /** Downloads kept between runs (package indexes, packages, keys), by checksum. */
  readonly cacheDir: string;
  readonly logger: Logger;
  readonly hooks: Record<HookPoint, Hook[]>;
  /** Lines for the final summary. */
  readonly notes: string[];
  readonly outputs: OutputFile[];
  /** Outputs written under a temporary name, renamed when every one of them is complete. */
  readonly pendingOutputs: (Omit<OutputFile, 'bytes'> & { partial: string })[];
  /** Bytes written into the disk image outside every partition (a redundant U-Boot environment). */
  readonly rawWrites: { offset: number; data: Buffer; what: string }[];
  /** Seconds each step took, in order. */
  readonly durations: { step: string; seconds: number }[];
  /** Seconds since the epoch used for every timestamp we write. */
  readonly epoch: number;
  /** Record changes instead of writing outputs (plan / --dry-run). */
  readonly dryRun: boolean;

  files?: WorkFiles;
  /** How the input was compressed (the default output compression). */
  inputCompression?: 'none' | 'gzip' | 'xz' | 'zstd';
  input?: {
    scheme: 'dos' | 'gpt';
    /** The input file's checksum; a raw input's is computed alongside the conversion. */
    sha256: Promise<string>;
    /** Partition numbers the boot and root filesystems came from. */
    bootPartition?: number;
    rootPartition: number;
    /** GPT PARTUUID of the input boot partition (kept on the output's boot partition). */
    bootPartUuid?: string;
    diskId?: string;
    bootBytes: number;
  };
  rootfs?: FsEditor;
  boot?: FsEditor;
  facts?: ImageFacts;
  deviceTypes?: string[];
  bootMountpoint?: string;
  scheme?: 'dos' | 'gpt';
  naming?: DeviceNaming;
  layout?: Layout;
  /** Size of the root filesystem image (also the Artifact payload). */
  rootfsBytes?: number;
  rootfsSha256?: string;
  /** The disk image being assembled (under its partial name in the output directory). */
  image?: string;
  /** The raw disk image's sha256, hashed as its parts become final. */
  imageHash?: FollowingHash;
  clientInstalled?: boolean;
  /** Packages the conversion installed into the root filesystem, and where each came from (its URL, or the local file). */
  readonly installedPackages: { name: string; version: string; architecture: string; from: string }[];
  /** The root filesystem as the software bill of materials describes it. */
  sbom?: SbomScan;
}

export function emptyHooks(): Record<HookPoint, Hook[]> {
  return Object.fromEntries(HOOK_POINTS.map((point) => [point, []])) as unknown as Record<HookPoint, Hook[]>;
}

/** The base name of every output: <input name>-<device types joined by +>-mender, unless configured. */
export function outputBaseName(ctx: Pick<ConversionContext, 'config' | 'inputPath' | 'deviceTypes'>): string {
  if (ctx.config['image.name']) return ctx.config['image.name'];
  const file = ctx.inputPath.split('/').pop() ?? 'image';
  const stem = file.replace(/(\.(img|raw|bin|iso))?(\.(gz|xz|zst|zstd|zip|bz2))?$/i, '');
  return `${stem}-${(ctx.deviceTypes ?? []).join('+')}-mender`;
}
