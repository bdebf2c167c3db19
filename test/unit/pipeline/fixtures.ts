/** A run environment and an extraction result without a conversion: for the pipeline's pure steps. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../../src/config/load.js';
import type { FsEditor } from '../../../src/fs/editor.js';
import type { ImageFacts } from '../../../src/image/probe.js';
import { OutputSet } from '../../../src/pipeline/outputs.js';
import type { Extracted, RunEnv } from '../../../src/pipeline/types.js';
import { silentLogger } from '../../../src/util/log.js';

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'pipeline-test-'));
let configs = 0;

/** The effective configuration of a YAML text layered over the defaults. */
export function envWith(yaml: string, overrides: Partial<RunEnv> = {}): RunEnv {
  const file = path.join(scratch, `config-${configs++}.yaml`);
  fs.writeFileSync(file, yaml);
  const { config, sources } = loadConfig({ configFiles: [file], env: {} });
  const outputDir = path.join(scratch, 'deploy');
  return {
    config,
    sources,
    inputPath: path.join(scratch, 'golden.img.xz'),
    outputDir,
    runDir: path.join(scratch, 'run-1'),
    cacheDir: path.join(scratch, 'cache'),
    logger: silentLogger,
    epoch: 1_700_000_000,
    dryRun: false,
    notes: [],
    outputs: new OutputSet(outputDir, 'run-1'),
    durations: [],
    defer: () => undefined,
    ...overrides,
  };
}

export function factsWith(facts: Partial<ImageFacts> = {}): ImageFacts {
  return {
    os: { id: 'debian', idLike: [], versionId: '12', versionCodename: 'bookworm', prettyName: 'Debian GNU/Linux 12 (bookworm)' },
    arch: 'amd64',
    hostname: 'golden',
    rootfsKernels: [],
    rootfsInitrds: [],
    bootKernels: [],
    ...facts,
  };
}

/** Editors are not read by the pure steps: any use of them fails the test. */
const untouchable = new Proxy({}, { get: () => { throw new Error('the editor must not be used here'); } }) as FsEditor;

export function extractedWith(parts: Partial<Extracted> = {}): Extracted {
  return {
    files: { boot: '/run/boot.vfat', rootfs: '/run/rootfs.ext4' },
    compression: 'xz',
    table: { scheme: 'dos' },
    sha256: Promise.resolve('0'.repeat(64)),
    bootPartition: 1,
    rootPartition: 2,
    bootBytes: 256 * 1024 * 1024,
    rootfs: untouchable,
    boot: untouchable,
    facts: factsWith(),
    ...parts,
  };
}
