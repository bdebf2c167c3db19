import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../util/errors.js';
import { KEY_OF_LEGACY, KNOBS, type KnobKey } from './knobs.js';
import { coerce, nearestKey, problemsError, type Layer } from './load.js';
import { HOOK_ARRAYS, HOOK_FUNCTIONS, isUpstreamModule, RASPBERRYPI_CONFIGS, UPSTREAM_DEFAULTS, upstreamFile, type UpstreamFile, type UpstreamFunction } from './upstream.js';

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
  MENDER_STORAGE_URL: { values: 'any', why: "nothing is downloaded from it (U-Boot comes from uboot.source, GRUB from Debian's packages)" },
  MENDER_GITHUB_ORG: { values: 'any', why: 'nothing is downloaded from it' },
  MENDER_FLASH_VERSION: { values: ['latest', 'auto'], why: 'mender-flash is installed at its newest with the client (client.source mender); only client.version and the add-on versions are pinned' },
  MENDER_SETUP_INSTALL: { values: ['auto', 'n'], why: 'mender-setup comes with the client packages' },
  MENDER_SETUP_VERSION: { values: ['latest'], why: 'mender-setup is installed at its newest with the client (client.source mender); only client.version and the add-on versions are pinned' },
  MENDER_SNAPSHOT_INSTALL: { values: ['auto', 'n'], why: 'mender-snapshot is installed only with client.source mender, with the client' },
  MENDER_SNAPSHOT_VERSION: { values: ['latest'], why: 'mender-snapshot is installed at its newest with the client (client.source mender); only client.version and the add-on versions are pinned' },
  MENDER_DOCKER_COMPOSE_INSTALL: { values: ['n'], why: 'extra packages are installed with client.extra_packages' },
  MENDER_DOCKER_COMPOSE_VERSION: { values: 'any', why: 'extra packages are installed with client.extra_packages' },
  MENDER_INSTALL_INPUT_PACKAGES: { values: ['n'], why: 'local .deb files are listed in client.extra_packages or client.local_debs' },
  MENDER_INSTALL_INPUT_PACKAGES_PATH: { values: 'any', why: 'local .deb files are listed in client.extra_packages or client.local_debs' },
  MENDER_CLIENT_VERSION_INVENTORY_SCRIPT_INSTALL: { values: ['y', 'n'], why: "the client's own inventory scripts are installed with it" },
  MENDER_CLIENT_VERSION_INVENTORY_SCRIPT_VERSION: { values: 'any', why: "the client's own inventory scripts are installed with it" },
  MENDER_DTB_NAME: { values: ['kernel.dtb'], why: 'the U-Boot integration finds the device tree itself' },
  MENDER_KERNEL_IMAGETYPE: { values: ['zImage'], why: 'a 32-bit U-Boot board keeps its kernel as /boot/zImage (uboot.kernel_image: auto)' },
  GRUB_VERSION: { values: 'any', why: "GRUB is built from the target's GRUB modules" },
  MENDER_GRUBENV_VERSION: { values: 'any', why: 'the GRUB environment tools ship with mender-convert' },
  MENDER_GRUBENV_URL: { values: 'any', why: 'the GRUB environment tools ship with mender-convert' },
  MENDER_GRUB_BINARY_STORAGE_URL: { values: 'any', why: "GRUB is built from the target's GRUB modules" },
  MENDER_GRUB_KERNEL_IMAGETYPE: { values: [''], why: 'the kernel is found in /boot' },
  MENDER_GRUB_INITRD_IMAGETYPE: { values: [''], why: 'the initrd is found in /boot' },
  MENDER_IGNORE_UBOOT_BROKEN_UEFI: { values: ['0'], why: 'not applicable' },
  MENDER_IGNORE_MISSING_EFI_STUB: { values: ['0'], why: 'not applicable' },
};

/** Variables of upstream's board configs that a config may change, and our setting for it. */
const BOARD_VARIABLES: Record<string, string> = {
  RASPBERRYPI_KERNEL_IMAGE: 'uboot.kernel_source (the kernel file on the boot partition)',
  RASPBERRYPI_BINARIES: 'uboot.source (a U-Boot binaries archive: a path or an http(s) URL)',
  RASPBERRYPI_BINARIES_URL: 'uboot.source (a U-Boot binaries archive: a path or an http(s) URL)',
};

export interface LegacyProblem {
  file: string;
  /** 0: the file as a whole. */
  line: number;
  message: string;
}

export interface LegacyResult {
  layer: Layer;
  problems: LegacyProblem[];
  /** What carried over without a setting of its own, with the reason (shown by --migrate). */
  notes: LegacyProblem[];
  /** Our config (configs/<name>.yaml) for the board of the upstream board config it reads. */
  board?: string;
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

interface Place {
  file: string;
  line: number;
}

interface ParseState {
  vars: Map<string, string>;
  values: Map<string, { value: string } & Place>;
  problems: LegacyProblem[];
  notes: LegacyProblem[];
  seen: Set<string>;
  /** Upstream's shipped files read, in the order they were reached. */
  upstream: UpstreamFile[];
  /** Variables that upstream's files set for their own functions. */
  boardVariables: Set<string>;
  /** Functions of upstream's files that we know, with what we do instead. */
  upstreamFunctions: (Place & { name: string; mapping: UpstreamFunction })[];
  hookArrays: (Place & { name: string; items: string[] })[];
}

/** What to write instead of a bash function of the user's. */
function userFunction(name: string, hooks?: string): string {
  if (name === 'mender_create_artifact') {
    return "bash function 'mender_create_artifact' is not run; what its mender-artifact flags did are settings in a YAML config: artifact.state_scripts (--script), artifact.provides, artifact.depends, artifact.clears_provides, artifact.software_name, artifact.software_version, artifact.signing_key (--key), artifact.compression";
  }
  const where = hooks ? `upstream runs it at its ${name} step: write it as a hook under ${hooks}` : 'write what it does as a hook (hooks.pre_modify, modify, post_modify or package)';
  return `bash function '${name}' is not run; ${where} in a YAML config (a script or a TypeScript module), or as an overlay`;
}

/** The directory a config's `source configs/…` lines mean when it sits in upstream's checkout: the one above its configs/. */
function checkoutRoot(file: string): string | undefined {
  const parts = path.resolve(file).split(path.sep);
  const index = parts.lastIndexOf('configs');
  return index > 0 ? parts.slice(0, index).join(path.sep) || path.sep : undefined;
}

function parseFile(file: string, state: ParseState, baseDir: string, via?: Place): void {
  const real = fs.realpathSync(file);
  if (state.seen.has(real)) return;
  state.seen.add(real);
  const known = upstreamFile(path.resolve(file)) ?? upstreamFile(real);
  const at = via ?? { file, line: 1 };
  if (known?.defaults) {
    state.notes.push({ ...at, message: `upstream's ${known.path} holds its defaults, which are read first anyway` });
    return;
  }
  if (known?.refused) {
    state.problems.push({ ...at, message: `upstream's ${known.path} cannot be carried over: ${known.refused}` });
    return;
  }
  if (known) state.upstream.push(known);
  const text = fs.readFileSync(file, 'utf8');
  const lines = logicalLines(text);
  for (let index = 0; index < lines.length; index++) {
    const { line, text: content } = lines[index]!;
    const trimmed = content.trim();
    const problem = (message: string) => state.problems.push({ file, line, message });
    if (!trimmed || trimmed.startsWith('#')) continue;

    const fn = /^(?:function\s+)?([A-Za-z_][\w-]*)\s*\(\)\s*\{?/.exec(trimmed) ?? /^function\s+([A-Za-z_][\w-]*)\s*\{?/.exec(trimmed);
    if (fn) {
      const name = fn[1]!;
      const mapping = known?.functions?.[name];
      if (mapping) state.upstreamFunctions.push({ file, line, name, mapping });
      else problem(userFunction(name, HOOK_FUNCTIONS[name]));
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
      if (isUpstreamModule(target)) {
        state.notes.push({ file, line, message: `${target} is upstream's shell library, for the functions of the config; not read` });
        continue;
      }
      // As upstream: from the directory mender-convert runs in; then beside the config, and above
      // the configs/ directory the config is in (upstream's checkout, wherever it is).
      const root = checkoutRoot(file);
      const candidates = [...new Set([path.resolve(baseDir, target), path.resolve(path.dirname(file), target), ...(root ? [path.resolve(root, target)] : [])])];
      const found = candidates.find((candidate) => fs.existsSync(candidate));
      if (found) {
        // Named as the user would: relative to where they are, when it is below.
        const shown = path.relative(process.cwd(), found);
        parseFile(shown && !shown.startsWith('..') && !path.isAbsolute(shown) ? shown : found, state, baseDir, { file, line });
        continue;
      }
      const shipped = upstreamFile(target);
      if (shipped?.removed) {
        state.notes.push({ file, line, message: `sourced file '${target}' not read: ${shipped.removed}` });
        continue;
      }
      const instead = shipped ? `; it is upstream's ${shipped.path}: run from upstream's checkout, as mender-convert does${shipped.ours ? `, or write include: [${shipped.ours}.yaml] in a YAML config` : ''}` : '';
      problem(`sourced file '${target}' not found (looked in ${[...new Set(candidates.map(path.dirname))].join(', ')})${instead}`);
      continue;
    }

    const assignment = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)(\+?)=(.*)$/.exec(trimmed);
    if (!assignment) {
      problem(`'${trimmed.slice(0, 60)}' is a shell command, which is not run; express it as a setting, an overlay or a hook`);
      continue;
    }
    const [, name, append, rawValue] = assignment as unknown as [string, string, string, string];
    if (rawValue.startsWith('(')) {
      const items = /^\(([^)]*)\)\s*(#.*)?$/.exec(rawValue);
      if (HOOK_ARRAYS[name] && items) state.hookArrays.push({ file, line, name, items: items[1]!.split(/\s+/).filter(Boolean) });
      else problem(`${name}: bash arrays are not supported`);
      continue;
    }
    if (HOOK_ARRAYS[name]) {
      problem(`${name}: upstream's hook lists are bash arrays of functions; write hooks under ${HOOK_ARRAYS[name]} in a YAML config`);
      continue;
    }
    const value = shellValue(rawValue, state.vars, problem);
    const full = append ? `${state.vars.get(name) ?? ''}${value}` : value;
    state.vars.set(name, full);
    state.values.set(name, { value: full, file, line });
    if (known && !KEY_OF_LEGACY.has(name) && !FIXED[name] && !/^(MENDER|IMAGE|DEPLOY)_/.test(name)) state.boardVariables.add(name);
  }
}

/** Upstream's hook lists: its own functions are carried over with them; a user's are reported. */
function checkHookArrays(state: ParseState): void {
  const upstream = new Set(state.upstreamFunctions.map((fn) => fn.name));
  for (const { file, line, name, items } of state.hookArrays) {
    const own = items.filter((item) => !upstream.has(item));
    if (own.length === 0) continue;
    state.problems.push({ file, line, message: `${name}: ${own.map((item) => `'${item}'`).join(', ')} ${own.length === 1 ? 'is a bash function' : 'are bash functions'}, not run; write ${own.length === 1 ? 'it' : 'them'} as hooks under ${HOOK_ARRAYS[name]} in a YAML config (a script or a TypeScript module)` });
  }
}

/** Versions of Mender's packages a config pins, which only Mender's repository has. */
const PINNED_VERSIONS: { key: KnobKey; installed?: KnobKey }[] = [
  { key: 'client.version' },
  { key: 'client.connect_version', installed: 'client.connect' },
  { key: 'client.configure_version', installed: 'client.configure' },
];

/**
 * Upstream installs the client and add-ons from Mender's repository; a config that pins their
 * versions gets client.source mender (Debian's mender-client has one version), else says so.
 */
function chooseClientSource(layer: Layer, state: ParseState, top: string): void {
  if (layer.get('client.install')?.value === false) return;
  const pins = PINNED_VERSIONS.filter(({ key, installed }) => {
    const value = layer.get(key)?.value;
    return typeof value === 'string' && value !== 'auto' && value !== 'latest' && (!installed || layer.get(installed)?.value === true);
  });
  if (pins.length === 0) {
    state.notes.push({ file: top, line: 0, message: "upstream installs the client from Mender's repository (mender-client4, mender-update, mender-auth …); ours installs Debian's mender-client unless client.source: mender is set — set it to keep Mender's packages on devices converted by upstream" });
    return;
  }
  const first = layer.get(pins[0]!.key)!;
  layer.set('client.source', { value: 'mender', source: `${first.source}: a pinned version, from Mender's repository` });
  const legacy = pins.map(({ key }) => KNOBS[key].legacy!);
  const at = state.values.get(legacy[0]!) ?? { file: top, line: 0 };
  const names = legacy.map((name) => `${name}=${state.values.get(name)?.value}`).join(', ');
  state.notes.push({ file: at.file, line: at.line, message: `${names}: client.source: mender, as upstream installs these from Mender's repository (Debian's packages have one version each)` });
}

/** Grouped by file (in the order the files were first named), by line within each. */
function inFileOrder(entries: LegacyProblem[]): LegacyProblem[] {
  const files = [...new Set(entries.map((entry) => entry.file))];
  return entries.map((entry, index) => ({ entry, index })).sort((a, b) => files.indexOf(a.entry.file) - files.indexOf(b.entry.file) || a.entry.line - b.entry.line || a.index - b.index).map(({ entry }) => entry);
}

/** Read an upstream-style config file (and what it sources) into a layer. */
export function readLegacyConfig(file: string, options: { baseDir?: string } = {}): LegacyResult {
  if (!fs.existsSync(file)) throw new UserError(`The config file ${file} does not exist.`);
  const state: ParseState = {
    vars: new Map(Object.entries(UPSTREAM_DEFAULTS)),
    values: new Map(),
    problems: [],
    notes: [],
    seen: new Set(),
    upstream: [],
    boardVariables: new Set(),
    upstreamFunctions: [],
    hookArrays: [],
  };
  parseFile(file, state, options.baseDir ?? process.cwd());
  checkHookArrays(state);
  const board = state.upstream.find((known) => known.ours)?.ours;
  const boardFile = state.upstream.find((known) => known.ours === board);
  if (board) state.notes.push({ file, line: 0, message: `upstream's ${boardFile!.path} is for the board of our configs/${board}.yaml: included` });
  if (boardFile?.differs) state.notes.push({ file, line: 0, message: `what differs: ${boardFile.differs}` });
  const fleetInclude = board && upstreamFleetInclude(board);
  if (fleetInclude) {
    state.notes.push({ file, line: 0, message: `devices converted by upstream with it keep upstream's boot chain: convert the Artifacts for them with configs/${fleetInclude} as well (\`mender-convert inspect\` of such a device's image names it)` });
  }
  for (const { file: from, line, name, mapping } of state.upstreamFunctions) {
    const at = { file: from, line };
    if ('needless' in mapping) state.notes.push({ ...at, message: `upstream's ${name} — not needed: ${mapping.needless}` });
    else if (board) state.notes.push({ ...at, message: `upstream's ${name} — done by our configs/${board}.yaml: ${mapping.done}` });
    else state.problems.push({ ...at, message: `upstream's ${name} is done by our board configs (${mapping.done}); include the one for the board (${RASPBERRYPI_CONFIGS})` });
  }

  const layer: Layer = new Map();
  for (const [name, { value, file: from, line }] of state.values) {
    const key = KEY_OF_LEGACY.get(name);
    const at = { file: from, line };
    const fromFile = upstreamFile(path.resolve(from));
    const replaced = fromFile?.replaced?.[name];
    if (replaced) {
      state.notes.push({ ...at, message: `${name}=${value} of upstream's board config is not carried over: ${replaced}` });
      continue;
    }
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
    const upstreamSets = state.boardVariables.has(name);
    if (upstreamSets && fromFile) continue; // a variable of upstream's board config, for its functions: the board config as a whole is carried over
    if (upstreamSets) {
      const instead = BOARD_VARIABLES[name] ? `set ${BOARD_VARIABLES[name]} instead` : 'set what it changes with our settings instead';
      state.problems.push({ ...at, message: `${name}: upstream's board config reads it in its functions, which are not run here; ${instead}` });
    } else if (/^(MENDER|IMAGE|DEPLOY)_/.test(name)) {
      state.problems.push({ ...at, message: `${name} is not supported by mender-convert (TypeScript); the nearest setting is '${nearestKey(name)}'` });
    } else {
      // A helper variable of the file itself (used in ${…} expansions); harmless.
      state.notes.push({ ...at, message: `${name} is a local variable of the config; used only in expansions` });
    }
  }
  chooseClientSource(layer, state, file);
  return { layer, problems: inFileOrder(state.problems), notes: inFileOrder(state.notes), ...(board ? { board } : {}) };
}

/** The include that makes our Artifacts boot on devices upstream converted for this board (their boot partition keeps upstream's boot chain). */
function upstreamFleetInclude(board: string): string | undefined {
  if (board.startsWith('raspberrypi')) return 'include/upstream-converted-raspberrypi.yaml';
  if (board === 'qemux86-64' || board === 'generic_x86-64') return 'include/upstream-converted-pc.yaml';
  return undefined;
}

/** As configuration: every problem is an error. The layer, and our board config it stands on. */
export function loadLegacyLayer(file: string): { layer: Layer; board?: string } {
  const { layer, problems, board } = readLegacyConfig(file);
  if (problems.length > 0) {
    const lines = problems.map((p) => `${p.file}${p.line ? `:${p.line}` : ''}: ${p.message}`);
    throw problemsError('The upstream-style config cannot be used as it is:', lines, `\`mender-convert config --migrate ${file}\` prints the equivalent YAML for what is supported.`);
  }
  return { layer, ...(board ? { board } : {}) };
}
