import { Worker } from 'node:worker_threads';

/**
 * sha256 of a file in a worker thread (OpenSSL, SHA extensions where the CPU has them), so a
 * large file is hashed on another core while this one does other work. The worker does not keep
 * the process alive: a run that fails meanwhile exits without waiting for it.
 */
export function sha256File(file: string): Promise<string> {
  const worker = new Worker(
    `const { createHash } = require('node:crypto');
     const fs = require('node:fs');
     const { parentPort, workerData } = require('node:worker_threads');
     const hash = createHash('sha256');
     const buffer = Buffer.allocUnsafe(4 << 20);
     const fd = fs.openSync(workerData, 'r');
     try {
       for (let read; (read = fs.readSync(fd, buffer, 0, buffer.length, null)) > 0;) hash.update(buffer.subarray(0, read));
     } finally {
       fs.closeSync(fd);
     }
     parentPort.postMessage(hash.digest('hex'));`,
    { eval: true, workerData: file },
  );
  worker.unref();
  return new Promise((resolve, reject) => {
    worker.once('message', (digest: string) => resolve(digest));
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`hashing ${file} stopped (worker exit ${code})`)));
  });
}
