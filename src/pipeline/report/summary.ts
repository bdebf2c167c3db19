import path from 'node:path';
import { MiB } from '../../disk/layout.js';
import type { KnobKey } from '../../config/knobs.js';
import { diskIdentifier, partitionUuid } from '../../mender/devices.js';
import { PARTITION_ROLES } from '../../mender/identities.js';
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
  const { layout, naming } = target;
  const row = (extent: { number: number; start: number; size: number }, role: string, content: string) =>
    [String(extent.number), role, size(extent.start), size(extent.size), partitionUuid(extent.number, naming), content];
  const rows = [
    ['#', 'role', 'start', 'size', 'PARTUUID', 'content'],
    ...target.rawFiles.map((file) => ['-', 'raw', rawStart(file.offset), size(file.data.length), '', `${file.name} from ${file.origin}`]),
    row(layout.boot, 'boot', `FAT, mounted at ${target.bootMountpoint}`),
    row(layout.rootfsA, 'rootfs A', `ext4 filesystem of ${size(rootfsBytes)}`),
    row(layout.rootfsB, 'rootfs B', env.config['rootfs.b_content'] === 'copy' ? 'copy of A' : 'empty'),
    row(layout.data, 'data', `ext4${env.config['data.growfs'] ? ', grows on first boot' : ''}`),
  ];
  const widths = rows[0]!.map((_, col) => Math.max(...rows.map((row) => row[col]!.length)));
  return rows.map((row) => `  ${row.map((cell, col) => cell.padEnd(widths[col]!)).join('  ')}`.trimEnd()).join('\n');
}

/** The line above the layout table: table type, storage size and the disk's identity. */
export function layoutHeading(env: RunEnv, target: Target): string {
  const scheme = target.naming.scheme === 'gpt' ? 'GPT' : 'MBR';
  return `${scheme} layout on ${size(target.layout.totalBytes)} of storage, disk identifier ${diskIdentifier(target.naming)} (${identitySource(env)}):`;
}

/** Where the identities came from: every release of the same config gets the same ones. */
function identitySource(env: RunEnv): string {
  const { config } = env;
  const pinned = ['storage.disk_id', ...PARTITION_ROLES.map((role) => role.knob)].filter((knob) => config[knob as KnobKey] !== '');
  const seed = config['storage.identity_seed'] ? 'storage.identity_seed' : 'the device types';
  return pinned.length ? `pinned by ${pinned.join(', ')}; the rest from ${seed}` : `derived from ${seed}`;
}

/** The closing report: layout table, outputs, notes and duration. */
export function printSummary(env: RunEnv, extracted: Extracted, target: Target, outputs: Outputs, seconds: number, write = (text: string) => process.stdout.write(text)): void {
  const { facts } = extracted;
  const lines = [
    '',
    `Converted ${path.basename(env.inputPath)} (${facts.os.prettyName}, ${facts.arch}) for ${target.deviceTypes.join(', ')}, artifact ${env.config['artifact.name']}:`,
    layoutHeading(env, target),
    layoutTable(env, target, outputs.rootfsBytes),
    'Outputs:',
    ...outputs.files.map((output) => `  ${path.relative(process.cwd(), output.path) || output.path}  (${size(output.bytes)})`),
    ...(env.notes.length ? ['Notes:', ...env.notes.map((note) => `  - ${note}`)] : []),
    `Done in ${seconds.toFixed(1)} s; log: ${path.relative(process.cwd(), path.join(path.dirname(env.runDir), 'convert.log'))}`,
    '',
  ];
  write(lines.join('\n'));
}
