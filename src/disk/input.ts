import { createHash, type Hash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { run, spawn } from '../util/exec.js';
import { findTool } from '../util/tools.js';
import { UserError } from '../util/errors.js';

/** How an input image is packed, told by its first bytes (never by its name). */
export type InputFormat = 'raw' | 'gzip' | 'xz' | 'zstd' | 'zip';

const MAGIC: [InputFormat, number[]][] = [
  ['gzip', [0x1f, 0x8b]],
  ['xz', [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
  ['zstd', [0x28, 0xb5, 0x2f, 0xfd]],
  ['zip', [0x50, 0x4b, 0x03, 0x04]],
  // An empty archive: refused later, with what it holds (nothing).
  ['zip', [0x50, 0x4b, 0x05, 0x06]],
];

/** Formats people hand us that we do not read, with what to do instead. */
const REFUSED: [string, number[], string][] = [
  ['bzip2-compressed', [0x42, 0x5a, 0x68], 'Decompress it (bunzip2) or recompress it with xz or zstd.'],
  ['a 7-Zip archive', [0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c], 'Extract the .img from it first.'],
  ['a QEMU qcow2 image', [0x51, 0x46, 0x49, 0xfb], 'Convert it to a raw image first: qemu-img convert -O raw <in> <out.img>'],
  ['a VMware VMDK image', [0x4b, 0x44, 0x4d, 0x56], 'Convert it to a raw image first: qemu-img convert -O raw <in> <out.img>'],
];

const startsWith = (head: Buffer, magic: number[]) => head.length >= magic.length && magic.every((byte, i) => head[i] === byte);

/** The input's packing, from its magic bytes; anything unrecognised is taken as a raw disk image. */
export async function detectFormat(file: string): Promise<InputFormat> {
  const handle = await fs.promises.open(file, 'r');
  try {
    const head = Buffer.alloc(8);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    const bytes = head.subarray(0, bytesRead);
    for (const [format, magic] of MAGIC) if (startsWith(bytes, magic)) return format;
    for (const [what, magic, hint] of REFUSED) {
      if (startsWith(bytes, magic)) throw new UserError(`${path.basename(file)} is ${what}, which mender-convert does not read.`, { hint });
    }
    return 'raw';
  } finally {
    await handle.close();
  }
}

export interface ZipEntry {
  name: string;
  /** Uncompressed size in bytes. */
  size: number;
}

function truncatedError(displayName: string, why: string, cause?: unknown): UserError {
  return new UserError(`The input ${displayName} is truncated or corrupt: ${why}`, {
    hint: 'The file is incomplete or damaged (an interrupted download or copy); get a complete copy and check its checksum.',
    cause,
  });
}

/** A decompressor's complaint without its name and the stream it read ("xz: (stdin): Unexpected end of input"). */
function toolMessage(line: string): string {
  return line
    .replace(/^(\S*\/)?(pigz|gzip|xz|zstd|unzip):\s*/, '')
    .replace(/^(skipping: )?(<stdin>|\(stdin\)|stdin|\/\*stdin\*\\)\s*:\s*/, '')
    .trim();
}

/** The files in a zip archive (directories left out), with their uncompressed sizes. */
export async function listZip(file: string): Promise<ZipEntry[]> {
  const names = await run('unzip', ['-Z1', file], { okExitCodes: [1, 9, 11], quiet: true });
  const details = await run('unzip', ['-Zl', file], { okExitCodes: [1, 9, 11], quiet: true });
  if (names.exitCode > 1 || details.exitCode > 1) {
    const output = [names.stdout, names.stderr].join('\n');
    const why = /End-of-central-directory signature not found/.test(output)
      ? 'its end (the zip central directory) is missing.'
      : `unzip cannot read it (${output.split('\n').map((l) => l.trim()).filter(Boolean).pop() ?? `status ${names.exitCode}`}).`;
    throw truncatedError(path.basename(file), why);
  }
  // `unzip -Zl` lines: mode version os size type csize method date time name; -Z1 gives the exact names.
  const sizes = details.stdout.split('\n').map((line) => /^\S+\s+\S+\s+\S+\s+(\d+)\s+\S+\s+\d+\s+\S+\s+\S+\s+\S+ /.exec(line)).filter((m) => m !== null);
  const list = names.stdout.split('\n').filter((line) => line.length > 0);
  if (sizes.length !== list.length) throw new Error(`unexpected unzip listing for ${file}`);
  return list.map((name, i) => ({ name, size: Number(sizes[i]![1]) })).filter((entry) => !entry.name.endsWith('/'));
}

/** unzip takes member names as wildcard patterns; this one matches only itself. */
function zipPattern(name: string): string {
  return name.replace(/[[\]*?\\]/g, (c) => `\\${c}`);
}

/** The first bytes of a zip member (unzip is stopped once they arrived). */
async function peekZipMember(file: string, member: string, bytes: number): Promise<Buffer> {
  const child = spawn('unzip', ['-p', file, zipPattern(member)], { stdin: 'ignore', stdout: 'pipe', stderr: 'ignore', reject: false });
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of child.stdout!) {
    chunks.push(chunk as Buffer);
    length += (chunk as Buffer).length;
    if (length >= bytes) break;
  }
  child.kill();
  await child;
  return Buffer.concat(chunks).subarray(0, bytes);
}

const IMAGE_NAME = /\.(img|raw)$/i;
const PEEK_LIMIT = 16;

/**
 * The one disk image inside a zip archive: the member named *.img or *.raw, or else the member whose
 * first sector carries a partition table signature. None or several: a UserError listing the content.
 */
export async function zipImageMember(file: string, displayName = path.basename(file)): Promise<ZipEntry> {
  const entries = await listZip(file);
  let images = entries.filter((entry) => IMAGE_NAME.test(entry.name));
  if (images.length === 0 && entries.length <= PEEK_LIMIT) {
    images = [];
    for (const entry of entries) {
      const head = entry.size >= 512 ? await peekZipMember(file, entry.name, 512) : Buffer.alloc(0);
      if (head.length === 512 && head.readUInt16LE(510) === 0xaa55) images.push(entry);
    }
  }
  if (images.length === 1) return images[0]!;
  const content = entries.length === 0 ? 'nothing' : entries.map((entry) => `${entry.name} (${entry.size} bytes)`).join(', ');
  throw new UserError(
    images.length === 0
      ? `The zip archive ${displayName} holds no disk image; it contains: ${content}.`
      : `The zip archive ${displayName} holds ${images.length} disk images (${images.map((entry) => entry.name).join(', ')}); it contains: ${content}.`,
    { hint: 'Pass a zip with exactly one .img inside, or extract the image you want and pass it.' },
  );
}

/** The decompressor for a piped format: every core where the tool can use them. */
export function decompressor(format: 'gzip' | 'xz' | 'zstd'): [tool: string, args: string[]] {
  switch (format) {
    case 'gzip':
      return findTool('pigz') ? ['pigz', ['-dc']] : ['gzip', ['-dc']];
    case 'xz':
      return ['xz', ['-dc', '-T0']];
    case 'zstd':
      // --long=31 only raises the window limit, so images compressed with --long read too.
      return ['zstd', ['-dc', '-q', '--long=31']];
  }
}

export interface ImageStream {
  format: InputFormat;
  /** Size of the input file as given. */
  inputSize: number;
  /** Size of the (decompressed) disk image when known before reading it: raw files and zip members. */
  imageSize?: number;
  /** For zip inputs: the member holding the image. */
  zipMember?: string;
  /**
   * The image's bytes from offset 0, each once. Completes only when the whole input was read and the
   * decompressor reported success; a truncated or corrupt input throws a UserError. Leaving the loop
   * early stops the decompressor.
   */
  chunks(): AsyncGenerator<Buffer, void, undefined>;
  /** How far reading got: input file bytes (zip: image bytes), of a known total. */
  progress(): { done: number; total: number };
  /** sha256 of the input file, once chunks() completed, when it was asked for. */
  sha256(): string | undefined;
}

export interface OpenImageOptions {
  /** Hash the input file on the way (the compressed file as given, not the image inside). */
  sha256?: boolean;
  displayName?: string;
}

const READ_CHUNK = 4 * 1024 * 1024;
const STDERR_KEEP = 4096;

/** A Transform that counts and optionally hashes what passes through. */
function meter(hash: Hash | undefined, count: (bytes: number) => void): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      count(chunk.length);
      hash?.update(chunk);
      callback(null, chunk);
    },
  });
}

async function hashOnly(source: fs.ReadStream | undefined, hash: Hash | undefined, count: (bytes: number) => void): Promise<void> {
  if (!source || !hash) return;
  for await (const chunk of source) {
    count((chunk as Buffer).length);
    hash.update(chunk as Buffer);
  }
}

/**
 * Open an input image (raw or compressed) as one stream of the disk image's bytes, read once.
 * The input is only ever opened read-only.
 */
export async function openImage(file: string, options: OpenImageOptions = {}): Promise<ImageStream> {
  const displayName = options.displayName ?? path.basename(file);
  const format = await detectFormat(file);
  const inputSize = (await fs.promises.stat(file)).size;
  const hash = options.sha256 ? createHash('sha256') : undefined;
  let digest: string | undefined;
  let inputRead = 0;
  let imageRead = 0;

  if (format === 'raw') {
    return {
      format,
      inputSize,
      imageSize: inputSize,
      progress: () => ({ done: inputRead, total: inputSize }),
      sha256: () => digest,
      async *chunks() {
        const source = fs.createReadStream(file, { highWaterMark: READ_CHUNK });
        try {
          for await (const chunk of source) {
            inputRead += (chunk as Buffer).length;
            hash?.update(chunk as Buffer);
            yield chunk as Buffer;
          }
        } finally {
          source.destroy();
        }
        digest = hash?.digest('hex');
      },
    };
  }

  const member = format === 'zip' ? await zipImageMember(file, displayName) : undefined;
  return {
    format,
    inputSize,
    imageSize: member?.size,
    zipMember: member?.name,
    progress: () => (member ? { done: imageRead, total: member.size } : { done: inputRead, total: inputSize }),
    sha256: () => digest,
    async *chunks() {
      const source = member && !hash ? undefined : fs.createReadStream(file, { highWaterMark: READ_CHUNK });
      const [tool, args] = member ? ['unzip', ['-p', file, zipPattern(member.name)]] : decompressor(format as 'gzip' | 'xz' | 'zstd');
      const child = spawn(tool, args, { stdin: member ? 'ignore' : 'pipe', stdout: 'pipe', stderr: 'pipe', reject: false });
      let stderr = '';
      child.stderr!.on('data', (chunk: Buffer) => {
        stderr = (stderr + chunk.toString()).slice(-STDERR_KEEP);
      });
      // unzip reads the archive itself (it needs random access); we read it alongside only to hash it.
      const feeding = member
        ? hashOnly(source, hash, (n) => (inputRead += n))
        : pipeline(source!, meter(hash, (n) => (inputRead += n)), child.stdin!).catch((error: NodeJS.ErrnoException) => {
            // The decompressor stops reading when the data ends early or is corrupt; it says why.
            if (error.code !== 'EPIPE' && error.code !== 'ERR_STREAM_PREMATURE_CLOSE') throw error;
          });
      feeding.catch(() => undefined);
      let complete = false;
      try {
        for await (const chunk of child.stdout!) {
          imageRead += (chunk as Buffer).length;
          yield chunk as Buffer;
        }
        const result = await child;
        await feeding.catch((error: unknown) => {
          throw new UserError(`Reading ${displayName} failed: ${(error as Error).message}`, { cause: error });
        });
        const lastLine = stderr.trim().split('\n').pop()?.trim() ?? '';
        // gzip exits 2 for warnings only, such as padding after the compressed data.
        const warningOnly = tool === 'gzip' && result.exitCode === 2 && /decompression OK/.test(stderr);
        if (result.exitCode !== 0 && !warningOnly) {
          const why = result.signal ? `${tool} was killed by ${result.signal}` : toolMessage(lastLine) || `${tool} exited with status ${result.exitCode}`;
          throw truncatedError(displayName, `${why}.`);
        }
        if (member && imageRead !== member.size) throw truncatedError(displayName, `the archive says ${member.name} holds ${member.size} bytes but ${imageRead} came out.`);
        complete = true;
        digest = hash?.digest('hex');
      } finally {
        if (!complete) {
          source?.destroy();
          child.kill();
          await child;
        }
      }
    },
  };
}
