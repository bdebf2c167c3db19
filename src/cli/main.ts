import fs from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { registerArtifactCommands } from './artifact.js';
import { registerSbomCommand } from './sbom.js';
import { registerBootCommand } from './boot.js';
import { KNOB_KEYS, KNOBS, type Knob, type KnobKey } from '../config/knobs.js';
import { isUserError, UserError } from '../util/errors.js';
import { PACKAGE_ROOT } from '../config/package-root.js';

const pkg = JSON.parse(fs.readFileSync(`${PACKAGE_ROOT}/package.json`, 'utf8')) as { version: string };
const collect = (value: string, previous: string[]) => [...previous, value];

let debug = process.argv.includes('--debug');

/** The knobs that are also flags (artifact name, overlays), from the knob table. */
const KNOB_FLAGS = KNOB_KEYS.flatMap((key) => {
  const knob = KNOBS[key] as Knob;
  if (!knob.flag) return [];
  const long = /--[a-z-]+/.exec(knob.flag.syntax)![0];
  // commander's name for the option's value: --artifact-name → artifactName.
  const option = long.slice(2).replace(/-([a-z])/g, (_, letter: string) => letter.toUpperCase());
  return [{ key, knob, syntax: knob.flag.syntax, doc: knob.flag.doc, long, option }];
});

function addKnobFlags(command: Command): Command {
  for (const flag of KNOB_FLAGS) {
    if (flag.knob.type === 'list') command.option(flag.syntax, flag.doc, collect, []);
    else command.option(flag.syntax, flag.doc);
  }
  return command;
}

/** The flags given, as a configuration layer; path lists are taken relative to the working directory and must exist. */
function knobFlags(options: Record<string, unknown>): Partial<Record<KnobKey, { raw: unknown; flag: string }>> {
  const flags: Partial<Record<KnobKey, { raw: unknown; flag: string }>> = {};
  for (const { key, knob, long, option } of KNOB_FLAGS) {
    const value = options[option];
    if (value === undefined || (Array.isArray(value) && value.length === 0)) continue;
    if (knob.type === 'list' && knob.paths) {
      for (const dir of value as string[]) {
        if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
          throw new UserError(`The ${long.slice(2)} directory ${dir} does not exist.`, { hint: `Pass an existing directory with ${long}.` });
        }
      }
      flags[key] = { raw: (value as string[]).map((dir) => fs.realpathSync.native(dir)), flag: long };
    } else {
      flags[key] = { raw: value, flag: long };
    }
  }
  return flags;
}

/** The options every command that reads an image through the conversion takes. */
function addConversionOptions(command: Command, what: { outputs: string }): Command {
  command
    .requiredOption('-d, --disk-image <path>', 'golden disk image: .img, .img.gz, .img.xz, .img.zst or .zip')
    .option('-c, --config <file>', 'configuration file (YAML or upstream style); repeat to layer, later wins', collect, []);
  return addKnobFlags(command)
    .option('--output-dir <dir>', what.outputs, 'deploy')
    .option('--work-dir <dir>', 'scratch directory', 'work')
    .option('--cache-dir <dir>', 'downloads kept between runs (default: $MENDER_CONVERT_CACHE_DIR, else <work-dir>/cache)');
}

function convertOptions(options: Record<string, unknown>) {
  return {
    diskImage: options.diskImage as string,
    configFiles: options.config as string[],
    flags: knobFlags(options),
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

  addConversionOptions(program.command('convert', { isDefault: true }).description('convert a disk image (the default command)'), { outputs: 'where outputs are written' })
    .option('--keep-work', 'keep the run directory under the work directory for inspection')
    .option('--dry-run', 'show what the conversion would do, write no outputs (same as the plan command)')
    .option('--debug', 'show stack traces and full command output on errors')
    .action(async (options) => {
      const { convert } = await import('../pipeline/convert.js');
      await convert({ ...convertOptions(options), dryRun: Boolean(options.dryRun) });
    });

  addConversionOptions(
    program.command('plan').description('show everything a conversion would do (layout, file changes, packages, outputs) without writing outputs'),
    { outputs: 'where outputs would be written' },
  )
    .option('--json', 'print the plan as JSON')
    .action(async (options) => {
      const { convert } = await import('../pipeline/convert.js');
      await convert({ ...convertOptions(options), dryRun: true, json: Boolean(options.json) });
    });

  addKnobFlags(
    program
      .command('config')
      .description('show the effective configuration')
      .addOption(new Option('--print', 'print every setting with where its value came from').default(true))
      .option('--migrate <file>', 'print the YAML equivalent of an upstream mender-convert config file')
      .option('-c, --config <file>', 'configuration file (YAML); repeat to layer', collect, []),
  ).action(async (options) => {
    const { renderEffective, renderMigration } = await import('../config/render.js');
    if (options.migrate) {
      const { readLegacyConfig } = await import('../config/legacy.js');
      const result = readLegacyConfig(options.migrate);
      process.stdout.write(renderMigration(options.migrate, result));
      if (result.problems.length > 0) process.exitCode = 1;
      return;
    }
    const { loadConfig } = await import('../config/load.js');
    process.stdout.write(renderEffective(loadConfig({ configFiles: options.config, flags: knobFlags(options) })));
  });

  program
    .command('inspect')
    .description('show what a disk image or Mender Artifact holds (partitions, OS, Mender layout)')
    .argument('<file>', 'disk image (raw or compressed) or .mender Artifact')
    .option('--json', 'print JSON for CI')
    .option('-k, --key <file>', 'public key to verify an Artifact signature with')
    .action(async (file: string, options: { json?: boolean; key?: string }) => {
      const { describeReport, inspect } = await import('../inspect/inspect.js');
      const report = await inspect(file, { publicKey: options.key });
      process.stdout.write(options.json ? `${JSON.stringify(report, null, 2)}\n` : describeReport(report));
    });

  registerArtifactCommands(program);
  registerSbomCommand(program);
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
