import fs from 'node:fs/promises';
import { Worker } from 'node:worker_threads';

/**
 * sha256 of files in a worker thread (OpenSSL, SHA extensions where the CPU has them), so a large
 * file is hashed on another core while this one does other work. Workers do not keep the process
 * alive: a run that fails meanwhile exits without waiting for them.
 */

// The worker hashes the file front to back, up to the number of bytes shared[0] says are final,
// waiting for more when it has caught up; shared[1] is the file's size once it is complete.
const WORKER = `
const { createHash } = require('node:crypto');
const fs = require('node:fs');
const { parentPort, workerData } = require('node:worker_threads');
const { file, shared } = workerData;
const hash = createHash('sha256');
const buffer = Buffer.allocUnsafe(4 << 20);
const fd = fs.openSync(file, 'r');
let position = 0;
try {
  for (;;) {
    const final = Number(Atomics.load(shared, 0));
    const size = Number(Atomics.load(shared, 1));
    if (size >= 0 && position >= size) break;
    if (position >= final) {
      Atomics.wait(shared, 0, BigInt(final), 200);
      continue;
    }
    const read = fs.readSync(fd, buffer, 0, Math.min(buffer.length, final - position), position);
    if (read === 0) throw new Error(file + ' ended at byte ' + position);
    hash.update(buffer.subarray(0, read));
    position += read;
  }
} finally {
  fs.closeSync(fd);
}
parentPort.postMessage(hash.digest('hex'));
`;

export interface FollowingHash {
  /** The first `bytes` of the file are written and will not change. */
  advance(bytes: number): void;
  /** The file is complete at `size` bytes: its sha256. */
  finish(size: number): Promise<string>;
  /** Stop hashing (the file will not be completed). */
  stop(): void;
}

/**
 * sha256 of a file still being written, hashed as it becomes final (front to back), so little is
 * left to hash when it is complete.
 */
export function followingSha256(file: string): FollowingHash {
  const shared = new BigInt64Array(new SharedArrayBuffer(16));
  shared[1] = -1n;
  const worker = new Worker(WORKER, { eval: true, workerData: { file, shared } });
  worker.unref();
  const digest = new Promise<string>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`hashing ${file} stopped (worker exit ${code})`)));
  });
  digest.catch(() => undefined);
  return {
    advance(bytes) {
      // Waking the worker for less than a read's worth would cost more than it saves.
      if (bytes - Number(Atomics.load(shared, 0)) < 4 << 20) return;
      Atomics.store(shared, 0, BigInt(bytes));
      Atomics.notify(shared, 0);
    },
    finish(size) {
      Atomics.store(shared, 0, BigInt(size));
      Atomics.store(shared, 1, BigInt(size));
      Atomics.notify(shared, 0);
      return digest;
    },
    stop() {
      void worker.terminate();
    },
  };
}

/** sha256 of a complete file. */
export async function sha256File(file: string): Promise<string> {
  const { size } = await fs.stat(file);
  return followingSha256(file).finish(size);
}
