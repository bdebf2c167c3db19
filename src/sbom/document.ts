import { createHash } from 'node:crypto';
import type { FileDigests, InventoryPackage, RootfsInventory } from './inventory.js';

/**
 * What an SBOM document says, whatever its format: the root filesystem's packages, what a
 * conversion added to it, and the thing described (an Artifact's payload, an image, a file).
 */

export interface SbomTool {
  name: string;
  version: string;
}

/** A file the conversion wrote that no package owns. */
export interface AddedFile {
  /** Absolute path in its filesystem. */
  path: string;
  /** rootfs: in the root filesystem (the Artifact's payload); boot: on the disk image's boot partition. */
  filesystem: 'rootfs' | 'boot';
  digests: FileDigests;
}

export interface SbomSubject {
  /** The document's name: the Artifact name, else the file's name. */
  name: string;
  /** The Artifact whose payload the root filesystem is, when there is one. */
  artifact?: { name: string; payloadSha256?: string; payloadFile?: string };
  /** The file described (a disk image, a root filesystem image, an Artifact), when not an Artifact payload. */
  file?: { name: string; sha256: string };
  /** The golden image the root filesystem was converted from. */
  golden?: { name: string; sha256: string };
}

export interface SbomInput {
  subject: SbomSubject;
  inventory: RootfsInventory;
  /** What this conversion did, when the document is written by one. */
  conversion?: {
    /** Packages it installed, with the repository (or file) each came from: package key → where from. */
    installed: Map<string, string>;
    addedFiles: AddedFile[];
  };
  tool: SbomTool;
  /** Seconds since the epoch (SOURCE_DATE_EPOCH): the document's creation time. */
  created: number;
}

export type SbomFormat = 'spdx' | 'cyclonedx';

export const SUFFIX: Record<SbomFormat, string> = { spdx: '.spdx.json', cyclonedx: '.cdx.json' };

export function isoTime(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** purl of a Debian package: pkg:deb/<vendor>/<name>@<version>?arch=<arch>&distro=<id>-<version_id>. */
export function debPurl(p: Pick<InventoryPackage, 'name' | 'version' | 'architecture'>, os: RootfsInventory['os']): string {
  const vendor = encodeURIComponent(os.id.toLowerCase());
  const qualifiers = [`arch=${encodeURIComponent(p.architecture)}`];
  if (os.versionId) qualifiers.push(`distro=${encodeURIComponent(`${os.id.toLowerCase()}-${os.versionId}`)}`);
  return `pkg:deb/${vendor}/${encodeURIComponent(p.name)}@${encodeURIComponent(p.version)}?${qualifiers.join('&')}`;
}

/** "Name <email>" → its parts; what is in the brackets counts only when it is an email address (some give a URL). */
export function parseContact(text: string): { name: string; email?: string } {
  const match = /^(.*?)\s*<([^>]+)>\s*$/.exec(text.trim());
  if (!match) return { name: text.trim() };
  const email = /^[^\s@<>()]+@[^\s@<>()]+\.[^\s@<>()]+$/.test(match[2]!) ? match[2]! : undefined;
  return { name: match[1]!.trim() || match[2]!, ...(email ? { email } : {}) };
}

/** A UUID (RFC 4122 layout, version 5) naming content: the same content, the same UUID. */
export function contentUuid(content: string | Uint8Array): string {
  const hex = createHash('sha1').update('mender-convert sbom\0').update(content).digest('hex');
  const variant = ((parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

const PLACEHOLDER_UUID = '00000000-0000-5000-8000-000000000000';

/**
 * The document as JSON bytes whose identifier holds the UUID of those bytes (taken with a
 * placeholder in its place): serialized and encoded once, named by its content.
 */
export function withContentUuid(document: object, identifier: (uuid: string) => string, set: (value: string) => void): Buffer {
  set(identifier(PLACEHOLDER_UUID));
  const bytes = Buffer.from(`${JSON.stringify(document)}\n`);
  const uuid = contentUuid(bytes);
  bytes.write(uuid, bytes.indexOf(PLACEHOLDER_UUID), 'latin1');
  return bytes;
}

export function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
