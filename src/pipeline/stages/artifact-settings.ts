import { softwareVersionKey, stateScriptsIn, type HeaderFields, type StateScript } from '../../artifact/index.js';
import { problemsError } from '../../config/load.js';
import { isUserError } from '../../util/errors.js';
import type { RunEnv } from '../types.js';

/**
 * What the artifact.* settings put in the conversion's Artifact beyond its name, device types,
 * compression and key — what upstream users got by overriding mender_create_artifact — and
 * their checks, made before anything is extracted.
 */

export type ArtifactSettings = Pick<HeaderFields, 'software' | 'provides' | 'depends' | 'clearsProvides'> & { scripts: StateScript[] };

/** Provides the writer sets itself or the client files elsewhere, and why each cannot be given. */
function reservedProvides(versionKey: string | undefined): Record<string, string> {
  return {
    artifact_name: 'the client takes it for the name of the installed Artifact; that is artifact.name',
    artifact_group: "the client takes it for the Artifact's group, a field of the Artifact header, not a type-info provide",
    device_type: "a device's type is not among its provides; the Artifact is for device.types",
    'rootfs-image.checksum': "it is the payload's sha256, computed when the Artifact is written",
    ...(versionKey ? { [versionKey]: 'it is the software version: set artifact.software_version (and artifact.software_name for another key)' } : {}),
  };
}

const RESERVED_DEPENDS: Record<string, string> = {
  device_type: "a device's type is not among its provides, so it would never match; the Artifact depends on device.types already",
};

function software(env: RunEnv): ArtifactSettings['software'] {
  return { name: env.config['artifact.software_name'] || undefined, version: env.config['artifact.software_version'] || undefined };
}

/** Every problem of the settings at once; the state scripts directory read and checked. */
export async function checkArtifactSettings(env: RunEnv): Promise<void> {
  const { config, sources } = env;
  const problems: string[] = [];
  const reserved = reservedProvides(softwareVersionKey({ kind: 'rootfs-image', software: software(env) }));
  for (const name of Object.keys(config['artifact.provides'])) {
    if (reserved[name]) problems.push(`artifact.provides: '${name}' cannot be given: ${reserved[name]} (${sources['artifact.provides']})`);
  }
  for (const name of Object.keys(config['artifact.depends'])) {
    if (RESERVED_DEPENDS[name]) problems.push(`artifact.depends: '${name}' cannot be given: ${RESERVED_DEPENDS[name]} (${sources['artifact.depends']})`);
  }
  for (const pattern of config['artifact.clears_provides']) {
    if (!/^\S+$/.test(pattern)) problems.push(`artifact.clears_provides: ${JSON.stringify(pattern)} is not a provide name or pattern (${sources['artifact.clears_provides']})`);
  }
  let scriptsHint = '';
  try {
    await stateScripts(env);
  } catch (error) {
    if (!isUserError(error) || problems.length === 0) throw error;
    problems.push(error.message.replace(/\n/g, '\n  '));
    scriptsHint = `${error.hint ?? ''} `;
  }
  if (problems.length > 0) throw problemsError('The Artifact settings cannot be used as they are:', problems, `${scriptsHint}configs/defaults.yaml documents every artifact.* setting.`);
}

function stateScripts(env: RunEnv): Promise<StateScript[]> {
  const dir = env.config['artifact.state_scripts'];
  return dir ? stateScriptsIn(dir, `artifact.state_scripts, ${env.sources['artifact.state_scripts']}`) : Promise.resolve([]);
}

export async function artifactSettings(env: RunEnv): Promise<ArtifactSettings> {
  return {
    software: software(env),
    provides: env.config['artifact.provides'],
    depends: env.config['artifact.depends'],
    clearsProvides: env.config['artifact.clears_provides'],
    scripts: await stateScripts(env),
  };
}
