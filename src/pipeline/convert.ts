import { setMaxListeners } from 'node:events';
import fs from 'node:fs/promises';
import path from 'node:path';
import { loadConfig } from '../config/load.js';
import type { KnobKey } from '../config/knobs.js';
import { setCancelSignal, setCommandLogger } from '../util/exec.js';
import { UserError } from '../util/errors.js';
import { FileLogger } from '../util/log.js';
import { emptyHooks, outputBaseName, type ConversionContext } from './context.js';
import { extractStage } from './extract.js';
import { registerConfiguredHooks } from './hooks.js';
import { grubIntegration } from './grub.js';
import { ubootIntegration } from './uboot.js';
import { modifyStage } from './modify.js';
import { packageStage, PARTIAL_MARKER } from './package.js';
import { removePartialOutputs, runStages, StageFailure } from './runner.js';
import { writeResults } from './results.js';
import { printSummary } from './summary.js';
import { buildPlan, describePlan, planStage } from './plan.js';

export interface ConvertOptions {
  diskImage: string;
  configFiles: string[];
  flags: Partial<Record<KnobKey, { raw: unknown; flag: string }>>;
  outputDir: string;
  workDir: string;
  /** Default: MENDER_CONVERT_CACHE_DIR, else <workDir>/cache. */
  cacheDir?: string;
  keepWork: boolean;
  debug: boolean;
  /** Stop before writing outputs and report what would be done (plan / --dry-run). */
  dryRun?: boolean;
  /** With dryRun: print the plan as JSON. */
  json?: boolean;
  env?: NodeJS.ProcessEnv;
}

/** SOURCE_DATE_EPOCH, else now: the time every timestamp of a run is taken from. */
export function epochFrom(env: NodeJS.ProcessEnv): number {
  const text = env.SOURCE_DATE_EPOCH;
  if (text === undefined) return Math.floor(Date.now() / 1000);
  if (!/^\d+$/.test(text)) throw new UserError(`SOURCE_DATE_EPOCH must be a number of seconds, not '${text}'.`);
  return Number(text);
}

/** The whole conversion: configuration, the three stages, the summary, and cleanup on every exit. */
export async function convert(options: ConvertOptions): Promise<ConversionContext> {
  const env = options.env ?? process.env;
  const started = Date.now();
  const { config, sources } = loadConfig({ configFiles: options.configFiles, env, flags: options.flags });
  if (!config['artifact.name']) {
    throw new UserError('No artifact name is set.', {
      hint: 'Pass --artifact-name <name>, set MENDER_ARTIFACT_NAME, or set artifact.name in a config file.',
    });
  }
  const inputPath = path.resolve(options.diskImage);
  const outputDir = path.resolve(options.outputDir);
  const workDir = path.resolve(options.workDir);
  await fs.mkdir(workDir, { recursive: true });
  const releaseLock = await lockWorkDir(workDir);
  try {
    return await convertLocked(options, env, started, config, sources, inputPath, outputDir, workDir);
  } finally {
    await releaseLock();
  }
}

/** One conversion at a time per work directory: a lock file holding the owner's PID. */
async function lockWorkDir(workDir: string): Promise<() => Promise<void>> {
  const lock = path.join(workDir, '.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await fs.writeFile(lock, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
      return () => fs.rm(lock, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = Number((await fs.readFile(lock, 'utf8').catch(() => '')).trim());
      let alive = false;
      try {
        process.kill(owner, 0);
        alive = owner > 0;
      } catch (probe) {
        alive = (probe as NodeJS.ErrnoException).code === 'EPERM';
      }
      if (alive) {
        throw new UserError(`Another conversion (process ${owner}) is using the work directory ${workDir}.`, {
          hint: 'Wait for it to finish, or give this one its own directory with --work-dir.',
        });
      }
      // The owner died without cleaning up: the lock is stale.
      await fs.rm(lock, { force: true });
    }
  }
  throw new UserError(`Cannot lock the work directory ${workDir}.`);
}

async function convertLocked(
  options: ConvertOptions,
  env: NodeJS.ProcessEnv,
  started: number,
  config: ConversionContext['config'],
  sources: ConversionContext['sources'],
  inputPath: string,
  outputDir: string,
  workDir: string,
): Promise<ConversionContext> {
  const runDir = await fs.mkdtemp(path.join(workDir, 'run-'));
  await fs.chmod(runDir, 0o700);
  const logPath = path.join(workDir, 'convert.log');
  await fs.writeFile(logPath, '', { mode: 0o600 });
  const logger = new FileLogger(logPath);
  setCommandLogger(logger);

  const abort = new AbortController();
  // Every running tool listens to this one signal.
  setMaxListeners(0, abort.signal);
  // Stay subscribed for the whole run: a second signal (an impatient ^C) must not kill the
  // process before it has cleaned up and said where it stopped.
  const onSignal = (signal: NodeJS.Signals) => {
    logger.warn(`received ${signal}`);
    if (!abort.signal.aborted) abort.abort(signal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  setCancelSignal(abort.signal);

  const ctx: ConversionContext = {
    config,
    sources,
    inputPath,
    outputDir,
    runDir,
    cacheDir: path.resolve(options.cacheDir ?? env.MENDER_CONVERT_CACHE_DIR ?? path.join(workDir, 'cache')),
    logger,
    hooks: emptyHooks(),
    notes: [],
    outputs: [],
    pendingOutputs: [],
    rawWrites: [],
    durations: [],
    installedPackages: [],
    epoch: epochFrom(env),
    dryRun: Boolean(options.dryRun),
  };
  // Every e2fsprogs tool stamps superblocks with this time instead of now: reproducible
  // filesystems. e2fsck must then not judge the image's own timestamps against that clock.
  process.env.E2FSPROGS_FAKE_TIME = String(ctx.epoch);
  // mtools (FAT timestamps) and other tools that honour it.
  process.env.SOURCE_DATE_EPOCH = String(ctx.epoch);
  process.env.E2FSCK_CONFIG = path.join(runDir, 'e2fsck.conf');
  await fs.writeFile(process.env.E2FSCK_CONFIG, '[options]\n\tbroken_system_clock = 1\n', { mode: 0o600 });
  logger.info(`mender-convert: ${inputPath} → ${outputDir} (run directory ${runDir})`);
  try {
    ctx.hooks.platform_modify.push(config['bootloader.type'] === 'grub' ? grubIntegration : ubootIntegration);
    await registerConfiguredHooks(ctx);
    await runStages(ctx, [extractStage, modifyStage, options.dryRun ? planStage : packageStage], {
      signal: abort.signal,
      interactive: Boolean(process.stdout.isTTY) && !env.CI && !options.json,
      quiet: Boolean(options.json),
    });
    if (options.dryRun) {
      const plan = buildPlan(ctx);
      process.stdout.write(options.json ? `${JSON.stringify(plan, null, 2)}\n` : describePlan(ctx, plan));
      return ctx;
    }
    const resultsFile = path.join(outputDir, `${outputBaseName(ctx)}.json`);
    await writeResults(ctx, (Date.now() - started) / 1000, resultsFile);
    ctx.outputs.push({ kind: 'results', path: resultsFile, bytes: (await fs.stat(resultsFile)).size });
    printSummary(ctx, (Date.now() - started) / 1000);
    return ctx;
  } catch (error) {
    await removePartialOutputs(outputDir, `${PARTIAL_MARKER}${path.basename(runDir)}`);
    if (abort.signal.aborted) {
      const where = error instanceof StageFailure ? ` during "${error.step}"` : '';
      throw new UserError(`Interrupted by ${abort.signal.reason}${where}; no output was written.`, {
        hint: options.keepWork ? `The run directory ${runDir} was kept.` : undefined,
      });
    }
    const original = error instanceof StageFailure ? error.original : error;
    if (original instanceof UserError) throw original;
    throw original;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    setCancelSignal(undefined);
    ctx.imageHash?.stop();
    if (!options.keepWork) await fs.rm(runDir, { recursive: true, force: true });
    logger.info(`finished after ${((Date.now() - started) / 1000).toFixed(1)} s`);
    logger.close();
  }
}
