import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../helpers/cli.js';
import { buildGoldenImage, tool } from '../../helpers/images.js';
import { cycloneDxErrors, spdxErrors } from '../../helpers/sbom.js';
import { spdxToolsErrors } from '../../helpers/spdx-tools.js';

/** A conversion that also places the SBOM in the root filesystem, with a package hook that changes it afterwards. */

const STATUS = `Package: hello
Status: install ok installed
Maintainer: Santiago Vila <sanvila@debian.org>
Architecture: amd64
Version: 2.10-3
Description: example package based on GNU hello

`;
const COPYRIGHT = 'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\nFiles: *\nCopyright: FSF\nLicense: GPL-3+\n';
const HELLO = '#!/bin/sh\necho hello\n';
const md5 = (text: string) => createHash('md5').update(text).digest('hex');
const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

function config(dir: string, sbom: string): string {
  const hook = path.join(dir, 'package-hook.sh');
  fs.writeFileSync(hook, '#!/bin/sh\nmkdir -p "$ROOTFS_STAGING/etc"\necho "written by a package hook" > "$ROOTFS_STAGING/etc/package-hook"\n', { mode: 0o755 });
  const file = path.join(dir, 'config.yaml');
  fs.writeFileSync(file, `storage:\n  total_size_mb: 160\n  alignment: 4194304\ndata:\n  size_mb: 16\nartifact:\n  sbom: ${sbom}\nrootfs:\n  sbom_dir: /usr/share/doc/mender-convert\nhooks:\n  package:\n    - package-hook.sh\n`);
  return file;
}

async function convert(name: string, sbom: string): Promise<{ dir: string; deploy: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `sbom-convert-${name}-`));
  const golden = await buildGoldenImage({
    dir,
    files: {
      'var/lib/dpkg/status': STATUS,
      'var/lib/dpkg/info/hello.md5sums': `${md5(HELLO)}  usr/bin/hello\n`,
      'usr/bin/hello': HELLO,
      'usr/share/doc/hello/copyright': COPYRIGHT,
    },
  });
  const deploy = path.join(dir, 'deploy');
  const result = await runCli(['--disk-image', golden.image, '--config', config(dir, sbom), '-n', 'release-1', '--output-dir', deploy, '--work-dir', path.join(dir, 'work')], { env: { SOURCE_DATE_EPOCH: '1700000000' } });
  expect(result.exitCode, result.all).toBe(0);
  return { dir, deploy };
}

describe('a conversion with the SBOM also in the root filesystem', () => {
  let deploy: string;
  const output = (suffix: string) => path.join(deploy, fs.readdirSync(deploy).find((n) => n.endsWith(suffix))!);
  const fromRootfs = async (file: string) => (await tool('debugfs', ['-R', `cat ${file}`, output('.ext4')])).stdout;

  beforeAll(async () => {
    ({ deploy } = await convert('both', 'both'));
  }, 600_000);

  it('places both documents in the root filesystem; they describe it but cannot name the payload checksum', async () => {
    const spdx = await fromRootfs('/usr/share/doc/mender-convert/sbom.spdx.json');
    const cdx = await fromRootfs('/usr/share/doc/mender-convert/sbom.cdx.json');
    expect(spdxErrors(spdx)).toEqual([]);
    expect(await spdxToolsErrors(spdx)).toEqual([]);
    expect(await cycloneDxErrors(cdx)).toBeNull();
    expect(JSON.parse(spdx).packages.find((p: { name: string }) => p.name === 'hello')).toMatchObject({ versionInfo: '2.10-3', licenseDeclared: 'GPL-3.0-or-later' });
    expect(JSON.parse(cdx).metadata.component.hashes).toBeUndefined();
    expect(JSON.parse(spdx).creationInfo.comment).toMatch(/cannot name the checksum/);
  });

  it('lists those copies, and what the package hook wrote after them, in the documents next to the Artifact', async () => {
    const spdx = JSON.parse(fs.readFileSync(output('.spdx.json'), 'utf8'));
    const file = (name: string) => spdx.files.find((f: { fileName: string }) => f.fileName === name)?.checksums.find((c: { algorithm: string }) => c.algorithm === 'SHA256').checksumValue;
    expect(file('./usr/share/doc/mender-convert/sbom.spdx.json')).toBe(sha256(await fromRootfs('/usr/share/doc/mender-convert/sbom.spdx.json')));
    expect(file('./usr/share/doc/mender-convert/sbom.cdx.json')).toBe(sha256(await fromRootfs('/usr/share/doc/mender-convert/sbom.cdx.json')));
    expect(file('./etc/package-hook')).toBe(sha256('written by a package hook\n'));
    expect(file('./etc/fstab')).toBe(sha256(await fromRootfs('/etc/fstab')));
    // Owned by the package: not listed as added.
    expect(file('./usr/bin/hello')).toBeUndefined();
    const payload = /rootfs-image\.checksum: ([0-9a-f]{64})/.exec((await tool('mender-artifact', ['read', output('.mender')])).stdout)![1];
    expect(spdx.packages.find((p: { SPDXID: string }) => p.SPDXID === 'SPDXRef-RootFilesystem').checksums).toEqual([{ algorithm: 'SHA256', checksumValue: payload }]);
    const cdx = JSON.parse(fs.readFileSync(output('.cdx.json'), 'utf8'));
    expect(cdx.components.find((c: { name: string }) => c.name === 'hello').components).toEqual([{ type: 'file', name: '/usr/bin/hello', hashes: [{ alg: 'MD5', content: md5(HELLO) }] }]);
    expect(spdxErrors(fs.readFileSync(output('.spdx.json'), 'utf8'))).toEqual([]);
    expect(await spdxToolsErrors(fs.readFileSync(output('.spdx.json'), 'utf8'))).toEqual([]);
    expect(await cycloneDxErrors(fs.readFileSync(output('.cdx.json'), 'utf8'))).toBeNull();
  });

  it("fails tools-golang's checks when a document is broken", async () => {
    const doc = JSON.parse(fs.readFileSync(output('.spdx.json'), 'utf8'));
    const unknownField = structuredClone(doc);
    unknownField.packages[0].licenceDeclared = 'MIT';
    unknownField.relationships.push({ spdxElementId: 'SPDXRef-DOCUMENT', relationshipType: 'DESCRIBES', relatedSpdxElement: 'SPDXRef-Nowhere' });
    expect(await spdxToolsErrors(JSON.stringify(unknownField))).toEqual([
      'spdxlib: Nowhere used in relationship but no such package exists',
      'a field the SPDX 2.3 model does not have (or an empty one): .packages[].licenceDeclared',
    ]);
    const badSupplier = structuredClone(doc);
    badSupplier.packages[1].supplier = 'The Debian project';
    expect(await spdxToolsErrors(JSON.stringify(badSupplier))).toEqual([expect.stringMatching(/^tools-golang cannot read it: failed to parse Supplier/)]);
  });

  it('writes no SBOM with artifact.sbom: none', async () => {
    const none = await convert('none', 'none');
    expect(fs.readdirSync(none.deploy).filter((n) => /\.(spdx|cdx)\.json$/.test(n))).toEqual([]);
    expect((await tool('debugfs', ['-R', 'ls /usr/share/doc', path.join(none.deploy, fs.readdirSync(none.deploy).find((n) => n.endsWith('.ext4'))!)])).stdout).not.toContain('mender-convert');
    fs.rmSync(none.dir, { recursive: true, force: true });
  }, 600_000);
});
