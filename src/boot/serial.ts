/**
 * What a device's serial console says about how far it booted: firmware, bootloader, kernel,
 * init, the Mender client's service, the login prompt — each with the line that shows it — and
 * which root filesystem it booted, from the Mender boot script's line and the kernel's command
 * line. Reads the whole log each time (a boot log is some hundred KiB), so it can follow a log
 * as it grows.
 */

export const STAGES = ['firmware', 'bootloader', 'kernel', 'init', 'client', 'login'] as const;
export type BootStage = (typeof STAGES)[number];

/** Rootfs A is partition 2 (the Mender layout: boot, rootfs A, rootfs B, data). */
export const ROOTFS_A_PARTITION = 2;

export interface BootReading {
  /** The furthest stage the log shows (a later stage implies the earlier ones); 'none' for nothing at all. */
  stage: BootStage | 'none';
  /** The first line that showed each stage. */
  evidence: Partial<Record<BootStage, string>>;
  /** Stages shown only by a lesser sign so far (OVMF's "failed to load Boot0001…" before its "starting Boot0002…"). */
  tentative: BootStage[];
  /** The partition the Mender boot script booted, and the root= it gave the kernel (its last boot). */
  menderBoot?: { partition: number; root?: string; line: string };
  /** root= of the kernel's (last) command line. */
  kernelRoot?: string;
  /** What stopped the boot, when the log shows it (a panic, no root filesystem, an emergency shell, the boot script unable to load the kernel). */
  failure?: string;
  /** The Mender client's unit failed to start (it may be restarted). */
  clientFailure?: string;
  /** The root device the kernel said it waits for (rootwait), when nothing ran after that. */
  waitingForRoot?: string;
}

/** Printable text: carriage returns, terminal escape sequences and other control characters removed. */
export function cleanSerialText(text: string): string {
  return text
    .replace(/\x1b\[[0-9;=?]*[A-Za-z]/g, '')
    .replace(/\x1b[()][A-Z0-9]|\x1b[=>78cDEHM]/g, '')
    .replace(/\r\n?/g, '\n')
    // A UART's first bytes after a baud change read as garbage (U+FFFD once decoded).
    .replace(/[\x00-\x08\x0b-\x1f\x7f\ufffd]/g, '');
}

// Each stage's signs, in the words of the software that prints them, the most telling first.
const SIGNS: Record<BootStage, RegExp[]> = {
  // EDK2 (OVMF, AAVMF) starting a boot entry; U-Boot's own banner counts as the bootloader's.
  firmware: [/^(BdsDxe: starting .*)$/m, /^(BdsDxe: .*|UEFI firmware .*|.*EDK II.*)$/m],
  bootloader: [/^(Welcome to GRUB!|GNU GRUB .*|U-Boot \d{4}\.\d{2}.*)$/m, /^(Mender: .*)$/m],
  kernel: [/^(?:\[[ \d.]+\] )?(Linux version \d.*|Booting Linux on physical CPU.*|EFI stub: .*)$/m],
  // The system's init, not an initramfs's /init.
  init: [/^(?:\[[ \d.]+\] )?(Welcome to (?!GRUB!).+!|Run \/sbin\/init as init process|Run \/(?:usr\/)?lib\/systemd\/systemd as init process|systemd\[1\]: systemd \d+ running in system mode.*|INIT: version .*)$/m],
  // systemd's status line: the unit and its description (cut with … to the console's width:
  // "Started mender-client.serv…e - Mender OTA update service."), or the description alone before v247.
  client: [/^\[ *OK *\] (Started (?:mender-client\b|mender-updated\b|Mender OTA update service\b).*)$/m],
  login: [/^(\S+ login: .*)$/m],
};

const FAILURES: [RegExp, (match: RegExpExecArray) => string][] = [
  [/Kernel panic - not syncing: ([^\n]*)/, (m) => `kernel panic: ${m[1]!.trim()}`],
  [/^(Mender: cannot boot[^\n]*)/m, (m) => `the bootloader could not load the kernel (${m[1]!.trim()})`],
  [/(Gave up waiting for root (?:file system )?device[^\n]*)/, (m) => `the root filesystem was not found: ${m[1]!.trim()}`],
  [/^(ALERT! [^\n]* does not exist[^\n]*)/m, (m) => `the root filesystem was not found: ${m[1]!.trim()}`],
  [/(You are in emergency mode[^\n]*|Entering emergency mode[^\n]*)/, (m) => `systemd entered emergency mode: ${m[1]!.trim()}`],
  [/^(VFS: Unable to mount root fs[^\n]*)/m, (m) => `the kernel could not mount the root filesystem: ${m[1]!.trim()}`],
];

const CLIENT_FAILED = /^\[FAILED\] (Failed to start (?:mender-client\b|mender-updated\b|Mender OTA update service\b)[^\n]*)$/m;

const kernelRootOf = (commandLine: string) => [...commandLine.matchAll(/(?:^| )root=(\S+)/g)].pop()?.[1];

export function readSerialLog(raw: string): BootReading {
  const text = cleanSerialText(raw);
  const evidence: Partial<Record<BootStage, string>> = {};
  const tentative: BootStage[] = [];
  let stage: BootReading['stage'] = 'none';
  STAGES.forEach((name, index) => {
    const matches = SIGNS[name].map((sign) => sign.exec(text));
    const match = matches.find(Boolean);
    if (!match) return;
    evidence[name] = match[1]!.trim();
    if (!matches[0]) tentative.push(name);
    if (stage === 'none' || STAGES.indexOf(stage) < index) stage = name;
  });
  const reading: BootReading = { stage, evidence, tentative };

  // GRUB: "Mender: booting (hd0,gpt2)/boot/kernel with root=/dev/sda2";
  // U-Boot: "Mender: booting partition 2 (mmc 0:2) with root=/dev/mmcblk0p2".
  const boots = [...text.matchAll(/^Mender: booting (?:\([^,)]+,[a-z]*(\d+)\)\S*|partition (\d+)\b.*?)(?: with root=(\S+))?$/gm)];
  const last = boots.pop();
  if (last) reading.menderBoot = { partition: Number(last[1] ?? last[2]), root: last[3], line: last[0].trim() };
  const commandLine = [...text.matchAll(/Kernel command line: ([^\n]*)/g)].pop()?.[1];
  if (commandLine) reading.kernelRoot = kernelRootOf(commandLine);

  for (const [pattern, describe] of FAILURES) {
    const match = pattern.exec(text);
    if (match) {
      reading.failure = describe(match);
      break;
    }
  }
  const waiting = [...text.matchAll(/Waiting for root device (\S+?)\.*$/gm)].pop();
  if (waiting && !reading.evidence.init) reading.waitingForRoot = waiting[1];
  const clientFailed = CLIENT_FAILED.exec(text);
  if (clientFailed) reading.clientFailure = clientFailed[1]!.trim();
  return reading;
}

/** Whether the log shows the kernel started on rootfs A as the Mender boot script chose it. */
export function bootedRootfsA(reading: BootReading): boolean {
  const boot = reading.menderBoot;
  if (!boot || boot.partition !== ROOTFS_A_PARTITION || !reading.kernelRoot) return false;
  return boot.root === undefined || boot.root === reading.kernelRoot;
}

export interface CheckVerdict {
  ok: boolean;
  /** One sentence: what the device reached, or where it stopped and why. */
  summary: string;
}

/** The check's verdict: a login prompt, on rootfs A, with the Mender client's service started. */
export function checkVerdict(reading: BootReading): CheckVerdict {
  const rootfsA = bootedRootfsA(reading);
  if (reading.evidence.login && reading.evidence.client && rootfsA) {
    return { ok: true, summary: `reached the login prompt on rootfs A (root=${reading.kernelRoot}) with the Mender client's service started` };
  }
  const reasons: string[] = [];
  if (reading.failure) reasons.push(reading.failure);
  else if (reading.waitingForRoot) reasons.push(`the kernel waits for its root device ${reading.waitingForRoot}`);
  if (reading.stage !== 'none' && STAGES.indexOf(reading.stage) >= STAGES.indexOf('kernel') && !rootfsA) {
    const boot = reading.menderBoot;
    reasons.push(
      !boot
        ? 'no Mender boot script line (is the image converted?)'
        : boot.partition !== ROOTFS_A_PARTITION
          ? `the Mender boot script booted partition ${boot.partition}, not rootfs A (${ROOTFS_A_PARTITION})`
          : `the kernel runs with root=${reading.kernelRoot ?? '(none)'}, not the boot script's root=${boot.root}`,
    );
  }
  if (reading.evidence.login && !reading.evidence.client) {
    reasons.push(reading.clientFailure ? `the Mender client's service failed: ${reading.clientFailure}` : "the Mender client's service was not seen starting");
  }
  if (reasons.length === 0) reasons.push('no login prompt');
  return { ok: false, summary: `stopped at stage '${reading.stage}': ${reasons.join('; ')}` };
}

/** The last `count` non-empty lines of a log, cleaned. */
export function lastLines(raw: string, count: number): string[] {
  return cleanSerialText(raw).split('\n').filter((line) => line.trim()).slice(-count);
}
