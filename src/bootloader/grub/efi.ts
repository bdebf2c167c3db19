import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { run } from '../../util/exec.js';
import { UserError } from '../../util/errors.js';
import { MENDER_GRUBENV_DIR } from './env.js';

export type GrubEfiArch = 'amd64' | 'arm64';

export interface GrubEfiTarget {
  /** grub-mkimage -O format, also the module directory's name under /usr/lib/grub. */
  format: string;
  /** Where UEFI firmware looks for a removable-media loader, on the ESP. */
  loaderPath: string;
  /** PE/COFF machine type of the image. */
  machine: number;
  /** Debian package holding the modules. */
  modulesPackage: string;
}

export const GRUB_EFI_TARGETS: Record<GrubEfiArch, GrubEfiTarget> = {
  amd64: { format: 'x86_64-efi', loaderPath: '/EFI/BOOT/BOOTX64.EFI', machine: 0x8664, modulesPackage: 'grub-efi-amd64-bin' },
  arm64: { format: 'arm64-efi', loaderPath: '/EFI/BOOT/BOOTAA64.EFI', machine: 0xaa64, modulesPackage: 'grub-efi-arm64-bin' },
};

/** What the Mender grub.cfg and the early config use (dependencies are added by grub-mkimage). */
export const GRUB_EFI_MODULES: Record<GrubEfiArch, readonly string[]> = {
  amd64: grubModules(['efi_gop', 'efi_uga']),
  arm64: grubModules(['efi_gop']),
};

function grubModules(video: string[]): string[] {
  return [
    'boot', 'linux', 'gzio', 'ext2', 'fat', 'part_msdos', 'part_gpt', 'normal', 'configfile',
    'search', 'loadenv', 'test', 'echo', 'regexp', 'sleep', 'reboot', 'halt', 'serial',
    'terminal', 'cat', 'ls', ...video,
  ];
}

export const GRUB_CONFIG_DIR = '/EFI/BOOT';

/**
 * The config embedded in the loader. GRUB runs it with its rescue parser (one command per line,
 * no `if`): find the boot partition, trying the device the firmware loaded us from first, and
 * point the prefix at our config directory; normal mode then reads `$prefix/grub.cfg`.
 */
export function grubEarlyConfig(configDir = GRUB_CONFIG_DIR, markerFile = `${MENDER_GRUBENV_DIR}/mender_grubenv1/env`): string {
  for (const value of [configDir, markerFile]) {
    if (!value.startsWith('/') || /[\s'"\\$;]/.test(value)) throw new UserError(`'${value}' must be an absolute path on the boot partition without spaces or quotes.`);
  }
  return [
    `search --no-floppy --set=root --hint=\${root} --file ${markerFile}`,
    `set prefix=(\${root})${configDir.replace(/\/+$/, '')}`,
    '',
  ].join('\n');
}

export interface GrubEfiOptions {
  arch: GrubEfiArch;
  /** The target's GRUB modules, e.g. /usr/lib/grub/x86_64-efi from grub-efi-amd64-bin. */
  modulesDir: string;
  /** The .EFI file to write. */
  output: string;
  /** Directory on the boot partition holding grub.cfg. */
  configDir?: string;
  /** A file only the Mender boot partition has, to find it when the firmware does not say. */
  markerFile?: string;
  /** More modules to build in. */
  extraModules?: readonly string[];
}

/** Build a standalone GRUB EFI loader with grub-mkimage, the early config built in. */
export async function buildGrubEfi(options: GrubEfiOptions): Promise<void> {
  const target = GRUB_EFI_TARGETS[options.arch];
  const modules = [...new Set([...GRUB_EFI_MODULES[options.arch], ...(options.extraModules ?? [])])];
  const hint = `Install ${target.modulesPackage} (for the target architecture) or point to its /usr/lib/grub/${target.format} directory.`;
  const present = new Set(await fs.readdir(options.modulesDir).catch(() => [] as string[]));
  if (!present.has('moddep.lst')) {
    throw new UserError(`${options.modulesDir} is not a GRUB ${target.format} module directory (it has no moddep.lst).`, { hint });
  }
  const missing = modules.filter((name) => !present.has(`${name}.mod`));
  if (missing.length > 0) {
    throw new UserError(`The GRUB modules in ${options.modulesDir} lack ${missing.join(', ')}.`, { hint });
  }

  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'grub-efi-'));
  try {
    const configDir = options.configDir ?? GRUB_CONFIG_DIR;
    const config = path.join(dir, 'early.cfg');
    await fs.writeFile(config, grubEarlyConfig(configDir, options.markerFile));
    await run('grub-mkimage', [
      '--directory', options.modulesDir,
      '--format', target.format,
      '--output', options.output,
      '--prefix', configDir,
      '--config', config,
      ...modules,
    ], { doing: `building the GRUB ${target.format} loader` });
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
  const head = Buffer.alloc(4096);
  const file = await fs.open(options.output, 'r');
  const { bytesRead } = await file.read(head, 0, head.length, 0).finally(() => file.close());
  const machine = peMachine(head.subarray(0, bytesRead));
  if (machine !== target.machine) {
    throw new UserError(`grub-mkimage made ${options.output} for machine 0x${(machine ?? 0).toString(16)}, not ${target.format}.`, { hint });
  }
}

/** The machine type of a PE/COFF image (0x8664 x86-64, 0xaa64 arm64), or null if it is none. */
export function peMachine(image: Uint8Array): number | null {
  const data = Buffer.from(image.buffer, image.byteOffset, image.byteLength);
  if (data.length < 0x40 || data.toString('latin1', 0, 2) !== 'MZ') return null;
  const pe = data.readUInt32LE(0x3c);
  if (pe + 6 > data.length || data.toString('latin1', pe, pe + 4) !== 'PE\0\0') return null;
  return data.readUInt16LE(pe + 4);
}
