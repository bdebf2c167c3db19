import type { Config } from '../config/knobs.js';
import { detectFormat, type InputFormat } from '../disk/input.js';
import { COMPRESSOR_TOOL } from '../util/compression.js';
import { requireTools } from '../util/tools.js';
import { configuredHooks, type Hooks } from './hooks.js';
import { verifyBoardRawFiles } from './integrations/board-files.js';
import { clientIntegration } from './integrations/client/index.js';
import { BOOTLOADERS } from './integrations/index.js';
import { preflight as extractPreflight } from './stages/extract.js';
import { preflight as modifyPreflight } from './stages/modify.js';
import { preflight as packagePreflight } from './stages/package.js';
import type { RunEnv } from './types.js';

/** Tools every conversion runs: flock for the work directory's lock, e2fsprogs and xfsprogs for the root filesystem, sfdisk, mtools and dosfstools for the boot partition. */
const CONVERSION_TOOLS = ['flock', 'debugfs', 'mke2fs', 'e2fsck', 'resize2fs', 'dumpe2fs', 'tune2fs', 'xfs_io', 'sfdisk', 'mkfs.vfat', 'fsck.vfat', 'mcopy', 'mdir', 'mmd', 'mdel', 'mdeltree', 'minfo'];
const DECOMPRESSOR: Record<InputFormat, string[]> = { raw: [], gzip: ['gzip'], xz: ['xz'], zstd: ['zstd'], zip: ['unzip'] };

/**
 * Every host tool a conversion with this config runs on an input of this format (the README's
 * apt-get line and scripts/host-packages/conversion.txt are their Debian packages).
 */
export function conversionTools(config: Readonly<Config>, inputFormat: InputFormat): string[] {
  const outputs = [COMPRESSOR_TOOL[config['artifact.compression']], config['image.compression'] === 'auto' ? undefined : COMPRESSOR_TOOL[config['image.compression']]];
  return [
    ...CONVERSION_TOOLS,
    ...DECOMPRESSOR[inputFormat],
    ...clientIntegration.tools(config),
    ...BOOTLOADERS[config['bootloader.type']].tools(config),
    ...(config['image.bmap'] ? ['bmaptool'] : []),
    ...outputs.filter((tool): tool is string => tool !== undefined),
  ];
}

/**
 * Every check that needs no heavy I/O, before anything is extracted: tools (one message for all
 * that are missing), the input, space, overlays, keys, each integration's own settings and sources,
 * and the hooks.
 */
export async function preflight(env: RunEnv): Promise<Hooks> {
  const bootloader = BOOTLOADERS[env.config['bootloader.type']];
  await extractPreflight(env);
  requireTools(conversionTools(env.config, await detectFormat(env.inputPath)));
  await modifyPreflight(env);
  await packagePreflight(env);
  await clientIntegration.verify(env);
  await bootloader.verify(env);
  await verifyBoardRawFiles(env);
  return configuredHooks(env);
}
