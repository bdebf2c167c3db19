import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { ResultPromise } from 'execa';
import { UserError } from './errors.js';
import { isZero } from './bytes.js';
import { spawn } from './exec.js';
import { IO_BYTES } from './streams.js';
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
 * - Scratch files and buffers are reused: a fixed set of slots, each an input file, an output file
 *   and a result buffer, written in place (no new pages for the kernel to find, fill and free).
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
  inputSize: number;
  output: fs.FileHandle;
  result: Buffer;
}

/** A block's compressed bytes, valid until `release` (they live in a reused buffer). */
export interface Submitted {
  compressed: Promise<Buffer>;
  release(): void;
}

/**
 * Compresses a block in-process instead of with the tool, writing the tool's output format into
 * `into` (at least `block.length + block.length / 64 + 4096` bytes) and returning its length; or
 * undefined to leave the block to the tool. (gzip: stored blocks for data that will not compress.)
 */
export type Shortcut = (block: Buffer, into: Buffer) => number | undefined;

/**
 * One tool compressing blocks in parallel. `submit` copies the block out (its buffer is free
 * again when it returns) and starts its compression; an all-zero block of a size already seen
 * gets the earlier result (free space of a filesystem: the same bytes, the same output). At most
 * `parallel + 1` submitted blocks may be held unreleased: a further `submit` waits for a release.
 */
export class BlockCompressor {
  /** Blocks compressed at once: one per core. */
  readonly parallel: number;
  private readonly zeroBlocks = new Map<number, Promise<Buffer>>();
  private readonly freeSlots: Slot[] = [];
  private readonly slotWaiters: ((slot: Slot) => void)[] = [];
  private readonly freeLanes: Lane[];
  private readonly queued: { slot: number; start: (lane: Lane) => void }[] = [];

  private constructor(
    private readonly scratch: string,
    private readonly lanes: Lane[],
    private readonly slots: Slot[],
    private readonly shortcut?: Shortcut,
  ) {
    this.parallel = lanes.length;
    this.freeLanes = [...lanes];
    this.freeSlots.push(...slots);
  }

  /** `what` names the work in errors ("compressing the Artifact (gzip)"). */
  static async open(tool: string, args: string[], what: string, options: { shortcut?: Shortcut } = {}): Promise<BlockCompressor> {
    requireTool(tool);
    const scratch = await scratchDir(`mender-convert-${path.basename(tool)}-`);
    const parallel = Math.max(1, os.availableParallelism());
    const slots: Slot[] = [];
    try {
      for (let index = 0; index <= parallel; index++) {
        const input = await fs.open(path.join(scratch, `in${index}`), 'w+', 0o600);
        const output = await fs.open(path.join(scratch, `out${index}`), 'w+', 0o600);
        slots.push({ index, input, inputSize: 0, output, result: Buffer.alloc(0) });
      }
    } catch (error) {
      await Promise.all(slots.flatMap((slot) => [slot.input.close(), slot.output.close()]));
      await fs.rm(scratch, { recursive: true, force: true });
      throw error;
    }
    // Started before any block is read: forking node now costs little.
    const lanes = Array.from({ length: parallel }, () => new Lane(scratch, tool, args, what));
    return new BlockCompressor(scratch, lanes, slots, options.shortcut);
  }

  /** The block's compressed bytes: the wait is for a slot and the copy, not the compression. */
  async submit(block: Buffer): Promise<Submitted> {
    const zero = isZero(block);
    const known = zero ? this.zeroBlocks.get(block.length) : undefined;
    if (known) return { compressed: known, release: () => undefined };
    const slot = await this.takeSlot();
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.giveSlot(slot);
    };
    let compressed: Promise<Buffer>;
    const stored = this.shortcut?.(block, this.resultBuffer(slot, block.length + Math.ceil(block.length / 64) + 4096));
    if (stored !== undefined) {
      compressed = Promise.resolve(slot.result.subarray(0, stored));
    } else {
      try {
        await writeAll(slot.input, block);
        if (slot.inputSize > block.length) await slot.input.truncate(block.length);
        slot.inputSize = block.length;
      } catch (error) {
        release();
        throw error;
      }
      compressed = this.compress(slot);
    }
    compressed.catch(() => undefined);
    if (zero) {
      // Kept apart from the slot, which is reused.
      const kept = compressed.then((data) => Buffer.from(data));
      kept.catch(() => undefined);
      this.zeroBlocks.set(block.length, kept);
    }
    return { compressed, release };
  }

  private async compress(slot: Slot): Promise<Buffer> {
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
    const result = this.resultBuffer(slot, size);
    let filled = 0;
    while (filled < size) {
      const { bytesRead } = await slot.output.read(result, filled, Math.min(IO_BYTES, size - filled), filled);
      if (bytesRead === 0) throw new Error(`the compressed block in ${this.scratch} ended early`);
      filled += bytesRead;
    }
    return result.subarray(0, size);
  }

  private dispatch(): void {
    while (this.freeLanes.length > 0 && this.queued.length > 0) this.queued.shift()!.start(this.freeLanes.shift()!);
  }

  /** The slot's result buffer, grown to `size` bytes when smaller (allocated once, then reused). */
  private resultBuffer(slot: Slot, size: number): Buffer {
    if (slot.result.length < size) slot.result = Buffer.allocUnsafeSlow(Math.max(size, BLOCK + BLOCK / 64 + 4096));
    return slot.result;
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

async function writeAll(handle: fs.FileHandle, data: Buffer): Promise<void> {
  let written = 0;
  while (written < data.length) written += (await handle.write(data, written, Math.min(IO_BYTES, data.length - written), written)).bytesWritten;
}
