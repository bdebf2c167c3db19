import { UserError } from '../../util/errors.js';

/**
 * GRUB environment blocks, written and read as GRUB's own envblk code does: the signature line,
 * one `name=value` line per variable (a backslash or newline in a value is preceded by a
 * backslash), then `#` padding to the block's size. `load_env`/`save_env` and grub-editenv
 * accept nothing else, and `save_env` can only rewrite a block in place, never grow it.
 */

export const GRUB_ENV_SIGNATURE = '# GRUB Environment Block\n';
export const GRUB_ENV_BLOCK_SIZE = 1024;

export type EnvValues = Record<string, string> | ReadonlyArray<readonly [string, string]>;

function entries(values: EnvValues): Array<readonly [string, string]> {
  return Array.isArray(values) ? [...(values as ReadonlyArray<readonly [string, string]>)] : Object.entries(values);
}

/** Names GRUB can read back: no `=`, no newline, not starting with the comment mark. */
function checkName(name: string): void {
  if (!name || name.includes('=') || name.includes('\n') || name.startsWith('#') || name.includes('\\')) {
    throw new UserError(`'${name}' cannot be a GRUB environment variable name.`, {
      hint: 'Use letters, digits and underscores.',
    });
  }
}

function escapeValue(value: string): string {
  return value.replace(/[\\\n]/g, (c) => `\\${c}`);
}

/** A GRUB environment block of exactly `size` bytes holding `values` in the given order. */
export function formatGrubEnv(values: EnvValues, size = GRUB_ENV_BLOCK_SIZE): Buffer {
  const seen = new Set<string>();
  const lines = entries(values).map(([name, value]) => {
    checkName(name);
    if (seen.has(name)) throw new UserError(`The GRUB environment sets '${name}' twice.`);
    seen.add(name);
    return `${name}=${escapeValue(value)}\n`;
  });
  const body = Buffer.from(GRUB_ENV_SIGNATURE + lines.join(''), 'utf8');
  if (body.length > size) {
    throw new UserError(`The GRUB environment needs ${body.length} bytes but a block holds ${size}.`, {
      hint: 'Shorten or drop some of the extra boot environment variables.',
    });
  }
  return Buffer.concat([body, Buffer.alloc(size - body.length, '#')]);
}

export interface ParsedGrubEnv {
  values: Record<string, string>;
  /** False when an entry runs off the end of the block: GRUB stops reading there. */
  intact: boolean;
}

/**
 * The variables of a GRUB environment block, read with GRUB's rules (comment lines skipped,
 * backslash escapes undone, reading stops at an entry that runs off the end).
 */
export function parseGrubEnv(block: Uint8Array): ParsedGrubEnv {
  const data = Buffer.from(block.buffer, block.byteOffset, block.byteLength);
  const signature = Buffer.from(GRUB_ENV_SIGNATURE);
  if (data.length < signature.length + 1 || !data.subarray(0, signature.length).equals(signature)) {
    throw new UserError('Not a GRUB environment block (the "# GRUB Environment Block" header is missing).');
  }
  const values: Record<string, string> = {};
  const end = data.length;
  const NL = 0x0a;
  const BACKSLASH = 0x5c;
  // Like GRUB's find_next_line: a backslash hides the next byte, so an escaped newline does not end the line.
  const nextLine = (from: number): number => {
    let p = from;
    while (p < end && data[p] !== NL) p += data[p] === BACKSLASH ? 2 : 1;
    return p + 1;
  };
  let p = signature.length;
  while (p < end) {
    if (data[p] === 0x23 /* # */) {
      p = nextLine(p);
      continue;
    }
    const nameEnd = data.indexOf(0x3d /* = */, p);
    if (nameEnd < 0) return { values, intact: false };
    let q = nameEnd + 1;
    const value: number[] = [];
    while (q < end && data[q] !== NL) {
      if (data[q] === BACKSLASH) {
        if (q + 1 >= end) return { values, intact: false };
        value.push(data[q + 1]);
        q += 2;
      } else {
        value.push(data[q]);
        q += 1;
      }
    }
    if (q >= end) return { values, intact: false };
    values[data.toString('utf8', p, nameEnd)] = Buffer.from(value).toString('utf8');
    p = q + 1;
  }
  return { values, intact: true };
}

export const MENDER_GRUBENV_DIR = '/grub-mender-grubenv';

export interface MenderGrubEnvOptions {
  /** The rootfs partition number to boot first (rootfs A). */
  bootPart: number;
  /** Directory of the two copies on the boot partition. */
  envDir?: string;
  /** More variables for the environment (after the Mender ones). */
  extra?: Record<string, string>;
}

export interface BootFile {
  /** Absolute path on the boot partition. */
  path: string;
  data: Buffer;
}

/**
 * The initial Mender environment: both copies and their lock blocks, every block 1024 bytes.
 * mender_boot_part_hex is what the Mender client writes beside mender_boot_part.
 */
export function menderGrubEnvFiles(options: MenderGrubEnvOptions): BootFile[] {
  const dir = (options.envDir ?? MENDER_GRUBENV_DIR).replace(/\/+$/, '');
  const env = formatGrubEnv([
    ['mender_boot_part', String(options.bootPart)],
    ['mender_boot_part_hex', options.bootPart.toString(16)],
    ['upgrade_available', '0'],
    ['bootcount', '0'],
    ...Object.entries(options.extra ?? {}),
  ]);
  const lock = formatGrubEnv([['editing', '0']]);
  return [1, 2].flatMap((copy) => [
    { path: `${dir}/mender_grubenv${copy}/env`, data: env },
    { path: `${dir}/mender_grubenv${copy}/lock`, data: lock },
  ]);
}
