import { renderCycloneDx } from './cyclonedx.js';
import type { SbomFormat, SbomInput } from './document.js';
import { renderSpdx } from './spdx.js';

/**
 * Software bills of materials of a Debian-family root filesystem, read through an FsEditor:
 * SPDX 2.3 and CycloneDX 1.6 JSON, byte-identical for the same input and creation time.
 */

export { debPurl, SUFFIX, type AddedFile, type SbomFormat, type SbomInput, type SbomSubject, type SbomTool } from './document.js';
export { digestFiles, packageKey, readInventory, type FileDigests, type InventoryPackage, type RootfsInventory } from './inventory.js';
export { declaredLicense, NOASSERTION, spdxLicenseId } from './licenses.js';

/** Which formats an `artifact.sbom` / `--format` value asks for. */
export function sbomFormats(choice: 'none' | 'spdx' | 'cyclonedx' | 'both'): SbomFormat[] {
  return choice === 'both' ? ['spdx', 'cyclonedx'] : choice === 'none' ? [] : [choice];
}

/** The document's bytes (UTF-8 JSON). */
export function renderSbom(input: SbomInput, format: SbomFormat): Buffer {
  return format === 'spdx' ? renderSpdx(input) : renderCycloneDx(input);
}
