import path from 'node:path';
import type { Change, RecordingEditor } from '../fs/recording.js';
import { sbomFormats, SUFFIX } from '../sbom/index.js';
import { outputBaseName, type ConversionContext } from './context.js';
import { packageStage, rootfsTargetSize } from './package.js';
import type { Stage } from './runner.js';
import { layoutTable, size } from './summary.js';

/**
 * `plan` / `--dry-run`: the conversion up to the point where outputs would be written, on work
 * copies, with every change to the filesystems recorded; then a report instead of outputs.
 */

export interface Plan {
  input: string;
  os: string;
  arch: string;
  deviceTypes: string[];
  artifactName: string;
  scheme: string;
  layout: { number: number; role: string; start: number; size: number }[];
  rootfsFilesystemBytes: number;
  changes: { rootfs: Change[]; boot: Change[] };
  packages: { name: string; version: string; architecture: string }[];
  outputs: string[];
  notes: string[];
}

export const planStage: Stage = {
  title: 'Plan',
  preflight: packageStage.preflight,
  steps: [
    packageStage.steps[0]!,
    {
      title: 'Size the root filesystem',
      async run(ctx) {
        ctx.rootfsBytes = await rootfsTargetSize(ctx);
      },
    },
  ],
};

export function buildPlan(ctx: ConversionContext): Plan {
  const layout = ctx.layout!;
  const base = path.join(ctx.outputDir, outputBaseName(ctx));
  const compression = ctx.config['image.compression'] === 'auto' ? ctx.inputCompression ?? 'none' : ctx.config['image.compression'];
  const suffix = { none: '', gzip: '.gz', xz: '.xz', zstd: '.zst' }[compression];
  return {
    input: ctx.inputPath,
    os: ctx.facts!.os.prettyName,
    arch: ctx.facts!.arch,
    deviceTypes: ctx.deviceTypes!,
    artifactName: ctx.config['artifact.name'],
    scheme: ctx.scheme!,
    layout: [
      { role: 'boot', ...layout.boot },
      { role: 'rootfs-a', ...layout.rootfsA },
      { role: 'rootfs-b', ...layout.rootfsB },
      { role: 'data', ...layout.data },
    ],
    rootfsFilesystemBytes: ctx.rootfsBytes!,
    changes: { rootfs: (ctx.rootfs as RecordingEditor).changes, boot: (ctx.boot as RecordingEditor).changes },
    packages: ctx.installedPackages,
    outputs: [
      `${base}.img${suffix}`, `${base}.ext4`, `${base}.mender`, `${base}.cfg`, `${base}.json`,
      ...(ctx.config['image.bmap'] ? [`${base}.bmap`] : []),
      ...sbomFormats(ctx.config['artifact.sbom']).map((format) => `${base}${SUFFIX[format]}`),
    ],
    notes: ctx.notes,
  };
}

export function describePlan(ctx: ConversionContext, plan: Plan): string {
  const change = (c: Change) => `    ${{ add: '+', change: '~', remove: '-' }[c.action]} ${c.path}${c.what === 'dir' ? '/' : c.what === 'symlink' ? ' (symlink)' : ''}`;
  return [
    '',
    `Plan for ${path.basename(plan.input)} (${plan.os}, ${plan.arch}) → ${plan.deviceTypes.join(', ')}, artifact ${plan.artifactName}:`,
    `${plan.scheme === 'gpt' ? 'GPT' : 'MBR'} layout on ${size(ctx.layout!.totalBytes)} of storage:`,
    layoutTable(ctx),
    `Root filesystem changes (${plan.changes.rootfs.length}):`,
    ...plan.changes.rootfs.map(change),
    `Boot partition changes (${plan.changes.boot.length}):`,
    ...plan.changes.boot.map(change),
    `Packages to install: ${plan.packages.length ? plan.packages.map((p) => `${p.name} ${p.version}`).join(', ') : 'none'}`,
    'Outputs it would write:',
    ...plan.outputs.map((o) => `  ${path.relative(process.cwd(), o) || o}`),
    ...(plan.notes.length ? ['Notes:', ...plan.notes.map((n) => `  - ${n}`)] : []),
    'Nothing was written (dry run).',
    '',
  ].join('\n');
}
