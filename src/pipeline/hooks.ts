import fs from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { execa } from 'execa';
import type { Config, KnobKey } from '../config/knobs.js';
import type { FsEditor } from '../fs/editor.js';
import { UserError } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import type { ConversionContext, Hook, HookPoint } from './context.js';
import type { ImageFacts } from './probe.js';

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

/** Facts for script hooks, as environment variables. */
export function hookEnvironment(ctx: ConversionContext, point: HookPoint): Record<string, string> {
  const facts = ctx.facts!;
  return {
    MENDER_CONVERT_STAGE: point,
    MENDER_ARTIFACT_NAME: ctx.config['artifact.name'],
    MENDER_DEVICE_TYPES: ctx.deviceTypes!.join(' '),
    MENDER_BOOT_PART_MOUNT_LOCATION: ctx.bootMountpoint!,
    MENDER_BOOTLOADER: ctx.config['bootloader.type'],
    IMAGE_OS_ID: facts.os.id,
    IMAGE_OS_VERSION_ID: facts.os.versionId,
    IMAGE_OS_CODENAME: facts.os.versionCodename,
    IMAGE_ARCH: facts.arch,
    IMAGE_HOSTNAME: facts.hostname,
    IMAGE_KERNELS: [...facts.rootfsKernels, ...facts.bootKernels.map((k) => `boot:${k}`)].join(' '),
  };
}

async function runModuleHook(ctx: ConversionContext, point: HookPoint, file: string, workDir: string): Promise<void> {
  const url = pathToFileURL(file).href;
  const module = file.endsWith('ts')
    ? await (await import('tsx/esm/api')).tsImport(url, import.meta.url)
    : await import(url);
  // A .ts file outside an ESM package is loaded as CommonJS: its default export is nested once.
  const candidates = [module.default, module.default?.default, module.hook, module.default?.hook];
  const fn = candidates.find((candidate) => typeof candidate === 'function');
  if (typeof fn !== 'function') {
    throw new UserError(`The hook ${file} exports no function.`, { hint: 'Export the hook as `export default async function (api) { … }`.' });
  }
  const api: HookApi = {
    stage: point,
    rootfs: ctx.rootfs!,
    boot: ctx.boot!,
    config: ctx.config,
    facts: ctx.facts!,
    deviceTypes: ctx.deviceTypes!,
    bootMountpoint: ctx.bootMountpoint!,
    logger: ctx.logger,
    workDir,
  };
  await fn(api);
  await ctx.rootfs!.flush();
  await ctx.boot!.flush();
}

async function runScriptHook(ctx: ConversionContext, point: HookPoint, file: string, workDir: string): Promise<void> {
  const rootfsStaging = path.join(workDir, 'rootfs');
  const bootStaging = path.join(workDir, 'boot');
  await fs.mkdir(rootfsStaging, { recursive: true, mode: 0o700 });
  await fs.mkdir(bootStaging, { recursive: true, mode: 0o700 });
  ctx.logger.debug(`$ ${file}`);
  const result = await execa(file, [], {
    reject: false,
    all: true,
    cwd: path.dirname(file),
    env: {
      ...hookEnvironment(ctx, point),
      ROOTFS_STAGING: rootfsStaging,
      BOOT_STAGING: bootStaging,
      WORK_DIR: workDir,
      MENDER_CONVERT_CONFIG: await writeConfigJson(ctx, workDir),
    },
  });
  const output = String(result.all ?? '');
  if (output.trim()) ctx.logger.debug(output);
  if (result.exitCode !== 0 || result.failed) {
    const why = result.exitCode === undefined ? (result.shortMessage ?? 'could not be run') : `exited with status ${result.exitCode}`;
    throw new UserError(`The ${point} hook ${path.basename(file)} ${why}.`, {
      detail: output.trimEnd().split('\n').slice(-TAIL_LINES).join('\n') || undefined,
      hint: result.code === 'EACCES' ? `Make it executable: chmod +x ${file}` : undefined,
    });
  }
  await ctx.rootfs!.copyIn(rootfsStaging, '/');
  if ((await fs.readdir(bootStaging)).length > 0) await ctx.boot!.copyIn(bootStaging, '/');
}

async function writeConfigJson(ctx: ConversionContext, workDir: string): Promise<string> {
  const file = path.join(workDir, 'config.json');
  await fs.writeFile(file, `${JSON.stringify(ctx.config, null, 2)}\n`, { mode: 0o600 });
  return file;
}

/** Hooks from the configuration (hooks.<point> lists), appended to the built-in ones. */
export async function registerConfiguredHooks(ctx: ConversionContext): Promise<void> {
  const points: [HookPoint, readonly string[]][] = [
    ['pre_modify', ctx.config['hooks.pre_modify']],
    ['platform_modify', ctx.config['board.hooks']],
    ['modify', ctx.config['hooks.modify']],
    ['post_modify', ctx.config['hooks.post_modify']],
    ['package', ctx.config['hooks.package']],
  ];
  let index = 0;
  for (const [point, files] of points) {
    for (const file of files) {
      const stat = await fs.stat(file).catch(() => undefined);
      const knob = (point === 'platform_modify' ? 'board.hooks' : `hooks.${point}`) as KnobKey;
      if (!stat?.isFile()) throw new UserError(`The ${point} hook ${file} does not exist.`, { hint: `Check ${knob} (${ctx.sources[knob]}).` });
      const workDir = path.join(ctx.runDir, 'hooks', `${String(index++).padStart(2, '0')}-${path.basename(file)}`);
      const hook: Hook = {
        name: path.basename(file),
        run: async () => {
          await fs.mkdir(workDir, { recursive: true, mode: 0o700 });
          await (MODULE_SUFFIX.test(file) ? runModuleHook : runScriptHook)(ctx, point, file, workDir);
        },
      };
      ctx.hooks[point].push(hook);
    }
  }
}
