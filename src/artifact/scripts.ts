import { UserError } from '../util/errors.js';

/**
 * State scripts an Artifact may carry (Download scripts live in the root filesystem, not in
 * Artifacts): <State>_<Enter|Leave|Error>_<two digits>[_<description>].
 */
export const ARTIFACT_STATES = ['ArtifactInstall', 'ArtifactReboot', 'ArtifactCommit', 'ArtifactRollback', 'ArtifactRollbackReboot', 'ArtifactFailure'];
const SCRIPT_NAME = new RegExp(`^(${ARTIFACT_STATES.join('|')})_(Enter|Leave|Error)_[0-9]{2}(_[^/\\s]+)?$`);

export function checkScriptName(name: string): void {
  if (!SCRIPT_NAME.test(name)) {
    throw new UserError(`'${name}' is not a valid Artifact state script name.`, {
      hint: `Name it <State>_<Enter|Leave|Error>_<NN>[_description], with State one of ${ARTIFACT_STATES.join(', ')} (e.g. ArtifactInstall_Enter_00).`,
    });
  }
}
