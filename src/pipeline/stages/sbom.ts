import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../../config/knobs.js';
import { PACKAGE_ROOT } from '../../config/load.js';
import type { FsEditor } from '../../fs/editor.js';
import { Ext4Editor } from '../../fs/ext4.js';
import type { RecordingEditor } from '../../fs/recording.js';
import { digestFiles, packageKey, readInventory, renderSbom, sbomFormats, SUFFIX, type AddedFile, type RootfsInventory, type SbomInput, type SbomSubject } from '../../sbom/index.js';
import type { Report } from '../runner.js';
import type { Extracted, Modified, RunEnv, Target } from '../types.js';

/**
 * The conversion's software bill of materials: the root filesystem is described once its
 * content is final (before it is sized), optionally into itself, and the documents next to the
 * Artifact are written once the payload's checksum is known. A package hook that changes the
 * root filesystem after that makes the final documents read it again.
 */

/** dpkg's own database: what the package list is read from, not files to list. */
const DPKG_DATABASE = '/var/lib/dpkg/';

export interface SbomScan {
  inventory: RootfsInventory;
  addedFiles: AddedFile[];
  /** How many root filesystem changes had been recorded when it was read. */
  rootfsChanges: number;
}

/** Regular files the conversion wrote into a filesystem (as its recording editor saw them). */
function writtenFiles(editor: RecordingEditor): string[] {
  return [...new Set(editor.changes.filter((c) => c.action !== 'remove' && c.what === 'file').map((c) => c.path))].sort();
}

/**
 * The root filesystem's packages, read through `rootfs` (ctx.rootfs, or a fresh editor of the
 * same file), and the files the conversion wrote that still exist and no package owns.
 */
async function scan(extracted: Extracted, rootfs: FsEditor): Promise<SbomScan> {
  const written = writtenFiles(extracted.rootfs).filter((p) => !p.startsWith(DPKG_DATABASE));
  // The boot partition (mtools) is read while debugfs reads the root filesystem.
  const [{ digests, ...inventory }, boot] = await Promise.all([
    readInventory(rootfs, written),
    digestFiles(extracted.boot, writtenFiles(extracted.boot)),
  ]);
  const owned = new Set(inventory.packages.flatMap((p) => p.files.map((file) => file.path)));
  return {
    inventory,
    addedFiles: [
      ...[...digests].filter(([p]) => !owned.has(p)).map(([p, d]): AddedFile => ({ path: p, filesystem: 'rootfs', digests: d })),
      ...[...boot].map(([p, d]): AddedFile => ({ path: p, filesystem: 'boot', digests: d })),
    ],
    rootfsChanges: extracted.rootfs.changes.length,
  };
}

interface Described {
  readonly env: RunEnv;
  readonly extracted: Extracted;
  readonly modified: Modified;
}

async function sbomInput({ env, extracted, modified }: Described, found: SbomScan, payload: { sha256: string; file: string } | undefined): Promise<SbomInput> {
  const pkg = JSON.parse(await fs.readFile(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string };
  const name = env.config['artifact.name'];
  const subject: SbomSubject = {
    name,
    artifact: { name, ...(payload ? { payloadSha256: payload.sha256, payloadFile: payload.file } : {}) },
    golden: { name: path.basename(env.inputPath), sha256: await extracted.sha256 },
  };
  return {
    subject,
    inventory: found.inventory,
    conversion: { installed: new Map(modified.packages.map((p) => [packageKey(p), p.from])), addedFiles: found.addedFiles },
    tool: { name: 'mender-convert', version: pkg.version },
    created: env.epoch,
  };
}

function digestsOf(content: Buffer): AddedFile['digests'] {
  return { sha256: createHash('sha256').update(content).digest('hex'), sha1: createHash('sha1').update(content).digest('hex'), size: content.length };
}

export function wantsSbom(config: Readonly<Config>): boolean {
  return sbomFormats(config['artifact.sbom']).length > 0;
}

/** Read the final root filesystem's packages and added files; with rootfs.sbom_dir, write the documents into it. */
export async function describeRootfs(s: Described, report: Report): Promise<{ sbom: SbomScan }> {
  const { env, extracted } = s;
  const found = await scan(extracted, extracted.rootfs);
  report(`${found.inventory.packages.length} packages`);
  const dir = env.config['rootfs.sbom_dir'];
  if (dir) {
    // These copies describe everything but themselves and the payload's checksum (they are in it).
    const input = await sbomInput(s, found, undefined);
    await extracted.rootfs.mkdir(dir, { uid: 0, gid: 0, mode: 0o755 });
    for (const format of sbomFormats(env.config['artifact.sbom'])) {
      const file = `${dir.replace(/\/$/, '')}/sbom${SUFFIX[format]}`;
      const content = renderSbom(input, format);
      await extracted.rootfs.writeFile(file, content, { uid: 0, gid: 0, mode: 0o644 });
      found.addedFiles.push({ path: file, filesystem: 'rootfs', digests: digestsOf(content) });
    }
    await extracted.rootfs.flush();
    found.rootfsChanges = extracted.rootfs.changes.length;
  }
  return { sbom: found };
}

/** The documents next to the Artifact, naming its payload's checksum, written under their partial names. */
export async function writeSbom(s: Described & { readonly target: Target; readonly sbom?: SbomScan; readonly rootfsSha256: string }): Promise<void> {
  const { env, extracted, target } = s;
  if (!s.sbom) throw new Error('the root filesystem was not described before its SBOM is written');
  let found = s.sbom;
  if (extracted.rootfs.changes.length !== found.rootfsChanges) {
    // A package hook changed the root filesystem after it was described; it has been resized
    // since (which may move inodes the editor knows): read it afresh.
    found = await scan(extracted, await Ext4Editor.open(extracted.files.rootfs, { logger: env.logger, clock: () => env.epoch }));
  }
  const input = await sbomInput(s, found, { sha256: s.rootfsSha256, file: path.basename(target.outputs.rootfs) });
  for (const { format, path: final } of target.outputs.sbom) {
    const content = renderSbom(input, format);
    await fs.writeFile(env.outputs.partial(final), content, { mode: 0o600 });
    env.outputs.add('sbom', final, Promise.resolve(digestsOf(content).sha256));
  }
}
