import type { Config } from '../../config/knobs.js';
import type { Region } from '../../disk/placement.js';
import type { ImageFacts } from '../../image/probe.js';
import type { Report } from '../runner.js';
import type { BootloaderResult, InstalledPackageInfo, ModifyInput, RunEnv } from '../types.js';

/**
 * Integrations add what a device needs (a bootloader, the Mender client) to the image. Each one
 * names the host tools it runs and checks its own settings and sources before anything is
 * extracted (preflight), then does its work in the modify stage.
 */
export interface Integration {
  /** Host tools its work runs, checked in preflight with all the others (one message for every missing one). */
  tools(config: Readonly<Config>): string[];
  /** Checks of its settings and sources, run before anything is extracted. */
  verify(env: RunEnv): Promise<void>;
}

/** One way of booting the active root filesystem (A or B), chosen by bootloader.type. */
export interface BootloaderIntegration<Decision = unknown> extends Integration {
  readonly type: Config['bootloader.type'];
  /** Shown as the step's progress and in the log. */
  readonly title: string;
  /** Where the boot partition is mounted when neither the configuration nor the image's fstab say. */
  readonly defaultBootMountpoint: string;
  /** Bytes kept free before the first partition, beyond its first alignment block. */
  reservedBytes(alignment: number): number;
  /** What it writes before the first partition as far as the configuration tells (U-Boot: its redundant environment copies); raw files must stay clear of it. */
  reservedRegions(config: Readonly<Config>): Region[];
  /** Debian packages the client install adds for it (the client's tools to reach its environment). */
  packages(config: Readonly<Config>): string[];
  /** What Mender's image acceptance tests read about it (deploy/<name>.cfg). */
  readonly testsConfig: { feature: string; imageType: string };
  /** Its decisions for the image, every `auto` setting of its own resolved (pure: reads nothing). */
  decide(config: Readonly<Config>, facts: ImageFacts): Decision;
  /** Installs it into the root filesystem and the boot partition. */
  apply(input: ModifyInput, decision: Decision): Promise<BootloaderResult>;
}

/** The Mender client (and the packages the configuration asks for) installed into the root filesystem. */
export interface ClientIntegration extends Integration {
  /** Installs the requested packages plus `extraPackages` (the bootloader's); what it installed. */
  apply(input: ModifyInput, extraPackages: readonly string[], report: Report): Promise<{ packages: InstalledPackageInfo[]; clientInstalled: boolean }>;
}
