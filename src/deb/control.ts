/**
 * deb822 control data (debian/control, DEBIAN/control, Packages indexes, /var/lib/dpkg/status,
 * Release files): paragraphs of `Field: value` lines, continuation lines start with a space.
 */

export type Paragraph = Map<string, string>;

export function parseParagraphs(text: string): Paragraph[] {
  const paragraphs: Paragraph[] = [];
  let current: Paragraph | undefined;
  let field: string | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    if (line.trim() === '') {
      if (current && current.size > 0) paragraphs.push(current);
      current = undefined;
      field = undefined;
      continue;
    }
    if (line.startsWith('#')) continue;
    if (/^[ \t]/.test(line)) {
      if (current && field) current.set(field, `${current.get(field)}\n${line}`);
      continue;
    }
    const at = line.indexOf(':');
    if (at <= 0) continue;
    current ??= new Map();
    field = line.slice(0, at);
    current.set(field, line.slice(at + 1).trim());
  }
  if (current && current.size > 0) paragraphs.push(current);
  return paragraphs;
}

/** Case-insensitive field access, as dpkg treats field names. */
export function field(paragraph: Paragraph, name: string): string | undefined {
  const direct = paragraph.get(name);
  if (direct !== undefined) return direct;
  const lower = name.toLowerCase();
  for (const [key, value] of paragraph) if (key.toLowerCase() === lower) return value;
  return undefined;
}

export function formatParagraph(paragraph: Paragraph): string {
  // A value that starts on the next line (Conffiles, Description bodies) has no space after the colon.
  return `${[...paragraph].map(([key, value]) => (value.startsWith('\n') ? `${key}:${value}` : `${key}: ${value}`)).join('\n')}\n`;
}

/** An md5sums file (a package's control member or dpkg's info/<package>.md5sums): absolute path → md5. */
export function parseMd5sums(text: string): Map<string, string> {
  const sums = new Map<string, string>();
  // "<md5>  <path>" per line; a full system has ~100k of them, so no regex per line.
  for (const line of text.split('\n')) {
    const md5 = line.slice(0, 32);
    let start = 32;
    while (line[start] === ' ' || line[start] === '\t') start++;
    if (start === 32 || start >= line.length || !/^[0-9a-f]{32}$/.test(md5)) continue;
    const file = line.slice(start).trimEnd().replace(/^\.?\//, '');
    sums.set(`/${file}`, md5);
  }
  return sums;
}

/** A dependency field: comma-separated groups of `|`-separated alternatives. */
export interface Relation {
  name: string;
  /** `:any`, `:native` or an architecture qualifier. */
  archQualifier?: string;
  operator?: '<<' | '<=' | '=' | '>=' | '>>';
  version?: string;
}

export function parseRelations(text: string | undefined): Relation[][] {
  if (!text) return [];
  return text
    .split(',')
    .map((group) => group.trim())
    .filter(Boolean)
    .map((group) =>
      group.split('|').map((alternative) => {
        // name[:arch] [(op version)] [arch restrictions] [<profiles>]
        const match = /^\s*([a-z0-9][a-z0-9+.-]*)(?::([a-z0-9-]+))?\s*(?:\(\s*(<<|<=|=|>=|>>|<|>)\s*([^)\s]+)\s*\))?/.exec(alternative);
        if (!match) throw new Error(`malformed relation '${alternative.trim()}'`);
        const op = match[3] === '<' ? '<=' : match[3] === '>' ? '>=' : match[3];
        return { name: match[1]!, archQualifier: match[2], operator: op as Relation['operator'], version: match[4] };
      }),
    );
}

export function formatRelation(relation: Relation): string {
  return `${relation.name}${relation.archQualifier ? `:${relation.archQualifier}` : ''}${relation.operator ? ` (${relation.operator} ${relation.version})` : ''}`;
}
