import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../helpers/cli.js';
import { buildGoldenImage, tool } from '../../helpers/images.js';

const base = fs.mkdtempSync(path.join(os.tmpdir(), 'hooks-test-'));
let golden: string;

const SMALL = 'storage:\n  total_size_mb: 160\n  alignment: 4194304\ndata:\n  size_mb: 16\nimage:\n  compression: none\n';

beforeAll(async () => {
  golden = (await buildGoldenImage({ dir: path.join(base, 'golden') })).image;
  const hooks = path.join(base, 'hooks');
  fs.mkdirSync(hooks, { recursive: true });
  fs.writeFileSync(
    path.join(hooks, 'add-service.ts'),
    `import type { HookApi } from '${path.resolve('src/pipeline/hooks.js')}';
export default async function (api: HookApi): Promise<void> {
  const unit = '[Unit]\\nDescription=from a TypeScript hook\\n[Service]\\nExecStart=/bin/true\\n[Install]\\nWantedBy=multi-user.target\\n';
  await api.rootfs.writeFile('/etc/systemd/system/ts-hook.service', unit, { mode: 0o644 });
  await api.rootfs.mkdir('/etc/systemd/system/multi-user.target.wants');
  await api.rootfs.symlink('/etc/systemd/system/multi-user.target.wants/ts-hook.service', '/etc/systemd/system/ts-hook.service');
  await api.rootfs.writeFile('/etc/ts-hook-facts', api.stage + ' ' + api.facts.arch + ' ' + api.deviceTypes.join(','));
}
`,
  );
  fs.writeFileSync(
    path.join(hooks, 'add-service.sh'),
    `#!/bin/sh
set -eu
mkdir -p "$ROOTFS_STAGING/etc/systemd/system/multi-user.target.wants"
printf '[Unit]\\nDescription=from a shell hook\\n[Service]\\nExecStart=/bin/true\\n' > "$ROOTFS_STAGING/etc/systemd/system/sh-hook.service"
ln -s /etc/systemd/system/sh-hook.service "$ROOTFS_STAGING/etc/systemd/system/multi-user.target.wants/sh-hook.service"
echo "$MENDER_CONVERT_STAGE $IMAGE_OS_ID $MENDER_ARTIFACT_NAME" > "$ROOTFS_STAGING/etc/sh-hook-facts"
`,
    { mode: 0o755 },
  );
  fs.writeFileSync(path.join(hooks, 'fail.sh'), '#!/bin/sh\necho "preparing"\necho "something went wrong" >&2\nexit 3\n', { mode: 0o755 });
});

describe('hooks', () => {
  it('TypeScript and shell hooks add files and systemd units to the root filesystem', async () => {
    const dir = path.join(base, 'ok');
    fs.mkdirSync(dir);
    const config = path.join(base, 'hooks.yaml');
    fs.writeFileSync(config, `${SMALL}hooks:\n  modify: [hooks/add-service.ts]\n  post_modify: [hooks/add-service.sh]\n`);
    const result = await runCli(['--disk-image', golden, '--config', config, '--artifact-name', 'hooked-1', '--output-dir', path.join(dir, 'deploy'), '--work-dir', path.join(dir, 'work')]);
    expect(result.exitCode, result.all).toBe(0);
    const ext4 = path.join(dir, 'deploy', 'golden-testhost-mender.ext4');
    const cat = async (file: string) => (await tool('debugfs', ['-R', `cat ${file}`, ext4])).stdout;
    expect(await cat('/etc/systemd/system/ts-hook.service')).toContain('from a TypeScript hook');
    expect(await cat('/etc/systemd/system/sh-hook.service')).toContain('from a shell hook');
    expect(await cat('/etc/ts-hook-facts')).toBe('modify amd64 testhost');
    expect(await cat('/etc/sh-hook-facts')).toBe('post_modify debian hooked-1\n');
    const link = (await tool('debugfs', ['-R', 'stat /etc/systemd/system/multi-user.target.wants/sh-hook.service', ext4])).stdout;
    expect(link).toContain('Fast link dest: "/etc/systemd/system/sh-hook.service"');
  });

  it('a failing hook stops the conversion with its name and output', async () => {
    const dir = path.join(base, 'fail');
    fs.mkdirSync(dir);
    const config = path.join(base, 'fail.yaml');
    fs.writeFileSync(config, `${SMALL}hooks:\n  pre_modify: [hooks/fail.sh]\n`);
    const result = await runCli(['--disk-image', golden, '--config', config, '--artifact-name', 'r1', '--output-dir', path.join(dir, 'deploy'), '--work-dir', path.join(dir, 'work')]);
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toContain('error: The pre_modify hook fail.sh exited with status 3.');
    expect(result.stderr).toContain('something went wrong');
    expect(fs.existsSync(path.join(dir, 'deploy')) ? fs.readdirSync(path.join(dir, 'deploy')) : []).toEqual([]);
  });
});
