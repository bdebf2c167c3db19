/**
 * Boots a disk image in QEMU, as `mender-convert boot` does: on a copy-on-write disk in a
 * scratch directory (removed afterwards), with its serial console on the terminal, or
 * unattended (`checkBoot`) until the log shows a login prompt on rootfs A with the Mender
 * client's service started, a failure, QEMU's end or the time limit.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { detectFormat, type InputFormat } from '../disk/input.js';
import { FatEditor } from '../fs/fat.js';
import { UserError } from '../util/errors.js';
import { spawn } from '../util/exec.js';
import { requireTools } from '../util/tools.js';
import { BOARD_FAMILIES, readBootTarget, type BoardFamily, type BootTarget } from './board.js';
import { powerOfTwoAtLeast, prepareBootDisk, rawImageOf } from './disk.js';
import { chooseAccel, findFirmware, QEMU_BINARY, qemuCommand, raspberryPiBootArgs } from './qemu.js';
import { checkVerdict, lastLines, readSerialLog, STAGES, type BootReading, type BootStage } from './serial.js';

/** The host tools that read an image of this format and make its boot disk. */
function diskTools(format: InputFormat): string[] {
  // pigz stands in for gzip when it is there.
  const unpack = { raw: 'qemu-img', gzip: 'gzip', xz: 'xz', zstd: 'zstd', zip: 'unzip' }[format];
  return ['sfdisk', 'minfo', 'mdir', 'mcopy', unpack];
}

/** Every host tool a boot of this family from an input of this format runs (scripts/host-packages/boot.txt are their packages). */
export function bootTools(family: BoardFamily, format: InputFormat): string[] {
  return [...diskTools(format), QEMU_BINARY[family]];
}

export interface BootRequest {
  image: string;
  /** The board family, when not the one the image says. */
  board?: BoardFamily;
}

export interface PreparedBoot {
  target: BootTarget;
  /** The serial console's file (unattended boots). */
  serialLog?: string;
  accel: 'kvm' | 'tcg';
  /** Why TCG where the host could have run the guest under KVM. */
  whyNotKvm?: string;
  /** What the guest's disk is: an overlay over the image, or a decompressed copy. */
  disk: 'overlay' | 'decompressed copy';
  command: { tool: string; args: string[] };
  /** Removes the scratch directory. */
  cleanup(): Promise<void>;
}

/** Detects the machine, prepares the disk and firmware in a scratch directory, and builds the QEMU command line. */
export async function prepareBoot(request: BootRequest, options: { console: 'terminal' | 'file'; serialLog?: string; reboot: boolean }): Promise<PreparedBoot> {
  const stat = fs.statSync(request.image, { throwIfNoEntry: false });
  if (!stat?.isFile()) throw new UserError(`The disk image ${request.image} does not exist or is not a file.`);
  const format = await detectFormat(request.image);
  // Which QEMU is checked once the image has said which machine it is.
  requireTools(diskTools(format));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mender-convert-boot-'));
  const cleanup = () => fs.promises.rm(dir, { recursive: true, force: true });
  try {
    const raw = await rawImageOf(request.image, dir);
    const target = await readBootTarget(raw.raw, { board: request.board, displayName: path.basename(request.image) });
    requireTools(bootTools(target.family, format));
    const firmware = findFirmware(target.family);
    if (firmware?.vars) {
      const vars = path.join(dir, 'efi-vars.fd');
      fs.copyFileSync(firmware.vars, vars);
      firmware.vars = vars;
    }
    const disk = await prepareBootDisk(raw, dir, { size: target.family === 'raspi3b' ? powerOfTwoAtLeast : undefined });
    let raspberryPi;
    if (target.raspberryPi) {
      const fat = await FatEditor.open(`${raw.raw}@@${target.bootOffset}`);
      const kernel = path.join(dir, 'kernel.bin');
      const deviceTree = path.join(dir, 'board.dtb');
      fs.writeFileSync(kernel, await fat.readFile(`/${target.raspberryPi.kernel}`));
      fs.writeFileSync(deviceTree, await fat.readFile(`/${target.raspberryPi.deviceTree}`));
      raspberryPi = { kernel, deviceTree, bootargs: raspberryPiBootArgs(target.raspberryPi.cmdline, fs.readFileSync(deviceTree)) };
    }
    const { accel, whyNotKvm } = await chooseAccel(target.family);
    const serialLog = options.console === 'file' ? (options.serialLog ?? path.join(dir, 'serial.log')) : undefined;
    const console = serialLog ? { file: serialLog } : ({ terminal: true } as const);
    if (serialLog) fs.writeFileSync(serialLog, '');
    const command = qemuCommand({ family: target.family, disk: { file: disk.file, format: disk.format, bus: target.bus }, accel, firmware, raspberryPi, console, reboot: options.reboot });
    return { target, accel, whyNotKvm, serialLog, disk: disk.format === 'qcow2' ? 'overlay' : 'decompressed copy', command, cleanup };
  } catch (error) {
    await cleanup();
    throw error;
  }
}

/** One line on what boots: the machine, the accelerator, the disk. */
export function describeBoot(image: string, boot: PreparedBoot): string {
  const accel = boot.accel === 'kvm' ? 'KVM' : `TCG (emulated${boot.whyNotKvm ? `: ${boot.whyNotKvm}` : ''})`;
  const disk = boot.disk === 'overlay' ? 'a copy-on-write overlay' : 'a decompressed temporary copy';
  return `Booting ${image}: ${BOARD_FAMILIES[boot.target.family]}, ${accel}, on ${disk} (the image is not changed).`;
}

/** Boots with the serial console on this terminal until QEMU ends; returns QEMU's exit status. */
export async function interactiveBoot(request: BootRequest, print: (line: string) => void): Promise<number> {
  const boot = await prepareBoot(request, { console: 'terminal', reboot: true });
  try {
    print(describeBoot(request.image, boot));
    print('Serial console follows. Quit: Ctrl-A then X.  QEMU monitor: Ctrl-A then C.');
    // QEMU owns the terminal (raw mode: Ctrl-C goes to the device); our process only waits.
    const ignore = () => undefined;
    process.on('SIGINT', ignore);
    try {
      const result = await spawn(boot.command.tool, boot.command.args, { stdio: 'inherit', reject: false });
      return result.exitCode ?? 1;
    } finally {
      process.off('SIGINT', ignore);
    }
  } finally {
    await boot.cleanup();
  }
}

export interface CheckOptions {
  timeoutSeconds: number;
  /** Keep the serial log here (else it goes with the scratch directory). */
  serialLog?: string;
  /** Each stage as the log first shows it. */
  onStage?: (stage: BootStage, line: string, seconds: number) => void;
  /** Called once QEMU runs, with the line describing the boot. */
  onStart?: (description: string) => void;
  signal?: AbortSignal;
}

export interface CheckResult {
  ok: boolean;
  /** Where the boot stopped and why, or what it reached. */
  summary: string;
  /** How the run ended. */
  end: 'passed' | 'failure seen' | 'qemu exited' | 'timed out' | 'interrupted';
  board: BoardFamily;
  accel: 'kvm' | 'tcg';
  seconds: number;
  reading: BootReading;
  lastLines: string[];
  serialLog?: string;
}

/** How long a failure's aftermath (a panic's trace, a reset) is still read before the run stops. */
const FAILURE_GRACE_MS = 3000;
const POLL_MS = 500;

/** Boots unattended and reads the serial log until the check passes, fails, QEMU ends or the time runs out. */
export async function checkBoot(request: BootRequest, options: CheckOptions): Promise<CheckResult> {
  if (options.serialLog) fs.mkdirSync(path.dirname(path.resolve(options.serialLog)), { recursive: true });
  const boot = await prepareBoot(request, { console: 'file', serialLog: options.serialLog && path.resolve(options.serialLog), reboot: false });
  const log = boot.serialLog!;
  const started = Date.now();
  const seconds = () => Math.round((Date.now() - started) / 1000);
  const qemu = spawn(boot.command.tool, boot.command.args, { stdin: 'ignore', stdout: 'pipe', stderr: 'pipe', buffer: false, reject: false });
  let qemuOutput = '';
  const keep = (chunk: Buffer) => (qemuOutput = (qemuOutput + chunk.toString()).slice(-4000));
  qemu.stdout?.on('data', keep);
  qemu.stderr?.on('data', keep);
  let exited = false;
  const done = qemu.then((result) => {
    exited = true;
    return result;
  });
  options.onStart?.(describeBoot(request.image, boot));
  const reported = new Set<BootStage>();
  /** Each stage once: when its most telling line shows, or a later stage does, or at the end. */
  const report = (shown: BootReading, final: boolean) => {
    STAGES.forEach((stage, index) => {
      const line = shown.evidence[stage];
      const settled = final || !shown.tentative.includes(stage) || STAGES.slice(index + 1).some((later) => shown.evidence[later]);
      if (line && settled && !reported.has(stage)) {
        reported.add(stage);
        options.onStage?.(stage, line, seconds());
      }
    });
  };
  let text = '';
  let reading = readSerialLog('');
  let end: CheckResult['end'] | undefined;
  let failureSeenAt: number | undefined;
  try {
    while (!end) {
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      text = fs.readFileSync(log, 'utf8');
      reading = readSerialLog(text);
      report(reading, false);
      if (checkVerdict(reading).ok) end = 'passed';
      else if (reading.failure && (failureSeenAt ??= Date.now()) + FAILURE_GRACE_MS <= Date.now()) end = 'failure seen';
      else if (exited) end = 'qemu exited';
      else if (options.signal?.aborted) end = 'interrupted';
      else if (Date.now() - started > options.timeoutSeconds * 1000) end = 'timed out';
    }
    text = fs.readFileSync(log, 'utf8');
    report(reading, true);
  } finally {
    qemu.kill('SIGKILL');
    await done;
    await boot.cleanup();
  }
  const verdict = checkVerdict(reading);
  const took = seconds();
  const why = {
    passed: ` (${took} s)`,
    'failure seen': ` (after ${took} s)`,
    'qemu exited': ` (QEMU ended after ${took} s${qemuOutput.trim() ? `: ${qemuOutput.trim().split('\n').pop()}` : ''})`,
    'timed out': ` (timed out after ${options.timeoutSeconds} s)`,
    interrupted: ` (interrupted after ${took} s)`,
  }[end];
  return {
    ok: verdict.ok,
    summary: `${verdict.summary}${why}`,
    end,
    board: boot.target.family,
    accel: boot.accel,
    seconds: took,
    reading,
    lastLines: lastLines(text, 20),
    serialLog: options.serialLog ? log : undefined,
  };
}
