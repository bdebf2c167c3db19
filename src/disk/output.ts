import fs from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { createReadStream, createWriteStream } from 'node:fs';
import { run, spawn } from '../util/exec.js';
import { findTool } from '../util/tools.js';
import { UserError } from '../util/errors.js';
import { dataRuns } from './sparse.js';

/** Assembling the output disk image: a sparse file, a partition table, filesystems at offsets. */

export interface TablePartitionSpec {
  number: number;
  start: number;
  size: number;
  /** MBR type byte ("c", "83") or GPT type GUID. */
  type: string;
  name?: string;
  bootable?: boolean;
  /** GPT partition GUID. */
  partuuid?: string;
}

export interface TableSpec {
  label: 'dos' | 'gpt';
  /** "0x1234abcd" for dos, a GUID for gpt. */
  id?: string;
  partitions: TablePartitionSpec[];
}

/** A sparse file of exactly `size` bytes. */
export async function createImage(file: string, size: number): Promise<void> {
  const handle = await fs.open(file, 'w', 0o644);
  try {
    await handle.truncate(size);
  } finally {
    await handle.close();
  }
}

export function sfdiskScript(spec: TableSpec): string {
  const lines = [`label: ${spec.label}`, ...(spec.id ? [`label-id: ${spec.id}`] : []), 'unit: sectors', 'sector-size: 512', ''];
  for (const p of [...spec.partitions].sort((a, b) => a.number - b.number)) {
    const fields = [`start=${p.start / 512}`, `size=${p.size / 512}`, `type=${p.type}`];
    if (p.bootable) fields.push('bootable');
    if (spec.label === 'gpt' && p.partuuid) fields.push(`uuid=${p.partuuid}`);
    if (spec.label === 'gpt' && p.name) fields.push(`name="${p.name}"`);
    lines.push(fields.join(', '));
  }
  return `${lines.join('\n')}\n`;
}

export async function writePartitionTable(image: string, spec: TableSpec): Promise<void> {
  for (const p of spec.partitions) {
    if (p.start % 512 || p.size % 512) throw new Error(`partition ${p.number} is not sector aligned`);
  }
  await run('sfdisk', ['--no-reread', '--no-tell-kernel', '--wipe', 'never', '-q', image], {
    input: sfdiskScript(spec),
    doing: 'writing the partition table',
  });
}

const COPY_CHUNK = 4 * 1024 * 1024;

/** Copy `source` into `image` at `offset`, skipping all-zero blocks so the image stays sparse. */
export async function placeFile(image: string, source: string, offset: number): Promise<void> {
  const size = (await fs.stat(source)).size;
  const input = await fs.open(source, 'r');
  const output = await fs.open(image, 'r+');
  const writer = new SparseWriterAt(output, offset);
  try {
    const buffer = Buffer.allocUnsafe(COPY_CHUNK);
    for (let at = 0; at < size; at += COPY_CHUNK) {
      const { bytesRead } = await input.read(buffer, 0, Math.min(COPY_CHUNK, size - at), at);
      await writer.write(buffer.subarray(0, bytesRead), at);
    }
  } finally {
    await input.close();
    await output.close();
  }
}

/** Writes only the non-zero blocks of each buffer into an open image, at a partition offset. */
class SparseWriterAt {
  constructor(private readonly handle: fs.FileHandle, private readonly offset: number) {}
  async write(buffer: Buffer, at: number): Promise<void> {
    for (const [start, end] of dataRuns(buffer)) await this.handle.write(buffer, start, end - start, this.offset + at + start);
  }
}

export type Compression = 'gzip' | 'xz' | 'zstd';

function compressor(kind: Compression, level?: number): [string, string[]] {
  switch (kind) {
    case 'gzip':
      return findTool('pigz') ? ['pigz', ['-c', `-${level ?? 6}`]] : ['gzip', ['-c', '-n', `-${level ?? 6}`]];
    case 'xz':
      return ['xz', ['-c', '-T0', `-${level ?? 6}`]];
    case 'zstd':
      return ['zstd', ['-c', '-q', '-T0', `-${level ?? 3}`]];
  }
}

/** Compress a file with every core into `dest` (the caller renames it when all outputs are done). */
export async function compressFile(source: string, dest: string, kind: Compression, level?: number): Promise<void> {
  const [tool, args] = compressor(kind, level);
  const child = spawn(tool, kind === 'gzip' && tool === 'pigz' ? [...args, '-n'] : args, { stdin: 'pipe', stdout: 'pipe', stderr: 'pipe', reject: false });
  const out = createWriteStream(dest, { mode: 0o644 });
  await Promise.all([pipeline(createReadStream(source, { highWaterMark: COPY_CHUNK }), child.stdin!), pipeline(child.stdout!, out)]);
  const result = await child;
  if (result.exitCode !== 0) throw new UserError(`${tool} failed to compress ${source}: ${String(result.stderr ?? '').trim()}`);
}

/** A block map (bmap-tools format) of an image, so `bmaptool copy` writes only the used blocks. */
export async function writeBmap(image: string, dest: string): Promise<void> {
  await run('bmaptool', ['create', '-o', dest, image], { doing: 'writing the block map' });
}

