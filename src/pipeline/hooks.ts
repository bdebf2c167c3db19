import fs from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { execa } from 'execa';
import type { Config, KnobKey } from '../config/knobs.js';
import type { FsEditor } from '../fs/editor.js';
import type { ImageFacts } from '../image/probe.js';
import { UserError } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import type { Report } from './runner.js';
import type { ModifyInput, RunEnv } from './types.js';

/**
 * Hooks from the configuration: board integrations (board.hooks, run right after the bootloader
 * integration) and the user's hooks.<point> lists. Each is a TypeScript/JavaScript module whose
 * default export receives the HookApi, or an executable that gets the facts in its environment
 * and staging directories applied as overlays when it exits.
 */

/** Where hooks run, in this order; platform_modify holds the board's (board.hooks). */
export const HOOK_POINTS = ['pre_modify', 'platform_modify', 'modify', 'post_modify', 'package'] as const;
export type HookPoint = (typeof HOOK_POINTS)[number];

const HOOK_KNOBS: Record<HookPoint, KnobKey> = {
  pre_modify: 'hooks.pre_modify',
  platform_modify: 'board.hooks',
  modify: 'hooks.modify',
  post_modify: 'hooks.post_modify',
  package: 'hooks.package',
};

export interface Hook {
  /** Shown in progress and in the error when it fails. */
  name: string;
  file: string;
  /** Its private scratch directory. */
  workDir: string;
}

export type Hooks = Readonly<Record<HookPoint, readonly Hook[]>>;

/** What a TypeScript/JavaScript hook receives (its module's default export is called with it). */
export interface HookApi {
  stage: HookPoint;
  rootfs: FsEditor;
  boot: FsEditor;
  config: Readonly<Config>;
  facts: ImageFacts;
  deviceTypes: readonly string[];
  /** Where the boot partition is mounted on the device (e.g. /boot/firmware). */
  bootMountpoint: string;
  logger: Logger;
  /** A private scratch directory for this hook. */
  workDir: string;
}

const MODULE_SUFFIX = /\.(ts|mts|js|mjs)$/;
const TAIL_LINES = 20;

/** The configured hooks, checked to exist (a preflight check: nothing is extracted before). */
export async function configuredHooks(env: RunEnv): Promise<Hooks> {
  let index = 0;
  const hooks = {} as Record<HookPoint, Hook[]>;
  for (const point of HOOK_POINTS) {
    const knob = HOOK_KNOBS[point];
    hooks[point] = [];
    for (const file of env.config[knob] as readonly string[]) {
      const stat = await fs.stat(file).catch(() => undefined);
      if (!stat?.isFile()) throw new UserError(`The ${point} hook ${file} does not exist.`, { hint: `Check ${knob} (${env.sources[knob]}).` });
      const workDir = path.join(env.runDir, 'hooks', `${String(index++).padStart(2, '0')}-${path.basename(file)}`);
      hooks[point].push({ name: path.basename(file), file, workDir });
    }
  }
  return hooks;
}

/** Facts for script hooks, as environment variables. */
export function hookEnvironment(input: ModifyInput, point: HookPoint): Record<string, string> {
  const { env, extracted, target } = input;
  const facts = extracted.facts;
  return {
    MENDER_CONVERT_STAGE: point,
    MENDER_ARTIFACT_NAME: env.config['artifact.name'],
    MENDER_DEVICE_TYPES: target.deviceTypes.join(' '),
    MENDER_BOOT_PART_MOUNT_LOCATION: target.bootMountpoint,
    MENDER_BOOTLOADER: env.config['bootloader.type'],
    IMAGE_OS_ID: facts.os.id,
    IMAGE_OS_VERSION_ID: facts.os.versionId,
    IMAGE_OS_CODENAME: facts.os.versionCodename,
    IMAGE_ARCH: facts.arch,
    IMAGE_HOSTNAME: facts.hostname,
    IMAGE_KERNELS: [...facts.rootfsKernels, ...facts.bootKernels.map((k) => `boot:${k}`)].join(' '),
  };
}

async function runModuleHook(input: ModifyInput, point: HookPoint, hook: Hook): Promise<void> {
  const { env, extracted, target } = input;
  const url = pathToFileURL(hook.file).href;
  const module = hook.file.endsWith('ts')
    ? await (await import('tsx/esm/api')).tsImport(url, import.meta.url)
    : await import(url);
  // A .ts file outside an ESM package is loaded as CommonJS: its default export is nested once.
  const candidates = [module.default, module.default?.default, module.hook, module.default?.hook];
  const fn = candidates.find((candidate) => typeof candidate === 'function');
  if (typeof fn !== 'function') {
    throw new UserError(`The hook ${hook.file} exports no function.`, { hint: 'Export the hook as `export default async function (api) { … }`.' });
  }
  const api: HookApi = {
    stage: point,
    rootfs: extracted.rootfs,
    boot: extracted.boot,
    config: env.config,
    facts: extracted.facts,
    deviceTypes: target.deviceTypes,
    bootMountpoint: target.bootMountpoint,
    logger: env.logger,
    workDir: hook.workDir,
  };
  await fn(api);
  await extracted.rootfs.flush();
  await extracted.boot.flush();
}

async function runScriptHook(input: ModifyInput, point: HookPoint, hook: Hook): Promise<void> {
  const { env, extracted } = input;
  const rootfsStaging = path.join(hook.workDir, 'rootfs');
  const bootStaging = path.join(hook.workDir, 'boot');
  await fs.mkdir(rootfsStaging, { recursive: true, mode: 0o700 });
  await fs.mkdir(bootStaging, { recursive: true, mode: 0o700 });
  env.logger.debug(`$ ${hook.file}`);
  const configJson = path.join(hook.workDir, 'config.json');
  await fs.writeFile(configJson, `${JSON.stringify(env.config, null, 2)}\n`, { mode: 0o600 });
  const result = await execa(hook.file, [], {
    reject: false,
    all: true,
    cwd: path.dirname(hook.file),
    env: {
      ...hookEnvironment(input, point),
      ROOTFS_STAGING: rootfsStaging,
      BOOT_STAGING: bootStaging,
      WORK_DIR: hook.workDir,
      MENDER_CONVERT_CONFIG: configJson,
    },
  });
  const output = String(result.all ?? '');
  if (output.trim()) env.logger.debug(output);
  if (result.exitCode !== 0 || result.failed) {
    const why = result.exitCode === undefined ? (result.shortMessage ?? 'could not be run') : `exited with status ${result.exitCode}`;
    throw new UserError(`The ${point} hook ${path.basename(hook.file)} ${why}.`, {
      detail: output.trimEnd().split('\n').slice(-TAIL_LINES).join('\n') || undefined,
      hint: result.code === 'EACCES' ? `Make it executable: chmod +x ${hook.file}` : undefined,
    });
  }
  await extracted.rootfs.copyIn(rootfsStaging, '/');
  if ((await fs.readdir(bootStaging)).length > 0) await extracted.boot.copyIn(bootStaging, '/');
}

/** Run the hooks of one point, in order. */
export async function runHooks(input: ModifyInput, hooks: Hooks, point: HookPoint, report?: Report): Promise<void> {
  for (const hook of hooks[point]) {
    report?.(`${point}: ${hook.name}`);
    input.env.logger.info(`hook ${point}: ${hook.name}`);
    try {
      await fs.mkdir(hook.workDir, { recursive: true, mode: 0o700 });
      await (MODULE_SUFFIX.test(hook.file) ? runModuleHook : runScriptHook)(input, point, hook);
    } catch (error) {
      if (error instanceof UserError) throw error;
      throw new UserError(`The ${point} hook '${hook.name}' failed: ${(error as Error).message ?? error}`, { cause: error });
    }
  }
}
