import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AptRepository, type RepositorySpec } from '../../../src/apt/repository.js';
import { Resolver } from '../../../src/apt/resolve.js';
import { DpkgDatabase, installConfigureUnit, installPackage } from '../../../src/deb/install.js';
import { DebPackage } from '../../../src/deb/package.js';
import { Ext4Editor } from '../../../src/fs/ext4.js';
import { makeExt4 } from '../../../src/fs/ext4-tools.js';
import { buildRepository, type Repository } from '../../helpers/apt-repo.js';
import { ROOT } from '../../helpers/cli.js';
import { tool } from '../../helpers/images.js';

const base = fs.mkdtempSync(path.join(os.tmpdir(), 'apt-'));
let repo: Repository;

const UNIT = '[Unit]\nDescription=fake client\n[Service]\nExecStart=/usr/bin/mender daemon\n[Install]\nWantedBy=multi-user.target\n';
const DH_POSTINST = `#!/bin/sh
set -e
# Automatically added by dh_installsystemd/13.11.4
if [ "$1" = "configure" ] || [ "$1" = "abort-upgrade" ] || [ "$1" = "abort-deconfigure" ] || [ "$1" = "abort-remove" ] ; then
	if deb-systemd-helper --quiet was-enabled 'mender-client.service'; then
		deb-systemd-helper enable 'mender-client.service' >/dev/null || true
	fi
fi
# End automatically added section
`;

beforeAll(async () => {
  repo = await buildRepository(base, [
    {
      name: 'mender-client',
      version: '3.5.0-1',
      depends: 'libfoo (>= 1.0) | libbar, libbaz, libc6 (>= 2.30)',
      files: { '/usr/bin/mender': '#!/bin/sh\necho fake mender\n', '/lib/systemd/system/mender-client.service': UNIT, '/etc/mender/client.conf': 'a=1\n' },
      conffiles: ['/etc/mender/client.conf'],
      postinst: DH_POSTINST,
    },
    { name: 'libfoo', version: '1.2-1', files: { '/usr/lib/libfoo.so.1': 'foo' } },
    { name: 'libfoo', version: '0.9-1', files: { '/usr/lib/libfoo.so.0': 'old' } },
    { name: 'libbaz', version: '2.0-1', files: { '/usr/share/baz/data': 'baz' }, postinst: '#!/bin/sh\nset -e\nuseradd --system baz || true\n' },
    { name: 'broken', version: '1.0', depends: 'nonexistent (>= 1)' },
  ]);
});

afterAll(async () => {
  await repo.stop();
});

function spec(keyrings: string[] | null = [repo.keyring]): RepositorySpec {
  return { url: repo.url, suite: repo.suite, components: ['main'], architecture: 'amd64', keyrings };
}

async function imageWithStatus(): Promise<string> {
  const tree = path.join(base, `tree-${Date.now()}`);
  fs.mkdirSync(path.join(tree, 'var/lib/dpkg/info'), { recursive: true });
  fs.mkdirSync(path.join(tree, 'usr/lib'), { recursive: true });
  fs.symlinkSync('usr/lib', path.join(tree, 'lib'));
  fs.writeFileSync(path.join(tree, 'var/lib/dpkg/status'), 'Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.36-9\nDescription: libc\n');
  const image = path.join(base, `root-${Date.now()}.ext4`);
  await makeExt4(image, 32 * 1024 * 1024, { fromDir: tree });
  return image;
}

describe('APT repository client', () => {
  it('verifies, resolves against the image and installs offline as dpkg would', async () => {
    const cacheDir = path.join(base, 'cache-good');
    const repository = await AptRepository.load(spec(), { cacheDir });
    const image = await imageWithStatus();
    const rootfs = await Ext4Editor.open(image);
    const db = await DpkgDatabase.open(rootfs);
    const plan = new Resolver(db.installed(), repository.packages, 'amd64').resolve(['mender-client']);
    expect(plan.map((p) => `${p.name} ${p.version}`)).toEqual(['libfoo 1.2-1', 'libbaz 2.0-1', 'mender-client 3.5.0-1']);
    const results = [];
    for (const record of plan) results.push(await installPackage(rootfs, db, await DebPackage.open(await repository.fetchPackage(record))));
    await db.save();
    await installConfigureUnit(rootfs, ['mender-client.service']);
    await rootfs.flush();
    expect(results.map((r) => [r.name, r.state])).toEqual([['libfoo', 'installed'], ['libbaz', 'unpacked'], ['mender-client', 'installed']]);

    const admin = path.join(base, 'admin');
    await tool('debugfs', ['-R', `rdump /var/lib/dpkg ${base}`, image]);
    fs.renameSync(path.join(base, 'dpkg'), admin);
    const query = await execa('dpkg-query', [`--admindir=${admin}`, '-W', '-f=${Package} ${Version} ${db:Status-Abbrev}\n']);
    expect(query.stdout.split('\n').map((l) => l.trim()).sort()).toEqual(['libbaz 2.0-1 iU', 'libc6 2.36-9 ii', 'libfoo 1.2-1 ii', 'mender-client 3.5.0-1 ii']);
    expect(fs.readFileSync(path.join(admin, 'info/mender-client.list'), 'utf8')).toContain('/usr/bin/mender\n');
    expect(fs.readFileSync(path.join(admin, 'status'), 'utf8')).toMatch(/Conffiles:\n \/etc\/mender\/client\.conf [0-9a-f]{32}/);
    expect(fs.statSync(path.join(admin, 'info/mender-client.postinst')).mode & 0o777).toBe(0o755);
    const cat = async (file: string) => (await tool('debugfs', ['-R', `cat ${file}`, image])).stdout;
    expect(await cat('/usr/bin/mender')).toContain('fake mender');
    expect((await tool('debugfs', ['-R', 'stat /etc/systemd/system/multi-user.target.wants/mender-client.service', image])).stdout).toContain('Fast link dest: "/lib/systemd/system/mender-client.service"');
    expect(await cat('/var/lib/systemd/deb-systemd-helper-enabled/mender-client.service.dsh-also')).toBe('/etc/systemd/system/multi-user.target.wants/mender-client.service\n');
    expect(await cat('/lib/systemd/system/mender-convert-dpkg-configure.service')).toContain('ExecStart=/usr/bin/dpkg --configure -a');
    expect((await tool('e2fsck', ['-fn', image])).exitCode).toBe(0);
  });

  it('works offline from its cache once it has read a repository', async () => {
    const cacheDir = path.join(base, 'cache-offline');
    const online = await AptRepository.load(spec(), { cacheDir });
    const record = online.packages.find((p) => p.name === 'libfoo' && p.version === '1.2-1')!;
    await online.fetchPackage(record);
    await repo.stop();
    try {
      const offline = await AptRepository.load(spec(), { cacheDir, timeoutMs: 2000 });
      expect(offline.packages.length).toBe(online.packages.length);
      const again = offline.packages.find((p) => p.name === 'libfoo' && p.version === '1.2-1')!;
      expect(fs.existsSync(await offline.fetchPackage(again))).toBe(true);
      await expect(AptRepository.load(spec(), { cacheDir: path.join(base, 'cache-empty'), timeoutMs: 2000 })).rejects.toThrow(/nothing is cached/);
    } finally {
      await repo.start();
    }
  });

  it('serves conversions that share a cache and read the repository at the same moment (separate processes)', async () => {
    const module = path.join(ROOT, 'dist', 'apt', 'repository.js');
    for (let round = 0; round < 2; round++) {
      const cacheDir = path.join(base, `cache-shared-${round}`);
      const load = `import { AptRepository } from ${JSON.stringify(module)};\nawait AptRepository.load(${JSON.stringify(spec())}, { cacheDir: ${JSON.stringify(cacheDir)} });\n`;
      const runs = await Promise.all(Array.from({ length: 4 }, () => execa('node', ['--input-type=module', '-e', load], { reject: false, all: true })));
      for (const run of runs) expect(run.exitCode, run.all).toBe(0);
      // Each verified its own download; one of them is kept, nothing else.
      const releases = path.join(cacheDir, 'releases');
      expect(fs.readdirSync(releases).flatMap((key) => fs.readdirSync(path.join(releases, key)))).toEqual(['InRelease']);
    }
  });

  it('refuses a Release signed by another key', async () => {
    await expect(AptRepository.load(spec([repo.otherKeyring]), { cacheDir: path.join(base, 'cache-wrongkey') })).rejects.toThrow(/does not carry a valid signature/);
  });

  it('refuses a tampered Release', async () => {
    const inRelease = path.join(repo.dir, 'dists', repo.suite, 'InRelease');
    const original = fs.readFileSync(inRelease, 'utf8');
    fs.writeFileSync(inRelease, original.replace(/^Suite: stable$/m, 'Suite: stab1e'));
    try {
      await expect(AptRepository.load(spec(), { cacheDir: path.join(base, 'cache-tampered') })).rejects.toThrow(/does not carry a valid signature/);
    } finally {
      fs.writeFileSync(inRelease, original);
    }
  });

  it('refuses an index or a package whose checksum does not match', async () => {
    const packagesXz = path.join(repo.dir, 'dists', repo.suite, 'main/binary-amd64/Packages.xz');
    const original = fs.readFileSync(packagesXz);
    fs.writeFileSync(packagesXz, Buffer.concat([original, Buffer.from('x')]));
    try {
      await expect(AptRepository.load(spec(), { cacheDir: path.join(base, 'cache-badindex') })).rejects.toThrow(/does not match the checksum in its signed Release/);
    } finally {
      fs.writeFileSync(packagesXz, original);
    }
    const repository = await AptRepository.load(spec(), { cacheDir: path.join(base, 'cache-baddeb') });
    const record = repository.packages.find((p) => p.name === 'libbaz')!;
    const file = path.join(repo.dir, record.filename);
    const deb = fs.readFileSync(file);
    fs.writeFileSync(file, Buffer.concat([deb.subarray(0, deb.length - 1), Buffer.from([deb[deb.length - 1]! ^ 1])]));
    try {
      await expect(repository.fetchPackage(record)).rejects.toThrow(/does not match the SHA256 in the signed package index/);
    } finally {
      fs.writeFileSync(file, deb);
    }
  });

  it('explains an unsatisfiable dependency with the chain that fails', async () => {
    const repository = await AptRepository.load(spec(), { cacheDir: path.join(base, 'cache-broken') });
    const resolver = new Resolver([], repository.packages, 'amd64');
    expect(() => resolver.resolve(['broken'])).toThrow('Cannot install broken → nonexistent (>= 1): not in image, not in repos.');
    expect(() => new Resolver([], repository.packages, 'amd64').resolve(['mender-client'])).toThrow('Cannot install mender-client → libc6 (>= 2.30): not in image, not in repos.');
  });
});

describe('.deb reader', () => {
  it('refuses data entries that climb out of the root', async () => {
    const dir = path.join(base, 'evil');
    fs.mkdirSync(dir, { recursive: true });
    const tarOf = async (entries: { name: string; content: string }[]) => {
      const pack = tar.pack();
      const chunks: Buffer[] = [];
      pack.on('data', (c: Buffer) => chunks.push(c));
      const done = new Promise((r) => pack.on('end', r));
      for (const e of entries) pack.entry({ name: e.name }, e.content);
      pack.finalize();
      await done;
      return Buffer.concat(chunks);
    };
    fs.writeFileSync(path.join(dir, 'debian-binary'), '2.0\n');
    fs.writeFileSync(path.join(dir, 'control.tar'), await tarOf([{ name: './control', content: 'Package: evil\nVersion: 1\nArchitecture: all\n' }]));
    fs.writeFileSync(path.join(dir, 'data.tar'), await tarOf([{ name: './../../etc/evil', content: 'x' }]));
    const deb = path.join(dir, 'evil.deb');
    await execa('ar', ['rc', deb, 'debian-binary', 'control.tar', 'data.tar'], { cwd: dir });
    const pkg = await DebPackage.open(deb);
    expect(pkg.name).toBe('evil');
    await expect(pkg.walkData(async () => undefined)).rejects.toThrow(/climbs out of the root/);
  });
});
