import { Listr, ListrLogger, type ListrTask } from 'listr2';
import { UserError } from '../util/errors.js';
import type { RunEnv } from './types.js';

/**
 * Stages as lists of steps, each a line of progress (listr2): a step receives the value the step
 * before it returned, so a stage is a typed chain from its input to its result, declared up front.
 */

export type Report = (status: string) => void;

interface StepDef {
  title: string;
  when?: (input: never, env: RunEnv) => boolean;
  run(env: RunEnv, value: never, report: Report): Promise<unknown>;
  /** What becomes of the value: replaced by the step's result (then), kept (also), or joined by its fields (maybe). */
  kind: 'replace' | 'keep' | 'merge';
}

export class Stage<In, Out> {
  private constructor(readonly title: string, readonly steps: readonly StepDef[]) {}

  static start<In>(title: string): Stage<In, In> {
    return new Stage<In, In>(title, []);
  }

  /** A step whose result is what the next step receives. */
  then<Next>(title: string, run: (env: RunEnv, value: Out, report: Report) => Promise<Next>): Stage<In, Next> {
    return new Stage<In, Next>(this.title, [...this.steps, { title, run: run as StepDef['run'], kind: 'replace' }]);
  }

  /** A step that only acts (its value passes on unchanged); skipped unless `when` holds for the stage's input (and the run's configuration). */
  also(title: string, run: (env: RunEnv, value: Out, report: Report) => Promise<void>, when?: (input: In, env: RunEnv) => boolean): Stage<In, Out> {
    return new Stage<In, Out>(this.title, [...this.steps, { title, run: run as StepDef['run'], when: when as StepDef['when'], kind: 'keep' }]);
  }

  /** A step run only when `when` holds for the stage's input (and the run's configuration); the fields it returns join the value (absent when skipped). */
  maybe<Extra extends object>(title: string, run: (env: RunEnv, value: Out, report: Report) => Promise<Extra>, when: (input: In, env: RunEnv) => boolean): Stage<In, Out & Partial<Extra>> {
    return new Stage<In, Out & Partial<Extra>>(this.title, [...this.steps, { title, run: run as StepDef['run'], when: when as StepDef['when'], kind: 'merge' }]);
  }
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

/** Run a stage's steps in order, each given the previous one's result; resolves with the last one's. */
export async function runStage<In, Out>(env: RunEnv, stage: Stage<In, Out>, input: In, options: RunOptions): Promise<Out> {
  let value: unknown = input;
  const tasks: ListrTask[] = stage.steps.map((step) => ({
    title: step.title,
    enabled: () => step.when?.(input as never, env) ?? true,
    task: async (_ctx, task) => {
      if (options.signal?.aborted) throw new StageFailure(step.title, new UserError('Interrupted.'));
      const started = Date.now();
      env.logger.info(`step: ${step.title}`);
      // Without a terminal every status is a line of output: at most one a second.
      let shown = 0;
      const report: Report = (status) => {
        const now = Date.now();
        if (!options.interactive && now - shown < 1000) return;
        shown = now;
        task.output = status;
      };
      try {
        const result = await step.run(env, value as never, report);
        if (step.kind === 'replace') value = result;
        else if (step.kind === 'merge') value = { ...(value as object), ...(result as object) };
      } catch (error) {
        env.logger.warn(`step failed: ${step.title}: ${(error as Error)?.message ?? error}`);
        throw new StageFailure(step.title, error);
      }
      const seconds = (Date.now() - started) / 1000;
      env.durations.push({ step: step.title, seconds });
      env.logger.info(`step done: ${step.title} (${seconds.toFixed(1)} s)`);
    },
  }));
  // Progress goes to stdout; standard error carries only the final error message.
  const logger = new ListrLogger({ useIcons: true, toStderr: [] });
  const listr = new Listr([{ title: stage.title, task: (_ctx, task) => task.newListr(tasks, { concurrent: false, exitOnError: true }) }], {
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
  return value as Out;
}
