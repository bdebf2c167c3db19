import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROOT, runCli } from '../../helpers/cli.js';
import { tool } from '../../helpers/images.js';
import { cycloneDxErrors, spdxErrors } from '../../helpers/sbom.js';
import { spdxToolsErrors } from '../../helpers/spdx-tools.js';

/**
 * The realistic case: the board sample golden image (a real Debian bookworm made by debootstrap,
 * built once and cached in work/sample/) converted on a 2 GiB card with the demo's overlay. (The
 * demo itself converts the bootable PC sample, which needs root; the boot tier boots it.)
 */
const canBuild = process.getuid?.() === 0 || fs.existsSync('/usr/bin/fakechroot');
let image: string;
let deploy: string;

function sha256Range(file: string, start: number, length: number): string {
  const hash = createHash('sha256');
  const handle = fs.openSync(file, 'r');
  const buffer = Buffer.alloc(4 * 1024 * 1024);
  for (let done = 0; done < length; ) {
    const n = fs.readSync(handle, buffer, 0, Math.min(buffer.length, length - done), start + done);
    hash.update(buffer.subarray(0, n));
    done += n;
  }
  fs.closeSync(handle);
  return hash.digest('hex');
}

const ELF_MACHINE = { amd64: /ELF 64-bit LSB .*x86-64/, arm64: /ELF 64-bit LSB .*ARM aarch64/ };

describe.runIf(canBuild).each(['amd64', 'arm64'] as const)('the %s sample golden image (debootstrap)', (arch) => {
  let dir: string;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), `sample-${arch}-`));
    const built = await execa('npx', ['zx', 'scripts/build-sample-image.mjs', '--arch', arch], { cwd: ROOT });
    const input = built.stdout.trim().split('\n').pop()!;
    image = path.join(dir, path.basename(input));
    fs.copyFileSync(input, image);
    deploy = path.join(dir, 'deploy');
    const config = path.join(dir, 'sample.yaml');
    fs.writeFileSync(config, 'storage:\n  total_size_mb: 2048\ndevice:\n  types: [sample-device]\nimage:\n  bmap: true\n');
    // The client comes from Debian's mirror (cached under work/ for later runs).
    const result = await runCli(['--disk-image', image, '--config', config, '--overlay', path.join(ROOT, 'scripts/demo-overlay'), '-n', 'sample-1', '--output-dir', deploy, '--work-dir', path.join(ROOT, 'work')], { env: { MENDER_CLIENT_INSTALL: 'y' } });
    expect(result.exitCode, result.all).toBe(0);
  }, 900_000);

  it('produces an Artifact that mender-artifact validates, whose payload partition 2 starts with', async () => {
    const names = fs.readdirSync(deploy);
    const artifact = path.join(deploy, names.find((n) => n.endsWith('.mender'))!);
    const ext4 = path.join(deploy, names.find((n) => n.endsWith('.ext4'))!);
    const img = path.join(deploy, names.find((n) => n.endsWith('.img'))!);
    expect((await tool('mender-artifact', ['validate', artifact])).exitCode).toBe(0);
    const read = (await tool('mender-artifact', ['read', artifact])).stdout;
    const checksum = /rootfs-image\.checksum: ([0-9a-f]{64})/.exec(read)![1];
    const size = fs.statSync(ext4).size;
    const table = JSON.parse((await tool('sfdisk', ['--json', img])).stdout).partitiontable;
    expect(sha256Range(img, table.partitions[1].start * 512, size)).toBe(checksum);
    expect(sha256Range(img, table.partitions[2].start * 512, size)).toBe(checksum);
  });

  it("installs Debian's mender-client and what it needs from the mirror, as dpkg would", async () => {
    const ext4 = path.join(deploy, fs.readdirSync(deploy).find((n) => n.endsWith('.ext4'))!);
    const admin = path.join(dir, 'dpkg-admin');
    await tool('debugfs', ['-R', `rdump /var/lib/dpkg ${dir}`, ext4]);
    fs.renameSync(path.join(dir, 'dpkg'), admin);
    const listing = (await tool('dpkg-query', [`--admindir=${admin}`, '-W', '-f=${Package} ${db:Status-Abbrev}\n', 'mender-client'])).stdout;
    expect(listing.trim()).toBe('mender-client ii');
    const link = (await tool('debugfs', ['-R', 'stat /etc/systemd/system/multi-user.target.wants/mender-client.service', ext4])).stdout;
    expect(link).toContain('Fast link dest: "/lib/systemd/system/mender-client.service"');
    const binary = path.join(dir, 'mender.bin');
    await tool('debugfs', ['-R', `dump /usr/bin/mender ${binary}`, ext4]);
    expect((await tool('file', ['-b', binary])).stdout).toMatch(ELF_MACHINE[arch]);
    const conf = (await tool('debugfs', ['-R', 'stat /etc/mender/mender.conf', ext4])).stdout;
    expect(conf).toMatch(/Mode:\s+0600/);
    const results = JSON.parse(fs.readFileSync(path.join(deploy, fs.readdirSync(deploy).find((n) => n.endsWith('-mender.json'))!), 'utf8'));
    expect(results.packages.map((p: { name: string }) => p.name)).toContain('mender-client');
  });

  it('writes the SBOM of the converted root filesystem next to the Artifact, with its checksums in the results', async () => {
    const names = fs.readdirSync(deploy);
    const file = (suffix: string) => path.join(deploy, names.find((n) => n.endsWith(suffix))!);
    const results = JSON.parse(fs.readFileSync(file('-mender.json'), 'utf8'));
    const sboms = results.outputs.filter((o: { kind: string }) => o.kind === 'sbom');
    expect(sboms.map((o: { path: string }) => path.basename(o.path)).sort()).toEqual([path.basename(file('.cdx.json')), path.basename(file('.spdx.json'))]);
    for (const output of sboms) expect(output.sha256).toBe(createHash('sha256').update(fs.readFileSync(output.path)).digest('hex'));
    const spdxText = fs.readFileSync(file('.spdx.json'), 'utf8');
    const cdxText = fs.readFileSync(file('.cdx.json'), 'utf8');
    expect(spdxErrors(spdxText)).toEqual([]);
    expect(await spdxToolsErrors(spdxText)).toEqual([]);
    expect(await cycloneDxErrors(cdxText)).toBeNull();
    const spdx = JSON.parse(spdxText);
    const cdx = JSON.parse(cdxText);
    // The Artifact's payload and the golden input, by their checksums.
    const payload = /rootfs-image\.checksum: ([0-9a-f]{64})/.exec((await tool('mender-artifact', ['read', file('.mender')])).stdout)![1];
    expect(cdx.metadata.component).toMatchObject({ name: 'sample-1', hashes: [{ alg: 'SHA-256', content: payload }] });
    expect(cdx.metadata.component.pedigree.ancestors[0].hashes[0].content).toBe(results.input.sha256);
    // What the conversion installed, marked with where it came from.
    const client = cdx.components.find((c: { name: string }) => c.name === 'mender-client');
    expect(client.properties).toContainEqual({ name: 'mender-convert:installed_by_conversion', value: expect.stringMatching(/^http.*\/mender-client_.*\.deb$/) });
    expect(spdx.packages.find((p: { name: string }) => p.name === 'mender-client').annotations[0].comment).toMatch(/^Installed by the conversion from http/);
    expect(cdx.components.find((c: { name: string }) => c.name === 'libc6').properties).not.toContainEqual(expect.objectContaining({ name: 'mender-convert:installed_by_conversion' }));
    // A file the conversion wrote that no package owns, with the checksum of what is in the payload.
    const conf = path.join(dir, 'mender.conf');
    await tool('debugfs', ['-R', `dump /etc/mender/mender.conf ${conf}`, file('.ext4')]);
    const added = spdx.files.find((f: { fileName: string }) => f.fileName === './etc/mender/mender.conf');
    expect(added.checksums).toContainEqual({ algorithm: 'SHA256', checksumValue: createHash('sha256').update(fs.readFileSync(conf)).digest('hex') });
    expect(spdx.files.some((f: { fileName: string }) => f.fileName === './usr/bin/mender')).toBe(false);
  });

  it('keeps a clean, bootable-shaped Debian root filesystem with the overlay applied', async () => {
    const ext4 = path.join(deploy, fs.readdirSync(deploy).find((n) => n.endsWith('.ext4'))!);
    expect((await tool('e2fsck', ['-fn', ext4])).exitCode).toBe(0);
    const cat = async (file: string) => (await tool('debugfs', ['-R', `cat ${file}`, ext4])).stdout;
    expect(await cat('/etc/motd')).toContain('Converted by mender-convert');
    expect(await cat('/usr/lib/os-release')).toContain('bookworm');
    expect(await cat('/etc/fstab')).toContain('/boot/firmware');
    const dpkg = await cat('/var/lib/dpkg/status');
    expect(dpkg).toContain('Package: libc6');
  });
});
