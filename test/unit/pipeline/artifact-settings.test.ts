import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { artifactSettings, checkArtifactSettings } from '../../../src/pipeline/stages/artifact-settings.js';
import { UserError } from '../../../src/util/errors.js';
import { envWith } from './fixtures.js';

async function problemOf(yaml: string): Promise<UserError> {
  const error = await checkArtifactSettings(envWith(yaml)).then(() => undefined, (caught: unknown) => caught);
  expect(error).toBeInstanceOf(UserError);
  return error as UserError;
}

describe('artifact.* settings', () => {
  it('pass provides, depends, clears and the software name/version on to the writer', async () => {
    const env = envWith('artifact:\n  software_name: os\n  software_version: "2.1"\n  provides: { app.version: 3 }\n  depends: { rootfs-image.os.version: "2.0" }\n  clears_provides: [app.*]\n');
    await checkArtifactSettings(env);
    expect(await artifactSettings(env)).toEqual({
      software: { name: 'os', version: '2.1' },
      provides: { 'app.version': '3' },
      depends: { 'rootfs-image.os.version': '2.0' },
      clearsProvides: ['app.*'],
      scripts: [],
    });
  });

  it('leave the software version to the writer\'s defaults when not set', async () => {
    expect((await artifactSettings(envWith(''))).software).toEqual({ name: undefined, version: undefined });
  });

  it('refuse, all at once, provides the writer sets or the client files elsewhere', async () => {
    const error = await problemOf('artifact:\n  provides:\n    artifact_name: a\n    artifact_group: g\n    device_type: d\n    rootfs-image.checksum: c\n    rootfs-image.version: v\n    app.version: fine\n');
    const lines = error.message.split('\n').slice(1);
    expect(lines.map((line) => /'([^']+)' cannot be given/.exec(line)?.[1])).toEqual(['artifact_name', 'artifact_group', 'device_type', 'rootfs-image.checksum', 'rootfs-image.version']);
    expect(lines[4]).toContain('set artifact.software_version');
  });

  it('take the version key of the software name as the reserved one', async () => {
    expect((await problemOf('artifact:\n  software_name: os\n  provides: { rootfs-image.os.version: "1" }\n')).message).toMatch(/^artifact\.provides: 'rootfs-image\.os\.version' cannot be given: it is the software version/);
    await checkArtifactSettings(envWith('artifact:\n  software_name: os\n  provides: { rootfs-image.version: "1" }\n'));
  });

  it('refuse depends on device_type and clears patterns that are empty or have spaces', async () => {
    expect((await problemOf('artifact:\n  depends: { device_type: pi }\n')).message).toMatch(/^artifact\.depends: 'device_type' cannot be given: .* never match/);
    expect((await problemOf('artifact:\n  clears_provides: ["a b"]\n')).message).toMatch(/^artifact\.clears_provides: "a b" is not a provide name or pattern/);
  });

  it('list a state script directory\'s problems with the other settings\' ones', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'settings-scripts-'));
    fs.writeFileSync(path.join(dir, 'notes.txt'), 'x');
    const error = await problemOf(`artifact:\n  state_scripts: ${dir}\n  provides: { device_type: d }\n`);
    expect(error.message).toContain("'device_type' cannot be given");
    expect(error.message).toContain(`\n  The state script directory ${dir} (artifact.state_scripts, `);
    expect(error.message).toContain('holds what cannot be an Artifact state script: notes.txt: not a state script name');
    expect(error.hint).toMatch(/^Name it <State>_<Enter\|Leave\|Error>_<NN>/);
  });
});
