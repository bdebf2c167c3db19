import fs from 'node:fs/promises';
import { Worker } from 'node:worker_threads';
import { clipRanges, dataRanges, type Ranges } from './extents.js';

/**
 * sha256 in a worker thread (OpenSSL, SHA extensions where the CPU has them), so large files are
 * hashed on another core while this one does other work. Workers do not keep the process alive:
 * a run that fails meanwhile exits without waiting for them.
 */

/** Part of the bytes to hash: a range of a file, or a run of zero bytes (hashed without reading). */
export type HashSegment = { file: string; offset: number; length: number } | { zeros: number };

// The worker hashes its segments in order. A segment of the followed file waits until shared[0]
// (how many bytes of that file are final) covers it.
const WORKER = `
const { createHash } = require('node:crypto');
const fs = require('node:fs');
const { parentPort, workerData } = require('node:worker_threads');
const { segments, followed, shared } = workerData;
const hash = createHash('sha256');
const buffer = Buffer.allocUnsafe(4 << 20);
const zeros = Buffer.alloc(4 << 20);
// Opened at once: a file may be renamed while the worker is still busy with earlier segments.
const files = new Set(segments.filter((s) => s.file !== undefined).map((s) => s.file));
const fds = new Map([...files].map((file) => [file, fs.openSync(file, 'r')]));
try {
  for (const segment of segments) {
    if (segment.zeros !== undefined) {
      for (let left = segment.zeros; left > 0; left -= zeros.length) hash.update(zeros.subarray(0, Math.min(left, zeros.length)));
      continue;
    }
    const fd = fds.get(segment.file);
    let position = segment.offset;
    const end = segment.offset + segment.length;
    while (position < end) {
      const final = segment.file === followed ? Number(Atomics.load(shared, 0)) : Infinity;
      const until = Math.min(end, final);
      if (position >= until) {
        Atomics.wait(shared, 0, BigInt(final), 200);
        continue;
      }
      const read = fs.readSync(fd, buffer, 0, Math.min(buffer.length, until - position), position);
      if (read === 0) throw new Error(segment.file + ' ended at byte ' + position);
      hash.update(buffer.subarray(0, read));
      position += read;
    }
  }
} finally {
  for (const fd of fds.values()) fs.closeSync(fd);
}
parentPort.postMessage(hash.digest('hex'));
`;

export interface FollowingHash {
  /** The first `bytes` of the followed file are written and will not change. */
  advance(bytes: number): void;
  /** The followed file is complete: the sha256 of all segments. */
  finish(): Promise<string>;
  /** Stop hashing (the file will not be completed). */
  stop(): void;
}

/**
 * sha256 of `segments` (in order) in a worker, starting at once. Segments of `followed`, a file
 * still being written front to back, are hashed as they become final (see FollowingHash).
 */
export function sha256Segments(segments: HashSegment[], followed?: string): FollowingHash {
  const shared = new BigInt64Array(new SharedArrayBuffer(8));
  const worker = new Worker(WORKER, { eval: true, workerData: { segments, followed, shared } });
  worker.unref();
  const digest = new Promise<string>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`hashing stopped (worker exit ${code})`)));
  });
  digest.catch(() => undefined);
  return {
    advance(bytes) {
      // Waking the worker for less than a read's worth would cost more than it saves.
      if (bytes - Number(Atomics.load(shared, 0)) < 4 << 20) return;
      Atomics.store(shared, 0, BigInt(bytes));
      Atomics.notify(shared, 0);
    },
    finish() {
      Atomics.store(shared, 0, BigInt(Number.MAX_SAFE_INTEGER));
      Atomics.notify(shared, 0);
      return digest;
    },
    stop() {
      void worker.terminate();
    },
  };
}

/**
 * Segments for `file[start, end)` whose data lies in `data` (the file's data ranges): the holes
 * between them become zero runs, hashed without reading.
 */
export function sparseSegments(file: string, start: number, end: number, data: Ranges): HashSegment[] {
  const segments: HashSegment[] = [];
  let at = start;
  for (const [from, to] of clipRanges(data, start, end)) {
    if (from > at) segments.push({ zeros: from - at });
    segments.push({ file, offset: from, length: to - from });
    at = to;
  }
  if (end > at) segments.push({ zeros: end - at });
  return segments;
}

/** sha256 of a complete file (its holes are not read). */
export async function sha256File(file: string): Promise<string> {
  const { size } = await fs.stat(file);
  return sha256Segments(sparseSegments(file, 0, size, await dataRanges(file))).finish();
}
