import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { PACKAGE_ROOT } from '../config/load.js';
import type { FsEditor } from '../fs/editor.js';
import { Ext4Editor } from '../fs/ext4.js';
import type { RecordingEditor } from '../fs/recording.js';
import { digestFiles, packageKey, readInventory, renderSbom, sbomFormats, SUFFIX, type AddedFile, type RootfsInventory, type SbomInput, type SbomSubject } from '../sbom/index.js';
import { outputBaseName, type ConversionContext } from './context.js';

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

function recorded(editor: FsEditor | undefined): RecordingEditor['changes'] {
  return (editor as Partial<RecordingEditor> | undefined)?.changes ?? [];
}

/** Regular files the conversion wrote into a filesystem (as its recording editor saw them). */
function writtenFiles(editor: FsEditor | undefined): string[] {
  return [...new Set(recorded(editor).filter((c) => c.action !== 'remove' && c.what === 'file').map((c) => c.path))].sort();
}

/**
 * The root filesystem's packages, read through `rootfs` (ctx.rootfs, or a fresh editor of the
 * same file), and the files the conversion wrote that still exist and no package owns.
 */
async function scan(ctx: ConversionContext, rootfs: FsEditor): Promise<SbomScan> {
  const written = writtenFiles(ctx.rootfs).filter((p) => !p.startsWith(DPKG_DATABASE));
  // The boot partition (mtools) is read while debugfs reads the root filesystem.
  const [{ digests, ...inventory }, boot] = await Promise.all([
    readInventory(rootfs, written),
    ctx.boot ? digestFiles(ctx.boot, writtenFiles(ctx.boot)) : new Map<string, AddedFile['digests']>(),
  ]);
  const owned = new Set(inventory.packages.flatMap((p) => p.files.map((file) => file.path)));
  return {
    inventory,
    addedFiles: [
      ...[...digests].filter(([p]) => !owned.has(p)).map(([p, d]): AddedFile => ({ path: p, filesystem: 'rootfs', digests: d })),
      ...[...boot].map(([p, d]): AddedFile => ({ path: p, filesystem: 'boot', digests: d })),
    ],
    rootfsChanges: recorded(ctx.rootfs).length,
  };
}

async function sbomInput(ctx: ConversionContext, found: SbomScan, payloadSha256: string | undefined): Promise<SbomInput> {
  const pkg = JSON.parse(await fs.readFile(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string };
  const name = ctx.config['artifact.name'];
  const subject: SbomSubject = {
    name,
    artifact: { name, ...(payloadSha256 ? { payloadSha256, payloadFile: path.basename(ctx.files!.rootfs) } : {}) },
    golden: { name: path.basename(ctx.inputPath), sha256: await ctx.input!.sha256 },
  };
  return {
    subject,
    inventory: found.inventory,
    conversion: { installed: new Map(ctx.installedPackages.map((p) => [packageKey(p), p.from])), addedFiles: found.addedFiles },
    tool: { name: 'mender-convert', version: pkg.version },
    created: ctx.epoch,
  };
}

function digestsOf(content: Buffer): AddedFile['digests'] {
  return { sha256: createHash('sha256').update(content).digest('hex'), sha1: createHash('sha1').update(content).digest('hex'), size: content.length };
}

export function wantsSbom(ctx: ConversionContext): boolean {
  return sbomFormats(ctx.config['artifact.sbom']).length > 0;
}

/** Read the final root filesystem's packages and added files; with rootfs.sbom_dir, write the documents into it. */
export async function describeRootfs(ctx: ConversionContext, report: (status: string) => void): Promise<void> {
  const found = await scan(ctx, ctx.rootfs!);
  report(`${found.inventory.packages.length} packages`);
  const dir = ctx.config['rootfs.sbom_dir'];
  if (dir) {
    // These copies describe everything but themselves and the payload's checksum (they are in it).
    const input = await sbomInput(ctx, found, undefined);
    await ctx.rootfs!.mkdir(dir, { uid: 0, gid: 0, mode: 0o755 });
    for (const format of sbomFormats(ctx.config['artifact.sbom'])) {
      const file = `${dir.replace(/\/$/, '')}/sbom${SUFFIX[format]}`;
      const content = renderSbom(input, format);
      await ctx.rootfs!.writeFile(file, content, { uid: 0, gid: 0, mode: 0o644 });
      found.addedFiles.push({ path: file, filesystem: 'rootfs', digests: digestsOf(content) });
    }
    await ctx.rootfs!.flush();
    found.rootfsChanges = recorded(ctx.rootfs).length;
  }
  ctx.sbom = found;
}

/** The documents next to the Artifact, naming its payload's checksum, written under the names `partial` gives. */
export async function writeSbom(ctx: ConversionContext, partial: (finalPath: string) => string): Promise<void> {
  let found = ctx.sbom!;
  if (recorded(ctx.rootfs).length !== found.rootfsChanges) {
    // A package hook changed the root filesystem after it was described; it has been resized
    // since (which may move inodes the editor knows): read it afresh.
    found = await scan(ctx, await Ext4Editor.open(ctx.files!.rootfs, { logger: ctx.logger, clock: () => ctx.epoch }));
  }
  const input = await sbomInput(ctx, found, ctx.rootfsSha256);
  for (const format of sbomFormats(ctx.config['artifact.sbom'])) {
    const final = path.join(ctx.outputDir, `${outputBaseName(ctx)}${SUFFIX[format]}`);
    const content = renderSbom(input, format);
    await fs.writeFile(partial(final), content, { mode: 0o600 });
    ctx.pendingOutputs.push({ kind: 'sbom', partial: partial(final), path: final, sha256: Promise.resolve(digestsOf(content).sha256) });
  }
}
