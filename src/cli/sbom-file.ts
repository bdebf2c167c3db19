import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { readArtifact } from '../artifact/index.js';
import { PACKAGE_ROOT } from '../config/load.js';
import { writeAtomically } from '../util/atomic.js';
import { extractPartitions } from '../disk/extract.js';
import { Ext4Editor } from '../fs/ext4.js';
import { probeFilesystem } from '../fs/identify.js';
import { isArtifact } from '../inspect/inspect.js';
import { readInventory, renderSbom, type sbomFormats, SUFFIX, type SbomSubject } from '../sbom/index.js';
import { UserError } from '../util/errors.js';
import { sha256File } from '../util/hash.js';
import { makeDirectory } from '../util/directories.js';

/**
 * What `mender-convert sbom FILE` does (src/cli/sbom.ts): the SBOM of an image made elsewhere — a disk image (raw or
 * compressed; converted or not), a bare ext2/3/4 root filesystem image, or a rootfs-image
 * Artifact (its payload) — read without changing it.
 */

const LINUX_PARTITION_TYPES = new Set(['83', '0fc63daf-8483-4772-8e79-3d69d8477de4', '4f68bce3-e8cd-4db1-96e7-fbcaf984b709', 'b921b045-1df0-41c3-af44-4c6f280d3fae']);

/** The base name of the documents: the file name without image, filesystem, Artifact and compression suffixes. */
export function sbomBaseName(file: string): string {
  return path.basename(file).replace(/(\.(img|raw|bin|iso|ext[234]|mender))?(\.(gz|xz|zst|zstd|zip|bz2))?$/i, '') || 'sbom';
}

async function hasOsRelease(editor: Ext4Editor): Promise<boolean> {
  return (await editor.exists('/etc/os-release')) || (await editor.exists('/usr/lib/os-release'));
}

interface Described {
  rootfs: Ext4Editor;
  subject: SbomSubject;
}

async function describeArtifact(file: string, scratch: string): Promise<Described> {
  let payload: string | undefined;
  const info = await readArtifact(file, {
    keepPayload: (index) => (index === 0 ? (payload = path.join(scratch, 'payload.img')) : undefined),
  });
  const rootfsPayload = info.payloads[0];
  if (rootfsPayload?.type !== 'rootfs-image' || !payload || rootfsPayload.files.length !== 1) {
    throw new UserError(`${path.basename(file)} is not a rootfs-image Artifact (its payload is ${rootfsPayload?.type ?? 'empty'}).`, {
      hint: 'The sbom command describes root filesystems: give it a rootfs-image Artifact, a disk image or a root filesystem image.',
    });
  }
  if (!(await probeFilesystem(payload, 0)).startsWith('ext')) throw new UserError(`The payload of ${path.basename(file)} is not an ext2/3/4 filesystem.`);
  const payloadFile = rootfsPayload.files[0]!;
  return {
    rootfs: await Ext4Editor.open(payload),
    subject: {
      name: info.name,
      artifact: { name: info.name, payloadSha256: payloadFile.sha256, payloadFile: payloadFile.name },
      file: { name: path.basename(file), sha256: await sha256File(file) },
    },
  };
}

async function describeDiskImage(file: string, scratch: string): Promise<Described> {
  const extracted = await extractPartitions(file, (table) => {
    const linux = table.partitions.filter((p) => LINUX_PARTITION_TYPES.has(p.type.toLowerCase()));
    return (linux.length > 0 ? linux : table.partitions).map((p) => p.number);
  }, scratch, { sha256: true });
  // The root filesystem is the first ext partition with an os-release (rootfs A of a converted image).
  for (const partition of extracted.files) {
    if (!(await probeFilesystem(partition.file, 0)).startsWith('ext')) continue;
    const editor = await Ext4Editor.open(partition.file);
    if (await hasOsRelease(editor)) {
      return { rootfs: editor, subject: { name: sbomBaseName(file), file: { name: path.basename(file), sha256: await extracted.sha256! } } };
    }
  }
  throw new UserError(`${path.basename(file)} has no Linux root filesystem (no ext2/3/4 partition with /etc/os-release).`, {
    hint: 'Give a Debian, Ubuntu or Raspberry Pi OS disk image, a root filesystem image or a rootfs-image Artifact.',
  });
}

/** The documents for one file, written into outputDir; returns their paths. */
export async function writeSbomOf(file: string, options: { formats: ReturnType<typeof sbomFormats>; outputDir: string; epoch: number }): Promise<string[]> {
  const stat = await fs.stat(file).catch(() => undefined);
  if (!stat?.isFile()) throw new UserError(`${file} does not exist or is not a file.`);
  await makeDirectory(options.outputDir, 'The output directory (--output-dir)');
  const scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'mender-convert-sbom-'));
  try {
    let described: Described;
    if (await isArtifact(file)) described = await describeArtifact(file, scratch);
    else if ((await probeFilesystem(file, 0)).startsWith('ext')) {
      const rootfs = await Ext4Editor.open(file);
      if (!(await hasOsRelease(rootfs))) throw new UserError(`${path.basename(file)} is a filesystem without /etc/os-release: not a root filesystem.`);
      described = { rootfs, subject: { name: sbomBaseName(file), file: { name: path.basename(file), sha256: await sha256File(file) } } };
    } else described = await describeDiskImage(file, scratch);

    const inventory = await readInventory(described.rootfs);
    if (inventory.artifactName && !described.subject.artifact) described.subject.name = inventory.artifactName;
    const pkg = JSON.parse(await fs.readFile(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string };
    const input = { subject: described.subject, inventory, tool: { name: 'mender-convert', version: pkg.version }, created: options.epoch };
    const written: string[] = [];
    for (const format of options.formats) {
      const target = path.join(options.outputDir, `${sbomBaseName(file)}${SUFFIX[format]}`);
      await writeAtomically(target, (partial) => fs.writeFile(partial, renderSbom(input, format), { mode: 0o644 }));
      written.push(target);
    }
    return written;
  } finally {
    await fs.rm(scratch, { recursive: true, force: true });
  }
}
