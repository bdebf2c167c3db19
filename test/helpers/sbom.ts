import { Spec, Validation } from '@cyclonedx/cyclonedx-library';
import { PackageURL } from 'packageurl-js';
import parse from 'spdx-expression-parse';

/**
 * Checks of SBOM documents with the ecosystem's tools. CycloneDX: the CycloneDX library's
 * strict JSON schema validation (bom-1.6, with its ajv formats). SPDX: SPDX's own tools-golang
 * (spdx-tools.ts; the official 2.3 JSON schema is packaged neither by npm nor by Debian) reads,
 * validates and writes back the document; what it leaves unchecked — required fields and their
 * formats, checksum lengths, SHA1 for files, license expressions (spdx-expression-parse) and
 * their LicenseRef definitions — the rules of the SPDX 2.3 specification below check.
 */

export async function cycloneDxErrors(json: string): Promise<unknown> {
  return new Validation.JsonStrictValidator(Spec.Version.v1dot6).validate(json);
}

type Json = Record<string, any>;

const SPDX_ID = /^SPDXRef-[A-Za-z0-9.-]+$/;
const CHECKSUM_LENGTH: Record<string, number> = { SHA1: 40, SHA256: 64, MD5: 32 };
const RELATIONSHIPS = new Set(['DESCRIBES', 'CONTAINS', 'DEPENDS_ON', 'GENERATED_FROM']);
const PURPOSES = new Set(['APPLICATION', 'FRAMEWORK', 'LIBRARY', 'CONTAINER', 'OPERATING-SYSTEM', 'DEVICE', 'FIRMWARE', 'SOURCE', 'ARCHIVE', 'FILE', 'INSTALL', 'OTHER']);

/** Every violation of the SPDX 2.3 rules checked here (empty: valid). */
export function spdxErrors(text: string): string[] {
  const errors: string[] = [];
  const doc = JSON.parse(text) as Json;
  const need = (ok: unknown, what: string) => {
    if (!ok) errors.push(what);
  };
  need(doc.spdxVersion === 'SPDX-2.3', 'spdxVersion is SPDX-2.3');
  need(doc.dataLicense === 'CC0-1.0', 'dataLicense is CC0-1.0');
  need(doc.SPDXID === 'SPDXRef-DOCUMENT', 'the document SPDXID');
  need(typeof doc.name === 'string' && doc.name, 'a document name');
  need(typeof doc.documentNamespace === 'string' && /^[a-z][a-z0-9+.-]*:[^\s#]+$/i.test(doc.documentNamespace), 'documentNamespace is an absolute URI without #');
  need(!Number.isNaN(Date.parse(doc.creationInfo?.created)) && /Z$/.test(doc.creationInfo?.created ?? ''), 'creationInfo.created in UTC');
  need(Array.isArray(doc.creationInfo?.creators) && doc.creationInfo.creators.length > 0 && doc.creationInfo.creators.every((c: string) => /^(Tool|Person|Organization): \S/.test(c)), 'creators');
  const refs = new Set<string>((doc.hasExtractedLicensingInfos ?? []).map((info: Json) => info.licenseId));
  for (const info of doc.hasExtractedLicensingInfos ?? []) need(/^LicenseRef-[A-Za-z0-9.-]+$/.test(info.licenseId) && info.extractedText, `extracted licensing info ${info.licenseId}`);
  const license = (value: unknown, where: string) => {
    if (value === 'NOASSERTION' || value === 'NONE') return;
    try {
      const used: string[] = [];
      const walk = (node: Json) => (node.license ? used.push(node.license) : (walk(node.left), walk(node.right)));
      walk(parse(String(value)) as Json);
      for (const id of used) if (id.startsWith('LicenseRef-')) need(refs.has(id), `${where}: ${id} is defined in hasExtractedLicensingInfos`);
    } catch (error) {
      errors.push(`${where}: "${value}" is not an SPDX license expression (${(error as Error).message})`);
    }
  };
  const checksums = (list: Json[] | undefined, where: string) => {
    for (const c of list ?? []) need(CHECKSUM_LENGTH[c.algorithm] === c.checksumValue?.length && /^[0-9a-f]+$/.test(c.checksumValue), `${where}: ${c.algorithm} checksum`);
  };
  const ids = new Set<string>(['SPDXRef-DOCUMENT']);
  const define = (id: string, where: string) => {
    need(SPDX_ID.test(id), `${where}: SPDXID ${id}`);
    need(!ids.has(id), `${where}: SPDXID ${id} is unique`);
    ids.add(id);
  };
  for (const p of doc.packages ?? []) {
    const where = `package ${p.name}`;
    define(p.SPDXID, where);
    need(typeof p.name === 'string' && p.name, `${where}: name`);
    need(typeof p.downloadLocation === 'string' && p.downloadLocation, `${where}: downloadLocation`);
    need(p.filesAnalyzed === false || p.packageVerificationCode, `${where}: filesAnalyzed false or a verification code`);
    if (p.primaryPackagePurpose !== undefined) need(PURPOSES.has(p.primaryPackagePurpose), `${where}: primaryPackagePurpose`);
    if (p.supplier !== undefined) need(/^(Person|Organization): \S/.test(p.supplier) || p.supplier === 'NOASSERTION', `${where}: supplier`);
    license(p.licenseConcluded, `${where} licenseConcluded`);
    license(p.licenseDeclared, `${where} licenseDeclared`);
    checksums(p.checksums, where);
    for (const ref of p.externalRefs ?? []) {
      need(['SECURITY', 'PACKAGE-MANAGER', 'PERSISTENT-ID', 'OTHER'].includes(ref.referenceCategory), `${where}: externalRef category`);
      if (ref.referenceType === 'purl') {
        try {
          PackageURL.fromString(ref.referenceLocator);
        } catch (error) {
          errors.push(`${where}: purl ${ref.referenceLocator}: ${(error as Error).message}`);
        }
      }
    }
    for (const a of p.annotations ?? []) need(a.annotationType && a.annotator && !Number.isNaN(Date.parse(a.annotationDate)) && a.comment, `${where}: annotation`);
  }
  for (const f of doc.files ?? []) {
    const where = `file ${f.fileName}`;
    define(f.SPDXID, where);
    need(typeof f.fileName === 'string' && f.fileName.startsWith('./'), `${where}: fileName relative to the package root`);
    need((f.checksums ?? []).some((c: Json) => c.algorithm === 'SHA1'), `${where}: a SHA1 checksum`);
    checksums(f.checksums, where);
    license(f.licenseConcluded, `${where} licenseConcluded`);
  }
  need((doc.relationships ?? []).some((r: Json) => r.spdxElementId === 'SPDXRef-DOCUMENT' && r.relationshipType === 'DESCRIBES'), 'the document DESCRIBES something');
  for (const r of doc.relationships ?? []) {
    need(RELATIONSHIPS.has(r.relationshipType), `relationship type ${r.relationshipType}`);
    need(ids.has(r.spdxElementId) && ids.has(r.relatedSpdxElement), `relationship ${r.spdxElementId} ${r.relationshipType} ${r.relatedSpdxElement} names defined elements`);
  }
  return errors;
}
