import path from 'node:path';
import type { Change } from '../../fs/recording.js';
import { layoutHeading, layoutTable } from '../report/summary.js';
import { Stage } from '../runner.js';
import type { Extracted, InstalledPackageInfo, Modified, RunEnv, Target } from '../types.js';
import { rootfsTargetSize, type PackageInput } from './package.js';

/**
 * `plan` / `--dry-run`: the conversion up to the point where outputs would be written, the same
 * stages over recording editors (every change to the filesystems recorded, none written to an
 * output); then a report instead of outputs.
 */

export interface Plan {
  input: string;
  os: string;
  arch: string;
  deviceTypes: readonly string[];
  artifactName: string;
  scheme: string;
  layout: { number: number; role: string; start: number; size: number }[];
  rawFiles: { file: string; origin: string; offset: number; bytes: number }[];
  rootfsFilesystemBytes: number;
  changes: { rootfs: Change[]; boot: Change[] };
  packages: readonly InstalledPackageInfo[];
  outputs: string[];
  notes: string[];
}

export const planStage = Stage.start<PackageInput>('Plan')
  .then('Size the root filesystem', (env, s) => rootfsTargetSize(env, s.extracted, s.target));

export function buildPlan(env: RunEnv, extracted: Extracted, target: Target, modified: Modified, rootfsBytes: number): Plan {
  const { layout, outputs } = target;
  return {
    input: env.inputPath,
    os: extracted.facts.os.prettyName,
    arch: extracted.facts.arch,
    deviceTypes: target.deviceTypes,
    artifactName: env.config['artifact.name'],
    scheme: target.naming.scheme,
    layout: [
      { role: 'boot', ...layout.boot },
      { role: 'rootfs-a', ...layout.rootfsA },
      { role: 'rootfs-b', ...layout.rootfsB },
      { role: 'data', ...layout.data },
    ],
    rawFiles: target.rawFiles.map((file) => ({ file: file.name, origin: file.origin, offset: file.offset, bytes: file.data.length })),
    rootfsFilesystemBytes: rootfsBytes,
    changes: { rootfs: extracted.rootfs.changes, boot: extracted.boot.changes },
    packages: modified.packages,
    outputs: [outputs.image, outputs.rootfs, outputs.artifact, outputs.testsConfig, outputs.results, ...(outputs.bmap ? [outputs.bmap] : []), ...outputs.sbom.map((s) => s.path)],
    notes: env.notes,
  };
}

export function describePlan(env: RunEnv, plan: Plan, target: Target, rootfsBytes: number): string {
  const change = (c: Change) => `    ${{ add: '+', change: '~', remove: '-' }[c.action]} ${c.path}${c.what === 'dir' ? '/' : c.what === 'symlink' ? ' (symlink)' : ''}`;
  return [
    '',
    `Plan for ${path.basename(plan.input)} (${plan.os}, ${plan.arch}) → ${plan.deviceTypes.join(', ')}, artifact ${plan.artifactName}:`,
    layoutHeading(env, target),
    layoutTable(env, target, rootfsBytes),
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
