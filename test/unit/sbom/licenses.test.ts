import parse from 'spdx-expression-parse';
import { describe, expect, it } from 'vitest';
import { declaredLicense, NOASSERTION, spdxLicenseId } from '../../../src/sbom/licenses.js';

const FORMAT = 'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/';

function copyright(...licenses: string[]): string {
  return [`${FORMAT}\nUpstream-Name: example\n`, ...licenses.map((license, index) => `Files: part${index}/*\nCopyright: someone\nLicense: ${license}\n`)].join('\n');
}

describe('Debian license names as SPDX identifiers', () => {
  it.each([
    ['GPL-2', 'GPL-2.0-only'],
    ['GPL-2+', 'GPL-2.0-or-later'],
    ['GPL-2.0+', 'GPL-2.0-or-later'],
    ['GPLv3+', 'GPL-3.0-or-later'],
    ['LGPL-2.1+', 'LGPL-2.1-or-later'],
    ['LGPL-3', 'LGPL-3.0-only'],
    ['LGPL', 'LGPL-2.0-or-later'],
    ['AGPL-3+', 'AGPL-3.0-or-later'],
    ['GFDL-NIV-1.3+', 'GFDL-1.3-no-invariants-or-later'],
    ['Expat', 'MIT'],
    ['BSD-3-clause', 'BSD-3-Clause'],
    ['Apache-2', 'Apache-2.0'],
    ['Artistic', 'Artistic-1.0-Perl'],
    ['zlib', 'Zlib'],
    ['CC0', 'CC0-1.0'],
    ['MPL-1.1+', 'MPL-1.1+'],
  ])('%s → %s', (debian, spdx) => {
    expect(spdxLicenseId(debian)).toBe(spdx);
  });

  it('has no identifier for names outside the SPDX list', () => {
    expect(spdxLicenseId('public-domain')).toBeUndefined();
    expect(spdxLicenseId('GPL-7')).toBeUndefined();
  });
});

describe('the license a machine-readable copyright file declares', () => {
  it('joins the Files paragraphs with AND, keeping or-choices and exceptions', () => {
    const declared = declaredLicense(copyright('GPL-2+', 'GPL-1+ or Artistic', 'GPL-2 with Linux-syscall-note exception', 'GPL-2+'));
    expect(declared.expression).toBe('GPL-2.0-or-later AND (GPL-1.0-or-later OR Artistic-1.0-Perl) AND GPL-2.0-only WITH Linux-syscall-note');
    expect(declared.refs.size).toBe(0);
    expect(() => parse(declared.expression)).not.toThrow();
  });

  it('reads commas as the lowest-binding operator and "and" above "or"', () => {
    expect(declaredLicense(copyright('GPL-2+ or Artistic-2.0, and BSD-3-clause')).expression).toBe('(GPL-2.0-or-later OR Artistic-2.0) AND BSD-3-Clause');
    expect(declaredLicense(copyright('MIT or GPL-2 and BSD-2-clause')).expression).toBe('MIT OR (GPL-2.0-only AND BSD-2-Clause)');
  });

  it('names what SPDX lacks as LicenseRef-…, with the Debian name kept', () => {
    const declared = declaredLicense(copyright('public-domain', 'LGPL-2.1+ with OpenSSL exception'));
    expect(declared.expression).toBe('LicenseRef-public-domain AND LicenseRef-LGPL-2.1-or-later-with-OpenSSL-exception');
    expect([...declared.refs]).toEqual([
      ['LicenseRef-public-domain', 'public-domain'],
      ['LicenseRef-LGPL-2.1-or-later-with-OpenSSL-exception', 'LGPL-2.1+ with OpenSSL exception'],
    ]);
    expect(() => parse(declared.expression)).not.toThrow();
  });

  it('is NOASSERTION for a file that is not machine-readable, and for none', () => {
    expect(declaredLicense('This package was debianized by someone.\n\nIt is under the GPL.\n').expression).toBe(NOASSERTION);
    expect(declaredLicense(undefined).expression).toBe(NOASSERTION);
    expect(declaredLicense(`${FORMAT}\n\nFiles: *\nCopyright: x\n`).expression).toBe(NOASSERTION);
  });
});
