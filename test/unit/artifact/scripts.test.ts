import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkScriptName, stateScriptsIn } from '../../../src/artifact/scripts.js';
import { UserError } from '../../../src/util/errors.js';

// Accepted: what mender-artifact 3.9 accepts and the client then runs (its whole name matches
// <State>_<Enter|Leave|Error>_<NN>[_<description>]). Refused: what 3.9 refuses (other states,
// Download included, one digit, lower case), and what 3.9 takes but the client silently skips.
const accepted = [
  'ArtifactInstall_Enter_00',
  'ArtifactInstall_Enter_00_a_b',
  'ArtifactInstall_Enter_00_a.sh',
  'ArtifactInstall_Leave_01_change-permission',
  'ArtifactReboot_Leave_99',
  'ArtifactCommit_Error_42',
  'ArtifactRollback_Enter_10',
  'ArtifactRollbackReboot_Error_10',
  'ArtifactFailure_Enter_00',
];
const refused = [
  'ArtifactInstall_Enter_0',
  'ArtifactCommit_Enter_ab',
  'ArtifactInstall_enter_00',
  'Download_Enter_00',
  'ArtifactDownload_Enter_00',
  'Sync_Enter_00',
  'Idle_Enter_00',
  'ArtifactVerifyReboot_Enter_00',
  'ArtifactInstall_Enter_000',
  'ArtifactInstall_Enter_00foo',
  'ArtifactInstall_Enter_00_',
  'ArtifactInstall_Enter_00-x',
  'ArtifactInstall_Enter_00_x y',
];

describe('state script names', () => {
  for (const name of accepted) it(`accepts ${name}`, () => expect(() => checkScriptName(name)).not.toThrow());
  for (const name of refused) it(`refuses ${name}`, () => expect(() => checkScriptName(name)).toThrow(/not a valid Artifact state script name/));
});

describe('a state script directory', () => {
  const make = (files: Record<string, string | Buffer>): string => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'state-scripts-'));
    for (const [name, content] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), content);
    return dir;
  };
  const errorIn = async (dir: string): Promise<UserError> => {
    const error = await stateScriptsIn(dir, 'the setting').then(() => undefined, (caught: unknown) => caught);
    expect(error).toBeInstanceOf(UserError);
    return error as UserError;
  };

  it('gives every file, in name order: scripts with their #! line and ELF binaries', async () => {
    const dir = make({ ArtifactInstall_Leave_00: '#!/bin/sh\n', ArtifactCommit_Enter_00_hello: Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1]) });
    expect(await stateScriptsIn(dir)).toEqual([{ path: path.join(dir, 'ArtifactCommit_Enter_00_hello') }, { path: path.join(dir, 'ArtifactInstall_Leave_00') }]);
  });

  it('lists every entry that is not a script the client runs, with why', async () => {
    const dir = make({ ArtifactInstall_Enter_00: '#!/bin/sh\n', 'ArtifactInstall_Enter_00~': '#!/bin/sh\n', Download_Enter_00: '#!/bin/sh\n', ArtifactFailure_Enter_00: 'echo hi\n', ArtifactReboot_Enter_00: '' });
    fs.mkdirSync(path.join(dir, 'ArtifactCommit_Enter_00'));
    fs.symlinkSync(path.join(dir, 'gone'), path.join(dir, 'ArtifactCommit_Leave_00'));
    const error = await errorIn(dir);
    expect(error.message.split('\n')).toEqual([
      `The state script directory ${dir} (the setting) holds what cannot be an Artifact state script:`,
      '  ArtifactCommit_Enter_00: not a regular file',
      '  ArtifactCommit_Leave_00: not a regular file',
      '  ArtifactFailure_Enter_00: neither starts with a #! line nor is an ELF binary, so the device cannot execute it',
      '  ArtifactInstall_Enter_00~: not a state script name',
      '  ArtifactReboot_Enter_00: neither starts with a #! line nor is an ELF binary, so the device cannot execute it',
      '  Download_Enter_00: Download scripts run from the root filesystem, not from an Artifact: put it in an overlay at /etc/mender/scripts/Download_Enter_00',
    ]);
    expect(error.hint).toMatch(/^Name it <State>_<Enter\|Leave\|Error>_<NN>\[_description\] with State one of ArtifactInstall, /);
  });

  it('names a missing, empty or non-directory path', async () => {
    const dir = make({ file: '#!/bin/sh\n' });
    expect((await errorIn(path.join(dir, 'nope'))).message).toBe(`The state script directory ${path.join(dir, 'nope')} does not exist (the setting).`);
    expect((await errorIn(path.join(dir, 'file'))).message).toBe(`The state script directory ${path.join(dir, 'file')} is not a directory (the setting).`);
    expect((await errorIn(make({}))).message).toMatch(/^The state script directory .* is empty \(the setting\)\.$/);
  });
});
