import { PackageURL } from 'packageurl-js';
import { describe, expect, it } from 'vitest';
import { declaredLicense, renderSbom, type RootfsInventory, type SbomInput } from '../../../src/sbom/index.js';
import { contentUuid } from '../../../src/sbom/document.js';
import { cycloneDxErrors, spdxErrors } from '../../helpers/sbom.js';

const FORMAT = 'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\nFiles: *\nCopyright: x\nLicense: ';

const inventory: RootfsInventory = {
  os: { id: 'debian', idLike: [], versionId: '12', versionCodename: 'bookworm', prettyName: 'Debian GNU/Linux 12 (bookworm)' },
  packages: [
    {
      name: 'libc6', version: '2.36-9+deb12u4', architecture: 'amd64', state: 'installed', source: { name: 'glibc', version: '2.36-9+deb12u4' },
      maintainer: 'GNU Libc Maintainers <debian-glibc@lists.debian.org>', homepage: 'https://www.gnu.org/software/libc/libc.html', summary: 'GNU C Library',
      license: declaredLicense(`${FORMAT}LGPL-2.1+\n`), files: [{ path: '/lib/x86_64-linux-gnu/libc.so.6', md5: '33f1cb6525f26614bd3a334d63632484' }], depends: [], preDepends: [],
    },
    {
      name: 'mender-client', version: '1:3.4.0+ds1-5+b1', architecture: 'amd64', state: 'installed', source: { name: 'mender-client', version: '3.4.0+ds1-5' },
      maintainer: 'Debian Go Packaging Team <team+pkg-go@tracker.debian.org>', license: declaredLicense(`${FORMAT}Apache-2.0 and public-domain\n`),
      files: [{ path: '/usr/bin/mender', md5: '0123456789abcdef0123456789abcdef' }], depends: ['libc6:amd64'], preDepends: ['libc6:amd64'],
    },
    {
      name: 'tzdata', version: '2024a-0+deb12u1', architecture: 'all', state: 'installed', source: { name: 'tzdata', version: '2024a-0+deb12u1' },
      // Seen in the field: a URL where the email address goes.
      maintainer: 'Some Vendor Authors <https://example.com/project/>',
      license: declaredLicense('not machine-readable'), files: [], depends: [], preDepends: [],
    },
  ],
};

const digests = (n: number) => ({ sha256: String(n).repeat(64).slice(0, 64), sha1: String(n).repeat(40).slice(0, 40), size: n });

function input(overrides: Partial<SbomInput> = {}): SbomInput {
  return {
    subject: { name: 'release-1', artifact: { name: 'release-1', payloadSha256: 'a'.repeat(64), payloadFile: 'rootfs.ext4' }, golden: { name: 'golden.img', sha256: 'b'.repeat(64) } },
    inventory,
    conversion: {
      installed: new Map([['mender-client:amd64', 'http://deb.debian.org/debian/pool/main/m/mender-client/mender-client_3.4.0+ds1-5+b1_amd64.deb']]),
      addedFiles: [
        { path: '/etc/mender/mender.conf', filesystem: 'rootfs', digests: digests(1) },
        { path: '/EFI/BOOT/BOOTX64.EFI', filesystem: 'boot', digests: digests(2) },
      ],
    },
    tool: { name: 'mender-convert', version: '0.1.0' },
    created: 1_700_000_000,
    ...overrides,
  };
}

describe('SPDX 2.3 document', () => {
  const doc = JSON.parse(renderSbom(input(), 'spdx').toString());

  it('passes the SPDX 2.3 rules', () => {
    expect(spdxErrors(renderSbom(input(), 'spdx').toString())).toEqual([]);
  });

  it('lists every package with its purl, supplier, source and declared license', () => {
    const packages = doc.packages.filter((p: { SPDXID: string }) => p.SPDXID.startsWith('SPDXRef-Package-deb-'));
    expect(packages.map((p: { name: string }) => p.name)).toEqual(['libc6', 'mender-client', 'tzdata']);
    const mender = packages[1];
    expect(mender.externalRefs[0].referenceLocator).toBe('pkg:deb/debian/mender-client@1%3A3.4.0%2Bds1-5%2Bb1?arch=amd64&distro=debian-12');
    expect(mender.supplier).toBe('Organization: Debian Go Packaging Team (team+pkg-go@tracker.debian.org)');
    expect(mender.sourceInfo).toContain('mender-client 3.4.0+ds1-5');
    expect(mender.licenseDeclared).toBe('Apache-2.0 AND LicenseRef-public-domain');
    expect(mender.annotations[0].comment).toContain('mender-client_3.4.0+ds1-5+b1_amd64.deb');
    expect(packages[2].licenseDeclared).toBe('NOASSERTION');
    expect(packages[2].supplier).toBe('Person: Some Vendor Authors');
    expect(doc.relationships).toContainEqual({ spdxElementId: 'SPDXRef-Package-deb-mender-client-amd64', relationshipType: 'DEPENDS_ON', relatedSpdxElement: 'SPDXRef-Package-deb-libc6-amd64', comment: 'Pre-Depends' });
  });

  it('names the payload, the golden image and the files the conversion added with SHA1 and SHA256', () => {
    const root = doc.packages.find((p: { SPDXID: string }) => p.SPDXID === 'SPDXRef-RootFilesystem');
    expect(root.checksums).toEqual([{ algorithm: 'SHA256', checksumValue: 'a'.repeat(64) }]);
    expect(doc.relationships).toContainEqual({ spdxElementId: 'SPDXRef-RootFilesystem', relationshipType: 'GENERATED_FROM', relatedSpdxElement: 'SPDXRef-GoldenImage' });
    expect(doc.files.map((f: { fileName: string }) => f.fileName)).toEqual(['./EFI/BOOT/BOOTX64.EFI', './etc/mender/mender.conf']);
  });

  it('fails the rules when a document is broken', () => {
    const broken = structuredClone(doc);
    broken.packages[3].licenseDeclared = 'GPL-2+';
    broken.relationships.push({ spdxElementId: 'SPDXRef-DOCUMENT', relationshipType: 'DESCRIBES', relatedSpdxElement: 'SPDXRef-Nowhere' });
    delete broken.files[0].checksums[0];
    broken.files[0].checksums = broken.files[0].checksums.filter(Boolean);
    expect(spdxErrors(JSON.stringify(broken))).toHaveLength(3);
  });

});

describe('CycloneDX 1.6 document', () => {
  it('passes the CycloneDX library\'s strict schema validation', async () => {
    expect(await cycloneDxErrors(renderSbom(input(), 'cyclonedx').toString())).toBeNull();
  });

  it('fails it when broken', async () => {
    const broken = JSON.parse(renderSbom(input(), 'cyclonedx').toString());
    broken.components[0].hashes = [{ alg: 'MD5', content: 'not hex' }];
    expect(await cycloneDxErrors(JSON.stringify(broken))).not.toBeNull();
  });

  it('has a component per package whose purl parses back to it, with dpkg\'s md5sums as its files', () => {
    const bom = JSON.parse(renderSbom(input(), 'cyclonedx').toString());
    const packages = bom.components.filter((c: { purl?: string }) => c.purl);
    for (const [index, p] of inventory.packages.entries()) {
      const purl = PackageURL.fromString(packages[index].purl);
      expect([purl.type, purl.namespace, purl.name, purl.version, purl.qualifiers?.arch, purl.qualifiers?.distro]).toEqual(['deb', 'debian', p.name, p.version, p.architecture, 'debian-12']);
    }
    expect(packages[0].components).toEqual([{ type: 'file', name: '/lib/x86_64-linux-gnu/libc.so.6', hashes: [{ alg: 'MD5', content: '33f1cb6525f26614bd3a334d63632484' }] }]);
    expect(packages[2].supplier).toEqual({ name: 'Some Vendor Authors' });
    expect(packages[1].properties).toContainEqual({ name: 'mender-convert:installed_by_conversion', value: expect.stringContaining('mender-client_3.4.0') });
    expect(bom.dependencies).toContainEqual({ ref: packages[1].purl, dependsOn: [packages[0].purl] });
    expect(bom.metadata.component.hashes).toEqual([{ alg: 'SHA-256', content: 'a'.repeat(64) }]);
    expect(bom.metadata.component.pedigree.ancestors[0].name).toBe('golden.img');
  });
});

describe('both documents', () => {
  it('are byte-identical for the same input and time, and name their content', () => {
    for (const format of ['spdx', 'cyclonedx'] as const) {
      const once = renderSbom(input(), format).toString();
      expect(renderSbom(input(), format).toString()).toBe(once);
      const later = renderSbom(input({ created: 1_700_000_001 }), format).toString();
      expect(later).not.toBe(once);
      const id = (text: string) => JSON.parse(text).documentNamespace ?? JSON.parse(text).serialNumber;
      expect(id(later)).not.toBe(id(once));
      // The identifier is the UUID of the document's bytes with a placeholder in its place.
      const uuid = /[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.exec(id(once))![0];
      expect(contentUuid(once.replace(uuid, '00000000-0000-5000-8000-000000000000'))).toBe(uuid);
    }
  });

  it('say, in the copy stored in the root filesystem, that it cannot name the payload checksum', async () => {
    const inside = input({ subject: { name: 'release-1', artifact: { name: 'release-1' }, golden: { name: 'golden.img', sha256: 'b'.repeat(64) } } });
    const spdx = JSON.parse(renderSbom(inside, 'spdx').toString());
    expect(spdx.creationInfo.comment).toMatch(/cannot name the checksum/);
    expect(spdx.packages.find((p: { SPDXID: string }) => p.SPDXID === 'SPDXRef-RootFilesystem').checksums).toBeUndefined();
    expect(spdxErrors(JSON.stringify(spdx))).toEqual([]);
    expect(await cycloneDxErrors(renderSbom(inside, 'cyclonedx').toString())).toBeNull();
  });
});
