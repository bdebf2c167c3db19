import fs from 'node:fs/promises';
import path from 'node:path';
import { KNOB_KEYS, KNOBS, type Knob } from '../../config/knobs.js';
import { PACKAGE_ROOT } from '../../config/load.js';
import { diskIdentifier, partitionDevice, partitionUuid } from '../../mender/devices.js';
import { writeAtomically } from '../../util/atomic.js';
import { sha256File } from '../../util/hash.js';
import type { Extracted, Modified, Outputs, RunEnv, Target } from '../types.js';

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
    /** MBR disk identifier (0x…) or GPT disk GUID: the fleet's, like the PARTUUIDs. */
    diskId: string;
    partitions: { number: number; role: string; start: number; size: number; device: string; partuuid: string }[];
    /** The board's raw files written before the first partition (board.raw_files). */
    rawFiles: { file: string; origin: string; offset: number; bytes: number; sha256: string }[];
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

export interface ResultsInput {
  env: RunEnv;
  extracted: Extracted;
  target: Target;
  modified: Modified;
  outputs: Outputs;
  totalSeconds: number;
}

/** Writes the results file (target.outputs.results) and returns what it holds. */
export async function writeResults({ env, extracted, target, modified, outputs, totalSeconds }: ResultsInput): Promise<ConversionResult> {
  const pkg = JSON.parse(await fs.readFile(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string };
  // Checksums computed while the outputs were written are awaited; any other is read now, all in parallel.
  const files = await Promise.all(outputs.files.map(async (o) => ({ kind: o.kind, path: o.path, bytes: o.bytes, sha256: await (o.sha256 ?? sha256File(o.path)) })));
  const { layout } = target;
  const roles: [string, typeof layout.boot][] = [['boot', layout.boot], ['rootfs-a', layout.rootfsA], ['rootfs-b', layout.rootfsB], ['data', layout.data]];
  const { facts } = extracted;
  const result: ConversionResult = {
    tool: { name: 'mender-convert', version: pkg.version },
    sourceDateEpoch: env.epoch,
    input: { path: env.inputPath, sha256: await extracted.sha256, format: extracted.compression },
    config: publicConfig(env.config),
    image: { os: facts.os.prettyName, osId: facts.os.id, osVersion: facts.os.versionId, arch: facts.arch, hostname: facts.hostname },
    deviceTypes: [...target.deviceTypes],
    artifactName: env.config['artifact.name'],
    bootloader: env.config['bootloader.type'],
    layout: {
      scheme: target.naming.scheme,
      totalBytes: layout.totalBytes,
      alignment: layout.alignment,
      rootfsFilesystemBytes: outputs.rootfsBytes,
      diskId: diskIdentifier(target.naming),
      partitions: roles.map(([role, extent]) => ({
        number: extent.number, role, start: extent.start, size: extent.size,
        device: partitionDevice(extent.number, target.naming), partuuid: partitionUuid(extent.number, target.naming),
      })),
      rawFiles: target.rawFiles.map((file) => ({ file: file.name, origin: file.origin, offset: file.offset, bytes: file.data.length, sha256: file.sha256 })),
    },
    packages: [...modified.packages],
    outputs: files,
    durations: env.durations,
    totalSeconds,
  };
  await writeAtomically(target.outputs.results, (partial) => fs.writeFile(partial, `${JSON.stringify(result, null, 2)}\n`, { mode: 0o644 }));
  return result;
}
