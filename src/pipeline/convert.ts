import { setMaxListeners } from 'node:events';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { KnobKey } from '../config/knobs.js';
import { loadConfig } from '../config/load.js';
import { epochFrom } from '../util/epoch.js';
import { UserError } from '../util/errors.js';
import { setCancelSignal, setCommandLogger } from '../util/exec.js';
import { FileLogger } from '../util/log.js';
import { OutputSet } from './outputs.js';
import { printSummary } from './report/summary.js';
import { writeResults } from './report/results.js';
import { runStage, StageFailure, type RunOptions } from './runner.js';
import { conversionTools, preflight } from './preflight.js';
import { extractStage } from './stages/extract.js';
import { modifyStage } from './stages/modify.js';
import { packageStage } from './stages/package.js';
import { buildPlan, describePlan, planStage } from './stages/plan.js';
import { decideTarget } from './stages/target.js';
import type { RunEnv } from './types.js';
import { KEPT_RUN_MARKER, lockWorkDir, makeRunDir } from './work-dir.js';
import { requireTools } from '../util/tools.js';
import { makeDirectory } from '../util/directories.js';

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

/** The whole conversion: configuration, the stages, the summary, and cleanup on every exit. */
export async function convert(options: ConvertOptions): Promise<void> {
  const processEnv = options.env ?? process.env;
  const started = Date.now();
  const { config, sources } = loadConfig({ configFiles: options.configFiles, env: processEnv, flags: options.flags });
  if (!config['artifact.name']) {
    throw new UserError('No artifact name is set.', {
      hint: 'Pass --artifact-name <name>, set MENDER_ARTIFACT_NAME, or set artifact.name in a config file.',
    });
  }
  const workDir = path.resolve(options.workDir);
  await makeDirectory(workDir, 'The work directory (--work-dir)');
  // Missing tools are named all at once before the lock, which needs one of them (flock); the
  // input's decompressor is added in preflight, once the input's format is read.
  requireTools(conversionTools(config, 'raw'));
  const releaseLock = await lockWorkDir(workDir);
  try {
    const outputDir = path.resolve(options.outputDir);
    const runDir = await makeRunDir(workDir, outputDir);
    // Every staging directory of the run (ours and the tools') is made in the run directory,
    // which is removed on every exit: nothing with image files or secrets stays in /tmp.
    const previousTmpdir = process.env.TMPDIR;
    process.env.TMPDIR = path.join(runDir, 'tmp');
    await fs.mkdir(process.env.TMPDIR, { mode: 0o700 });
    const logPath = path.join(workDir, 'convert.log');
    // Created anew, never opened through whatever is at that name (a symlink would be followed
    // and its target truncated).
    await fs.rm(logPath, { force: true });
    await fs.writeFile(logPath, '', { mode: 0o600, flag: 'wx' });
    const logger = new FileLogger(logPath);
    const cleanups: (() => void | Promise<void>)[] = [];
    const env: RunEnv = {
      config,
      sources,
      inputPath: path.resolve(options.diskImage),
      outputDir,
      runDir,
      cacheDir: path.resolve(options.cacheDir ?? processEnv.MENDER_CONVERT_CACHE_DIR ?? path.join(workDir, 'cache')),
      logger,
      epoch: epochFrom(processEnv),
      dryRun: Boolean(options.dryRun),
      notes: [],
      outputs: new OutputSet(outputDir, path.basename(runDir)),
      durations: [],
      defer: (cleanup) => cleanups.push(cleanup),
    };
    const abort = interruptible(env);
    try {
      await conversion(env, options, {
        signal: abort.signal,
        interactive: Boolean(process.stdout.isTTY) && !processEnv.CI && !options.json,
        quiet: Boolean(options.json),
      }, started);
    } catch (error) {
      await env.outputs.discard();
      if (abort.signal.aborted) {
        const where = error instanceof StageFailure ? ` during "${error.step}"` : '';
        throw new UserError(`Interrupted by ${abort.signal.reason}${where}; no output was written.`, {
          hint: options.keepWork ? `The run directory ${runDir} was kept.` : undefined,
        });
      }
      throw error instanceof StageFailure ? error.original : error;
    } finally {
      abort.release();
      for (const cleanup of cleanups) await cleanup();
      if (options.keepWork) await fs.writeFile(path.join(runDir, KEPT_RUN_MARKER), '');
      else await fs.rm(runDir, { recursive: true, force: true });
      logger.info(`finished after ${((Date.now() - started) / 1000).toFixed(1)} s`);
      logger.close();
      if (previousTmpdir === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = previousTmpdir;
    }
  } finally {
    await releaseLock();
  }
}

/** The story of a conversion: check, extract, decide, modify, package (or plan), report. */
async function conversion(env: RunEnv, options: ConvertOptions, run: RunOptions, started: number): Promise<void> {
  await configureTools(env);
  const hooks = await preflight(env);
  const extracted = await runStage(env, extractStage, undefined, run);
  const target = decideTarget(env, extracted);
  const modified = await runStage(env, modifyStage, { env, extracted, target, hooks }, run);
  if (options.dryRun) {
    const rootfsBytes = await runStage(env, planStage, { env, extracted, target, hooks, modified }, run);
    const plan = buildPlan(env, extracted, target, modified, rootfsBytes);
    process.stdout.write(options.json ? `${JSON.stringify(plan, null, 2)}\n` : describePlan(env, plan, target, rootfsBytes));
    return;
  }
  const outputs = await runStage(env, packageStage, { env, extracted, target, hooks, modified }, run);
  await writeResults({ env, extracted, target, modified, outputs, totalSeconds: (Date.now() - started) / 1000 });
  const results = { kind: 'results' as const, path: target.outputs.results, bytes: (await fs.stat(target.outputs.results)).size };
  printSummary(env, extracted, target, { ...outputs, files: [...outputs.files, results] }, (Date.now() - started) / 1000);
}

/**
 * SIGINT and SIGTERM abort every running tool and step. The handlers stay subscribed for the whole
 * run: a second signal (an impatient ^C) must not kill the process before it has cleaned up and
 * said where it stopped.
 */
function interruptible(env: RunEnv): { signal: AbortSignal; release(): void } {
  const abort = new AbortController();
  // Every running tool listens to this one signal.
  setMaxListeners(0, abort.signal);
  const onSignal = (signal: NodeJS.Signals) => {
    env.logger.warn(`received ${signal}`);
    if (!abort.signal.aborted) abort.abort(signal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  setCancelSignal(abort.signal);
  return {
    signal: abort.signal,
    release() {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      setCancelSignal(undefined);
    },
  };
}

/** The tools run with the conversion's log and clock: reproducible filesystems and timestamps. */
async function configureTools(env: RunEnv): Promise<void> {
  setCommandLogger(env.logger);
  // Every e2fsprogs tool stamps superblocks with this time instead of now. e2fsck must then not
  // judge the image's own timestamps against that clock.
  process.env.E2FSPROGS_FAKE_TIME = String(env.epoch);
  // mtools (FAT timestamps) and other tools that honour it.
  process.env.SOURCE_DATE_EPOCH = String(env.epoch);
  process.env.E2FSCK_CONFIG = path.join(env.runDir, 'e2fsck.conf');
  await fs.writeFile(process.env.E2FSCK_CONFIG, '[options]\n\tbroken_system_clock = 1\n', { mode: 0o600 });
  env.logger.info(`mender-convert: ${env.inputPath} → ${env.outputDir} (run directory ${env.runDir})`);
}
