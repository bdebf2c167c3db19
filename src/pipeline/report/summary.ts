import path from 'node:path';
import { MiB } from '../../disk/layout.js';
import type { Extracted, Outputs, RunEnv, Target } from '../types.js';

export function size(bytes: number): string {
  if (bytes >= MiB) return `${(bytes / MiB).toFixed(bytes % MiB === 0 ? 0 : 1)} MiB`;
  return `${(bytes / 1024).toFixed(0)} KiB`;
}

/** Where a raw file starts: boot loaders are placed by sector. */
function rawStart(offset: number): string {
  return offset % 512 === 0 ? `sector ${offset / 512}` : `byte ${offset}`;
}

/** The partition table of the conversion, one row per partition, after the board's raw files before them. */
export function layoutTable(env: RunEnv, target: Target, rootfsBytes: number): string {
  const { layout } = target;
  const rows = [
    ['#', 'role', 'start', 'size', 'content'],
    ...target.rawFiles.map((file) => ['-', 'raw', rawStart(file.offset), size(file.data.length), `${file.name} from ${file.origin}`]),
    ['1', 'boot', size(layout.boot.start), size(layout.boot.size), `FAT, mounted at ${target.bootMountpoint}`],
    ['2', 'rootfs A', size(layout.rootfsA.start), size(layout.rootfsA.size), `ext4 filesystem of ${size(rootfsBytes)}`],
    ['3', 'rootfs B', size(layout.rootfsB.start), size(layout.rootfsB.size), env.config['rootfs.b_content'] === 'copy' ? 'copy of A' : 'empty'],
    ['4', 'data', size(layout.data.start), size(layout.data.size), `ext4${env.config['data.growfs'] ? ', grows on first boot' : ''}`],
  ];
  const widths = rows[0]!.map((_, col) => Math.max(...rows.map((row) => row[col]!.length)));
  return rows.map((row) => `  ${row.map((cell, col) => cell.padEnd(widths[col]!)).join('  ')}`.trimEnd()).join('\n');
}

/** The closing report: layout table, outputs, notes and duration. */
export function printSummary(env: RunEnv, extracted: Extracted, target: Target, outputs: Outputs, seconds: number, write = (text: string) => process.stdout.write(text)): void {
  const { facts } = extracted;
  const lines = [
    '',
    `Converted ${path.basename(env.inputPath)} (${facts.os.prettyName}, ${facts.arch}) for ${target.deviceTypes.join(', ')}, artifact ${env.config['artifact.name']}:`,
    `${target.naming.scheme === 'gpt' ? 'GPT' : 'MBR'} layout on ${size(target.layout.totalBytes)} of storage:`,
    layoutTable(env, target, outputs.rootfsBytes),
    'Outputs:',
    ...outputs.files.map((output) => `  ${path.relative(process.cwd(), output.path) || output.path}  (${size(output.bytes)})`),
    ...(env.notes.length ? ['Notes:', ...env.notes.map((note) => `  - ${note}`)] : []),
    `Done in ${seconds.toFixed(1)} s; log: ${path.relative(process.cwd(), path.join(path.dirname(env.runDir), 'convert.log'))}`,
    '',
  ];
  write(lines.join('\n'));
}
