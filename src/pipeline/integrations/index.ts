import type { Config } from '../../config/knobs.js';
import type { ImageFacts } from '../../image/probe.js';
import type { ChosenBootloader } from '../types.js';
import { grubIntegration } from './grub/index.js';
import type { BootloaderIntegration } from './integration.js';
import { ubootIntegration } from './uboot/index.js';

/** The bootloader integrations, by bootloader.type. */

export const BOOTLOADERS: Readonly<Record<Config['bootloader.type'], BootloaderIntegration>> = {
  grub: grubIntegration,
  uboot: ubootIntegration,
};

/** The integration for bootloader.type, its decisions made for this image. */
export function chooseBootloader(config: Readonly<Config>, facts: ImageFacts): ChosenBootloader {
  const integration = BOOTLOADERS[config['bootloader.type']];
  const decision = integration.decide(config, facts);
  return { integration, apply: (input) => integration.apply(input, decision) };
}
