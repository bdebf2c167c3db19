import type { Config, KnobKey } from '../config/knobs.js';
import type { Layout } from '../disk/layout.js';
import type { RecordingEditor } from '../fs/recording.js';
import type { ImageFacts } from '../image/probe.js';
import type { DeviceNaming } from '../mender/devices.js';
import type { Identities } from '../mender/identities.js';
import type { SbomFormat } from '../sbom/index.js';
import type { Compression } from '../util/compression.js';
import type { Logger } from '../util/log.js';
import type { BootloaderIntegration } from './integrations/integration.js';
import type { OutputFile, OutputSet } from './outputs.js';

/**
 * The values a conversion passes from stage to stage (convert.ts tells the story):
 *   RunEnv ─► extract ─► Extracted ─► decideTarget ─► Target ─► modify ─► Modified ─► package ─► Outputs
 */

/** What every step may read: the frozen configuration, where things go, the run's clock and collectors. */
export interface RunEnv {
  readonly config: Readonly<Config>;
  /** Where each setting came from (file:line, environment variable, flag), for messages. */
  readonly sources: Readonly<Record<KnobKey, string>>;
  readonly inputPath: string;
  readonly outputDir: string;
  /** This run's private scratch directory (removed at the end unless --keep-work). */
  readonly runDir: string;
  /** Downloads kept between runs (package indexes, packages, keys), by checksum. */
  readonly cacheDir: string;
  readonly logger: Logger;
  /** Seconds since the epoch used for every timestamp we write. */
  readonly epoch: number;
  /** Record changes instead of writing outputs (plan / --dry-run). */
  readonly dryRun: boolean;
  /** Lines for the final summary. */
  readonly notes: string[];
  /** Outputs under partial names until every one is complete. */
  readonly outputs: OutputSet;
  /** Seconds each step took, in order. */
  readonly durations: { step: string; seconds: number }[];
  /** Run `cleanup` when the conversion ends, however it ends. */
  defer(cleanup: () => void | Promise<void>): void;
}

/** Bytes between the input's partition table and its first partition, kept for the output. */
export interface BootGap {
  file: string;
  offset: number;
  bytes: number;
}

/** A file of board.raw_files, read: written into the disk image at `offset`, before the first partition. */
export interface BoardRawFile {
  /** As the configuration names it: uboot:<name>, or its path. */
  readonly name: string;
  /** Where it was read from, for the log, the summary and the results. */
  readonly origin: string;
  readonly offset: number;
  readonly data: Buffer;
  readonly sha256: string;
}

/** The input, taken apart: its boot and root filesystems as standalone images, and what they hold. */
export interface Extracted {
  readonly files: {
    /** The boot filesystem (FAT) image; created when the input had none. */
    readonly boot: string;
    /** The root filesystem (ext2/3/4) image, edited in place and packaged as the Artifact payload. */
    readonly rootfs: string;
    readonly bootGap?: BootGap;
  };
  /** How the input file was compressed. */
  readonly compression: Compression;
  /** The input's partition table (its identities are not the fleet's: they are never kept). */
  readonly table: {
    readonly scheme: 'dos' | 'gpt';
  };
  /** The input file's checksum; a raw input's is computed alongside the conversion. */
  readonly sha256: Promise<string>;
  /** Partition numbers the boot and root filesystems came from (no boot number: it was created). */
  readonly bootPartition?: number;
  readonly rootPartition: number;
  /** Size of the boot filesystem: the output's boot partition grows to hold it. */
  readonly bootBytes: number;
  /** Editors of the two filesystems, recording every change (for the plan and the SBOM). */
  readonly rootfs: RecordingEditor;
  readonly boot: RecordingEditor;
  readonly facts: ImageFacts;
  /** The board's raw files (board.raw_files), read from the U-Boot source or the host; absent when it has none. */
  readonly rawFiles?: readonly BoardRawFile[];
}

/** Where each output goes. */
export interface OutputNames {
  /** <output dir>/<input name>-<device types>-mender, or image.name. */
  readonly base: string;
  /** The disk image as written (.img, or .img.gz/.xz/.zst when compressed). */
  readonly image: string;
  /** The raw disk image assembled first (the output itself when not compressed). */
  readonly rawImage: string;
  readonly rootfs: string;
  readonly artifact: string;
  readonly testsConfig: string;
  readonly results: string;
  readonly bmap?: string;
  /** The software bills of materials asked for (artifact.sbom), by format. */
  readonly sbom: readonly { format: SbomFormat; path: string }[];
}

/** What the conversion makes of this input, decided once, before anything is changed (stages/target.ts). */
export interface Target {
  readonly deviceTypes: readonly string[];
  readonly bootMountpoint: string;
  /** Device names and identities; `naming.scheme` is the output's partition table. */
  readonly naming: DeviceNaming;
  /** The fleet's identities (stable across releases), including the data filesystem's. */
  readonly identities: Identities;
  readonly layout: Layout;
  readonly imageCompression: Compression;
  readonly outputs: OutputNames;
  readonly bootloader: ChosenBootloader;
  /** The board's raw files, checked to lie before the first partition, clear of the table, the environment copies and each other. */
  readonly rawFiles: readonly BoardRawFile[];
}

/** A bootloader integration with its decisions for this image made (integrations/integration.ts). */
export interface ChosenBootloader {
  readonly integration: BootloaderIntegration;
  apply(input: ModifyInput): Promise<BootloaderResult>;
}

/** What the modify stage's steps and integrations work on. */
export interface ModifyInput {
  readonly env: RunEnv;
  readonly extracted: Extracted;
  readonly target: Target;
}

/** Bytes written into the disk image outside every partition (a raw U-Boot environment). */
export interface RawWrite {
  offset: number;
  data: Buffer;
  what: string;
}

export interface BootloaderResult {
  readonly rawWrites: readonly RawWrite[];
}

export interface InstalledPackageInfo {
  name: string;
  version: string;
  architecture: string;
  /** Where it came from: its URL, or file:<path> for a local .deb. */
  from: string;
}

/** What the modify stage leaves for packaging, besides the edited filesystems. */
export interface Modified {
  /** The data partition's filesystem image (ext4), /data moved into it. */
  readonly dataFile: string;
  /** Packages the conversion installed into the root filesystem. */
  readonly packages: readonly InstalledPackageInfo[];
  /** The Mender client was asked for and is in the image. */
  readonly clientInstalled: boolean;
  readonly rawWrites: readonly RawWrite[];
}

/** What the package stage wrote. */
export interface Outputs {
  readonly files: readonly OutputFile[];
  /** Size of the root filesystem image (also the Artifact payload) and its sha256. */
  readonly rootfsBytes: number;
  readonly rootfsSha256: string;
}
