/**
 * The artifact.* settings that replace an upstream mender_create_artifact override: a conversion
 * with state scripts, provides, depends, clears_provides and a software name/version, its
 * Artifact and bootstrap Artifact read back with mender-artifact 3.9; and the settings it
 * refuses before extracting anything.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../helpers/cli.js';
import { buildGoldenImage, tool } from '../../helpers/images.js';

const base = fs.mkdtempSync(path.join(os.tmpdir(), 'artifact-settings-'));
const SMALL = 'storage:\n  total_size_mb: 160\n  alignment: 4194304\ndata:\n  size_mb: 16\nimage:\n  compression: none\n';
const SCRIPTS: Record<string, string> = {
  ArtifactInstall_Enter_00_migrate: '#!/bin/sh\necho migrate\n',
  ArtifactCommit_Leave_10: '#!/bin/sh\nexit 0\n',
};
let golden: string;

beforeAll(async () => {
  golden = (await buildGoldenImage({ dir: path.join(base, 'golden') })).image;
});

/** A config in its own directory, with a scripts/ directory beside it holding `scripts`. */
function setup(name: string, config: string, scripts: Record<string, string> = {}): { dir: string; args: string[] } {
  const dir = path.join(base, name);
  fs.mkdirSync(path.join(dir, 'scripts'), { recursive: true });
  for (const [file, content] of Object.entries(scripts)) fs.writeFileSync(path.join(dir, 'scripts', file), content, { mode: 0o755 });
  fs.writeFileSync(path.join(dir, 'c.yaml'), `${SMALL}${config}`);
  const args = ['--disk-image', golden, '--config', path.join(dir, 'c.yaml'), '--artifact-name', 'release-2', '--output-dir', path.join(dir, 'deploy'), '--work-dir', path.join(dir, 'work')];
  return { dir, args };
}

/** `mender-artifact read` of the bootstrap Artifact in the image's data partition. */
async function readBootstrap(dir: string, image: string): Promise<string> {
  const data = JSON.parse((await tool('sfdisk', ['--json', image])).stdout).partitiontable.partitions[3];
  const part = path.join(dir, 'data.ext4');
  await tool('dd', [`if=${image}`, `of=${part}`, 'bs=512', `skip=${data.start}`, `count=${data.size}`, 'conv=sparse', 'status=none']);
  const bootstrap = path.join(dir, 'bootstrap.mender');
  await tool('debugfs', ['-R', `dump /mender/bootstrap.mender ${bootstrap}`, part]);
  return (await tool('mender-artifact', ['read', bootstrap])).stdout;
}

describe('artifact.* settings in a conversion', () => {
  let artifact: string;
  let read: string;
  let bootstrap: string;

  beforeAll(async () => {
    const { dir, args } = setup('full', [
      'artifact:',
      '  state_scripts: scripts',
      '  software_name: os',
      '  software_version: 1.10',
      '  provides:',
      '    app.version: 2.0',
      '    data-partition.fw.version: "7"',
      '  depends:',
      '    rootfs-image.os.version: 1.9',
      '  clears_provides: [app.*]',
      '',
    ].join('\n'), SCRIPTS);
    const result = await runCli(args);
    expect(result.exitCode, result.all).toBe(0);
    const deploy = path.join(dir, 'deploy');
    artifact = path.join(deploy, fs.readdirSync(deploy).find((f) => f.endsWith('.mender'))!);
    expect((await tool('mender-artifact', ['validate', artifact])).exitCode).toBe(0);
    read = (await tool('mender-artifact', ['read', artifact])).stdout;
    bootstrap = await readBootstrap(dir, path.join(deploy, fs.readdirSync(deploy).find((f) => f.endsWith('.img'))!));
  }, 300_000);

  it('carries the state scripts, executable', async () => {
    expect(read).toMatch(/State scripts:\n\s+ArtifactCommit_Leave_10\n\s+ArtifactInstall_Enter_00_migrate\n/);
    const header = path.join(base, 'full', 'header');
    fs.mkdirSync(header, { recursive: true });
    await tool('tar', ['-xf', artifact, '-C', header, 'header.tar.gz']);
    const listing = (await tool('tar', ['-tvzf', path.join(header, 'header.tar.gz')])).stdout;
    expect(listing).toMatch(/^-rwxr-xr-x .* scripts\/ArtifactInstall_Enter_00_migrate$/m);
    const content = (await tool('tar', ['-xOzf', path.join(header, 'header.tar.gz'), 'scripts/ArtifactInstall_Enter_00_migrate'])).stdout;
    expect(content).toBe(SCRIPTS.ArtifactInstall_Enter_00_migrate);
  });

  it('provides the software version under its name, the checksum and the extra provides (YAML numbers keep their text)', () => {
    const provides = /Provides:\n((?:\t.*\n)+)/.exec(read)![1]!.trim().split('\n\t');
    expect(provides).toEqual(['app.version: 2.0', 'data-partition.fw.version: 7', expect.stringMatching(/^rootfs-image\.checksum: [0-9a-f]{64}$/), 'rootfs-image.os.version: 1.10']);
  });

  it('depends on what artifact.depends names, clears artifact.clears_provides before the software name default', () => {
    expect(read).toMatch(/Depends:\n\trootfs-image\.os\.version: 1\.9\n/);
    expect(read).toContain('Clears Provides: ["app.*", "rootfs-image.os.*"]');
  });

  it('writes a bootstrap Artifact that provides the same, without depends or scripts', () => {
    const checksum = /rootfs-image\.checksum: ([0-9a-f]{64})/.exec(read)![1];
    expect(bootstrap).toContain('Name: release-2');
    expect(bootstrap).toMatch(/State scripts:\n\nUpdates:/);
    expect(bootstrap).toContain('Type:   Empty type');
    const provides = /Provides:\n((?:\t.*\n)+)/.exec(bootstrap)![1]!.trim().split('\n\t');
    expect(provides).toEqual(['app.version: 2.0', 'data-partition.fw.version: 7', `rootfs-image.checksum: ${checksum}`, 'rootfs-image.os.version: 1.10']);
    expect(bootstrap).toContain('Depends: Nothing');
    expect(bootstrap).toContain('Clears Provides: ["rootfs-image.*"]');
  });
});

describe('artifact.* settings refused before anything is extracted', () => {
  async function refused(name: string, config: string, scripts?: Record<string, string>): Promise<string> {
    const { dir, args } = setup(name, config, scripts);
    const result = await runCli(args);
    expect(result.exitCode).not.toBe(0);
    const stderr = String(result.stderr);
    expect(stderr).toMatch(/^error: /);
    expect(stderr).not.toMatch(/\n\s+at .*\(.*:\d+:\d+\)/);
    // Preflight: nothing extracted, nothing published.
    expect(fs.existsSync(path.join(dir, 'deploy')) ? fs.readdirSync(path.join(dir, 'deploy')) : []).toEqual([]);
    expect(String(result.all)).not.toMatch(/Extract/);
    return stderr;
  }

  it('state scripts with names the client would not run, listed together with the expected pattern', async () => {
    const stderr = await refused('bad-names', 'artifact:\n  state_scripts: scripts\n', {
      ...SCRIPTS,
      'ArtifactInstall_Enter_0': '#!/bin/sh\n',
      'README.md': 'notes\n',
      'Sync_Enter_00': '#!/bin/sh\n',
    });
    expect(stderr).toContain(`The state script directory ${path.join(base, 'bad-names', 'scripts')} (artifact.state_scripts, ${path.join(base, 'bad-names', 'c.yaml')}:`);
    expect(stderr).toContain('  ArtifactInstall_Enter_0: not a state script name\n');
    expect(stderr).toContain('  README.md: not a state script name\n');
    expect(stderr).toContain('  Sync_Enter_00: Sync scripts run from the root filesystem, not from an Artifact: put it in an overlay at /etc/mender/scripts/Sync_Enter_00');
    expect(stderr).not.toContain('ArtifactCommit_Leave_10');
    expect(stderr).toContain('hint: Name it <State>_<Enter|Leave|Error>_<NN>[_description] with State one of ArtifactInstall,');
  });

  it('a script the device could not execute', async () => {
    const stderr = await refused('no-shebang', 'artifact:\n  state_scripts: scripts\n', { ArtifactReboot_Enter_00: 'echo no interpreter line\n' });
    expect(stderr).toMatch(/ArtifactReboot_Enter_00: neither starts with a #! line nor is an ELF binary/);
  });

  it('a missing or empty state script directory', async () => {
    expect(await refused('missing-dir', 'artifact:\n  state_scripts: nowhere\n')).toContain(`The state script directory ${path.join(base, 'missing-dir', 'nowhere')} does not exist`);
    expect(await refused('empty-dir', 'artifact:\n  state_scripts: scripts\n')).toContain(`The state script directory ${path.join(base, 'empty-dir', 'scripts')} is empty`);
  });

  it('provides and depends the Artifact sets itself or the client files elsewhere', async () => {
    const stderr = await refused('reserved', 'artifact:\n  software_name: os\n  provides:\n    artifact_name: x\n    rootfs-image.os.version: "1"\n    rootfs-image.version: "1"\n  depends:\n    device_type: pi\n');
    expect(stderr).toContain("artifact.provides: 'artifact_name' cannot be given: the client takes it for the name of the installed Artifact; that is artifact.name");
    expect(stderr).toContain("artifact.provides: 'rootfs-image.os.version' cannot be given: it is the software version");
    // With a software name, rootfs-image.version is an ordinary provide.
    expect(stderr).not.toContain("'rootfs-image.version'");
    expect(stderr).toContain("artifact.depends: 'device_type' cannot be given");
  });
});
