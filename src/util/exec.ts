import { execa, type Options, type ResultPromise } from 'execa';
import { UserError } from './errors.js';
import { silentLogger, type Logger } from './log.js';
import { requireTool } from './tools.js';

/**
 * Every external tool runs through here: resolved to an absolute path (sbin included),
 * given an argument array (never a shell string), logged with its output, and turned into
 * a UserError showing the command line and the tail of its output when it fails.
 */

let commandLog: Logger = silentLogger;
let cancelSignal: AbortSignal | undefined;

/** Send every command line and its output to this logger (the conversion's convert.log). */
export function setCommandLogger(logger: Logger): void {
  commandLog = logger;
}

/** Abort every running and future command when this signal fires (SIGINT/SIGTERM handling). */
export function setCancelSignal(signal: AbortSignal | undefined): void {
  cancelSignal = signal;
}

/** For long loops in our own code (copies, hashing): stop promptly once the run is cancelled. */
export function throwIfCancelled(): void {
  if (cancelSignal?.aborted) throw new UserError('Interrupted.');
}

export interface RunOptions {
  /** Bytes or text written to the tool's standard input. */
  input?: string | Uint8Array;
  cwd?: string;
  env?: Record<string, string>;
  /** Exit codes that are not failures (e2fsck uses 1 for "errors corrected"). */
  okExitCodes?: readonly number[];
  /** What the failure message says was being done, e.g. "checking the root filesystem". */
  doing?: string;
  /** Do not log standard input/output (it may hold secrets or binary data). */
  quiet?: boolean;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

const TAIL_LINES = 15;

export function quoteArg(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

export function commandLine(tool: string, args: readonly string[]): string {
  return [tool, ...args].map(quoteArg).join(' ');
}

function tail(text: string): string {
  const lines = text.trimEnd().split('\n');
  return lines.slice(-TAIL_LINES).join('\n');
}

/** Run a tool to completion and capture its output as text. */
export async function run(tool: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const file = requireTool(tool);
  const line = commandLine(tool, args);
  commandLog.debug(`$ ${line}`);
  const result = await execa(file, args, {
    input: options.input,
    cwd: options.cwd,
    env: options.env ? { ...options.env } : undefined,
    reject: false,
    stripFinalNewline: false,
    cancelSignal,
    // Tools print localised, translated messages otherwise; we parse some of them.
    extendEnv: true,
    maxBuffer: 256 * 1024 * 1024,
  } as Options & { input?: string | Uint8Array });
  const stdout = String(result.stdout ?? '');
  const stderr = String(result.stderr ?? '');
  if (!options.quiet) {
    if (stdout.trim()) commandLog.debug(tail(stdout));
    if (stderr.trim()) commandLog.debug(tail(stderr));
  }
  if (result.isCanceled) throw new UserError(`Interrupted while running ${tool}.`);
  const exitCode = result.exitCode ?? -1;
  const ok = exitCode === 0 || (options.okExitCodes ?? []).includes(exitCode);
  if (!ok || result.failed && exitCode === 0) {
    const why = result.signal ? `was killed by ${result.signal}` : `exited with status ${exitCode}`;
    const doing = options.doing ? ` while ${options.doing}` : '';
    throw new UserError(`${tool} ${why}${doing}.`, {
      detail: `command: ${line}\n${tail([stdout, stderr].filter((s) => s.trim()).join('\n'))}`,
    });
  }
  return { stdout, stderr, exitCode };
}

/** Run a tool whose standard output is binary data (file contents), returned as bytes. */
export async function runForBytes(tool: string, args: readonly string[], options: RunOptions = {}): Promise<{ stdout: Buffer; stderr: string }> {
  const file = requireTool(tool);
  const line = commandLine(tool, args);
  commandLog.debug(`$ ${line}`);
  const result = await execa(file, args, { encoding: 'buffer', stripFinalNewline: false, reject: false, cancelSignal, env: options.env, maxBuffer: 1024 * 1024 * 1024 });
  const stderr = Buffer.from(result.stderr ?? []).toString();
  if (result.isCanceled) throw new UserError(`Interrupted while running ${tool}.`);
  if (result.exitCode !== 0) {
    const doing = options.doing ? ` while ${options.doing}` : '';
    throw new UserError(`${tool} exited with status ${result.exitCode}${doing}.`, { detail: `command: ${line}\n${tail(stderr)}` });
  }
  return { stdout: Buffer.from(result.stdout ?? []), stderr };
}

/** Start a tool whose standard streams the caller pipes (compression, decompression). */
export function spawn(tool: string, args: readonly string[], options: Options = {}): ResultPromise {
  const file = requireTool(tool);
  commandLog.debug(`$ ${commandLine(tool, args)}`);
  return execa(file, args, { cancelSignal, buffer: false, ...options });
}
