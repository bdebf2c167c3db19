import { compareText, debPurl, withContentUuid, isoTime, parseContact, type AddedFile, type SbomInput } from './document.js';
import { packageKey } from './inventory.js';
import { NOASSERTION } from './licenses.js';

/**
 * CycloneDX 1.6 (JSON). The described root filesystem is metadata.component (its golden image
 * as pedigree ancestor); every Debian package is a component (purl as bom-ref) holding its
 * files with the MD5s dpkg recorded; the files the conversion added are file components; the
 * dependency graph is dpkg's Depends and Pre-Depends.
 */

type Json = Record<string, unknown>;

const ROOT = 'rootfs';
const PROPERTY = 'mender-convert';

function property(name: string, value: string): Json {
  return { name: `${PROPERTY}:${name}`, value };
}

function fileRef(file: AddedFile): string {
  return `file:${file.filesystem}:${file.path}`;
}

export function renderCycloneDx(input: SbomInput): Buffer {
  const { subject, inventory, conversion, tool } = input;
  const purls = new Map(inventory.packages.map((p) => [packageKey(p), debPurl(p, inventory.os)]));
  const artifactName = subject.artifact?.name ?? inventory.artifactName;

  const rootProperties = [
    ...(artifactName ? [property('artifact_name', artifactName)] : []),
    ...(subject.artifact?.payloadFile ? [property('artifact_payload', subject.artifact.payloadFile)] : []),
    ...(subject.artifact && !subject.artifact.payloadSha256
      ? [property('note', 'This copy is stored inside the root filesystem it describes, so it cannot name the checksum of that filesystem (the Artifact payload); the copies next to the Artifact do.')]
      : []),
  ];
  const root: Json = {
    'bom-ref': ROOT,
    type: 'operating-system',
    name: subject.name,
    ...(artifactName ? { version: artifactName } : {}),
    description: `The root filesystem of ${inventory.os.prettyName}${subject.artifact ? `: the payload of the Mender Artifact ${subject.artifact.name}` : ''}.`,
    ...(subject.artifact?.payloadSha256 ? { hashes: [{ alg: 'SHA-256', content: subject.artifact.payloadSha256 }] } : {}),
    ...(subject.golden
      ? { pedigree: { ancestors: [{ type: 'file', 'bom-ref': 'golden-image', name: subject.golden.name, hashes: [{ alg: 'SHA-256', content: subject.golden.sha256 }], description: 'The golden disk image the root filesystem was converted from.' }] } }
      : {}),
    ...(rootProperties.length ? { properties: rootProperties } : {}),
  };

  const components: Json[] = inventory.packages.map((p) => {
    const from = conversion?.installed.get(packageKey(p));
    const maintainer = p.maintainer ? parseContact(p.maintainer) : undefined;
    return {
      'bom-ref': purls.get(packageKey(p)),
      type: 'library',
      ...(maintainer ? { supplier: { name: maintainer.name, ...(maintainer.email ? { contact: [{ email: maintainer.email }] } : {}) } } : {}),
      name: p.name,
      version: p.version,
      ...(p.summary ? { description: p.summary } : {}),
      ...(p.license.expression !== NOASSERTION ? { licenses: [{ expression: p.license.expression, acknowledgement: 'declared' }] } : {}),
      purl: purls.get(packageKey(p)),
      ...(p.homepage && /^https?:\/\/[^\s"<>\\^`{|}]+$/.test(p.homepage) ? { externalReferences: [{ type: 'website', url: p.homepage }] } : {}),
      properties: [
        property('deb:architecture', p.architecture),
        property('deb:source', p.source.name),
        property('deb:source_version', p.source.version),
        property('deb:status', p.state),
        ...(from ? [property('installed_by_conversion', from)] : []),
      ],
      ...(p.files.length ? { components: p.files.map((file) => ({ type: 'file', name: file.path, hashes: [{ alg: 'MD5', content: file.md5 }] })) } : {}),
    };
  });
  const added = [...(conversion?.addedFiles ?? [])].sort((a, b) => compareText(a.filesystem, b.filesystem) || compareText(a.path, b.path));
  for (const file of added) {
    components.push({
      'bom-ref': fileRef(file),
      type: 'file',
      name: file.path,
      hashes: [{ alg: 'SHA-1', content: file.digests.sha1 }, { alg: 'SHA-256', content: file.digests.sha256 }],
      properties: [property('added_by_conversion', 'true'), property('filesystem', file.filesystem === 'boot' ? 'boot partition' : 'root filesystem')],
    });
  }

  const dependencies: Json[] = [
    { ref: ROOT, dependsOn: [...purls.values()].sort(compareText) },
    ...inventory.packages.map((p) => ({
      ref: purls.get(packageKey(p)),
      dependsOn: [...new Set([...p.preDepends, ...p.depends])].map((key) => purls.get(key)!).sort(compareText),
    })),
  ];

  const bom: Json = {
    $schema: 'http://cyclonedx.org/schema/bom-1.6.schema.json',
    bomFormat: 'CycloneDX',
    specVersion: '1.6',
    serialNumber: '',
    version: 1,
    metadata: {
      timestamp: isoTime(input.created),
      lifecycles: [{ phase: 'post-build' }],
      tools: { components: [{ type: 'application', name: tool.name, version: tool.version }] },
      component: root,
      ...(subject.file ? { properties: [property('described_file', subject.file.name), property('described_file_sha256', subject.file.sha256)] } : {}),
    },
    components,
    dependencies,
  };
  return withContentUuid(bom, (uuid) => `urn:uuid:${uuid}`, (value) => (bom.serialNumber = value));
}
