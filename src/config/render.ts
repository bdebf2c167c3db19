import { stringify } from 'yaml';
import { GROUPS, KNOB_KEYS, KNOBS, type Knob, type KnobKey } from './knobs.js';
import type { EffectiveConfig, Layer } from './load.js';
import type { LegacyResult } from './legacy.js';

const SCHEMA_ID = 'https://github.com/mender-convert-ts/mender-convert/configs/schema.json';

function yamlValue(value: unknown): string {
  // One line whatever its length: config --print shows one setting per line.
  return stringify(value, { flowCollectionPadding: false, collectionStyle: 'flow', lineWidth: 0 }).trimEnd();
}

function wrap(text: string, indent: string, width = 96): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && indent.length + 2 + line.length + word.length + 1 > width) {
      lines.push(`${indent}# ${line}`);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  if (line) lines.push(`${indent}# ${line}`);
  return lines;
}

function groupOf(key: KnobKey): string {
  return key.includes('.') ? key.slice(0, key.indexOf('.')) : key;
}

/** configs/defaults.yaml: every knob with its default and documentation, grouped. */
export function renderDefaultsYaml(): string {
  const out = [
    '# Built-in defaults of mender-convert: the first configuration layer.',
    '# Layers, later wins: this file → board configs → your --config files in order →',
    '# environment (the upstream variable named on each setting) → command-line flags.',
    '# Generated from src/config/knobs.ts by `npm run gen:config`; edit that table, not this file.',
    '# yaml-language-server: $schema=./schema.json',
    '',
  ];
  for (const [group, groupDoc] of Object.entries(GROUPS)) {
    const keys = KNOB_KEYS.filter((key) => groupOf(key) === group);
    const nested = keys.some((key) => key.includes('.'));
    out.push(...wrap(groupDoc, ''));
    if (nested) out.push(`${group}:`);
    for (const key of keys) {
      const k = KNOBS[key] as Knob;
      const indent = nested ? '  ' : '';
      const extra = [
        k.type === 'enum' ? `One of: ${k.values.join(', ')}.` : '',
        k.legacy ? `Upstream variable: ${k.legacy}.` : '',
        k.flag ? `Flag: ${k.flag.syntax.replace(/ <.*$/, '')}.` : '',
      ].filter(Boolean);
      out.push(...wrap([k.doc, ...extra].join(' '), indent));
      const name = nested ? key.slice(group.length + 1) : key;
      out.push(`${indent}${name}: ${yamlValue(k.default)}`);
    }
    out.push('');
  }
  return out.join('\n');
}

function knobSchema(k: Knob): Record<string, unknown> {
  const base: Record<string, unknown> = { description: k.doc, default: k.default };
  if (k.legacy) base['x-upstream-variable'] = k.legacy;
  switch (k.type) {
    case 'string':
      return { type: 'string', ...(k.pattern ? { pattern: k.pattern.source } : {}), ...base };
    case 'enum':
      return { type: 'string', enum: [...k.values, ...Object.keys(k.aliases ?? {})], ...base };
    case 'integer':
      return {
        type: 'integer',
        ...(k.min !== undefined ? { minimum: k.min } : {}),
        ...(k.multipleOf ? { multipleOf: k.multipleOf } : {}),
        ...base,
      };
    case 'number':
      return { type: 'number', ...(k.min !== undefined ? { minimum: k.min } : {}), ...base };
    case 'boolean':
      return { type: 'boolean', ...base };
    case 'list':
      return { oneOf: [{ type: 'array', items: { type: 'string', ...(k.itemPattern ? { pattern: k.itemPattern.source } : {}) } }, { type: 'string' }], ...base };
    case 'map':
      return { type: 'object', propertyNames: { pattern: '^\\S+$' }, additionalProperties: { type: ['string', 'number', 'boolean'] }, ...base };
    case 'raw_files':
      return {
        type: 'array',
        items: {
          type: 'object',
          additionalProperties: false,
          required: ['file'],
          properties: {
            file: { type: 'string', minLength: 1, description: 'uboot:<name> (a file of uboot.source), or a path relative to the config file.' },
            sector: { type: 'integer', minimum: 0, description: '512-byte sector the file starts at.' },
            offset: { type: 'integer', minimum: 0, description: 'Byte the file starts at.' },
          },
          oneOf: [{ required: ['sector'] }, { required: ['offset'] }],
        },
        ...base,
      };
  }
}

/** configs/schema.json: the same table as a JSON Schema for editors. */
export function renderJsonSchema(): string {
  const properties: Record<string, unknown> = {
    include: { type: 'array', items: { type: 'string' }, description: 'Config files read before this one (paths relative to it), e.g. a board family\'s common settings.' },
  };
  for (const group of Object.keys(GROUPS)) {
    const keys = KNOB_KEYS.filter((key) => groupOf(key) === group);
    if (keys.length === 1 && keys[0] === group) {
      properties[group] = knobSchema(KNOBS[group as KnobKey] as Knob);
      continue;
    }
    properties[group] = {
      type: 'object',
      description: GROUPS[group],
      additionalProperties: false,
      properties: Object.fromEntries(keys.map((key) => [key.slice(group.length + 1), knobSchema(KNOBS[key] as Knob)])),
    };
  }
  const schema = {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: SCHEMA_ID,
    title: 'mender-convert configuration',
    type: 'object',
    additionalProperties: false,
    properties,
  };
  return `${JSON.stringify(schema, null, 2)}\n`;
}

/** `config --print`: effective values, each with where it came from; secrets masked. */
export function renderEffective({ config, sources }: EffectiveConfig): string {
  const rows = KNOB_KEYS.map((key) => {
    const k = KNOBS[key] as Knob;
    const shown = k.secret && config[key] ? '********' : yamlValue(config[key]);
    return [`${key}: ${shown}`, sources[key]] as const;
  });
  const width = Math.max(...rows.map(([left]) => left.length)) + 2;
  return `${rows.map(([left, source]) => `${left.padEnd(width)}# ${source}`).join('\n')}\n`;
}

/** `config --migrate`: the YAML equivalent of an upstream-style config, with what did not carry over. */
export function renderMigration(file: string, result: LegacyResult): string {
  const tree: Record<string, unknown> = {};
  const layer: Layer = result.layer;
  for (const key of KNOB_KEYS) {
    const entry = layer.get(key);
    if (!entry) continue;
    const [group, name] = key.split('.') as [string, string | undefined];
    if (name === undefined) tree[group] = entry.value;
    else ((tree[group] ??= {}) as Record<string, unknown>)[name] = entry.value;
  }
  const at = (place: { file: string; line: number }) => `${place.file}${place.line ? `:${place.line}` : ''}`;
  const header = [`# Migrated from ${file} by mender-convert config --migrate.`];
  for (const problem of result.problems) header.push(`# NOT MIGRATED ${at(problem)}: ${problem.message}`);
  for (const note of result.notes) header.push(`# note ${at(note)}: ${note.message}`);
  // Our board config first (a shipped config, named without its directory), then what the file sets.
  const body = result.board ? stringify({ include: [`${result.board}.yaml`], ...tree }) : Object.keys(tree).length ? stringify(tree) : '{}\n';
  return `${header.join('\n')}\n${body}`;
}
