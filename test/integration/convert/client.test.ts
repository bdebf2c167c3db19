import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, runCli } from '../../helpers/cli.js';
import { buildRepository, type Repository } from '../../helpers/apt-repo.js';
import { buildGoldenImage, tool } from '../../helpers/images.js';

const base = fs.mkdtempSync(path.join(os.tmpdir(), 'client-'));
const TOKEN = 'tenant-token-that-must-never-be-printed';
let repo: Repository;
let golden: string;
let work: string;

beforeAll(async () => {
  repo = await buildRepository(base, [
    {
      name: 'mender-client',
      version: '3.5.0-1',
      depends: 'libfoo (>= 1.0)',
      files: {
        '/usr/bin/mender': '#!/bin/sh\necho fake\n',
        '/lib/systemd/system/mender-client.service': '[Unit]\nDescription=c\n[Service]\nExecStart=/usr/bin/mender\n[Install]\nWantedBy=multi-user.target\n',
        '/usr/share/doc/mender-client/examples/mender-device-identity': '#!/bin/sh\necho mac=00:11\n',
        '/usr/share/doc/mender-client/examples/mender-inventory-os': '#!/bin/sh\necho os=x\n',
      },
      postinst: "#!/bin/sh\nset -e\n# Automatically added by dh_installsystemd/13\ndeb-systemd-helper enable 'mender-client.service' >/dev/null || true\n# End automatically added section\n",
    },
    { name: 'libfoo', version: '1.2-1', files: { '/usr/lib/libfoo.so.1': 'foo' } },
    { name: 'broken', version: '1.0', depends: 'nonexistent (>= 1)' },
  ]);
  golden = (await buildGoldenImage({ dir: path.join(base, 'golden') })).image;
  work = path.join(base, 'work');
});

afterAll(async () => {
  await repo.stop();
});

function config(name: string, extra = '', keyring = repo.keyring): string {
  const file = path.join(base, `${name}.yaml`);
  fs.writeFileSync(
    file,
    [
      'storage: { total_size_mb: 160, alignment: 4194304 }',
      'data: { size_mb: 16 }',
      'image: { compression: none }',
      'client:',
      '  install: true',
      `  repositories: ["deb [signed-by=${keyring}] ${repo.url} ${repo.suite} main"]`,
      extra,
      '',
    ].join('\n'),
  );
  return file;
}

async function convert(name: string, configFile: string, extraArgs: string[] = [], workDir = work) {
  const deploy = path.join(base, name);
  const result = await runCli(['--disk-image', golden, '--config', configFile, '-n', 'client-1', '--output-dir', deploy, '--work-dir', workDir, ...extraArgs], {
    env: { MENDER_CLIENT_INSTALL: 'y', MENDER_TENANT_TOKEN: TOKEN },
  });
  return { result, deploy };
}

describe('client install through the conversion', () => {
  it('installs the client and its dependency from a signed repository and configures it; the token stays secret', async () => {
    const { result, deploy } = await convert('ok', config('ok', 'server: { url: "https://mender.example.com", update_poll_seconds: 60 }'));
    expect(result.exitCode, result.all).toBe(0);
    const ext4 = path.join(deploy, 'golden-testhost-mender.ext4');
    const cat = async (file: string) => (await tool('debugfs', ['-R', `cat ${file}`, ext4])).stdout;
    const conf = JSON.parse(await cat('/etc/mender/mender.conf'));
    expect(conf).toMatchObject({ ServerURL: 'https://mender.example.com', TenantToken: TOKEN, UpdatePollIntervalSeconds: 60 });
    expect((await tool('debugfs', ['-R', 'stat /etc/mender/mender.conf', ext4])).stdout).toMatch(/Mode:\s+0600/);
    expect(await cat('/var/lib/dpkg/status')).toMatch(/Package: mender-client\nStatus: install ok installed/);
    expect(await cat('/usr/share/mender/identity/mender-device-identity')).toContain('mac=');
    expect((await tool('debugfs', ['-R', 'stat /etc/systemd/system/multi-user.target.wants/mender-client.service', ext4])).stdout).toContain('Fast link dest');
    const cfg = fs.readFileSync(path.join(deploy, 'golden-testhost-mender.cfg'), 'utf8');
    expect(cfg).toContain('mender-client-install');
    const results = fs.readFileSync(path.join(deploy, 'golden-testhost-mender.json'), 'utf8');
    expect(JSON.parse(results).packages.map((p: { name: string }) => p.name)).toEqual(['libfoo', 'mender-client']);
    for (const text of [String(result.all), results, fs.readFileSync(path.join(work, 'convert.log'), 'utf8')]) expect(text).not.toContain(TOKEN);
    expect(result.stdout).toMatch(/no time synchronisation/);
  });

  it('converts again with the network gone, from the cache under the work directory', async () => {
    await repo.stop();
    try {
      const { result } = await convert('offline', config('offline'));
      expect(result.exitCode, result.all).toBe(0);
    } finally {
      await repo.start();
    }
  });

  /** Changes a file of the served repository for one test, and puts it back afterwards. */
  function tamper(relative: () => string, change: (data: Buffer) => Buffer) {
    return async (run: () => Promise<void>) => {
      const file = path.join(repo.dir, relative());
      const original = fs.readFileSync(file);
      fs.writeFileSync(file, change(original));
      try {
        await run();
      } finally {
        fs.writeFileSync(file, original);
      }
    };
  }
  const flipLastByte = (data: Buffer) => Buffer.concat([data.subarray(0, -1), Buffer.from([data[data.length - 1]! ^ 1])]);
  const libfooDeb = () => path.join('pool/main', fs.readdirSync(path.join(repo.dir, 'pool/main')).find((f) => f.startsWith('libfoo'))!);

  it.each([
    ['a wrong signing key', () => config('wrongkey', '', repo.otherKeyring), undefined, /does not carry a valid signature/],
    ['a tampered Release', () => config('tampered'), tamper(() => `dists/${repo.suite}/InRelease`, (d) => Buffer.from(d.toString().replace('Suite: stable', 'Suite: stab1e'))), /does not carry a valid signature/],
    ['a .deb whose checksum mismatches', () => config('baddeb'), tamper(libfooDeb, flipLastByte), /does not match the SHA256 in the signed package index/],
    ['an unsatisfiable dependency', () => config('broken', '  packages: [broken]'), undefined, /Cannot install broken → nonexistent \(>= 1\): not in image, not in repos/],
  ])('fails closed on %s and writes no image', async (name, makeConfig, around, pattern) => {
    const attempt = async () => {
      const { result, deploy } = await convert(`fail-${name.replace(/\W/g, '')}`, makeConfig(), [], name.includes('tampered') || name.includes('checksum') ? path.join(base, `work-${name.replace(/\W/g, '')}`) : undefined);
      expect(result.exitCode).toBe(1);
      expect(result.stderr).toMatch(pattern);
      expect(fs.existsSync(deploy) ? fs.readdirSync(deploy) : []).toEqual([]);
    };
    await (around ? around(attempt) : attempt());
  });

  it('the hosted-server overlay script points the client at hosted Mender', async () => {
    const overlay = path.join(base, 'hosted-overlay');
    await execa('npx', ['zx', 'scripts/bootstrap-rootfs-overlay-hosted-server.mjs', '--output-dir', overlay, '--tenant-token', 'abc123'], { cwd: ROOT });
    const { result, deploy } = await convert('hosted', config('hosted'), ['--overlay', overlay]);
    expect(result.exitCode, result.all).toBe(0);
    const conf = (await tool('debugfs', ['-R', 'cat /etc/mender/mender.conf', path.join(deploy, 'golden-testhost-mender.ext4')])).stdout;
    expect(JSON.parse(conf)).toEqual({ ServerURL: 'https://hosted.mender.io', TenantToken: 'abc123' });
    const missing = await execa('npx', ['zx', 'scripts/bootstrap-rootfs-overlay-production-server.mjs', '--output-dir', overlay], { cwd: ROOT, reject: false });
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toMatch(/^error: usage/m);
  });
});

describe("client from Mender's repository (source mender)", () => {
  let mender: Repository;
  let fingerprint: string;

  beforeAll(async () => {
    const pkg = (name: string, version: string, depends?: string) => ({ name, version, depends, files: { [`/usr/share/doc/${name}/VERSION`]: version } });
    mender = await buildRepository(path.join(base, 'mender-repo'), [
      pkg('mender-client4', '5.0.1-1+debian+bookworm', 'mender-update, mender-auth'),
      pkg('mender-client4', '4.0.6-1+debian+bookworm', 'mender-update, mender-auth'),
      pkg('mender-update', '5.0.1-1+debian+bookworm'),
      pkg('mender-update', '4.0.6-1+debian+bookworm'),
      pkg('mender-auth', '5.0.1-1+debian+bookworm'),
      pkg('mender-auth', '4.0.6-1+debian+bookworm'),
      pkg('mender-flash', '1.0.2-1+debian+bookworm'),
      pkg('mender-setup', '1.0.4-1+debian+bookworm'),
      pkg('mender-snapshot', '1.0.1-1+debian+bookworm'),
      pkg('mender-connect', '2.3.0-1+debian+bookworm'),
      pkg('mender-connect', '2.2.1-1+debian+bookworm'),
    ], 'debian/bookworm/stable');
    const { stdout } = await execa('gpg', ['--batch', '--show-keys', '--with-colons', '--with-fingerprint', mender.keyring]);
    fingerprint = /^fpr:+([0-9A-F]{40}):/m.exec(stdout)![1]!;
  });

  afterAll(async () => {
    await mender.stop();
  });

  function menderConfig(name: string, fpr: string) {
    const file = path.join(base, `${name}.yaml`);
    fs.writeFileSync(file, [
      'storage: { total_size_mb: 160, alignment: 4194304 }',
      'data: { size_mb: 16 }',
      'image: { compression: none }',
      'client:',
      '  source: mender',
      '  version: "4.0"',
      '  connect: true',
      '  connect_version: "2.2"',
      `  mender_repository: ${mender.url}`,
      `  mender_key: ${mender.keyring}`,
      `  mender_key_fingerprint: ${fpr}`,
      '',
    ].join('\n'));
    return file;
  }

  it('installs the requested client and add-on versions and the tools, from the pinned-key repository', async () => {
    const { result, deploy } = await convert('mender-source', menderConfig('mender-source', fingerprint));
    expect(result.exitCode, result.all).toBe(0);
    const results = JSON.parse(fs.readFileSync(path.join(deploy, 'golden-testhost-mender.json'), 'utf8'));
    const installed = Object.fromEntries(results.packages.map((p: { name: string; version: string }) => [p.name, p.version]));
    expect(installed).toEqual({
      'mender-auth': '4.0.6-1+debian+bookworm',
      'mender-update': '4.0.6-1+debian+bookworm',
      'mender-client4': '4.0.6-1+debian+bookworm',
      'mender-flash': '1.0.2-1+debian+bookworm',
      'mender-setup': '1.0.4-1+debian+bookworm',
      'mender-snapshot': '1.0.1-1+debian+bookworm',
      'mender-connect': '2.2.1-1+debian+bookworm',
    });
  });

  it('refuses a repository key whose fingerprint is not the pinned one', async () => {
    const { result, deploy } = await convert('mender-wrongfpr', menderConfig('mender-wrongfpr', 'E6C857345575F9218396566224072B80A1B29B00'));
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/is not Mender's repository key: its fingerprint is [0-9A-F]{40}, not E6C8/);
    expect(fs.existsSync(deploy) ? fs.readdirSync(deploy) : []).toEqual([]);
  });
});
