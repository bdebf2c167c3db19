import fs from 'node:fs/promises';
import path from 'node:path';
import { UserError } from '../util/errors.js';
import { silentLogger, type Logger } from '../util/log.js';
import { openInput, type InputFormat } from './input.js';
import { SparseWriter } from './sparse.js';
import { readPartitionTable, type PartitionInfo, type PartitionTable } from './table.js';

/**
 * One pass over the input image (raw or compressed): the partition table is read from the head,
 * then every partition's bytes go into a standalone file of its own as the stream passes by,
 * written sparsely. No decompressed copy of the whole image is ever made.
 */

export interface ExtractedPartition extends PartitionInfo {
  file: string;
}

export interface ExtractResult {
  table: PartitionTable;
  partitions: ExtractedPartition[];
  /** Non-zero bytes between the partition table and the first partition, if any. */
  bootGap?: { file: string; offset: number };
  format: InputFormat;
  inputSha256: string;
  imageSize: number;
}

export interface ExtractOptions {
  bootGap?: boolean;
  onProgress?: (done: number, total: number) => void;
  logger?: Logger;
}

/** Enough of the image to hold any MBR or GPT (header and 128 entries) with room to spare. */
const HEAD_BYTES = 1024 * 1024;
/** GPT: protective MBR, header, 128 × 128-byte entries. */
const GPT_TABLE_END = 34 * 512;
/** Apparent size of the head file so that sfdisk sees every partition inside the "disk". */
const HEAD_APPARENT_SIZE = 2 ** 41;

async function readTableFromHead(head: Buffer, dir: string, displayName: string): Promise<PartitionTable> {
  const file = path.join(dir, 'head.img');
  await fs.writeFile(file, head, { mode: 0o600 });
  await fs.truncate(file, HEAD_APPARENT_SIZE);
  try {
    return await readPartitionTable(file, displayName);
  } finally {
    await fs.rm(file, { force: true });
  }
}

export async function extractPartitions(inputPath: string, outDir: string, options: ExtractOptions = {}): Promise<ExtractResult> {
  const logger = options.logger ?? silentLogger;
  await fs.mkdir(outDir, { recursive: true, mode: 0o700 });
  const input = await openInput(inputPath);
  const name = path.basename(inputPath);
  logger.info(`input ${name}: ${input.format}`);

  let table: PartitionTable | undefined;
  let writers: { partition: PartitionInfo; writer: SparseWriter; file: string }[] = [];
  let gap: { writer: SparseWriter; start: number; end: number; file: string } | undefined;
  let position = 0;
  let head: Buffer[] = [];
  let headBytes = 0;
  let lastReport = 0;

  const dispatch = async (chunk: Buffer, at: number) => {
    const end = at + chunk.length;
    for (const { partition, writer } of writers) {
      const from = Math.max(at, partition.start);
      const to = Math.min(end, partition.start + partition.size);
      if (from < to) await writer.write(chunk.subarray(from - at, to - at), from - partition.start);
    }
    if (gap) {
      const from = Math.max(at, gap.start);
      const to = Math.min(end, gap.end);
      if (from < to) await gap.writer.write(chunk.subarray(from - at, to - at), from - gap.start);
    }
  };

  const start = async () => {
    const headBuffer = Buffer.concat(head);
    head = [];
    if (input.format === 'raw') table = await readPartitionTable(inputPath, name);
    else table = await readTableFromHead(headBuffer, outDir, name);
    writers = await Promise.all(
      table.partitions.map(async (partition) => {
        const file = path.join(outDir, `partition-${partition.number}.img`);
        return { partition, file, writer: await SparseWriter.create(file, partition.size) };
      }),
    );
    const first = table.partitions[0]!.start;
    const gapStart = table.label === 'gpt' ? GPT_TABLE_END : 512;
    if (options.bootGap && first > gapStart) {
      const file = path.join(outDir, 'boot-gap.bin');
      gap = { writer: await SparseWriter.create(file, first - gapStart), start: gapStart, end: first, file };
    }
    await dispatch(headBuffer, 0);
  };

  try {
    for await (const data of input.stream) {
      const chunk = data as Buffer;
      if (!table) {
        head.push(chunk);
        headBytes += chunk.length;
        position += chunk.length;
        if (headBytes >= HEAD_BYTES) await start();
      } else {
        await dispatch(chunk, position);
        position += chunk.length;
      }
      if (options.onProgress && position - lastReport > 64 * 1024 * 1024) {
        lastReport = position;
        const { done, total } = input.progress();
        options.onProgress(done, total);
      }
    }
    await input.done;
    if (!table) await start();
  } catch (error) {
    input.stream.destroy();
    await Promise.all(writers.map(({ writer }) => writer.close().catch(() => undefined)));
    throw error;
  }

  const imageSize = position;
  const partitions: ExtractedPartition[] = [];
  for (const { partition, writer, file } of writers) {
    await writer.close();
    if (partition.start + partition.size > imageSize) {
      throw new UserError(
        `${name} is truncated: partition ${partition.number} ends at ${partition.start + partition.size} bytes but the image has only ${imageSize}.`,
        { hint: 'Download or copy the image again and check its checksum.' },
      );
    }
    partitions.push({ ...partition, file });
  }
  let bootGap: ExtractResult['bootGap'];
  if (gap) {
    const used = await gap.writer.close();
    // Only the bytes up to the last non-zero block matter; an all-zero gap is no gap.
    if (used > 0) {
      await fs.truncate(gap.file, used);
      bootGap = { file: gap.file, offset: gap.start };
    } else {
      await fs.rm(gap.file, { force: true });
    }
  }
  const inputSha256 = await input.sha256;
  logger.info(`extracted ${partitions.length} partitions from ${name} (${imageSize} bytes, sha256 ${inputSha256})`);
  for (const warning of table!.warnings) logger.warn(`sfdisk: ${warning}`);
  return { table: table!, partitions, bootGap, format: input.format, inputSha256, imageSize };
}
