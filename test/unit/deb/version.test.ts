import { execaSync } from 'execa';
import { describe, expect, it } from 'vitest';
import { parseRelations, parseParagraphs } from '../../../src/deb/control.js';
import { compareVersions, satisfies } from '../../../src/deb/version.js';

// Versions chosen to exercise every rule: epochs, tildes, revisions, letters vs. symbols,
// leading zeros, digits vs. the end of the string.
const VERSIONS = [
  '0', '1', '1.0', '1.0-1', '1.0-1~bpo1', '1.0~rc1', '1.0~rc1-1', '1.0~~', '1.0~', '1.0a', '1.0+b1', '1.0.1',
  '1:0.9', '1:1.0', '2:0', '0:1.0', '1.00', '1.000-0', '1.0-0', '01.0', '1.0-1.1', '1.0-1+deb12u1', '1.0-1+deb12u2',
  '3.4.0+ds1-5', '3.4.0+ds1-5+b1', '3.4.0-1', '3.4.0~ds1', '2.06-13+deb12u2', '2.06-13', '10', '9', '9a', '9.a',
  '1a1', '1.2.3-4ubuntu1', '1.2.3-4ubuntu1.1', '1.2.3-4', '0.0~git20230101.abc-1', '0.0~git20221231.zzz-1',
  '1.0-1~', '1.0-a', '7.88.1-10+deb12u5', '7.88.1-10+deb12u12',
];

describe('Debian version ordering', () => {
  it(`agrees with dpkg --compare-versions on ${VERSIONS.length * (VERSIONS.length - 1) / 2} pairs`, () => {
    const pairs: [string, string][] = [];
    for (let i = 0; i < VERSIONS.length; i++) for (let j = i + 1; j < VERSIONS.length; j++) pairs.push([VERSIONS[i]!, VERSIONS[j]!]);
    expect(pairs.length).toBeGreaterThanOrEqual(200);
    // One shell for all pairs: print lt/eq/gt per pair as dpkg decides it.
    const script = pairs
      .map(([a, b]) => `if dpkg --compare-versions '${a}' lt '${b}'; then echo lt; elif dpkg --compare-versions '${a}' eq '${b}'; then echo eq; else echo gt; fi`)
      .join('\n');
    const dpkg = execaSync('sh', ['-s'], { input: script }).stdout.split('\n');
    const ours = pairs.map(([a, b]) => {
      const c = compareVersions(a, b);
      return c < 0 ? 'lt' : c === 0 ? 'eq' : 'gt';
    });
    const disagreements = pairs.filter((_, i) => ours[i] !== dpkg[i]).map((pair, i) => `${pair.join(' vs ')}: dpkg ${dpkg[i]}, ours ${ours[i]}`);
    expect(disagreements).toEqual([]);
  });

  it('checks relations', () => {
    expect(satisfies('3.0.2-1', '>=', '3.0.0')).toBe(true);
    expect(satisfies('1:1.0', '>>', '2.0')).toBe(true);
    expect(satisfies('1.0~rc1', '<<', '1.0')).toBe(true);
    expect(satisfies('1.0', '=', '1.0-0')).toBe(true); // an absent revision equals "0", as in dpkg
    expect(satisfies('1.0', '=', '1.0-1')).toBe(false);
  });
});

describe('control data', () => {
  it('parses paragraphs with continuation lines and dependency fields', () => {
    const [p] = parseParagraphs('Package: mender-client\nVersion: 3.4.0+ds1-5\nDescription: x\n more\n .\n end\nDepends: libc6 (>= 2.34), libssl3 (>= 3.0.0) | libssl1.1, lsb-base:any, foo (<< 2) [amd64]\n');
    expect(p!.get('Description')).toBe('x\n more\n .\n end');
    expect(parseRelations(p!.get('Depends'))).toEqual([
      [{ name: 'libc6', operator: '>=', version: '2.34', archQualifier: undefined }],
      [{ name: 'libssl3', operator: '>=', version: '3.0.0', archQualifier: undefined }, { name: 'libssl1.1', archQualifier: undefined, operator: undefined, version: undefined }],
      [{ name: 'lsb-base', archQualifier: 'any', operator: undefined, version: undefined }],
      [{ name: 'foo', operator: '<<', version: '2', archQualifier: undefined }],
    ]);
  });
});
