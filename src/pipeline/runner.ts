import fs from 'node:fs/promises';
import path from 'node:path';
import { Listr, ListrLogger, type ListrTask } from 'listr2';
import { UserError } from '../util/errors.js';
import type { ConversionContext, Hook, HookPoint } from './context.js';

/** One unit of work shown as a line of progress. */
export interface Step {
  title: string;
  /** Skip the step for this conversion (e.g. no compression configured). */
  enabled?(ctx: ConversionContext): boolean;
  run(ctx: ConversionContext, report: (status: string) => void): Promise<void>;
}

/** A pipeline stage: cheap checks that run for every stage before any heavy I/O, then its steps. */
export interface Stage {
  title: string;
  preflight?(ctx: ConversionContext): Promise<void>;
  steps: Step[];
}

export interface RunOptions {
  signal?: AbortSignal;
  /** listr2 renderer: animated on a terminal, one line per event otherwise. */
  interactive: boolean;
  /** No progress output at all (machine-readable output follows). */
  quiet?: boolean;
}

/** Where the run stopped, for the interruption message. */
export class StageFailure extends Error {
  constructor(readonly step: string, readonly original: unknown) {
    super(`${step}: ${(original as Error)?.message ?? original}`);
  }
}

export async function runHooks(ctx: ConversionContext, point: HookPoint, report?: (status: string) => void): Promise<void> {
  for (const hook of ctx.hooks[point]) {
    report?.(`${point}: ${hook.name}`);
    ctx.logger.info(`hook ${point}: ${hook.name}`);
    await runHook(ctx, point, hook);
  }
}

async function runHook(ctx: ConversionContext, point: HookPoint, hook: Hook): Promise<void> {
  try {
    await hook.run(ctx);
  } catch (error) {
    if (error instanceof UserError) throw error;
    throw new UserError(`The ${point} hook '${hook.name}' failed: ${(error as Error).message ?? error}`, { cause: error });
  }
}

export async function runStages(ctx: ConversionContext, stages: Stage[], options: RunOptions): Promise<void> {
  for (const stage of stages) await stage.preflight?.(ctx);
  const tasks: ListrTask[] = stages.map((stage) => ({
    title: stage.title,
    task: (_, task) =>
      task.newListr(
        stage.steps.map((step) => ({
          title: step.title,
          enabled: () => step.enabled?.(ctx) ?? true,
          task: async (_c, sub) => {
            if (options.signal?.aborted) throw new StageFailure(step.title, new UserError('Interrupted.'));
            const started = Date.now();
            ctx.logger.info(`step: ${step.title}`);
            // Without a terminal every status is a line of output: at most one a second.
            let shown = 0;
            const report = (status: string) => {
              const now = Date.now();
              if (!options.interactive && now - shown < 1000) return;
              shown = now;
              sub.output = status;
            };
            try {
              await step.run(ctx, report);
            } catch (error) {
              ctx.logger.warn(`step failed: ${step.title}: ${(error as Error)?.message ?? error}`);
              throw new StageFailure(step.title, error);
            }
            const seconds = (Date.now() - started) / 1000;
            ctx.durations.push({ step: step.title, seconds });
            ctx.logger.info(`step done: ${step.title} (${seconds.toFixed(1)} s)`);
          },
        })),
        { concurrent: false, exitOnError: true },
      ),
  }));
  // Progress goes to stdout; standard error carries only the final error message.
  const logger = new ListrLogger({ useIcons: true, toStderr: [] });
  const listr = new Listr(tasks, {
    concurrent: false,
    exitOnError: true,
    renderer: options.quiet ? 'silent' : options.interactive ? 'default' : 'simple',
    fallbackRenderer: 'simple',
    rendererOptions: { collapseSubtasks: false, showErrorMessage: false, logger },
    fallbackRendererOptions: { logger },
    collectErrors: false,
    // Interruptions are ours to handle (clean up, say where we stopped), not listr2's.
    registerSignalListeners: false,
  } as never);
  await listr.run();
}

/** Remove leftovers of a failed run: partial outputs in the output directory, the run directory. */
export async function removePartialOutputs(outputDir: string, marker: string): Promise<void> {
  const names = await fs.readdir(outputDir).catch(() => [] as string[]);
  await Promise.all(names.filter((name) => name.includes(marker)).map((name) => fs.rm(path.join(outputDir, name), { force: true })));
}
