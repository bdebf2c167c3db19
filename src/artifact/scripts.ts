import { UserError } from '../util/errors.js';

/**
 * State scripts an Artifact may carry: <State>_<Enter|Leave|Error>_<two digits>[_<description>].
 * mender-artifact 3.9 refuses other states (Idle, Sync and Download scripts live in the root
 * filesystem, not in Artifacts). It only looks for the pattern inside the name, but the client
 * skips a script whose whole name does not match ("ArtifactInstall_Enter_000"), so such names
 * are refused here rather than shipped and silently never run.
 */
export const ARTIFACT_STATES = ['ArtifactInstall', 'ArtifactReboot', 'ArtifactCommit', 'ArtifactRollback', 'ArtifactRollbackReboot', 'ArtifactFailure'];
const SCRIPT_NAME = new RegExp(`^(${ARTIFACT_STATES.join('|')})_(Enter|Leave|Error)_[0-9]{2}(_\\S+)?$`);

export function checkScriptName(name: string): void {
  if (!SCRIPT_NAME.test(name)) {
    throw new UserError(`'${name}' is not a valid Artifact state script name.`, {
      hint: `Name it <State>_<Enter|Leave|Error>_<NN>[_description] with State one of ${ARTIFACT_STATES.join(', ')}, e.g. ArtifactInstall_Enter_00_migrate.`,
    });
  }
}
