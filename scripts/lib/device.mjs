// An emulated device as the boot tiers drive it: one QEMU run at a time, its serial console on
// this process's pipes (commands typed, their output and exit status read back), rebooted and
// power-cut like a device in the field. What starts QEMU is the machine's (`launch`), so the PC
// (q35 + OVMF) and the Raspberry Pi 3 (raspi3b, its firmware's part done by the tier) share it.
import { spawn } from 'node:child_process';
import net from 'node:net';
import { fs, path } from 'zx';

const BOOT_TIMEOUT = 15 * 60_000;

export class Device {
  /**
   * @param name the first serial log's name (logs/<name>.log)
   * @param context { logs, check, running } of the tier: the log directory, its check(), and
   *   the set of QEMU processes the tier kills however it ends
   * @param launch async () => [command, args]: what starts the machine once; QEMU must
   *   run with -no-reboot (a guest reboot ends it and reboot() starts it again, a cold start)
   *   and its console on -serial stdio
   */
  constructor(name, { logs, check, running }, launch) {
    Object.assign(this, { name, logs, check, running, launch });
    this.buffer = '';
    this.seen = 0;
    this.commandCount = 0;
  }

  async start() {
    if (!this.log) this.logTo(this.name);
    const [command, args] = await this.launch();
    this.qemu = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const qemu = this.qemu;
    this.running.add(qemu);
    this.exited = new Promise((resolve) => qemu.on('exit', resolve));
    this.exited.then(() => this.running.delete(qemu));
    const take = (chunk) => {
      this.log.write(chunk);
      this.buffer += chunk.toString('latin1').replace(/\r/g, '');
      // The guest asked for a restart: with -no-reboot QEMU ends by itself; some machines
      // (raspi3b's watchdog reset) only print it, so the run is ended here too.
      if (/reboot: Restarting system/.test(this.buffer.slice(-200))) setTimeout(() => qemu.kill('SIGKILL'), 2000);
    };
    qemu.stdout.on('data', take);
    qemu.stderr.on('data', take);
    qemu.stdin.on('error', () => undefined);
  }

  /** From now on the serial output also goes to logs/<name>.log. */
  logTo(name) {
    this.log?.end();
    this.log = fs.createWriteStream(path.join(this.logs, `${name}.log`));
  }

  /** Waits for `pattern` in the output after what was already matched; returns the match. */
  async waitFor(pattern, timeout, what) {
    const deadline = Date.now() + timeout;
    for (;;) {
      const rest = this.buffer.slice(this.seen);
      const match = pattern.exec(rest);
      if (match) {
        this.seen += match.index + match[0].length;
        return match;
      }
      if (this.qemu.exitCode !== null || this.qemu.signalCode !== null) throw new Error(`QEMU exited while waiting for ${what} (log: ${this.log.path})\n…${rest.slice(-1500)}`);
      if (Date.now() > deadline) {
        const state = await this.diagnose();
        this.log.write(`\n[boot tier] timed out waiting for ${what}:\n${state}\n`);
        throw new Error(`timed out waiting for ${what} (log: ${this.log.path})\n…${rest.slice(-1500)}\n${state}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  /**
   * What the machine is doing when it went quiet: QEMU's CPU use over 10 s (0 %: QEMU itself
   * stuck; busy: the guest runs), the vCPUs' program counters twice from the monitor (when the
   * launch gave one at this.monitor: the same PCs in the idle loop mean a guest waiting for an
   * interrupt), and whether a key on the console brings output back (a stalled UART).
   */
  async diagnose() {
    const lines = [];
    const cpuTicks = async () => {
      const fields = (await fs.readFile(`/proc/${this.qemu.pid}/stat`, 'utf8').catch(() => '')).split(') ').pop().split(' ');
      return Number(fields[11]) + Number(fields[12]);
    };
    const before = await cpuTicks();
    await new Promise((resolve) => setTimeout(resolve, 10_000));
    lines.push(`QEMU used ${(await cpuTicks()) - before} clock ticks of CPU in 10 s (100 per second per core)`);
    if (this.monitor) {
      for (const round of [1, 2]) {
        const answer = await monitorCommand(this.monitor, 'info registers -a').catch((error) => `monitor: ${error.message}`);
        const pcs = [...answer.matchAll(/PC=([0-9a-f]+)/g)].map((m) => m[1]);
        lines.push(`vCPU program counters (${round}): ${pcs.join(' ') || answer.slice(0, 300)}`);
        await new Promise((resolve) => setTimeout(resolve, 2000));
      }
    }
    const seen = this.buffer.length;
    this.qemu.stdin.write('\n');
    await new Promise((resolve) => setTimeout(resolve, 20_000));
    const after = this.buffer.slice(seen);
    lines.push(after ? `after a key on the console, it printed: ${JSON.stringify(after.slice(0, 500))}` : 'a key on the console brought no output');
    return lines.join('\n');
  }

  async waitForLogin() {
    await this.waitFor(/login: root \(automatic login\)/, BOOT_TIMEOUT, 'the automatic login on the serial console');
    await this.waitFor(/root@[\w-]+:[^\n]*# $/m, 60_000, 'the root shell prompt');
    // Kernel messages would land in the middle of command output.
    await this.run('dmesg -n 1; stty cols 500');
  }

  /** Runs a shell command on the device; resolves with its exit status and output. */
  async run(command, timeout = 5 * 60_000) {
    const id = ++this.commandCount;
    // The marker is split by quotes in what is typed, so only the command's own output matches.
    this.qemu.stdin.write(`echo "@@BE""GIN-${id}@@"; ${command}; echo "@@EN""D-${id}@@ $?"\n`);
    await this.waitFor(new RegExp(`@@BEGIN-${id}@@\n`), timeout, `the start of '${command}'`);
    const from = this.seen;
    const end = await this.waitFor(new RegExp(`@@END-${id}@@ (\\d+)\n`), timeout, `the end of '${command}'`);
    const output = this.buffer.slice(from, this.seen - end[0].length).trim();
    return { code: Number(end[1]), output };
  }

  /** Runs a command that must succeed; returns its output. */
  async must(command, timeout) {
    const { code, output } = await this.run(command, timeout);
    this.check(code === 0, `'${command}' succeeds`, output);
    return output;
  }

  /** Types `command` (reboot, poweroff) and waits for QEMU to end, killing it after `timeout` ms. */
  async stopWith(command, timeout) {
    this.qemu.stdin.write(`${command}\n`);
    await this.ended(timeout);
  }

  /** Waits for this run of QEMU to end by itself, killing it after `timeout` ms. */
  async ended(timeout) {
    const timer = setTimeout(() => this.qemu.kill('SIGKILL'), timeout);
    await this.exited;
    clearTimeout(timer);
  }

  /** Starts the next run with an empty console buffer. */
  async restart() {
    this.buffer = '';
    this.seen = 0;
    await this.start();
  }

  async reboot() {
    await this.stopWith('systemctl reboot', 5 * 60_000);
    await this.restart();
    await this.waitForLogin();
  }

  async powerCut() {
    this.qemu.kill('SIGKILL');
    await this.exited;
  }

  async shutdown() {
    await this.stopWith('systemctl poweroff', 120_000);
    this.log.end();
  }
}

/** One command on a QEMU monitor socket; its answer. */
function monitorCommand(socket, command) {
  return new Promise((resolve, reject) => {
    const connection = net.createConnection(socket);
    let answer = '';
    connection.setEncoding('utf8');
    connection.on('data', (text) => { answer += text; });
    connection.on('error', reject);
    connection.on('connect', () => {
      connection.write(`${command}\n`);
      setTimeout(() => { connection.end(); resolve(answer); }, 3000);
    });
  });
}
