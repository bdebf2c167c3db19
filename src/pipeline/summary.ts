import path from 'node:path';
import { MiB } from '../disk/layout.js';
import type { ConversionContext } from './context.js';

export function size(bytes: number): string {
  if (bytes >= MiB) return `${(bytes / MiB).toFixed(bytes % MiB === 0 ? 0 : 1)} MiB`;
  return `${(bytes / 1024).toFixed(0)} KiB`;
}

/** The partition table of the conversion, one row per partition. */
export function layoutTable(ctx: ConversionContext): string {
  const layout = ctx.layout!;
  const rows = [
    ['#', 'role', 'start', 'size', 'content'],
    ['1', 'boot', size(layout.boot.start), size(layout.boot.size), `FAT, mounted at ${ctx.bootMountpoint}`],
    ['2', 'rootfs A', size(layout.rootfsA.start), size(layout.rootfsA.size), `ext4 filesystem of ${size(ctx.rootfsBytes!)}`],
    ['3', 'rootfs B', size(layout.rootfsB.start), size(layout.rootfsB.size), ctx.config['rootfs.b_content'] === 'copy' ? 'copy of A' : 'empty'],
    ['4', 'data', size(layout.data.start), size(layout.data.size), `ext4${ctx.config['data.growfs'] ? ', grows on first boot' : ''}`],
  ];
  const widths = rows[0]!.map((_, col) => Math.max(...rows.map((row) => row[col]!.length)));
  return rows.map((row) => `  ${row.map((cell, col) => cell.padEnd(widths[col]!)).join('  ')}`.trimEnd()).join('\n');
}

/** The closing report: layout table, outputs, notes and duration. */
export function printSummary(ctx: ConversionContext, seconds: number, write = (text: string) => process.stdout.write(text)): void {
  const layout = ctx.layout!;
  const table = layoutTable(ctx);
  const facts = ctx.facts!;
  const lines = [
    '',
    `Converted ${path.basename(ctx.inputPath)} (${facts.os.prettyName}, ${facts.arch}) for ${ctx.deviceTypes!.join(', ')}, artifact ${ctx.config['artifact.name']}:`,
    `${ctx.scheme === 'gpt' ? 'GPT' : 'MBR'} layout on ${size(layout.totalBytes)} of storage:`,
    table,
    'Outputs:',
    ...ctx.outputs.map((output) => `  ${path.relative(process.cwd(), output.path) || output.path}  (${size(output.bytes)})`),
    ...(ctx.notes.length ? ['Notes:', ...ctx.notes.map((note) => `  - ${note}`)] : []),
    `Done in ${seconds.toFixed(1)} s; log: ${path.relative(process.cwd(), path.join(path.dirname(ctx.runDir), 'convert.log'))}`,
    '',
  ];
  write(lines.join('\n'));
}
