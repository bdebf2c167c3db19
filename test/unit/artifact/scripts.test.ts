import { describe, expect, it } from 'vitest';
import { checkScriptName } from '../../../src/artifact/scripts.js';

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
