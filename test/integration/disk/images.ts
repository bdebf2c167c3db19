/**
 * Small disk images for the disk library's tests, made with the real tools: filesystem files from
 * mke2fs/mkfs.vfat, a partition table from sfdisk on a sparse file, the filesystems placed with dd.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';

export const MiB = 1024 * 1024;
const SBIN = ['/usr/local/sbin', '/usr/sbin', '/sbin'];
export const toolEnv = { PATH: [process.env.PATH, ...SBIN].join(':') };

export async function tool(name: string, args: string[], input?: string | Buffer) {
  return execa(name, args, { env: toolEnv, input, stripFinalNewline: false, encoding: 'buffer' });
}

export async function toolText(name: string, args: string[], input?: string) {
  return execa(name, args, { env: toolEnv, input, stripFinalNewline: false });
}

export function sha256(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/** Whether two files are byte-identical over `length` bytes at the given offsets (cmp decides). */
export async function sameBytes(a: string, b: string, length: number, offsetA = 0, offsetB = 0): Promise<boolean> {
  const result = await execa('cmp', ['-n', String(length), a, b, String(offsetA), String(offsetB)], { reject: false });
  return result.exitCode === 0;
}

/** Disk blocks a file really uses, in bytes. */
export function allocatedBytes(file: string): number {
  return fs.statSync(file).blocks * 512;
}

/** An ext4 filesystem file of exactly `sizeMiB` with some random files in it. */
export async function makeExt4(dir: string, name: string, sizeMiB: number, options: { filesKiB?: number } = {}): Promise<string> {
  const tree = path.join(dir, `${name}.tree`);
  fs.rmSync(tree, { recursive: true, force: true });
  fs.mkdirSync(path.join(tree, 'etc'), { recursive: true });
  fs.writeFileSync(path.join(tree, 'etc/os-release'), 'ID=debian\nVERSION_ID="12"\n');
  fs.writeFileSync(path.join(tree, 'random.bin'), randomBytes((options.filesKiB ?? 1024) * 1024));
  fs.symlinkSync('etc/os-release', path.join(tree, 'link'));
  const file = path.join(dir, `${name}.ext4`);
  fs.rmSync(file, { force: true });
  await tool('mke2fs', ['-q', '-F', '-t', 'ext4', '-b', '4096', '-d', tree, file, `${sizeMiB * 1024}k`]);
  return file;
}

/** A FAT filesystem file of exactly `sizeMiB` holding a config.txt. */
export async function makeFat(dir: string, name: string, sizeMiB: number): Promise<string> {
  const file = path.join(dir, `${name}.vfat`);
  fs.rmSync(file, { force: true });
  await tool('mkfs.vfat', ['-C', '-n', 'BOOT', file, String(sizeMiB * 1024)]);
  const content = path.join(dir, `${name}.config.txt`);
  fs.writeFileSync(content, `kernel=u-boot.bin\n${randomBytes(20000).toString('hex')}\n`);
  await tool('mcopy', ['-i', file, content, '::config.txt']);
  return file;
}

export interface PartSpec {
  number: number;
  startMiB: number;
  sizeMiB: number;
  type: string;
  /** Filesystem file placed in the partition (exactly its size). */
  file?: string;
  bootable?: boolean;
  name?: string;
  uuid?: string;
}

export interface ImageSpec {
  file: string;
  sizeMiB: number;
  label: 'dos' | 'gpt';
  id?: string;
  partitions: PartSpec[];
  /** Bytes written right after the table (a boot loader in the gap). */
  gap?: { offset: number; bytes: Buffer };
}

/** A sparse disk image: sfdisk table, filesystems placed with dd, optional boot-gap bytes. */
export async function buildImage(spec: ImageSpec): Promise<string> {
  fs.rmSync(spec.file, { force: true });
  fs.writeFileSync(spec.file, '');
  fs.truncateSync(spec.file, spec.sizeMiB * MiB);
  const lines = [`label: ${spec.label}`, ...(spec.id ? [`label-id: ${spec.id}`] : []), ...(spec.label === 'gpt' ? ['first-lba: 34'] : []), ''];
  for (const p of spec.partitions) {
    const fields = [`start=${p.startMiB * 2048}`, `size=${p.sizeMiB * 2048}`, `type=${p.type}`];
    if (p.bootable) fields.push(spec.label === 'dos' ? 'bootable' : 'attrs="LegacyBIOSBootable"');
    if (p.name) fields.push(`name="${p.name}"`);
    if (p.uuid) fields.push(`uuid=${p.uuid}`);
    lines.push(`${spec.file}${p.number} : ${fields.join(', ')}`);
  }
  await toolText('sfdisk', ['-q', '--no-reread', '--no-tell-kernel', spec.file], `${lines.join('\n')}\n`);
  for (const p of spec.partitions) {
    if (p.file) await tool('dd', [`if=${p.file}`, `of=${spec.file}`, 'bs=1M', `seek=${p.startMiB}`, 'conv=notrunc,sparse', 'status=none']);
  }
  if (spec.gap) patch(spec.file, spec.gap.offset, spec.gap.bytes);
  return spec.file;
}

/** Overwrite bytes of a file in place. */
export function patch(file: string, offset: number, bytes: Buffer): void {
  const fd = fs.openSync(file, 'r+');
  try {
    fs.writeSync(fd, bytes, 0, bytes.length, offset);
  } finally {
    fs.closeSync(fd);
  }
}

export type Packing = 'raw' | 'gzip' | 'xz' | 'zstd' | 'zip';

/** A compressed (or zipped) copy of an image, named without a telling extension: detection is by content. */
export async function pack(image: string, packing: Packing, dest = `${image}.${packing}-packed`): Promise<string> {
  fs.rmSync(dest, { force: true });
  switch (packing) {
    case 'raw':
      fs.copyFileSync(image, dest);
      break;
    case 'gzip':
      fs.writeFileSync(dest, (await tool('gzip', ['-c', '-1', image])).stdout);
      break;
    case 'xz':
      fs.writeFileSync(dest, (await tool('xz', ['-c', '-0', '-T2', image])).stdout);
      break;
    case 'zstd':
      fs.writeFileSync(dest, (await tool('zstd', ['-c', '-q', '-1', image])).stdout);
      break;
    case 'zip': {
      const dir = fs.mkdtempSync(path.join(path.dirname(image), 'zip-'));
      fs.copyFileSync(image, path.join(dir, 'disk.img'));
      fs.writeFileSync(path.join(dir, 'README.txt'), 'read me\n');
      await tool('zip', ['-q', '-1', '-j', `${dest}.zip`, path.join(dir, 'disk.img'), path.join(dir, 'README.txt')]);
      fs.renameSync(`${dest}.zip`, dest);
      fs.rmSync(dir, { recursive: true, force: true });
      break;
    }
  }
  return dest;
}

/** A copy of `file` cut to `fraction` of its size. */
export function truncatedCopy(file: string, fraction: number): string {
  const dest = `${file}.truncated`;
  fs.copyFileSync(file, dest);
  fs.truncateSync(dest, Math.floor(fs.statSync(file).size * fraction));
  return dest;
}
