import fs from 'node:fs/promises';
import path from 'node:path';
import { KNOB_KEYS, KNOBS, type Knob } from '../config/knobs.js';
import { PACKAGE_ROOT } from '../config/load.js';
import { partitionDevice } from '../mender/devices.js';
import { sha256File } from '../util/hash.js';
import type { ConversionContext } from './context.js';

/** deploy/<name>.json: what went in, what came out, and how long it took, for CI to read. */

export interface ConversionResult {
  tool: { name: string; version: string };
  sourceDateEpoch: number;
  input: { path: string; sha256: string; format: string };
  config: Record<string, unknown>;
  image: { os: string; osId: string; osVersion: string; arch: string; hostname: string };
  deviceTypes: string[];
  artifactName: string;
  bootloader: string;
  layout: {
    scheme: string;
    totalBytes: number;
    alignment: number;
    rootfsFilesystemBytes: number;
    partitions: { number: number; role: string; start: number; size: number; device: string }[];
  };
  packages: { name: string; version: string; architecture: string }[];
  outputs: { kind: string; path: string; bytes: number; sha256: string }[];
  durations: { step: string; seconds: number }[];
  totalSeconds: number;
}

/** The effective configuration with secrets masked. */
export function publicConfig(config: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(KNOB_KEYS.map((key) => [key, (KNOBS[key] as Knob).secret && config[key] ? '********' : config[key]]));
}

export async function writeResults(ctx: ConversionContext, totalSeconds: number, file: string): Promise<ConversionResult> {
  const pkg = JSON.parse(await fs.readFile(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string };
  const sums = new Map(await Promise.all(ctx.outputs.map(async (o) => [o.path, await (o.sha256 ?? sha256File(o.path))] as const)));
  const layout = ctx.layout!;
  const roles: [string, typeof layout.boot][] = [['boot', layout.boot], ['rootfs-a', layout.rootfsA], ['rootfs-b', layout.rootfsB], ['data', layout.data]];
  const facts = ctx.facts!;
  const result: ConversionResult = {
    tool: { name: 'mender-convert', version: pkg.version },
    sourceDateEpoch: ctx.epoch,
    input: { path: ctx.inputPath, sha256: await ctx.input!.sha256, format: ctx.inputCompression ?? 'none' },
    config: publicConfig(ctx.config),
    image: { os: facts.os.prettyName, osId: facts.os.id, osVersion: facts.os.versionId, arch: facts.arch, hostname: facts.hostname },
    deviceTypes: ctx.deviceTypes!,
    artifactName: ctx.config['artifact.name'],
    bootloader: ctx.config['bootloader.type'],
    layout: {
      scheme: ctx.scheme!,
      totalBytes: layout.totalBytes,
      alignment: layout.alignment,
      rootfsFilesystemBytes: ctx.rootfsBytes!,
      partitions: roles.map(([role, extent]) => ({ number: extent.number, role, start: extent.start, size: extent.size, device: partitionDevice(extent.number, ctx.naming!) })),
    },
    packages: ctx.installedPackages,
    outputs: ctx.outputs.map((o) => ({ kind: o.kind, path: o.path, bytes: o.bytes, sha256: sums.get(o.path)! })),
    durations: ctx.durations,
    totalSeconds,
  };
  const partial = `${file}.partial-${process.pid}`;
  await fs.writeFile(partial, `${JSON.stringify(result, null, 2)}\n`, { mode: 0o644 });
  await fs.rename(partial, file);
  return result;
}
