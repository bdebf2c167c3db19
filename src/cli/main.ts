import fs from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { loadConfig } from '../config/load.js';
import { readLegacyConfig } from '../config/legacy.js';
import { registerArtifactCommands } from './artifact.js';
import { registerBootCommand } from './boot.js';
import { describeReport, inspect } from '../inspect/inspect.js';
import { renderEffective, renderMigration } from '../config/render.js';
import type { KnobKey } from '../config/knobs.js';
import { convert } from '../pipeline/convert.js';
import { isUserError, UserError } from '../util/errors.js';
import { PACKAGE_ROOT } from '../config/load.js';

const pkg = JSON.parse(fs.readFileSync(`${PACKAGE_ROOT}/package.json`, 'utf8')) as { version: string };
const collect = (value: string, previous: string[]) => [...previous, value];

let debug = process.argv.includes('--debug');

function knobFlags(options: { artifactName?: string; overlay?: string[] }) {
  const flags: Partial<Record<KnobKey, { raw: unknown; flag: string }>> = {};
  if (options.artifactName !== undefined) flags['artifact.name'] = { raw: options.artifactName, flag: '--artifact-name' };
  if (options.overlay?.length) flags.overlays = { raw: options.overlay.map((dir) => fs.realpathSync.native(dir)), flag: '--overlay' };
  return flags;
}

function checkOverlays(dirs: string[] | undefined): void {
  for (const dir of dirs ?? []) {
    if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
      throw new UserError(`The overlay directory ${dir} does not exist.`, { hint: 'Pass an existing directory with --overlay.' });
    }
  }
}

function convertOptions(options: Record<string, unknown>) {
  return {
    diskImage: options.diskImage as string,
    configFiles: options.config as string[],
    flags: knobFlags(options as { artifactName?: string; overlay?: string[] }),
    outputDir: options.outputDir as string,
    workDir: options.workDir as string,
    cacheDir: options.cacheDir as string | undefined,
    keepWork: Boolean(options.keepWork),
    debug,
  };
}

export function buildProgram(): Command {
  const program = new Command('mender-convert')
    .description('Convert a golden Debian-family disk image into a Mender A/B image, without root.')
    .version(pkg.version, '-v, --version')
    .option('--debug', 'show stack traces and full command output on errors')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();

  program
    .command('convert', { isDefault: true })
    .description('convert a disk image (the default command)')
    .requiredOption('-d, --disk-image <path>', 'golden disk image: .img, .img.gz, .img.xz, .img.zst or .zip')
    .option('-c, --config <file>', 'configuration file (YAML); repeat to layer, later wins', collect, [])
    .option('-o, --overlay <dir>', 'directory copied into the root filesystem; repeatable', collect, [])
    .option('-n, --artifact-name <name>', 'artifact name (also MENDER_ARTIFACT_NAME)')
    .option('--output-dir <dir>', 'where outputs are written', 'deploy')
    .option('--work-dir <dir>', 'scratch directory', 'work')
    .option('--cache-dir <dir>', 'downloads kept between runs (default: $MENDER_CONVERT_CACHE_DIR, else <work-dir>/cache)')
    .option('--keep-work', 'keep the run directory under the work directory for inspection')
    .option('--dry-run', 'show what the conversion would do, write no outputs (same as the plan command)')
    .option('--debug', 'show stack traces and full command output on errors')
    .action(async (options) => {
      checkOverlays(options.overlay);
      await convert({ ...convertOptions(options), dryRun: Boolean(options.dryRun) });
    });

  program
    .command('plan')
    .description('show everything a conversion would do (layout, file changes, packages, outputs) without writing outputs')
    .requiredOption('-d, --disk-image <path>', 'golden disk image')
    .option('-c, --config <file>', 'configuration file (YAML or upstream style); repeatable', collect, [])
    .option('-o, --overlay <dir>', 'overlay directory; repeatable', collect, [])
    .option('-n, --artifact-name <name>', 'artifact name (also MENDER_ARTIFACT_NAME)')
    .option('--output-dir <dir>', 'where outputs would be written', 'deploy')
    .option('--work-dir <dir>', 'scratch directory', 'work')
    .option('--cache-dir <dir>', 'downloads kept between runs (default: $MENDER_CONVERT_CACHE_DIR, else <work-dir>/cache)')
    .option('--json', 'print the plan as JSON')
    .action(async (options) => {
      checkOverlays(options.overlay);
      await convert({ ...convertOptions(options), dryRun: true, json: Boolean(options.json) });
    });

  program
    .command('config')
    .description('show the effective configuration')
    .addOption(new Option('--print', 'print every setting with where its value came from').default(true))
    .option('--migrate <file>', 'print the YAML equivalent of an upstream mender-convert config file')
    .option('-c, --config <file>', 'configuration file (YAML); repeat to layer', collect, [])
    .option('-n, --artifact-name <name>', 'artifact name')
    .option('-o, --overlay <dir>', 'overlay directory; repeatable', collect, [])
    .action((options) => {
      if (options.migrate) {
        const result = readLegacyConfig(options.migrate);
        process.stdout.write(renderMigration(options.migrate, result));
        if (result.problems.length > 0) process.exitCode = 1;
        return;
      }
      checkOverlays(options.overlay);
      process.stdout.write(renderEffective(loadConfig({ configFiles: options.config, flags: knobFlags(options) })));
    });

  program
    .command('inspect')
    .description('show what a disk image or Mender Artifact holds (partitions, OS, Mender layout)')
    .argument('<file>', 'disk image (raw or compressed) or .mender Artifact')
    .option('--json', 'print JSON for CI')
    .option('-k, --key <file>', 'public key to verify an Artifact signature with')
    .action(async (file: string, options: { json?: boolean; key?: string }) => {
      const report = await inspect(file, { publicKey: options.key });
      process.stdout.write(options.json ? `${JSON.stringify(report, null, 2)}\n` : describeReport(report));
    });

  registerArtifactCommands(program);
  registerBootCommand(program);
  return program;
}

function printError(error: unknown): number {
  if (error instanceof CommanderError) {
    // commander already printed its message (usage errors, --help, --version)
    return error.exitCode;
  }
  if (isUserError(error)) {
    process.stderr.write(`error: ${error.message}\n`);
    if (error.detail) process.stderr.write(`${error.detail.replace(/^/gm, '  ')}\n`);
    if (error.hint) process.stderr.write(`hint: ${error.hint}\n`);
    if (debug && error.stack) process.stderr.write(`${error.stack}\n`);
    return 1;
  }
  const err = error as Error;
  process.stderr.write(`error: internal error: ${err?.message ?? String(error)}\n`);
  if (debug) process.stderr.write(`${err?.stack ?? ''}\n`);
  else process.stderr.write('hint: run again with --debug for details, and please report this as a bug.\n');
  return 70;
}

async function main(): Promise<void> {
  debug = process.argv.includes('--debug');
  try {
    await buildProgram().parseAsync(process.argv);
  } catch (error) {
    process.exitCode = printError(error);
  }
}

await main();
