import { UserError } from '../util/errors.js';
import { checkScriptName } from './scripts.js';

/**
 * What the header of each kind of Artifact holds, with mender-artifact 3.9's defaults
 * (checked by running it): the software version provide, the payload checksum provide and
 * the default clears_artifact_provides. JSON keys come out in the order mender-artifact's
 * Go structs and sorted maps give them.
 */

export type ArtifactKind = 'rootfs-image' | 'module-image' | 'bootstrap';

export interface SoftwareVersion {
  /** rootfs-image.<name>.version instead of rootfs-image.version (module-image: instead of the type). */
  name?: string;
  /** Used instead of "rootfs-image" in the key. */
  filesystem?: string;
  /** Defaults to the artifact name. */
  version?: string;
}

export interface HeaderFields {
  kind: ArtifactKind;
  /** module-image: the update module that installs the payload. */
  moduleType?: string;
  artifactName: string;
  deviceTypes: string[];
  /** artifact_group the Artifact provides. */
  artifactGroup?: string;
  /** Artifact names one of which must be installed (artifact_depends.artifact_name). */
  dependsArtifactNames?: string[];
  /** Groups one of which must be installed (artifact_depends.artifact_group). */
  dependsGroups?: string[];
  /** type-info artifact_depends: arbitrary keys. */
  depends?: Record<string, string>;
  /** type-info artifact_provides: arbitrary keys; they win over the kind's defaults. */
  provides?: Record<string, string>;
  /** clears_artifact_provides, listed before the kind's defaults. */
  clearsProvides?: string[];
  /** Add the kind's default clears_artifact_provides; default true. */
  defaultClearsProvides?: boolean;
  /** The software version provide; false leaves it (and the default clears) out. Not for bootstrap. */
  software?: SoftwareVersion | false;
  /** rootfs-image: key of the payload checksum provide, false for none; default rootfs-image.checksum. */
  checksumProvide?: 'rootfs-image.checksum' | 'rootfs_image_checksum' | false;
  /** module-image: headers/0000/meta-data, a JSON object. */
  metaData?: Record<string, unknown>;
}

const NAME = /^[A-Za-z0-9_.+~-]+$/;

function sorted<T>(record: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function sortedDeep(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortedDeep);
  if (typeof value === 'object' && value !== null) return sorted(Object.fromEntries(Object.entries(value).map(([k, v]) => [k, sortedDeep(v)])));
  return value;
}

const GO_ESCAPES: Record<string, string> = { '<': '\\u003c', '>': '\\u003e', '&': '\\u0026', '\u2028': '\\u2028', '\u2029': '\\u2029' };

/**
 * JSON as Go's encoding/json writes it (what mender-artifact's files hold): <, > and & and the
 * line separators escaped; with `sortKeys`, object keys sorted at every level (Go's maps).
 */
export function goJson(value: unknown, sortKeys = false): string {
  return JSON.stringify(sortKeys ? sortedDeep(value) : value).replace(/[<>&\u2028\u2029]/g, (char) => GO_ESCAPES[char]!);
}

export function checkFields(fields: HeaderFields, payloadNames: string[], scriptNames: string[]): void {
  if (!fields.artifactName) throw new UserError('An Artifact needs a name.', { hint: 'Give one with -n/--artifact-name.' });
  if (!NAME.test(fields.artifactName)) {
    throw new UserError(`The artifact name '${fields.artifactName}' has characters the Mender client rejects.`, { hint: 'Use letters, digits and _ . + ~ - only.' });
  }
  if (fields.deviceTypes.length === 0 || fields.deviceTypes.some((type) => !type.trim())) {
    throw new UserError('An Artifact needs at least one compatible device type.', { hint: 'Give them with -t/--device-type (repeatable).' });
  }
  if (fields.kind === 'rootfs-image' && payloadNames.length !== 1) {
    throw new UserError(`A rootfs-image Artifact holds exactly one file, not ${payloadNames.length}.`);
  }
  if (fields.kind === 'bootstrap' && payloadNames.length !== 0) throw new UserError('A bootstrap Artifact has an empty payload: it takes no files.');
  if (fields.kind === 'module-image' && !fields.moduleType) {
    throw new UserError('A module-image Artifact needs the name of its update module.', { hint: 'Give it with -T/--type.' });
  }
  if (fields.kind !== 'module-image' && fields.metaData) throw new UserError('Only module-image Artifacts carry meta-data.');
  const seen = new Set<string>();
  for (const name of payloadNames) {
    if (!name || name.includes('/') || name === '.' || name === '..') throw new UserError(`'${name}' cannot be a payload file name: it must be a plain file name.`);
    if (seen.has(name)) throw new UserError(`Two payload files are named ${name}.`, { hint: 'Payload files are stored by base name; rename one.' });
    seen.add(name);
  }
  for (const name of scriptNames) checkScriptName(name);
  if (new Set(scriptNames).size !== scriptNames.length) throw new UserError('Two state scripts have the same name.');
}

/** The provide key of the software version, or undefined when there is none. */
export function softwareVersionKey(fields: Pick<HeaderFields, 'kind' | 'software' | 'moduleType'>): string | undefined {
  if (fields.kind === 'bootstrap' || fields.software === false) return undefined;
  const software = fields.software ?? {};
  const base = software.filesystem ?? 'rootfs-image';
  const name = fields.kind === 'module-image' ? (software.name ?? fields.moduleType) : software.name;
  return `${name ? `${base}.${name}` : base}.version`;
}

function defaultClears(fields: HeaderFields): string[] {
  const key = softwareVersionKey(fields);
  if (fields.defaultClearsProvides === false || !key) return [];
  const software = fields.software || {};
  if (fields.kind === 'rootfs-image' && !software.name && !software.filesystem) return ['artifact_group', 'rootfs_image_checksum', 'rootfs-image.*'];
  return [`${key.slice(0, -'version'.length)}*`];
}

export function headerInfo(fields: HeaderFields): Record<string, unknown> {
  const type = fields.kind === 'bootstrap' ? null : fields.kind === 'rootfs-image' ? 'rootfs-image' : fields.moduleType!;
  return {
    payloads: [{ type }],
    artifact_provides: { artifact_name: fields.artifactName, ...(fields.artifactGroup ? { artifact_group: fields.artifactGroup } : {}) },
    artifact_depends: {
      ...(fields.dependsArtifactNames?.length ? { artifact_name: fields.dependsArtifactNames } : {}),
      device_type: fields.deviceTypes,
      ...(fields.dependsGroups?.length ? { artifact_group: fields.dependsGroups } : {}),
    },
  };
}

export interface TypeInfo {
  type: string | null;
  artifact_depends?: Record<string, string>;
  artifact_provides?: Record<string, string>;
  clears_artifact_provides?: string[];
}

/** headers/0000/type-info, given the sha256 of each payload file. */
export function typeInfo(fields: HeaderFields, payloadSha256: Record<string, string>): TypeInfo {
  const provides: Record<string, string> = {};
  if (fields.kind === 'rootfs-image' && fields.checksumProvide !== false) {
    provides[fields.checksumProvide ?? 'rootfs-image.checksum'] = Object.values(payloadSha256)[0]!;
  }
  const version = softwareVersionKey(fields);
  if (version) provides[version] = (fields.software || {}).version ?? fields.artifactName;
  Object.assign(provides, fields.provides);
  const clears = [...new Set([...(fields.clearsProvides ?? []), ...defaultClears(fields)])];
  // mender-artifact writes an empty type here for rootfs-image (header-info names it) and null for bootstrap.
  const type = fields.kind === 'bootstrap' ? null : fields.kind === 'rootfs-image' ? '' : fields.moduleType!;
  return {
    type,
    ...(fields.depends && Object.keys(fields.depends).length ? { artifact_depends: sorted(fields.depends) } : {}),
    ...(Object.keys(provides).length ? { artifact_provides: sorted(provides) } : {}),
    ...(clears.length ? { clears_artifact_provides: clears } : {}),
  };
}

/** headers/0000/meta-data: rootfs-image always has an (empty) one, module-image when given, bootstrap none. */
export function metaData(fields: HeaderFields): string | undefined {
  if (fields.kind === 'rootfs-image') return '';
  if (fields.kind === 'module-image' && fields.metaData) return goJson(fields.metaData, true);
  return undefined;
}
