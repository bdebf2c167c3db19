import { UserError } from './errors.js';

/** SOURCE_DATE_EPOCH, else now: the time every timestamp of a run is taken from. */
export function epochFrom(env: NodeJS.ProcessEnv): number {
  const text = env.SOURCE_DATE_EPOCH;
  if (text === undefined) return Math.floor(Date.now() / 1000);
  if (!/^\d+$/.test(text)) throw new UserError(`SOURCE_DATE_EPOCH must be a number of seconds, not '${text}'.`);
  return Number(text);
}
