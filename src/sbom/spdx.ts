import { createHash } from 'node:crypto';
import { compareText, debPurl, isoTime, parseContact, withContentUuid, type AddedFile, type SbomInput } from './document.js';
import { packageKey } from './inventory.js';
import { NOASSERTION } from './licenses.js';

/**
 * SPDX 2.3 (JSON). The root filesystem is one package that CONTAINS a package per installed
 * Debian package (purl, declared license, supplier, source package) and the files the
 * conversion added; dpkg's Depends and Pre-Depends become DEPENDS_ON. Debian packages are
 * filesAnalyzed: false: SPDX requires a SHA1 for every file, and dpkg records only MD5s
 * (those are in the CycloneDX document); the files the conversion added carry SHA1 and SHA256.
 */

type Json = Record<string, unknown>;

const ROOT = 'SPDXRef-RootFilesystem';

function idPart(text: string): string {
  return text.replace(/\+/g, 'plus').replace(/[^A-Za-z0-9.-]+/g, '-');
}

function supplier(maintainer: string | undefined): string | undefined {
  if (!maintainer) return undefined;
  const { name, email } = parseContact(maintainer);
  const kind = /\b(team|group|maintainers|developers|project|committee|debian|ubuntu|raspberry)\b/i.test(name) ? 'Organization' : 'Person';
  return `${kind}: ${name}${email ? ` (${email})` : ''}`;
}

function fileId(file: AddedFile): string {
  return `SPDXRef-File-${file.filesystem}-${createHash('sha1').update(file.path).digest('hex').slice(0, 16)}`;
}

export function renderSpdx(input: SbomInput): Buffer {
  const { subject, inventory, conversion, tool } = input;
  const created = isoTime(input.created);
  const annotator = `Tool: ${tool.name}-${tool.version}`;
  const packages: Json[] = [];
  const files: Json[] = [];
  const relationships: Json[] = [];
  const relate = (from: string, type: string, to: string, comment?: string) =>
    relationships.push({ spdxElementId: from, relationshipType: type, relatedSpdxElement: to, ...(comment ? { comment } : {}) });
  const unanalysed = { downloadLocation: NOASSERTION, filesAnalyzed: false, licenseConcluded: NOASSERTION, licenseDeclared: NOASSERTION, copyrightText: NOASSERTION };

  if (subject.file) {
    packages.push({ name: subject.file.name, SPDXID: 'SPDXRef-Subject', ...unanalysed, checksums: [{ algorithm: 'SHA256', checksumValue: subject.file.sha256 }], primaryPackagePurpose: 'FILE' });
    relate('SPDXRef-DOCUMENT', 'DESCRIBES', 'SPDXRef-Subject');
    relate('SPDXRef-Subject', 'CONTAINS', ROOT);
  } else {
    relate('SPDXRef-DOCUMENT', 'DESCRIBES', ROOT);
  }
  const artifactName = subject.artifact?.name ?? inventory.artifactName;
  packages.push({
    name: subject.name,
    SPDXID: ROOT,
    ...(artifactName ? { versionInfo: artifactName } : {}),
    ...unanalysed,
    ...(subject.artifact?.payloadSha256 ? { checksums: [{ algorithm: 'SHA256', checksumValue: subject.artifact.payloadSha256 }] } : {}),
    primaryPackagePurpose: 'OPERATING-SYSTEM',
    description: `The root filesystem of ${inventory.os.prettyName}${subject.artifact ? `: the payload${subject.artifact.payloadFile ? ` ${subject.artifact.payloadFile}` : ''} of the Mender Artifact ${subject.artifact.name}` : ''}.`,
  });
  if (subject.golden) {
    packages.push({ name: subject.golden.name, SPDXID: 'SPDXRef-GoldenImage', ...unanalysed, checksums: [{ algorithm: 'SHA256', checksumValue: subject.golden.sha256 }], primaryPackagePurpose: 'FILE', description: 'The golden disk image the root filesystem was converted from.' });
    relate(ROOT, 'GENERATED_FROM', 'SPDXRef-GoldenImage');
  }

  const ids = new Map<string, string>();
  const taken = new Set<string>();
  for (const p of inventory.packages) {
    let id = `SPDXRef-Package-deb-${idPart(p.name)}-${idPart(p.architecture)}`;
    for (let n = 2; taken.has(id); n++) id = `SPDXRef-Package-deb-${idPart(p.name)}-${idPart(p.architecture)}-${n}`;
    taken.add(id);
    ids.set(packageKey(p), id);
  }
  const refs = new Map<string, string>();
  for (const p of inventory.packages) {
    const id = ids.get(packageKey(p))!;
    const from = conversion?.installed.get(packageKey(p));
    const maker = supplier(p.maintainer);
    for (const [ref, name] of p.license.refs) refs.set(ref, name);
    packages.push({
      name: p.name,
      SPDXID: id,
      versionInfo: p.version,
      ...(maker ? { supplier: maker } : {}),
      downloadLocation: NOASSERTION,
      filesAnalyzed: false,
      ...(p.homepage ? { homepage: p.homepage } : {}),
      sourceInfo: `built from the Debian source package ${p.source.name} ${p.source.version}`,
      licenseConcluded: NOASSERTION,
      licenseDeclared: p.license.expression,
      copyrightText: NOASSERTION,
      ...(p.summary ? { summary: p.summary } : {}),
      externalRefs: [{ referenceCategory: 'PACKAGE-MANAGER', referenceType: 'purl', referenceLocator: debPurl(p, inventory.os) }],
      ...(from ? { annotations: [{ annotationDate: created, annotationType: 'OTHER', annotator, comment: `Installed by the conversion from ${from}` }] } : {}),
    });
    relate(ROOT, 'CONTAINS', id);
  }
  for (const p of inventory.packages) {
    const id = ids.get(packageKey(p))!;
    for (const key of p.preDepends) relate(id, 'DEPENDS_ON', ids.get(key)!, 'Pre-Depends');
    for (const key of p.depends) if (!p.preDepends.includes(key)) relate(id, 'DEPENDS_ON', ids.get(key)!);
  }

  const added = [...(conversion?.addedFiles ?? [])].sort((a, b) => compareText(a.filesystem, b.filesystem) || compareText(a.path, b.path));
  if (added.some((file) => file.filesystem === 'boot')) {
    packages.push({ name: 'boot partition', SPDXID: 'SPDXRef-BootPartition', ...unanalysed, primaryPackagePurpose: 'FIRMWARE', description: 'The disk image\'s boot partition (not part of the Artifact).' });
    relate('SPDXRef-DOCUMENT', 'DESCRIBES', 'SPDXRef-BootPartition');
  }
  for (const file of added) {
    files.push({
      fileName: `.${file.path}`,
      SPDXID: fileId(file),
      checksums: [{ algorithm: 'SHA1', checksumValue: file.digests.sha1 }, { algorithm: 'SHA256', checksumValue: file.digests.sha256 }],
      licenseConcluded: NOASSERTION,
      copyrightText: NOASSERTION,
      comment: `Written by the conversion; no package owns it.${file.filesystem === 'boot' ? ' On the boot partition.' : ''}`,
    });
    relate(file.filesystem === 'boot' ? 'SPDXRef-BootPartition' : ROOT, 'CONTAINS', fileId(file));
  }

  const document: Json = {
    spdxVersion: 'SPDX-2.3',
    dataLicense: 'CC0-1.0',
    SPDXID: 'SPDXRef-DOCUMENT',
    name: subject.name,
    documentNamespace: '',
    creationInfo: {
      created,
      creators: [annotator],
      ...(subject.artifact && !subject.artifact.payloadSha256
        ? { comment: 'This copy is stored inside the root filesystem it describes, so it cannot name the checksum of that filesystem (the Artifact payload); the copies next to the Artifact do.' }
        : {}),
    },
    packages,
    ...(files.length ? { files } : {}),
    ...(refs.size
      ? {
          hasExtractedLicensingInfos: [...refs].sort(([a], [b]) => compareText(a, b)).map(([licenseId, name]) => ({
            licenseId,
            name,
            extractedText: `The license named "${name}" in the machine-readable copyright files (/usr/share/doc/<package>/copyright) of the packages that declare it.`,
          })),
        }
      : {}),
    relationships,
  };
  return withContentUuid(document, (uuid) => `https://spdx.org/spdxdocs/${encodeURIComponent(subject.name)}-${uuid}`, (value) => (document.documentNamespace = value));
}
