import { type Command, Option } from 'commander';

/**
 * `mender-convert sbom FILE`: the SBOM of an image made elsewhere (src/cli/sbom-file.ts), loaded
 * when the command runs so that other commands start without it.
 */
export function registerSbomCommand(program: Command): void {
  program
    .command('sbom')
    .description('write the software bill of materials (SPDX 2.3, CycloneDX 1.6) of a disk image, root filesystem image or rootfs-image Artifact')
    .argument('<file>', 'disk image (raw or compressed), ext2/3/4 root filesystem image, or .mender Artifact')
    .addOption(new Option('--format <format>', 'which documents to write').choices(['spdx', 'cyclonedx', 'both']).default('both'))
    .option('-o, --output-dir <dir>', 'where to write <name>.spdx.json and <name>.cdx.json', '.')
    .action(async (file: string, options: { format: 'spdx' | 'cyclonedx' | 'both'; outputDir: string }) => {
      const [{ writeSbomOf }, { sbomFormats }, { epochFrom }] = await Promise.all([import('./sbom-file.js'), import('../sbom/index.js'), import('../util/epoch.js')]);
      const written = await writeSbomOf(file, { formats: sbomFormats(options.format), outputDir: options.outputDir, epoch: epochFrom(process.env) });
      for (const target of written) process.stdout.write(`Wrote ${target}\n`);
    });
}
