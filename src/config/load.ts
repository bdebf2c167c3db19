import fs from 'node:fs';
import path from 'node:path';
import { closest } from 'fastest-levenshtein';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node, type YAMLMap } from 'yaml';
import { UserError } from '../util/errors.js';
import { PACKAGE_ROOT } from './package-root.js';
import { KEY_OF_LEGACY, KNOB_KEYS, KNOBS, type Config, type Knob, type KnobKey, type RawFileSetting } from './knobs.js';
import { isLegacyConfig, loadLegacyLayer } from './legacy.js';

/** Where an effective value came from: a file and line, an environment variable or a flag. */
export interface Provenance {
  value: unknown;
  source: string;
}

export interface EffectiveConfig {
  config: Config;
  sources: Record<KnobKey, string>;
}

export type Layer = Map<KnobKey, Provenance>;

export { PACKAGE_ROOT };
export const DEFAULTS_FILE = path.join(PACKAGE_ROOT, 'configs', 'defaults.yaml');

function describeType(k: Knob): string {
  switch (k.type) {
    case 'enum':
      return `one of ${k.values.join(', ')}`;
    case 'list':
      return 'a list of strings';
    case 'raw_files':
      return 'a list of { file, sector } or { file, offset } entries';
    case 'integer':
      return 'a whole number';
    case 'map':
      return 'a mapping of names to values';
    default:
      return `a ${k.type}`;
  }
}

/** A suggestion for a key we do not know: the nearest knob, or the knob an upstream name maps to. */
export function nearestKey(unknown: string): KnobKey {
  const legacy = KEY_OF_LEGACY.get(unknown.toUpperCase());
  if (legacy) return legacy;
  return closest(unknown.toLowerCase(), KNOB_KEYS) as KnobKey;
}

/** A value as a message shows it: its JSON, cut short past 80 characters (a 4 MiB value is not printed back whole). */
function quoted(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length <= 80 ? text : `${text.slice(0, 60)}… (${text.length} characters)`;
}

const TRUE_WORDS = new Set(['y', 'yes', 'true', 'on', '1']);
const FALSE_WORDS = new Set(['n', 'no', 'false', 'off', '0', '']);

/**
 * Check one value against its knob; returns the normalised value or a reason it is wrong.
 * `text` is the raw text form (environment, flags, legacy files), parsed per the knob's type.
 */
export function coerce(key: KnobKey, raw: unknown, fromText: boolean): { value: unknown } | { problem: string } {
  const k = KNOBS[key] as Knob;
  // A secret's value never appears in a message, however wrong it is.
  const shown = k.secret ? 'the value given (not shown: it is secret)' : quoted(raw);
  const wrong = (what?: string) => ({ problem: `'${key}' must be ${what ?? describeType(k)}, not ${shown}` });
  switch (k.type) {
    case 'string': {
      if (typeof raw !== 'string' && !(fromText === false && typeof raw === 'number')) return wrong();
      const value = String(raw);
      if (k.pattern && !k.pattern.test(value)) return wrong(k.patternHint);
      return { value };
    }
    case 'enum': {
      const text = typeof raw === 'string' ? raw : undefined;
      if (text === undefined) return wrong();
      const value = k.aliases?.[text] ?? text;
      return k.values.includes(value) ? { value } : wrong();
    }
    case 'integer':
    case 'number': {
      const value = typeof raw === 'string' && fromText && raw.trim() !== '' ? Number(raw) : raw;
      if (typeof value !== 'number' || !Number.isFinite(value)) return wrong();
      if (k.type === 'integer' && !Number.isInteger(value)) return wrong();
      if (k.min !== undefined && value < k.min) return wrong(`at least ${k.min}`);
      if (k.type === 'integer' && k.multipleOf && value % k.multipleOf !== 0) return wrong(`a multiple of ${k.multipleOf}`);
      return { value };
    }
    case 'boolean': {
      if (typeof raw === 'boolean') return { value: raw };
      if (fromText && typeof raw === 'string') {
        const word = raw.trim().toLowerCase();
        if (TRUE_WORDS.has(word)) return { value: true };
        if (FALSE_WORDS.has(word)) return { value: false };
      }
      return wrong('true or false');
    }
    case 'list': {
      const items = typeof raw === 'string'
        ? raw.split(/\s+/).filter(Boolean)
        : Array.isArray(raw) && raw.every((item) => typeof item === 'string' || typeof item === 'number') ? raw.map(String) : undefined;
      if (!items) return wrong();
      const bad = k.itemPattern ? items.find((item) => !k.itemPattern!.test(item)) : undefined;
      if (bad !== undefined) return { problem: `'${key}' must be ${k.itemPatternHint ?? 'a list of valid items'}, not ${quoted(bad)}` };
      return { value: items };
    }
    case 'map': {
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return wrong();
      const entries = Object.entries(raw);
      const badName = entries.find(([name]) => !/^\S+$/.test(name));
      if (badName) return { problem: `'${key}' names ${quoted(badName[0])}: a name has no spaces` };
      const badValue = entries.find(([, value]) => !['string', 'number', 'boolean'].includes(typeof value));
      if (badValue) {
        const what = badValue[1] === null ? 'has no value' : Array.isArray(badValue[1]) ? 'is a list' : 'is a mapping';
        return { problem: `'${key}': '${badValue[0]}' ${what}; each value must be text` };
      }
      return { value: Object.fromEntries(entries.map(([name, value]) => [name, String(value)])) };
    }
    case 'raw_files':
      return coerceRawFiles(raw, wrong);
  }
}

const RAW_FILE_KEYS = new Set(['file', 'sector', 'offset']);
const UBOOT_FILE = /^uboot:[A-Za-z0-9_.+-]+$/;

/** board.raw_files: each entry a file and exactly one place, normalised to a byte offset. */
function coerceRawFiles(raw: unknown, wrong: (what?: string) => { problem: string }): { value: RawFileSetting[] } | { problem: string } {
  if (!Array.isArray(raw)) return wrong();
  const value: RawFileSetting[] = [];
  for (const entry of raw as unknown[]) {
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) return wrong();
    const fields = entry as Record<string, unknown>;
    const unknown = Object.keys(fields).find((name) => !RAW_FILE_KEYS.has(name));
    if (unknown) return wrong(`a list of { file, sector } or { file, offset } entries (no '${unknown}')`);
    const { file, sector, offset } = fields;
    if (typeof file !== 'string' || file === '') return wrong('a list of entries each naming a file');
    if (file.startsWith('uboot:') && !UBOOT_FILE.test(file)) return wrong(`uboot:<file name> entries (a name beside u-boot.bin: letters, digits and _ . + -), not '${file}'`);
    if ((sector === undefined) === (offset === undefined)) return wrong(`entries with either sector or offset (${file} has ${sector === undefined ? 'neither' : 'both'})`);
    const place = sector ?? offset;
    if (typeof place !== 'number' || !Number.isSafeInteger(place) || place < 0) return wrong(`entries whose sector or offset is a whole number of at least 0 (${file})`);
    value.push({ file, offset: sector === undefined ? place : place * 512 });
  }
  return { value };
}

function scalarValue(node: Node, key: KnobKey): unknown {
  if (isMap(node) && KNOBS[key].type === 'map') {
    return Object.fromEntries(node.items.map((pair) => [keyName(pair.key), isScalar(pair.value) ? scalarText(pair.value, key) : (pair.value as Node | null)?.toJSON()]));
  }
  if (isSeq(node)) return node.items.map((item) => (isScalar(item) ? scalarText(item, key) : (item as Node).toJSON()));
  if (isScalar(node)) return scalarText(node, key);
  return node.toJSON();
}

// A string knob written as 1.10 in YAML must keep its text, not become the number 1.1.
function scalarText(node: Node, key: KnobKey): unknown {
  if (!isScalar(node)) return node;
  const k = KNOBS[key] as Knob;
  const wantsText = k.type === 'string' || k.type === 'list' || k.type === 'enum' || k.type === 'map';
  if (wantsText && typeof node.value !== 'string' && node.value !== null && typeof node.source === 'string') {
    return node.source;
  }
  return node.value;
}

/** A mapping key's name as the config means it (a plain scalar's value). */
function keyName(key: unknown): string {
  return isScalar(key) ? String(key.value) : String(key);
}

/**
 * The pairs of a mapping, each with the node of the earlier pair of the same name when there is
 * one. yaml's own uniqueness check is off (it compares every key with every earlier one: minutes
 * for a large file); one set per mapping finds the repeats instead, for settings and for the
 * names inside a mapping value (artifact.provides) alike.
 */
function pairsWithRepeats(node: YAMLMap): { pair: YAMLMap['items'][number]; name: string; earlier?: Node }[] {
  const firstOf = new Map<string, Node>();
  return node.items.map((pair) => {
    const name = keyName(pair.key);
    const earlier = firstOf.get(name);
    if (!earlier) firstOf.set(name, pair.key as Node);
    return { pair, name, earlier };
  });
}

/**
 * Read one YAML config file into a layer, with every problem in it reported at once. With
 * `includes`, a top-level `include:` list (files relative to this one, read before it) is
 * accepted and its paths are added there.
 */
export function loadYamlLayer(file: string, displayName = file, includes?: string[]): Layer {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new UserError(`Cannot read the config file ${displayName}: ${(error as NodeJS.ErrnoException).code ?? error}.`, {
      hint: 'Check the path given with --config.',
    });
  }
  const lineCounter = new LineCounter();
  // yaml's own duplicate-key check compares every key with every earlier one (a config of 40 000
  // keys took a minute); duplicates are found below with a set per mapping.
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: false });
  if (doc.errors.length > 0) {
    const first = doc.errors[0]!;
    const line = first.linePos?.[0].line;
    throw new UserError(`${displayName}${line ? `:${line}` : ''}: not valid YAML: ${first.message.split('\n')[0]}`);
  }
  const layer: Layer = new Map();
  const problems: string[] = [];
  const lineOf = (node: Node | null | undefined) => (node?.range ? lineCounter.linePos(node.range[0]).line : 0);
  const at = (node: Node | null | undefined) => `${displayName}:${lineOf(node)}`;

  const visit = (node: Node | null, prefix: string) => {
    if (node === null || (isScalar(node) && node.value === null)) return;
    if (!isMap(node)) {
      problems.push(`${at(node)}: expected a mapping of settings${prefix ? ` under '${prefix.slice(0, -1)}'` : ''}`);
      return;
    }
    for (const { pair, name, earlier } of pairsWithRepeats(node)) {
      const keyNode = pair.key as Node;
      const dotted = `${prefix}${name}`;
      const valueNode = pair.value as Node | null;
      if (earlier) {
        problems.push(`${at(keyNode)}: '${dotted}' is set again (first at line ${lineOf(earlier)}); set it once`);
        continue;
      }
      if (dotted === 'include' && includes) {
        const items = valueNode && isSeq(valueNode) ? valueNode.items : valueNode ? [valueNode] : [];
        for (const item of items) {
          if (isScalar(item) && typeof item.value === 'string' && item.value) includes.push(includedFile(file, item.value));
          else problems.push(`${at(item as Node)}: include takes config file paths`);
        }
      } else if (dotted in KNOBS) {
        const key = dotted as KnobKey;
        if (valueNode && isMap(valueNode)) {
          // A name given twice in a mapping value: the last one would win silently.
          for (const { pair: repeated, name: entry, earlier } of pairsWithRepeats(valueNode)) {
            if (earlier) problems.push(`${at(repeated.key as Node)}: '${dotted}' names '${entry}' twice; name it once`);
          }
        }
        const raw = valueNode ? scalarValue(valueNode, key) : null;
        const result = coerce(key, raw, false);
        if ('problem' in result) problems.push(`${at(valueNode ?? keyNode)}: ${result.problem}`);
        else layer.set(key, { value: resolvePaths(key, result.value, file), source: at(keyNode) });
      } else if (KNOB_KEYS.some((k) => k.startsWith(`${dotted}.`))) {
        visit(valueNode, `${dotted}.`);
      } else {
        // The suggestion only for what the error lists: finding it costs a distance to every knob.
        const suggestion = problems.length < MAX_LISTED_PROBLEMS ? `; did you mean '${nearestKey(dotted)}'?` : '';
        problems.push(`${at(keyNode)}: unknown setting '${dotted}'${suggestion}`);
      }
    }
  };
  visit(doc.contents as Node | null, '');
  if (problems.length > 0) {
    throw problemsError('Invalid config:', problems, `Every setting is documented in ${path.relative(process.cwd(), DEFAULTS_FILE) || DEFAULTS_FILE}.`);
  }
  return layer;
}

/** How many of a config's problems an error lists; a file of thousands of bad keys gives a screenful, not thousands of lines. */
export const MAX_LISTED_PROBLEMS = 20;

/** One error for a config's problems: the only one, or a list of the first ones and how many more. */
export function problemsError(title: string, problems: string[], hint: string): UserError {
  if (problems.length === 1) return new UserError(problems[0]!, { hint });
  const listed = problems.slice(0, MAX_LISTED_PROBLEMS);
  const more = problems.length - listed.length;
  return new UserError(`${title}\n  ${listed.join('\n  ')}${more > 0 ? `\n  … and ${more} more (${problems.length} in all)` : ''}`, { hint });
}

// Overlay directories and hooks are relative to the config file that names them.
function resolvePaths(key: KnobKey, value: unknown, file: string): unknown {
  const k = KNOBS[key] as Knob;
  if (k.type === 'string' && k.path && value) return path.resolve(path.dirname(file), value as string);
  if (k.type === 'raw_files') {
    return (value as RawFileSetting[]).map((entry) => (entry.file.startsWith('uboot:') ? entry : { ...entry, file: path.resolve(path.dirname(file), entry.file) }));
  }
  if (k.type !== 'list' || !k.paths) return value;
  return (value as string[]).map((item) => path.resolve(path.dirname(file), item));
}

/** Knobs set through upstream variable names in the environment (MENDER_ARTIFACT_NAME=…). */
export function environmentLayer(env: NodeJS.ProcessEnv): Layer {
  const layer: Layer = new Map();
  const problems: string[] = [];
  for (const [legacy, key] of KEY_OF_LEGACY) {
    const raw = env[legacy];
    if (raw === undefined) continue;
    const result = coerce(key, raw, true);
    if ('problem' in result) problems.push(`environment variable ${legacy}: ${result.problem}`);
    else layer.set(key, { value: result.value, source: `environment ${legacy}` });
  }
  if (problems.length > 0) throw new UserError(problems.join('\n'));
  return layer;
}

/** Knobs given as command-line flags, already parsed into values (strings are coerced). */
export function flagLayer(values: Partial<Record<KnobKey, { raw: unknown; flag: string }>>): Layer {
  const layer: Layer = new Map();
  for (const [key, given] of Object.entries(values) as [KnobKey, { raw: unknown; flag: string }][]) {
    const result = coerce(key, given.raw, true);
    if ('problem' in result) throw new UserError(`${given.flag}: ${result.problem}`);
    layer.set(key, { value: result.value, source: `flag ${given.flag}` });
  }
  return layer;
}

/** Later layers win; path lists (overlays, hooks) accumulate from every layer, in order. */
export function mergeLayers(layers: Layer[]): EffectiveConfig {
  const config = {} as Record<KnobKey, unknown>;
  const sources = {} as Record<KnobKey, string>;
  for (const key of KNOB_KEYS) {
    config[key] = structuredClone(KNOBS[key].default);
    sources[key] = 'built-in default';
  }
  for (const layer of layers) {
    for (const [key, { value, source }] of layer) {
      const k = KNOBS[key] as Knob;
      if (k.type === 'list' && k.paths && (config[key] as string[]).length > 0) {
        config[key] = [...new Set([...(config[key] as string[]), ...(value as string[])])];
        sources[key] = `${sources[key]} + ${source}`;
      } else {
        config[key] = value;
        sources[key] = source;
      }
    }
  }
  return { config: config as Config, sources };
}

export interface LoadOptions {
  configFiles: string[];
  env?: NodeJS.ProcessEnv;
  flags?: Partial<Record<KnobKey, { raw: unknown; flag: string }>>;
}

/** The board configs shipped in configs/ (names without .yaml). */
function shippedConfigs(): string[] {
  return fs.readdirSync(path.join(PACKAGE_ROOT, 'configs')).filter((name) => name.endsWith('.yaml') && name !== 'defaults.yaml').map((name) => name.slice(0, -'.yaml'.length)).sort();
}

/**
 * A config named without a directory that is no file here (`raspberrypi4_bookworm_64bit`,
 * `qemux86-64.yaml`) is one of the shipped configs: an installed copy's configs/ is out of sight.
 */
export function resolveConfigFile(file: string): string {
  if (file.includes('/') || fs.existsSync(file)) return file;
  const shipped = path.join(PACKAGE_ROOT, 'configs', file.endsWith('.yaml') ? file : `${file}.yaml`);
  return fs.existsSync(shipped) ? shipped : file;
}

/** An include: relative to the including file; a name without a directory that is no file there is a shipped config. */
function includedFile(including: string, name: string): string {
  const local = path.resolve(path.dirname(including), name);
  return name.includes('/') || fs.existsSync(local) ? local : path.resolve(resolveConfigFile(name));
}

/** A YAML config (after the configs it includes), or an upstream-style shell config (detected by its content). */
export function loadConfigFile(file: string, including: string[] = []): Layer[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new UserError(`Cannot read the config file ${file}: ${(error as NodeJS.ErrnoException).code ?? error}.`, {
      hint: `Check the path given with --config, or name a shipped config: ${shippedConfigs().join(', ')}.`,
    });
  }
  const chain = [...including, path.resolve(file)];
  if (isLegacyConfig(file, text)) {
    // An upstream board config stands on our config for that board.
    const { layer, board } = loadLegacyLayer(file);
    return [...(board ? loadConfigFile(resolveConfigFile(board), chain) : []), layer];
  }
  const includes: string[] = [];
  const layer = loadYamlLayer(file, file, includes);
  const included = includes.flatMap((other) => {
    if (chain.includes(other)) throw new UserError(`The config ${file} includes ${other}, which includes it again.`);
    return loadConfigFile(other, chain);
  });
  return [...included, layer];
}

/** defaults.yaml → config files in order → environment → flags. */
export function loadConfig(options: LoadOptions): EffectiveConfig {
  const layers = [
    loadYamlLayer(DEFAULTS_FILE, 'configs/defaults.yaml'),
    ...options.configFiles.flatMap((file) => loadConfigFile(resolveConfigFile(file))),
    environmentLayer(options.env ?? process.env),
    flagLayer(options.flags ?? {}),
  ];
  return mergeLayers(layers);
}
