import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { PackageURL } from 'packageurl-js';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROOT, runCli } from '../../helpers/cli.js';
import { tool } from '../../helpers/images.js';
import { cycloneDxErrors, spdxErrors } from '../../helpers/sbom.js';
import { spdxToolsErrors } from '../../helpers/spdx-tools.js';

/**
 * `mender-convert sbom` on the sample golden images (a real Debian bookworm by debootstrap,
 * built once and cached in work/sample/), checked against what dpkg itself says is installed.
 */
const canBuild = process.getuid?.() === 0 || fs.existsSync('/usr/bin/fakechroot');
const EPOCH = '1700000000';

function sha256(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

interface Documents {
  spdx: string;
  cdx: string;
}

async function sbom(file: string, out: string): Promise<Documents> {
  const result = await runCli(['sbom', file, '-o', out], { env: { SOURCE_DATE_EPOCH: EPOCH } });
  expect(result.exitCode, result.all).toBe(0);
  const base = path.join(out, path.basename(file).replace(/\.(img|ext4|mender)$/, ''));
  return { spdx: fs.readFileSync(`${base}.spdx.json`, 'utf8'), cdx: fs.readFileSync(`${base}.cdx.json`, 'utf8') };
}

describe.runIf(canBuild).each(['amd64', 'arm64'] as const)('the SBOM of the %s sample golden image', (arch) => {
  let dir: string;
  let image: string;
  let rootfs: string;
  let installed: { name: string; version: string; architecture: string }[];
  let docs: Documents;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), `sbom-${arch}-`));
    const built = await execa('npx', ['zx', 'scripts/build-sample-image.mjs', '--arch', arch], { cwd: ROOT });
    image = built.stdout.trim().split('\n').pop()!;
    // The root partition as a standalone file, and dpkg's own view of what is installed in it.
    const root = JSON.parse((await tool('sfdisk', ['--json', image])).stdout).partitiontable.partitions[1];
    rootfs = path.join(dir, `sample-${arch}.ext4`);
    await tool('dd', [`if=${image}`, `of=${rootfs}`, 'bs=512', `skip=${root.start}`, `count=${root.size}`, 'conv=sparse', 'status=none']);
    await tool('debugfs', ['-R', `rdump /var/lib/dpkg ${dir}`, rootfs]);
    const query = await tool('dpkg-query', [`--admindir=${path.join(dir, 'dpkg')}`, '-W', '-f=${db:Status-Status} ${Package} ${Version} ${Architecture}\n']);
    installed = query.stdout.trim().split('\n').map((line) => line.split(' ')).filter(([status]) => status === 'installed').map(([, name, version, architecture]) => ({ name: name!, version: version!, architecture: architecture! }));
    docs = await sbom(image, path.join(dir, 'image'));
  }, 900_000);

  it('passes CycloneDX strict schema validation and the SPDX 2.3 rules', async () => {
    expect(await cycloneDxErrors(docs.cdx)).toBeNull();
    expect(spdxErrors(docs.spdx)).toEqual([]);
    expect(await spdxToolsErrors(docs.spdx)).toEqual([]);
  });

  it('lists every package dpkg calls installed, with its purl, in both documents', () => {
    expect(installed.length).toBeGreaterThan(100);
    const spdx = JSON.parse(docs.spdx);
    const spdxPurls = new Set(spdx.packages.flatMap((p: { externalRefs?: { referenceLocator: string }[] }) => (p.externalRefs ?? []).map((r) => r.referenceLocator)));
    const cdxPurls = new Set(JSON.parse(docs.cdx).components.map((c: { purl?: string }) => c.purl).filter(Boolean));
    for (const p of installed) {
      const purl = [...cdxPurls].find((candidate) => {
        const parsed = PackageURL.fromString(candidate as string);
        return parsed.name === p.name && parsed.version === p.version && parsed.qualifiers?.arch === p.architecture;
      }) as string | undefined;
      expect(purl, `${p.name} ${p.version} ${p.architecture}`).toBeDefined();
      expect(PackageURL.fromString(purl!).qualifiers?.distro).toBe('debian-12');
      expect(spdxPurls.has(purl), purl).toBe(true);
    }
    expect(cdxPurls.size).toBe(installed.length);
    const licensed = spdx.packages.filter((p: { licenseDeclared?: string; externalRefs?: unknown }) => p.externalRefs && p.licenseDeclared !== 'NOASSERTION').length;
    console.log(`${arch} sample: ${installed.length} packages, ${licensed} with a machine-readable license, ${installed.length - licensed} NOASSERTION`);
    // Most of Debian's copyright files are machine-readable; a --foreign tree has no /usr/share/doc for all.
    expect(licensed).toBeGreaterThan(installed.length / 2);
  });

  it('records the md5sums dpkg keeps (where the tree has them)', () => {
    const libc = JSON.parse(docs.cdx).components.find((c: { name: string }) => c.name === 'libc6');
    if (arch === 'amd64') expect(libc.components.length).toBeGreaterThan(5);
    for (const file of libc.components ?? []) expect(file.hashes[0]).toMatchObject({ alg: 'MD5', content: expect.stringMatching(/^[0-9a-f]{32}$/) });
  });

  it('names the image it describes, and is byte-identical when written again', async () => {
    expect(JSON.parse(docs.cdx).metadata.properties).toContainEqual({ name: 'mender-convert:described_file_sha256', value: sha256(image) });
    const again = await sbom(image, path.join(dir, 'again'));
    expect(again.spdx).toBe(docs.spdx);
    expect(again.cdx).toBe(docs.cdx);
  });

  it('describes a bare root filesystem and a rootfs-image Artifact the same way, the Artifact by its payload checksum', async () => {
    const fromRootfs = await sbom(rootfs, path.join(dir, 'rootfs'));
    const artifact = path.join(dir, `sample-${arch}.mender`);
    const written = await runCli(['artifact', 'write', 'rootfs-image', '-n', 'sample-release', '-t', 'sample', '-f', rootfs, '-o', artifact]);
    expect(written.exitCode, written.all).toBe(0);
    const fromArtifact = await sbom(artifact, path.join(dir, 'artifact'));
    const packages = (text: string) => JSON.parse(text).components.filter((c: { purl?: string }) => c.purl);
    expect(packages(fromRootfs.cdx)).toEqual(packages(docs.cdx));
    expect(packages(fromArtifact.cdx)).toEqual(packages(docs.cdx));
    const read = (await tool('mender-artifact', ['read', artifact])).stdout;
    const payload = /rootfs-image\.checksum: ([0-9a-f]{64})/.exec(read)![1];
    expect(JSON.parse(fromArtifact.cdx).metadata.component.hashes).toEqual([{ alg: 'SHA-256', content: payload }]);
    const root = JSON.parse(fromArtifact.spdx).packages.find((p: { SPDXID: string }) => p.SPDXID === 'SPDXRef-RootFilesystem');
    expect(root).toMatchObject({ name: 'sample-release', checksums: [{ algorithm: 'SHA256', checksumValue: payload }] });
    expect(spdxErrors(fromArtifact.spdx)).toEqual([]);
    expect(await spdxToolsErrors(fromArtifact.spdx)).toEqual([]);
    expect(await cycloneDxErrors(fromArtifact.cdx)).toBeNull();
  });
});

describe('mender-convert sbom refuses what it cannot describe', () => {
  it('names a file that is neither an image, a root filesystem nor an Artifact', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sbom-refuse-'));
    const file = path.join(dir, 'notes.txt');
    fs.writeFileSync(file, 'not an image\n'.repeat(100));
    const result = await runCli(['sbom', file, '-o', dir]);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/^error: .*notes\.txt/);
    expect(result.stderr).not.toMatch(/at .*\.js:\d+/);
    expect(fs.readdirSync(dir)).toEqual(['notes.txt']);
  });
});
