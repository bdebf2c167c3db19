import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../util/errors.js';
import { KEY_OF_LEGACY } from './knobs.js';
import { coerce, nearestKey, problemsError, type Layer } from './load.js';

/**
 * Upstream mender-convert config files (bash: VAR=value lines, `source`, functions), read
 * without executing anything. Supported variables map to knobs; everything else is reported
 * with its line and what to use instead, never silently ignored.
 */

/** Upstream variables that describe what this tool always does: accepted at these values. */
const FIXED: Record<string, { values: string[] | 'any'; why: string }> = {
  MENDER_BOOT_PART_NUMBER: { values: ['1'], why: 'the boot partition is always number 1 (upstream too writes the partitions as 1 to 4 whatever this says)' },
  MENDER_ROOTFS_PART_A_NUMBER: { values: ['2'], why: 'rootfs A is always number 2' },
  MENDER_ROOTFS_PART_B_NUMBER: { values: ['3'], why: 'rootfs B is always number 3' },
  MENDER_DATA_PART_NUMBER: { values: ['4'], why: 'the data partition is always number 4' },
  MENDER_ENABLE_SYSTEMD: { values: ['y'], why: 'the image is always set up for systemd' },
  MENDER_SPARSE_IMAGE: { values: 'any', why: 'images are always written sparse' },
  MENDER_EXPAND_WORK_ROOTFS: { values: 'any', why: 'the root filesystem is resized to its computed size' },
  MENDER_CLIENT_DATA_DIR_SERVICE_URL: { values: 'any', why: 'the data-dir unit ships with mender-convert' },
  MENDER_STORAGE_URL: { values: 'any', why: 'nothing is downloaded from it' },
  MENDER_GITHUB_ORG: { values: 'any', why: 'nothing is downloaded from it' },
  MENDER_FLASH_VERSION: { values: ['latest', 'auto'], why: 'mender-flash comes with the client packages' },
  MENDER_SETUP_INSTALL: { values: ['auto', 'n'], why: 'mender-setup comes with the client packages' },
  MENDER_SETUP_VERSION: { values: 'any', why: 'mender-setup comes with the client packages' },
  MENDER_SNAPSHOT_INSTALL: { values: ['auto', 'n'], why: 'mender-snapshot is not installed' },
  MENDER_SNAPSHOT_VERSION: { values: 'any', why: 'mender-snapshot is not installed' },
  MENDER_ADDON_CONNECT_VERSION: { values: 'any', why: 'add-ons are installed with client.extra_packages' },
  MENDER_ADDON_CONFIGURE_VERSION: { values: 'any', why: 'add-ons are installed with client.extra_packages' },
  MENDER_DOCKER_COMPOSE_INSTALL: { values: ['n'], why: 'extra packages are installed with client.extra_packages' },
  MENDER_DOCKER_COMPOSE_VERSION: { values: 'any', why: 'extra packages are installed with client.extra_packages' },
  MENDER_INSTALL_INPUT_PACKAGES: { values: ['n'], why: 'local .deb files are listed in client.extra_packages or client.local_debs' },
  MENDER_INSTALL_INPUT_PACKAGES_PATH: { values: 'any', why: 'local .deb files are listed in client.extra_packages or client.local_debs' },
  MENDER_CLIENT_VERSION_INVENTORY_SCRIPT_INSTALL: { values: ['y', 'n'], why: "the client's own inventory scripts are installed with it" },
  MENDER_CLIENT_VERSION_INVENTORY_SCRIPT_VERSION: { values: 'any', why: "the client's own inventory scripts are installed with it" },
  MENDER_DTB_NAME: { values: ['kernel.dtb'], why: 'the U-Boot integration finds the device tree itself' },
  MENDER_GRUB_D_INTEGRATION: { values: ['auto', 'n'], why: 'the standalone GRUB integration is used' },
  GRUB_VERSION: { values: 'any', why: "GRUB is built from the target's GRUB modules" },
  MENDER_GRUBENV_VERSION: { values: 'any', why: 'the GRUB environment tools ship with mender-convert' },
  MENDER_GRUBENV_URL: { values: 'any', why: 'the GRUB environment tools ship with mender-convert' },
  MENDER_GRUB_BINARY_STORAGE_URL: { values: 'any', why: "GRUB is built from the target's GRUB modules" },
  MENDER_GRUB_KERNEL_IMAGETYPE: { values: [''], why: 'the kernel is found in /boot' },
  MENDER_GRUB_INITRD_IMAGETYPE: { values: [''], why: 'the initrd is found in /boot' },
  MENDER_IGNORE_UBOOT_BROKEN_UEFI: { values: ['0'], why: 'not applicable' },
  MENDER_IGNORE_MISSING_EFI_STUB: { values: ['0'], why: 'not applicable' },
};

/** Known upstream variables we do not support (yet): what to do instead. */
const UNSUPPORTED: Record<string, string> = {
  PLATFORM_MODIFY_HOOKS: 'hook functions are bash; write them as hooks (a script or module) in a YAML config',
  PLATFORM_PACKAGE_HOOKS: 'hook functions are bash; write them as hooks (a script or module) in a YAML config',
  USER_LOCAL_MODIFY_HOOKS: 'hook functions are bash; write them as hooks (a script or module) in a YAML config',
  OVERLAY_MODIFY_HOOKS: 'hook functions are bash; write them as hooks (a script or module) in a YAML config',
};

export interface LegacyProblem {
  file: string;
  line: number;
  message: string;
}

export interface LegacyResult {
  layer: Layer;
  problems: LegacyProblem[];
  /** Variables accepted without effect, with the reason (shown by --migrate). */
  notes: LegacyProblem[];
}

/** Does this file look like an upstream shell config rather than YAML? */
export function isLegacyConfig(file: string, text: string): boolean {
  if (/\.ya?ml$/i.test(file)) return false;
  const meaningful = text.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  if (meaningful.length === 0) return !/\.ya?ml$/i.test(file) && !/\.json$/i.test(file);
  return meaningful.some((l) => /^(export\s+)?[A-Za-z_][A-Za-z0-9_]*\+?=/.test(l) || /^(source|\.)\s/.test(l) || /^(function\s+)?[\w-]+\s*\(\)/.test(l));
}

/** Join backslash-continued lines, keeping the number of each logical line's first line. */
function logicalLines(text: string): { line: number; text: string }[] {
  const out: { line: number; text: string }[] = [];
  const raw = text.split('\n');
  for (let i = 0; i < raw.length; i++) {
    const start = i;
    let current = raw[i]!;
    while (current.endsWith('\\') && i + 1 < raw.length) current = current.slice(0, -1) + raw[++i]!;
    out.push({ line: start + 1, text: current });
  }
  return out;
}

/** The value of a shell assignment: quotes removed, ${VAR}/$VAR expanded from earlier ones. */
function shellValue(raw: string, vars: Map<string, string>, report: (message: string) => void): string {
  let out = '';
  let i = 0;
  const expand = (name: string) => {
    if (!vars.has(name)) report(`\${${name}} is not set earlier in the config; it expands to nothing`);
    return vars.get(name) ?? '';
  };
  const dollar = () => {
    const braced = /^\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}/.exec(raw.slice(i));
    if (braced) {
      i += braced[0].length;
      return vars.get(braced[1]!) || (braced[2] !== undefined ? braced[3]! : expand(braced[1]!));
    }
    const plain = /^\$([A-Za-z_][A-Za-z0-9_]*)/.exec(raw.slice(i));
    if (plain) {
      i += plain[0].length;
      return expand(plain[1]!);
    }
    if (raw.startsWith('$(', i)) report('command substitution $(…) is not run; write the value itself');
    i++;
    return '$';
  };
  while (i < raw.length) {
    const c = raw[i]!;
    if (c === "'") {
      const end = raw.indexOf("'", i + 1);
      out += raw.slice(i + 1, end === -1 ? raw.length : end);
      i = end === -1 ? raw.length : end + 1;
    } else if (c === '"') {
      i++;
      while (i < raw.length && raw[i] !== '"') {
        if (raw[i] === '\\' && i + 1 < raw.length) {
          out += raw[i + 1];
          i += 2;
        } else if (raw[i] === '$') out += dollar();
        else out += raw[i++];
      }
      i++;
    } else if (c === '$') {
      out += dollar();
    } else if (c === '#' && (i === 0 || /\s/.test(raw[i - 1]!))) {
      break;
    } else if (/\s/.test(c)) {
      if (raw.slice(i).trim() && !raw.slice(i).trim().startsWith('#')) report('unquoted spaces in a value: quote it');
      break;
    } else if (c === '\\' && i + 1 < raw.length) {
      out += raw[i + 1];
      i += 2;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

interface ParseState {
  vars: Map<string, string>;
  values: Map<string, { value: string; file: string; line: number }>;
  problems: LegacyProblem[];
  notes: LegacyProblem[];
  seen: Set<string>;
}

function parseFile(file: string, state: ParseState, baseDir: string): void {
  const real = fs.realpathSync(file);
  if (state.seen.has(real)) return;
  state.seen.add(real);
  const text = fs.readFileSync(file, 'utf8');
  const lines = logicalLines(text);
  for (let index = 0; index < lines.length; index++) {
    const { line, text: content } = lines[index]!;
    const trimmed = content.trim();
    const problem = (message: string) => state.problems.push({ file, line, message });
    if (!trimmed || trimmed.startsWith('#')) continue;

    const fn = /^(?:function\s+)?([A-Za-z_][\w-]*)\s*\(\)\s*\{?/.exec(trimmed) ?? /^function\s+([A-Za-z_][\w-]*)\s*\{?/.exec(trimmed);
    if (fn) {
      problem(fn[1] === 'mender_create_artifact'
        ? "bash function 'mender_create_artifact' is not run; what its mender-artifact flags did are settings in a YAML config: artifact.state_scripts (--script), artifact.provides, artifact.depends, artifact.clears_provides, artifact.software_name, artifact.software_version, artifact.signing_key (--key), artifact.compression"
        : `bash function '${fn[1]}' is not run; move what it does into a hook (a script or TypeScript module under hooks: in a YAML config) or an overlay`);
      // skip the function body: up to the line that closes it
      let depth = (content.match(/\{/g) ?? []).length - (content.match(/\}/g) ?? []).length;
      while (depth > 0 && index + 1 < lines.length) {
        const body = lines[++index]!.text;
        depth += (body.match(/\{/g) ?? []).length - (body.match(/\}/g) ?? []).length;
      }
      continue;
    }

    const source = /^(?:source|\.)\s+(.+)$/.exec(trimmed);
    if (source) {
      const target = shellValue(source[1]!.trim(), state.vars, problem);
      const candidates = [path.resolve(path.dirname(file), target), path.resolve(baseDir, target)];
      const found = candidates.find((candidate) => fs.existsSync(candidate));
      if (!found) problem(`sourced file '${target}' not found (looked in ${[...new Set(candidates.map(path.dirname))].join(' and ')})`);
      else parseFile(found, state, baseDir);
      continue;
    }

    const assignment = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)(\+?)=(.*)$/.exec(trimmed);
    if (!assignment) {
      problem(`'${trimmed.slice(0, 60)}' is a shell command, which is not run; express it as a setting, an overlay or a hook`);
      continue;
    }
    const [, name, append, rawValue] = assignment as unknown as [string, string, string, string];
    if (rawValue.startsWith('(')) {
      const why = UNSUPPORTED[name] ?? 'bash arrays are not supported';
      problem(`${name}: ${why}`);
      continue;
    }
    const value = shellValue(rawValue, state.vars, problem);
    const full = append ? `${state.vars.get(name) ?? ''}${value}` : value;
    state.vars.set(name, full);
    state.values.set(name, { value: full, file, line });
  }
}

/** Read an upstream-style config file (and what it sources) into a layer. */
export function readLegacyConfig(file: string, options: { baseDir?: string } = {}): LegacyResult {
  if (!fs.existsSync(file)) throw new UserError(`The config file ${file} does not exist.`);
  const state: ParseState = { vars: new Map(), values: new Map(), problems: [], notes: [], seen: new Set() };
  parseFile(file, state, options.baseDir ?? process.cwd());
  const layer: Layer = new Map();
  for (const [name, { value, file: from, line }] of state.values) {
    const key = KEY_OF_LEGACY.get(name);
    const at = { file: from, line };
    if (key) {
      const result = coerce(key, value, true);
      if ('problem' in result) state.problems.push({ ...at, message: `${name}: ${result.problem}` });
      else layer.set(key, { value: result.value, source: `${from}:${line} (${name})` });
      continue;
    }
    const fixed = FIXED[name];
    if (fixed) {
      if (fixed.values === 'any' || fixed.values.includes(value)) state.notes.push({ ...at, message: `${name} has no effect: ${fixed.why}` });
      else state.problems.push({ ...at, message: `${name}=${value} is not supported: ${fixed.why}` });
      continue;
    }
    if (UNSUPPORTED[name]) {
      state.problems.push({ ...at, message: `${name}: ${UNSUPPORTED[name]}` });
      continue;
    }
    if (/^(MENDER|IMAGE|DEPLOY)_/.test(name)) {
      state.problems.push({ ...at, message: `${name} is not supported by mender-convert (TypeScript); the nearest setting is '${nearestKey(name)}'` });
    } else {
      // A helper variable of the file itself (used in ${…} expansions); harmless.
      state.notes.push({ ...at, message: `${name} is a local variable of the config; used only in expansions` });
    }
  }
  return { layer, problems: state.problems, notes: state.notes };
}

/** As a layer of the configuration: every problem is an error. */
export function loadLegacyLayer(file: string): Layer {
  const { layer, problems } = readLegacyConfig(file);
  if (problems.length > 0) {
    const lines = problems.map((p) => `${p.file}:${p.line}: ${p.message}`);
    throw problemsError('The upstream-style config cannot be used as it is:', lines, `\`mender-convert config --migrate ${file}\` prints the equivalent YAML for what is supported.`);
  }
  return layer;
}
