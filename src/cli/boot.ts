import type { Command } from 'commander';
import { BOARD_FAMILIES, type BoardFamily } from '../boot/board.js';
import type { CheckResult } from '../boot/run.js';
import { UserError } from '../util/errors.js';

/** Minutes, not seconds: an emulated (TCG) x86-64 boot to login takes one to two, a Raspberry Pi longer. */
export const DEFAULT_TIMEOUT_SECONDS = 900;

export interface BootArguments {
  image: string;
  board?: BoardFamily;
  check: boolean;
  json: boolean;
  timeoutSeconds: number;
  serialLog?: string;
}

/** The boot command's options, checked: what goes only with --check, a whole positive timeout. */
export function bootArguments(image: string, options: { check?: boolean; json?: boolean; timeout?: string; board?: string; serialLog?: string }): BootArguments {
  const check = Boolean(options.check);
  const unattended = [options.json && '--json', options.timeout !== undefined && '--timeout', options.serialLog !== undefined && '--serial-log'].filter(Boolean);
  if (!check && unattended.length > 0) {
    throw new UserError(`${unattended.join(', ')} ${unattended.length > 1 ? 'go' : 'goes'} with --check (an unattended boot).`, { hint: 'Add --check, or leave them out to boot on this terminal.' });
  }
  let timeoutSeconds = DEFAULT_TIMEOUT_SECONDS;
  if (options.timeout !== undefined) {
    timeoutSeconds = Number(options.timeout);
    if (!/^\d+$/.test(options.timeout.trim()) || timeoutSeconds <= 0) {
      throw new UserError(`--timeout ${options.timeout} is not a whole number of seconds above 0.`, { hint: `For example --timeout ${DEFAULT_TIMEOUT_SECONDS}.` });
    }
  }
  if (options.board !== undefined && !(options.board in BOARD_FAMILIES)) {
    throw new UserError(`--board ${options.board} is not a board boot knows.`, { hint: `Use one of: ${Object.keys(BOARD_FAMILIES).join(', ')}.` });
  }
  return { image, board: options.board as BoardFamily | undefined, check, json: Boolean(options.json), timeoutSeconds, serialLog: options.serialLog };
}

function report(result: CheckResult, image: string): object {
  return {
    ok: result.ok,
    image,
    board: result.board,
    accel: result.accel,
    stage: result.reading.stage,
    summary: result.summary,
    end: result.end,
    seconds: result.seconds,
    stages: result.reading.evidence,
    menderBoot: result.reading.menderBoot,
    kernelRoot: result.reading.kernelRoot,
    failure: result.reading.failure,
    lastLines: result.lastLines,
    serialLog: result.serialLog,
  };
}

async function runCheck(args: BootArguments): Promise<number> {
  const { checkBoot } = await import('../boot/run.js');
  const say = (line: string) => process.stderr.write(`${line}\n`);
  const controller = new AbortController();
  const interrupt = () => controller.abort();
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  try {
    const result = await checkBoot(args, {
      timeoutSeconds: args.timeoutSeconds,
      serialLog: args.serialLog,
      signal: controller.signal,
      onStart: args.json ? undefined : say,
      onStage: args.json ? undefined : (stage, line, seconds) => say(`[${String(seconds).padStart(4)} s] ${stage.padEnd(10)} ${line}`),
    });
    if (args.json) {
      process.stdout.write(`${JSON.stringify(report(result, args.image), null, 2)}\n`);
    } else if (result.ok) {
      process.stdout.write(`ok: ${result.summary}\n`);
    } else {
      say(`error: the boot ${result.summary}.`);
      say(`Last lines of the serial console:\n${result.lastLines.map((line) => `  | ${line}`).join('\n')}`);
      if (result.serialLog) say(`The whole serial log: ${result.serialLog}`);
    }
    return result.ok ? 0 : 1;
  } finally {
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
  }
}

export function registerBootCommand(program: Command): void {
  program
    .command('boot')
    .description('boot a disk image in QEMU on a copy-on-write overlay (the image is never changed), the serial console on this terminal')
    .argument('<image>', 'disk image, raw or compressed (.img, .img.gz, .img.xz, .img.zst)')
    .option('--check', 'boot unattended; exit 0 once a login prompt on rootfs A with the Mender client started is seen, else non-zero with the stage reached')
    .option('--timeout <seconds>', `with --check: give up after this long (default ${DEFAULT_TIMEOUT_SECONDS})`)
    .option('--json', 'with --check: print the result as JSON')
    .option('--serial-log <file>', 'with --check: keep the serial console output in this file')
    .option('--board <family>', `the machine, when not the one the image says: ${Object.keys(BOARD_FAMILIES).join(', ')}`)
    .action(async (image: string, options: Record<string, string | boolean | undefined>) => {
      const args = bootArguments(image, options as Parameters<typeof bootArguments>[1]);
      const { interactiveBoot } = await import('../boot/run.js');
      process.exitCode = args.check ? await runCheck(args) : await interactiveBoot(args, (line) => process.stderr.write(`${line}\n`));
    });
}
