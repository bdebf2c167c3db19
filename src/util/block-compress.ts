import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { ResultPromise } from 'execa';
import { UserError } from './errors.js';
import { isZero } from './bytes.js';
import { spawn } from './exec.js';
import { IO_BYTES } from './streams.js';
import { BlockSampler, SAMPLES, STORED_PIECE_BYTES, storedGzip, storedGzipSize } from './stored-gzip.js';
import { requireTool } from './tools.js';

/**
 * Compressing large data on every core, block by block: each block is compressed by a process of
 * its own, as many at once as there are cores. Blocks are independent, so the same bytes always
 * give the same compressed block — which lets callers compress a repeated block once and write it
 * again.
 *
 * Where the system time went, and how it is avoided (2 cores, measured from outside; page faults
 * are dear on this machine kind, ~9 µs each):
 * - Node never forks while data flows. A fork write-protects every page of node's memory, so each
 *   page node wrote after it faulted again (8,300 faults, 60-70 ms of system time per 32 MiB block
 *   written). The tool's processes are started by one small shell per core (a "lane"), itself
 *   started once when the compressor opens.
 * - Scratch files are reused: a fixed set of slots, each an input file and an output file, written
 *   in place (no new pages for the kernel to find, fill and free).
 * - Node keeps no block in memory: a block's bytes go to its input file as they arrive, and its
 *   result passes through a 1 MiB buffer on its way out. Each page of a fresh buffer costs a fault
 *   the first time it is written (128 MiB: 0.2-0.4 s of system time), and 32 MiB buffers per slot
 *   were faulted in by every run.
 * - The tools map their input file (a fresh process reading a pipe faults in every page of a
 *   growing buffer) and run with glibc's malloc asking for transparent huge pages, a third of the
 *   faults of their own large buffers.
 */

/** Uncompressed bytes per block. */
export const BLOCK = 32 << 20;

/** Memory-backed scratch space when there is one: the blocks only pass through it. */
async function scratchDir(prefix: string): Promise<string> {
  const shm = '/dev/shm';
  const base = await fs.access(shm, fs.constants.W_OK).then(() => shm, () => os.tmpdir());
  return fs.mkdtemp(path.join(base, prefix));
}

// A lane: told a slot number on each line of its input, it compresses that slot's input file into
// its output file and answers with the number. The tool and its arguments come as arguments.
const LANE_SCRIPT = 'dir=$1; shift; while read -r slot; do "$@" "$dir/in$slot" < /dev/null > "$dir/out$slot" || exit; echo "$slot"; done';

/** Environment for the tools: glibc's malloc advises huge pages for its large allocations (glibc >= 2.35; ignored before). */
function toolEnvironment(): Record<string, string> {
  const tunable = 'glibc.malloc.hugetlb=1';
  const current = process.env.GLIBC_TUNABLES;
  return { GLIBC_TUNABLES: current ? `${current}:${tunable}` : tunable };
}

class Lane {
  private readonly child: ResultPromise;
  private stderr = '';
  private answers = '';
  private current?: { resolve: () => void; reject: (error: unknown) => void };
  private failure?: unknown;

  constructor(dir: string, tool: string, args: readonly string[], private readonly what: string) {
    this.child = spawn('sh', ['-c', LANE_SCRIPT, 'sh', dir, requireTool(tool), ...args], {
      stdin: 'pipe',
      stdout: 'pipe',
      stderr: 'pipe',
      reject: false,
      env: toolEnvironment(),
    });
    this.child.stdout!.setEncoding('utf8');
    this.child.stdout!.on('data', (text: string) => {
      this.answers += text;
      while (this.answers.includes('\n')) {
        this.answers = this.answers.slice(this.answers.indexOf('\n') + 1);
        const done = this.current;
        this.current = undefined;
        done?.resolve();
      }
    });
    this.child.stderr!.on('data', (chunk: Buffer) => {
      if (this.stderr.length < 4096) this.stderr += chunk.toString();
    });
    // The lane only ends early when the tool failed (or the run was cancelled).
    this.child.stdin!.on('error', () => undefined);
    void this.child.then((result) => {
      const name = path.basename(tool);
      this.failure = result.isCanceled
        ? new UserError(`Interrupted while ${this.what}.`)
        : new UserError(`${name} ${result.signal ? `was killed by ${result.signal}` : `exited with status ${result.exitCode}`} while ${this.what}.`, { detail: this.stderr.trim() });
      this.current?.reject(this.failure);
      this.current = undefined;
    });
  }

  /** Compress slot `slot`; the lane takes one slot at a time. */
  run(slot: number): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<void>((resolve, reject) => {
      this.current = { resolve, reject };
      this.child.stdin!.write(`${slot}\n`);
    });
  }

  /** Ends once the block it may be compressing is done. */
  async close(): Promise<void> {
    this.child.stdin!.end();
    await this.child;
  }
}

interface Slot {
  index: number;
  input: fs.FileHandle;
  /** Bytes in the input file now. */
  inputSize: number;
  output: fs.FileHandle;
  /** Where results are read into on their way out (and stored members are framed). */
  piece: Buffer;
  /** The compressibility probe of the slot's block (gzip's stored members). */
  sampler?: BlockSampler;
}

/** A block's compressed bytes. */
export interface Compressed {
  readonly size: number;
  /** The bytes front to back, each piece valid until the next is asked for (IO_BYTES or so at a time). */
  pieces(): AsyncGenerator<Buffer>;
}

/** A block handed over for compression; its slot is held until `release`, after its bytes are taken. */
export interface Submitted {
  compressed: Promise<Compressed>;
  release(): void;
}

/** A block being filled: its bytes go to its slot's input file as they come. */
export interface BlockInput {
  /** Append `bytes` (taken before this resolves: the caller may reuse their buffer). */
  write(bytes: Uint8Array): Promise<void>;
  /** The block is whole: compress it. */
  finish(): Submitted;
}

/** A result held in memory (an all-zero block's, kept for the next one). */
function inMemory(data: Buffer): Compressed {
  return {
    size: data.length,
    async *pieces() {
      yield data;
    },
  };
}

async function readAt(handle: fs.FileHandle, into: Buffer, position: number, what: string): Promise<void> {
  let filled = 0;
  while (filled < into.length) {
    const { bytesRead } = await handle.read(into, filled, Math.min(IO_BYTES, into.length - filled), position + filled);
    if (bytesRead === 0) throw new Error(`${what} ended early`);
    filled += bytesRead;
  }
}

async function writeAt(handle: fs.FileHandle, data: Uint8Array, position: number): Promise<void> {
  let written = 0;
  while (written < data.length) written += (await handle.write(data, written, Math.min(IO_BYTES, data.length - written), position + written)).bytesWritten;
}

const ZERO_PIECE = Buffer.alloc(IO_BYTES);

/**
 * One tool compressing blocks in parallel. A block is filled through `begin`; its bytes pass
 * straight into its slot's input file, and only samples of them are kept, so memory stays a few
 * MiB whatever the block size. An all-zero block of a size already
 * seen gets the earlier result (free space of a filesystem: the same bytes, the same output), and
 * its zeros are never written. At most `parallel + 1` blocks may be held unreleased: a further
 * `begin` waits for a release.
 */
export class BlockCompressor {
  /** Blocks compressed at once: one per core. */
  readonly parallel: number;
  private readonly zeroBlocks = new Map<number, Promise<Compressed>>();
  private readonly freeSlots: Slot[] = [];
  private readonly slotWaiters: ((slot: Slot) => void)[] = [];
  private readonly freeLanes: Lane[];
  private readonly queued: { slot: number; start: (lane: Lane) => void }[] = [];

  private constructor(
    private readonly scratch: string,
    private readonly lanes: Lane[],
    private readonly slots: Slot[],
  ) {
    this.parallel = lanes.length;
    this.freeLanes = [...lanes];
    this.freeSlots.push(...slots);
  }

  /**
   * `what` names the work in errors ("compressing the Artifact (gzip)"). With `storeIncompressible`
   * (gzip tools only), a block that looks incompressible becomes a stored gzip member, no tool run.
   */
  static async open(tool: string, args: string[], what: string, options: { storeIncompressible?: boolean } = {}): Promise<BlockCompressor> {
    requireTool(tool);
    const scratch = await scratchDir(`mender-convert-${path.basename(tool)}-`);
    const parallel = Math.max(1, os.availableParallelism());
    const slots: Slot[] = [];
    try {
      for (let index = 0; index <= parallel; index++) {
        const input = await fs.open(path.join(scratch, `in${index}`), 'w+', 0o600);
        const output = await fs.open(path.join(scratch, `out${index}`), 'w+', 0o600);
        const sampler = options.storeIncompressible ? new BlockSampler(BLOCK / SAMPLES) : undefined;
        slots.push({ index, input, inputSize: 0, output, piece: Buffer.allocUnsafeSlow(Math.max(IO_BYTES, STORED_PIECE_BYTES)), sampler });
      }
    } catch (error) {
      await Promise.all(slots.flatMap((slot) => [slot.input.close(), slot.output.close()]));
      await fs.rm(scratch, { recursive: true, force: true });
      throw error;
    }
    // Started before any block is read: forking node now costs little.
    const lanes = Array.from({ length: parallel }, () => new Lane(scratch, tool, args, what));
    return new BlockCompressor(scratch, lanes, slots);
  }

  /** A block to fill, once a slot is free. */
  async begin(): Promise<BlockInput> {
    const slot = await this.takeSlot();
    const { sampler } = slot;
    sampler?.reset();
    let length = 0;
    // Zeros at the block's start are written only once something else follows them.
    let allZero = true;
    let finished = false;
    const put = async (bytes: Uint8Array, position: number) => {
      await writeAt(slot.input, bytes, position);
      slot.inputSize = Math.max(slot.inputSize, position + bytes.length);
    };
    return {
      write: async (bytes) => {
        if (finished) throw new Error('a finished block was written to');
        if (length + bytes.length > BLOCK) throw new RangeError(`a block holds at most ${BLOCK} bytes`);
        try {
          sampler?.add(bytes, length);
          if (allZero && isZero(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length))) {
            length += bytes.length;
            return;
          }
          if (allZero) {
            await this.writeZeros(slot, length);
            allZero = false;
          }
          await put(bytes, length);
          length += bytes.length;
        } catch (error) {
          finished = true;
          this.giveSlot(slot);
          throw error;
        }
      },
      finish: () => {
        if (finished) throw new Error('a block was finished twice');
        finished = true;
        return this.compressBlock(slot, length, allZero, sampler?.looksIncompressible() ?? false);
      },
    };
  }

  private compressBlock(slot: Slot, length: number, allZero: boolean, store: boolean): Submitted {
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.giveSlot(slot);
    };
    const known = allZero ? this.zeroBlocks.get(length) : undefined;
    if (known) {
      release();
      return { compressed: known, release };
    }
    let compressed: Promise<Compressed>;
    if (store) {
      compressed = Promise.resolve({
        size: storedGzipSize(length),
        pieces: () => storedGzip(length, (targets, position) => readInto(slot.input, targets, position, this.scratch), slot.piece),
      });
    } else {
      compressed = (async () => {
        if (allZero) await this.writeZeros(slot, length);
        if (slot.inputSize > length) await slot.input.truncate(length);
        slot.inputSize = length;
        return this.compress(slot);
      })();
    }
    compressed.catch(() => undefined);
    if (allZero) {
      // Kept apart from the slot, which is reused.
      const kept = compressed.then(async (result) => inMemory(await bytesOf(result)));
      kept.catch(() => undefined);
      this.zeroBlocks.set(length, kept);
      return { compressed: kept.finally(release), release };
    }
    return { compressed, release };
  }

  private async writeZeros(slot: Slot, length: number): Promise<void> {
    for (let at = 0; at < length; at += ZERO_PIECE.length) await writeAt(slot.input, ZERO_PIECE.subarray(0, Math.min(ZERO_PIECE.length, length - at)), at);
    slot.inputSize = Math.max(slot.inputSize, length);
  }

  private async compress(slot: Slot): Promise<Compressed> {
    const lane = await new Promise<Lane>((start) => {
      this.queued.push({ slot: slot.index, start });
      this.dispatch();
    });
    try {
      await lane.run(slot.index);
    } finally {
      this.freeLanes.push(lane);
      this.dispatch();
    }
    const { size } = await slot.output.stat();
    const what = `the compressed block in ${this.scratch}`;
    return {
      size,
      async *pieces() {
        for (let at = 0; at < size; at += IO_BYTES) {
          const piece = slot.piece.subarray(0, Math.min(IO_BYTES, size - at));
          await readAt(slot.output, piece, at, what);
          yield piece;
        }
      },
    };
  }

  private dispatch(): void {
    while (this.freeLanes.length > 0 && this.queued.length > 0) this.queued.shift()!.start(this.freeLanes.shift()!);
  }

  private takeSlot(): Promise<Slot> {
    const slot = this.freeSlots.pop();
    if (slot) return Promise.resolve(slot);
    return new Promise((resolve) => this.slotWaiters.push(resolve));
  }

  private giveSlot(slot: Slot): void {
    const waiter = this.slotWaiters.shift();
    if (waiter) waiter(slot);
    else this.freeSlots.push(slot);
  }

  /** End the lanes and remove the scratch space (after every submitted block has settled). */
  async close(): Promise<void> {
    await Promise.allSettled(this.lanes.map((lane) => lane.close()));
    await Promise.allSettled(this.slots.flatMap((slot) => [slot.input.close(), slot.output.close()]));
    await fs.rm(this.scratch, { recursive: true, force: true });
  }
}

/** Fill `targets` one after the other from `position` in the file (one readv where it can). */
async function readInto(handle: fs.FileHandle, targets: Buffer[], position: number, what: string): Promise<void> {
  const { bytesRead } = await handle.readv(targets, position);
  let skip = bytesRead;
  for (const target of targets) {
    if (skip >= target.length) {
      skip -= target.length;
      position += target.length;
      continue;
    }
    await readAt(handle, target.subarray(skip), position + skip, `the block in ${what}`);
    position += target.length;
    skip = 0;
  }
}

/** All of a result's bytes in one buffer of their own. */
async function bytesOf(compressed: Compressed): Promise<Buffer> {
  const data = Buffer.allocUnsafe(compressed.size);
  let at = 0;
  for await (const piece of compressed.pieces()) at += piece.copy(data, at);
  if (at !== compressed.size) throw new Error(`a compressed block of ${compressed.size} bytes gave ${at}`);
  return data;
}
