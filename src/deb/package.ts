import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import { type Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { buffer } from 'node:stream/consumers';
import tar from 'tar-stream';
import { spawn } from '../util/exec.js';
import { UserError } from '../util/errors.js';
import { parseMd5sums, parseParagraphs, type Paragraph } from './control.js';

/**
 * Reading .deb files: an `ar` archive holding debian-binary, control.tar.* and data.tar.*
 * (gzip, xz, zstd or plain). Members are read in place (offsets into the file); the data tar is
 * streamed. Entry names that would leave the root (absolute, `..`) are refused.
 */

interface ArMember {
  name: string;
  offset: number;
  size: number;
}

async function arMembers(file: string): Promise<ArMember[]> {
  const handle = await fs.open(file, 'r');
  try {
    const magic = Buffer.alloc(8);
    await handle.read(magic, 0, 8, 0);
    if (magic.toString('latin1') !== '!<arch>\n') throw new UserError(`${file} is not a Debian package (no ar archive header).`);
    const { size } = await handle.stat();
    const members: ArMember[] = [];
    let offset = 8;
    const header = Buffer.alloc(60);
    while (offset + 60 <= size) {
      await handle.read(header, 0, 60, offset);
      if (header.toString('latin1', 58, 60) !== '`\n') throw new UserError(`${file} is a corrupt Debian package (bad ar member header).`);
      const name = header.toString('latin1', 0, 16).trim().replace(/\/$/, '');
      const length = Number(header.toString('latin1', 48, 58).trim());
      if (!Number.isFinite(length) || offset + 60 + length > size) throw new UserError(`${file} is truncated (ar member ${name}).`);
      members.push({ name, offset: offset + 60, size: length });
      offset += 60 + length + (length % 2);
    }
    return members;
  } finally {
    await handle.close();
  }
}

function memberStream(file: string, member: ArMember): { stream: Readable; done: Promise<void> } {
  const raw = createReadStream(file, { start: member.offset, end: member.offset + member.size - 1 });
  const what = `${file}: ${member.name}`;
  if (member.name.endsWith('.tar')) return { stream: raw, done: Promise.resolve() };
  if (member.name.endsWith('.gz')) {
    const gunzip = createGunzip();
    raw.pipe(gunzip);
    const done = new Promise<void>((resolve, reject) => {
      gunzip.on('end', resolve);
      gunzip.on('error', (error) => reject(new UserError(`${what} is corrupt: ${error.message}`)));
    });
    done.catch(() => undefined);
    return { stream: gunzip, done };
  }
  const tool = member.name.endsWith('.xz') ? ['xz', '-dc'] : member.name.endsWith('.zst') ? ['zstd', '-dcq'] : undefined;
  if (!tool) throw new UserError(`${what}: unsupported compression.`);
  const child = spawn(tool[0]!, tool.slice(1), { stdin: 'pipe', stdout: 'pipe', stderr: 'pipe', reject: false });
  const feeding = pipeline(raw, child.stdin!).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
  });
  const done = Promise.all([child, feeding]).then(([result]) => {
    if (result.exitCode !== 0) throw new UserError(`${what} is corrupt: ${String(result.stderr ?? '').trim()}`);
  });
  done.catch(() => undefined);
  return { stream: child.stdout!, done };
}

/** A tar entry name made safe: relative to the root, no `.` or `..` components. */
export function safeEntryPath(name: string, what: string): string {
  const trimmed = name.replace(/^\.\//, '').replace(/\/$/, '');
  if (trimmed === '' || trimmed === '.') return '/';
  if (name.startsWith('/')) throw new UserError(`${what}: the entry '${name}' is an absolute path; refusing the package.`);
  const parts = trimmed.split('/');
  if (parts.some((part) => part === '..')) throw new UserError(`${what}: the entry '${name}' climbs out of the root with '..'; refusing the package.`);
  return `/${parts.filter((part) => part !== '.' && part !== '').join('/')}`;
}

export interface DataEntry {
  /** Absolute path inside the root filesystem. */
  path: string;
  type: 'file' | 'directory' | 'symlink' | 'link';
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  /** Symlink target (verbatim) or hardlink target (a safe absolute path). */
  linkTarget?: string;
  size: number;
}

async function walkTar(source: Readable, what: string, onEntry: (entry: DataEntry, content: Readable) => Promise<void>): Promise<void> {
  const extract = tar.extract();
  extract.on('entry', (header, stream, next) => {
    const handle = async () => {
      const type = header.type;
      if (type !== 'file' && type !== 'directory' && type !== 'symlink' && type !== 'link') {
        throw new UserError(`${what}: the entry '${header.name}' is a ${type}, which a package may not carry here.`);
      }
      const entry: DataEntry = {
        path: safeEntryPath(header.name, what),
        type,
        mode: header.mode ?? 0o644,
        uid: header.uid ?? 0,
        gid: header.gid ?? 0,
        mtime: Math.floor((header.mtime?.getTime() ?? 0) / 1000),
        size: header.size ?? 0,
        linkTarget: type === 'link' ? safeEntryPath(header.linkname ?? '', what) : type === 'symlink' ? header.linkname ?? '' : undefined,
      };
      await onEntry(entry, stream as unknown as Readable);
      stream.resume();
    };
    handle().then(() => next(), (error) => extract.destroy(error));
  });
  await pipeline(source, extract as unknown as Writable);
}

export interface DebControl {
  fields: Paragraph;
  /** Every file of control.tar except `control` itself (maintainer scripts, md5sums, conffiles, triggers…). */
  files: Map<string, Buffer>;
  conffiles: string[];
}

export class DebPackage {
  private constructor(readonly file: string, private readonly members: ArMember[], readonly control: DebControl) {}

  static async open(file: string): Promise<DebPackage> {
    const members = await arMembers(file);
    if (members[0]?.name !== 'debian-binary') throw new UserError(`${file} is not a Debian package (debian-binary is not its first member).`);
    const controlMember = members.find((m) => m.name.startsWith('control.tar'));
    if (!controlMember || !members.some((m) => m.name.startsWith('data.tar'))) {
      throw new UserError(`${file} is not a complete Debian package (control or data archive missing).`);
    }
    const files = new Map<string, Buffer>();
    let fields: Paragraph | undefined;
    const { stream, done } = memberStream(file, controlMember);
    await walkTar(stream, `${file} control`, async (entry, content) => {
      if (entry.type !== 'file') return;
      const data = await buffer(content);
      const name = entry.path.slice(1);
      if (name === 'control') fields = parseParagraphs(data.toString('utf8'))[0];
      else files.set(name, data);
    });
    await done;
    if (!fields?.get('Package')) throw new UserError(`${file} has no valid control file.`);
    const conffiles = (files.get('conffiles')?.toString('utf8') ?? '').split('\n').map((line) => line.trim()).filter((line) => line.startsWith('/'));
    return new DebPackage(file, members, { fields, files, conffiles });
  }

  get name(): string {
    return this.control.fields.get('Package')!;
  }
  get version(): string {
    return this.control.fields.get('Version') ?? '';
  }
  get architecture(): string {
    return this.control.fields.get('Architecture') ?? 'all';
  }

  /** md5sums listed by the package: path (absolute) → md5. */
  md5sums(): Map<string, string> {
    return parseMd5sums(this.control.files.get('md5sums')?.toString('utf8') ?? '');
  }

  /** Stream every entry of data.tar, in archive order. */
  async walkData(onEntry: (entry: DataEntry, content: Readable) => Promise<void>): Promise<void> {
    const member = this.members.find((m) => m.name.startsWith('data.tar'))!;
    const { stream, done } = memberStream(this.file, member);
    await walkTar(stream, `${this.file} data`, onEntry);
    await done;
  }
}
