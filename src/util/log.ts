import fs from 'node:fs';

/** Where library code reports what it does; the pipeline points it at work/convert.log. */
export interface Logger {
  info(message: string): void;
  debug(message: string): void;
  warn(message: string): void;
}

/** Drops everything: the default for library calls made outside a conversion. */
export const silentLogger: Logger = { info() {}, debug() {}, warn() {} };

/** Appends timestamped lines to a file synchronously, so nothing is lost when the process dies. */
export class FileLogger implements Logger {
  private readonly fd: number;

  constructor(path: string, private readonly echo?: (level: string, message: string) => void) {
    this.fd = fs.openSync(path, 'a', 0o600);
  }

  private write(level: string, message: string): void {
    const stamp = new Date().toISOString();
    const lines = message.split('\n').map((line) => `${stamp} ${level.padEnd(5)} ${line}\n`);
    fs.writeSync(this.fd, lines.join(''));
    this.echo?.(level, message);
  }

  info(message: string): void {
    this.write('INFO', message);
  }
  debug(message: string): void {
    this.write('DEBUG', message);
  }
  warn(message: string): void {
    this.write('WARN', message);
  }
  close(): void {
    fs.closeSync(this.fd);
  }
}
