import fs from 'node:fs/promises';
import path from 'node:path';
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
const ROOTFS_SCRIPT_NAME = /^(Idle|Sync|Download)_(Enter|Leave|Error)_[0-9]{2}(_\S+)?$/;
const NAME_HINT = `Name it <State>_<Enter|Leave|Error>_<NN>[_description] with State one of ${ARTIFACT_STATES.join(', ')}, e.g. ArtifactInstall_Enter_00_migrate.`;

export interface StateScript {
  /** File to read; its base name is the script name unless `name` is given. */
  path: string;
  /** e.g. ArtifactInstall_Enter_00_migrate */
  name?: string;
}

export function checkScriptName(name: string): void {
  if (!SCRIPT_NAME.test(name)) throw new UserError(`'${name}' is not a valid Artifact state script name.`, { hint: NAME_HINT });
}

/** What the client can execute directly: a script with its interpreter line, or an ELF binary. */
function isExecutable(head: Buffer): boolean {
  return head.subarray(0, 2).toString('latin1') === '#!' || head.equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]));
}

async function headOf(file: string): Promise<Buffer> {
  const handle = await fs.open(file, 'r');
  try {
    const head = Buffer.alloc(4);
    const { bytesRead } = await handle.read(head, 0, 4, 0);
    return head.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/**
 * The state scripts of a directory, in name order: every entry must be one (a stray README or
 * an editor's backup would otherwise be shipped or silently dropped), a file the client can
 * execute as it is (it runs them directly: a script needs its #! line). One error lists every
 * entry that is not. `origin` (the setting that names the directory) ends each message.
 */
export async function stateScriptsIn(dir: string, origin = ''): Promise<StateScript[]> {
  const from = origin ? ` (${origin})` : '';
  let names: string[];
  try {
    names = (await fs.readdir(dir)).sort();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UserError(code === 'ENOTDIR' ? `The state script directory ${dir} is not a directory${from}.` : `The state script directory ${dir} does not exist${from}.`, {
      hint: 'Name a directory whose files are the state scripts, or leave the setting empty for none.',
    });
  }
  if (names.length === 0) throw new UserError(`The state script directory ${dir} is empty${from}.`, { hint: 'Put the scripts in it, or leave the setting empty for none.' });
  const problems: string[] = [];
  for (const name of names) {
    const file = path.join(dir, name);
    if (ROOTFS_SCRIPT_NAME.test(name)) {
      problems.push(`${name}: ${name.split('_')[0]} scripts run from the root filesystem, not from an Artifact: put it in an overlay at /etc/mender/scripts/${name}`);
    } else if (!SCRIPT_NAME.test(name)) {
      problems.push(`${name}: not a state script name`);
    } else if (!(await fs.stat(file).catch(() => undefined))?.isFile()) {
      problems.push(`${name}: not a regular file`);
    } else {
      const head = await headOf(file).catch(() => undefined);
      if (!head) problems.push(`${name}: cannot be read`);
      else if (!isExecutable(head)) problems.push(`${name}: neither starts with a #! line nor is an ELF binary, so the device cannot execute it`);
    }
  }
  if (problems.length > 0) {
    const listed = problems.length === 1 ? ` ${problems[0]}` : `\n  ${problems.join('\n  ')}`;
    throw new UserError(`The state script directory ${dir}${from} holds what cannot be an Artifact state script:${listed}`, { hint: NAME_HINT });
  }
  return names.map((name) => ({ path: path.join(dir, name) }));
}
