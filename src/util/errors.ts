import { finalPathOf } from './atomic.js';

/**
 * A failure the user can act on: what went wrong and what to do about it.
 * The CLI prints `message` (and `hint`) without a stack trace unless --debug is given.
 */
export class UserError extends Error {
  readonly hint?: string;
  /** Extra detail (a command's output tail, say) shown under the message. */
  readonly detail?: string;

  constructor(message: string, options: { hint?: string; detail?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'UserError';
    this.hint = options.hint;
    this.detail = options.detail;
  }
}

export function isUserError(error: unknown): error is UserError {
  return error instanceof UserError;
}

/** The text of any thrown value, for messages that wrap it. */
export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Turn a failed write into the message a user can act on (a full disk, mostly; a file too large for its filesystem). */
export function writeFailure(error: unknown, written: string): unknown {
  // A user knows the output by its final name, not the partial one it is written under.
  const file = finalPathOf(written);
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new UserError(`No space left on the device while writing ${file}.`, {
      hint: 'Free some space, or write to a larger filesystem (--work-dir, --output-dir).',
      cause: error,
    });
  }
  if (code === 'EFBIG') {
    return new UserError(`${file} would be larger than the filesystem it is on allows for one file.`, {
      hint: 'Lower storage.total_size_mb, or write to a filesystem that holds larger files (--work-dir, --output-dir).',
      cause: error,
    });
  }
  return error;
}
