import { createRequire } from 'node:module';

/**
 * The licenses a package declares in a machine-readable debian/copyright (DEP-5,
 * /usr/share/doc/<package>/copyright), as one SPDX license expression. Debian's short names
 * are mapped to SPDX identifiers the way SBOM tools do (GPL-2+ → GPL-2.0-or-later, Expat →
 * MIT, "with X exception" → WITH the SPDX exception); a name with no SPDX identifier becomes
 * LicenseRef-<name>. A file that is not machine-readable gives NOASSERTION: its prose is not
 * interpreted.
 */

const require = createRequire(import.meta.url);
const LICENSE_IDS = require('spdx-license-ids') as string[];
const DEPRECATED_IDS = require('spdx-license-ids/deprecated.json') as string[];
const EXCEPTION_IDS = require('spdx-exceptions') as string[];

const byLowerCase = (ids: string[]) => new Map(ids.map((id) => [id.toLowerCase(), id]));
const LICENSES = byLowerCase(LICENSE_IDS);
const DEPRECATED = byLowerCase(DEPRECATED_IDS);

export const NOASSERTION = 'NOASSERTION';

export interface DeclaredLicense {
  /** An SPDX license expression, or NOASSERTION. */
  expression: string;
  /** LicenseRef-… identifiers in the expression → the Debian name they stand for. */
  refs: Map<string, string>;
}

/** Debian names (lower case) whose SPDX identifier is not the same word. */
const DEBIAN_NAMES: Record<string, string> = {
  expat: 'MIT',
  'apache-2': 'Apache-2.0',
  'apache-1': 'Apache-1.0',
  // Debian's "Artistic" is the Perl licence's Artistic License (1.0 as Perl ships it).
  artistic: 'Artistic-1.0-Perl',
  'artistic-1': 'Artistic-1.0',
  'artistic-2': 'Artistic-2.0',
  cc0: 'CC0-1.0',
  'psf-2': 'PSF-2.0',
  'mpl-1': 'MPL-1.0',
  'mpl-2': 'MPL-2.0',
  'sil-ofl-1.1': 'OFL-1.1',
  'zope-2.1': 'ZPL-2.1',
};

/** GNU licences without a version: the first version of each, "or later" (what an unversioned GPL grant means). */
const GNU_FIRST_VERSION: Record<string, string> = { GPL: '1.0', LGPL: '2.0', AGPL: '1.0', GFDL: '1.1' };

function refId(name: string): string {
  return `LicenseRef-${name.replace(/\+/g, '-or-later').replace(/[^A-Za-z0-9.-]+/g, '-').replace(/^-+|-+$/g, '') || 'unnamed'}`;
}

/** The SPDX identifier for one Debian short name, or undefined when there is none. */
export function spdxLicenseId(debianName: string): string | undefined {
  const name = debianName.trim().replace(/^(A|L)?GPLv(\d)/i, (_, prefix: string | undefined, major: string) => `${prefix ?? ''}GPL-${major}`);
  const gnu = /^(AGPL|LGPL|GPL|GFDL)(-NIV)?(?:-(\d+(?:\.\d+)?))?(\+)?$/i.exec(name);
  if (gnu) {
    const family = gnu[1]!.toUpperCase();
    const version = gnu[3] ? (gnu[3].includes('.') ? gnu[3] : `${gnu[3]}.0`) : GNU_FIRST_VERSION[family]!;
    const orLater = Boolean(gnu[4]) || !gnu[3];
    return LICENSES.get(`${family}-${version}${gnu[2] ? '-no-invariants' : ''}-${orLater ? 'or-later' : 'only'}`.toLowerCase());
  }
  const lower = name.toLowerCase();
  const mapped = DEBIAN_NAMES[lower] ?? DEBIAN_NAMES[lower.replace(/\+$/, '')];
  if (mapped) return lower.endsWith('+') && !DEBIAN_NAMES[lower] ? `${mapped}+` : mapped;
  const exact = LICENSES.get(lower) ?? DEPRECATED.get(lower);
  if (exact) return exact;
  // "MPL-1.1+": any SPDX licence may take the "+" (or later) operator.
  const base = lower.endsWith('+') ? LICENSES.get(lower.slice(0, -1)) : undefined;
  return base ? `${base}+` : undefined;
}

/** The SPDX exception for Debian's "with <words> exception", or undefined. */
function spdxException(words: string, licenseId: string): string | undefined {
  const wanted = words.toLowerCase().replace(/\s+/g, '-').replace(/-exception$/, '');
  const candidates = EXCEPTION_IDS.filter((id) => {
    const lower = id.toLowerCase();
    return lower === wanted || lower === `${wanted}-exception` || lower.startsWith(`${wanted}-exception-`) || lower.startsWith(`${wanted}-`);
  });
  if (candidates.length <= 1) return candidates[0];
  // Several versions (Autoconf-exception-2.0 and -3.0): the one matching the licence's major version, else the newest.
  const major = /-(\d+)\./.exec(licenseId)?.[1];
  const versioned = candidates.filter((id) => /-\d+(\.\d+)*$/.test(id));
  return versioned.find((id) => major && id.endsWith(`-${major}.0`)) ?? versioned.sort().pop() ?? candidates.sort()[0];
}

type Node = { license: string } | { op: 'AND' | 'OR'; children: Node[] };

/** Parser of one DEP-5 License line: "or"/"and" (and binding tighter), commas grouping lowest, "with X exception". */
class LicenseLine {
  private readonly tokens: string[];
  private position = 0;

  constructor(line: string, private readonly refs: Map<string, string>) {
    this.tokens = line
      .replace(/_(or|and)_/gi, ' $1 ')
      .replace(/([(),])/g, ' $1 ')
      .split(/\s+/)
      .filter(Boolean);
  }

  parse(): Node | undefined {
    if (this.tokens.length === 0) return undefined;
    const node = this.commaList();
    return this.position === this.tokens.length ? node : undefined;
  }

  private peek(): string | undefined {
    return this.tokens[this.position]?.toLowerCase();
  }

  /** a, and b, or c: commas separate groups joined left to right (a bare comma means and). */
  private commaList(): Node | undefined {
    let node = this.orList();
    while (node && this.peek() === ',') {
      this.position++;
      let op: 'AND' | 'OR' = 'AND';
      if (this.peek() === 'or' || this.peek() === 'and') op = this.tokens[this.position++]!.toUpperCase() as 'AND' | 'OR';
      const next = this.orList();
      if (!next) return undefined;
      node = { op, children: [node, next] };
    }
    return node;
  }

  private orList(): Node | undefined {
    return this.joined('OR', () => this.andList());
  }

  private andList(): Node | undefined {
    return this.joined('AND', () => this.term());
  }

  /** operand (op operand)*: one node, or the operator over all of them. */
  private joined(op: 'AND' | 'OR', operand: () => Node | undefined): Node | undefined {
    const children: Node[] = [];
    do {
      const next = operand();
      if (!next) return undefined;
      children.push(next);
    } while (this.peek() === op.toLowerCase() && ++this.position);
    return children.length === 1 ? children[0] : { op, children };
  }

  private term(): Node | undefined {
    if (this.peek() === '(') {
      this.position++;
      const inner = this.commaList();
      if (this.peek() !== ')') return undefined;
      this.position++;
      return inner;
    }
    const words: string[] = [];
    while (this.position < this.tokens.length && !['or', 'and', 'with', ',', '(', ')'].includes(this.peek()!)) words.push(this.tokens[this.position++]!);
    if (words.length === 0) return undefined;
    const name = words.join('-');
    let exception: string | undefined;
    if (this.peek() === 'with') {
      this.position++;
      const exceptionWords: string[] = [];
      while (this.position < this.tokens.length && this.peek() !== 'exception' && ![',', 'or', 'and', ')'].includes(this.peek()!)) exceptionWords.push(this.tokens[this.position++]!);
      if (this.peek() === 'exception') this.position++;
      exception = exceptionWords.join(' ');
    }
    return { license: this.spdx(name, exception) };
  }

  private spdx(name: string, exception: string | undefined): string {
    const id = spdxLicenseId(name);
    if (id && exception === undefined) return id;
    const exceptionId = id && exception ? spdxException(exception, id) : undefined;
    if (id && exceptionId) return `${id} WITH ${exceptionId}`;
    // No SPDX identifier for the licence, or for its exception: the whole as one LicenseRef.
    const debian = exception === undefined ? name : `${name} with ${exception} exception`;
    const ref = refId(debian);
    this.refs.set(ref, debian);
    return ref;
  }
}

function render(node: Node, nested = false): string {
  if ('license' in node) return node.license;
  const text = node.children.map((child) => render(child, true)).join(` ${node.op} `);
  return nested ? `(${text})` : text;
}

/** Is this copyright file in the machine-readable format (DEP-5, copyright-format 1.0)? */
export function isMachineReadable(text: string): boolean {
  const end = text.search(/\n[ \t]*\n/);
  const format = /^Format:\s*(\S+)/im.exec(end < 0 ? text : text.slice(0, end));
  return Boolean(format && /copyright-format\/1\.0|dep5|dep-5/i.test(format[1]!));
}

/**
 * The first line of the License field of the header paragraph and of every Files paragraph.
 * A scan of field lines: copyright files run to hundreds of KiB of license text, which a full
 * deb822 parse would assemble into strings only to drop them.
 */
function licenseLines(text: string): string[] {
  const lines: string[] = [];
  let paragraph = 0;
  let inParagraph = false;
  let hasFiles = false;
  let license: string | undefined;
  const endParagraph = () => {
    if (license && (paragraph === 0 || hasFiles)) lines.push(license);
    paragraph++;
    hasFiles = false;
    license = undefined;
  };
  for (const raw of text.split('\n')) {
    if (raw.trim() === '') {
      if (inParagraph) endParagraph();
      inParagraph = false;
      continue;
    }
    inParagraph = true;
    // Continuation lines (license texts) and comments.
    if (raw[0] === ' ' || raw[0] === '\t' || raw[0] === '#') continue;
    const colon = raw.indexOf(':');
    if (colon <= 0) continue;
    const name = raw.slice(0, colon).toLowerCase();
    if (name === 'files') hasFiles = true;
    else if (name === 'license' && license === undefined) license = raw.slice(colon + 1).trim();
  }
  if (inParagraph) endParagraph();
  return lines;
}

/** The licenses a copyright file declares (every Files paragraph and the header), joined by AND. */
export function declaredLicense(copyright: string | undefined): DeclaredLicense {
  const refs = new Map<string, string>();
  if (!copyright || !isMachineReadable(copyright)) return { expression: NOASSERTION, refs };
  const nodes = new Map<string, Node>();
  for (const line of licenseLines(copyright)) {
    const node = new LicenseLine(line, refs).parse();
    if (node) nodes.set(render(node, true), node);
  }
  if (nodes.size === 0) return { expression: NOASSERTION, refs: new Map() };
  const expression = nodes.size === 1 ? render([...nodes.values()][0]!) : [...nodes.keys()].join(' AND ');
  // Only the refs the expression still names (a line that failed to parse may have added some).
  return { expression, refs: new Map([...refs].filter(([ref]) => new RegExp(`(^|[ (])${ref.replace(/[.]/g, '\\.')}($|[ )])`).test(expression))) };
}
