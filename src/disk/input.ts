import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
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
];

export async function detectFormat(file: string): Promise<InputFormat> {
  const handle = await fs.promises.open(file, 'r');
  try {
    const head = Buffer.alloc(8);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    for (const [format, magic] of MAGIC) {
      if (bytesRead >= magic.length && magic.every((byte, i) => head[i] === byte)) return format;
    }
    if (bytesRead >= 3 && head.toString('latin1', 0, 3) === 'BZh') {
      throw new UserError(`${file} is bzip2-compressed, which mender-convert does not read.`, { hint: 'Recompress it with xz or zstd, or decompress it first.' });
    }
    return 'raw';
  } finally {
    await handle.close();
  }
}

/** The one disk image inside a .zip (refused when there are none or several). */
export async function zipMember(file: string): Promise<string> {
  const { stdout } = await run('unzip', ['-Z1', file], { okExitCodes: [], doing: `listing ${file}` });
  const files = stdout.split('\n').map((line) => line.trim()).filter((line) => line && !line.endsWith('/'));
  const images = files.filter((name) => /\.(img|raw|bin|iso)$/i.test(name));
  const candidates = images.length > 0 ? images : files;
  if (candidates.length === 1) return candidates[0]!;
  throw new UserError(
    candidates.length === 0 ? `The zip archive ${file} holds no disk image.` : `The zip archive ${file} holds ${candidates.length} disk images: ${candidates.join(', ')}.`,
    { hint: 'Pass a zip with exactly one .img inside, or extract the image you want and pass it.' },
  );
}

export interface InputStream {
  format: InputFormat;
  /** The decompressed image bytes, from the start. */
  stream: Readable;
  /** Resolves when the input was read completely (fails on a truncated or corrupt input). */
  done: Promise<void>;
  /** sha256 of the input file as given; resolves once it was read. */
  sha256: Promise<string>;
  /** Compressed bytes read so far and the input file's size, for progress. */
  progress(): { done: number; total: number };
}

function decompressor(format: Exclude<InputFormat, 'raw' | 'zip'>): [string, string[]] {
  switch (format) {
    case 'gzip':
      return findTool('pigz') ? ['pigz', ['-dc']] : ['gzip', ['-dc']];
    case 'xz':
      return ['xz', ['-dc', '-T0']];
    case 'zstd':
      return ['zstd', ['-dc', '-q']];
  }
}

/**
 * Open an input image as one stream of its decompressed bytes, read once. The input file is
 * opened read-only; for compressed inputs its bytes are hashed on their way to the decompressor.
 */
export async function openInput(file: string): Promise<InputStream> {
  const opened = await openStream(file);
  // A reader that stops early (bad partition table) must not turn these into unhandled rejections.
  opened.done.catch(() => undefined);
  opened.sha256.catch(() => undefined);
  return opened;
}

async function openStream(file: string): Promise<InputStream> {
  const format = await detectFormat(file);
  const total = (await fs.promises.stat(file)).size;
  let read = 0;
  const hash = createHash('sha256');
  const source = fs.createReadStream(file, { highWaterMark: 4 * 1024 * 1024 });
  source.on('data', (chunk) => {
    read += chunk.length;
    hash.update(chunk);
  });
  const progress = () => ({ done: read, total });

  if (format === 'raw') {
    const done = new Promise<void>((resolve, reject) => {
      source.on('end', resolve);
      source.on('error', reject);
    });
    return { format, stream: source, done, sha256: done.then(() => hash.digest('hex')), progress };
  }

  if (format === 'zip') {
    // unzip needs random access to the archive: it reads the file itself, we hash it alongside.
    const member = await zipMember(file);
    const hashed = new Promise<void>((resolve, reject) => {
      source.on('end', resolve);
      source.on('error', reject);
    });
    source.resume();
    const child = spawn('unzip', ['-p', file, member], { stdout: 'pipe', stderr: 'pipe', reject: false });
    const done = child.then((result) => {
      if (result.exitCode !== 0) throw new UserError(`The zip archive ${file} is corrupt or truncated: ${String(result.stderr ?? '').trim().split('\n').pop()}`);
    });
    return { format, stream: child.stdout!, done, sha256: hashed.then(() => hash.digest('hex')), progress };
  }

  const [tool, args] = decompressor(format);
  const child = spawn(tool, args, { stdin: 'pipe', stdout: 'pipe', stderr: 'pipe', reject: false });
  const feeding = pipeline(source, child.stdin!).catch((error: NodeJS.ErrnoException) => {
    // The decompressor stops reading when the data is corrupt; its own message says why.
    if (error.code !== 'EPIPE') throw error;
  });
  const done = Promise.all([child, feeding]).then(([result]) => {
    if (result.exitCode !== 0) {
      const why = String(result.stderr ?? '').trim().split('\n').pop() ?? '';
      throw new UserError(`The ${format}-compressed input ${file} is truncated or corrupt: ${why.replace(/^[^:]+: (\(stdin\): )?/, '')}`, {
        hint: 'Download or copy the image again and check its checksum.',
      });
    }
  });
  return { format, stream: child.stdout!, done, sha256: feeding.then(() => hash.digest('hex')), progress };
}
