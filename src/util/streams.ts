import type { Writable } from 'node:stream';

/**
 * Write `chunk` and wait until the stream is done with it, for data in a buffer that is reused
 * afterwards (a stream keeps a reference to what it has not written yet).
 */
export async function writeAndWait(out: Writable, chunk: Uint8Array): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const done = (error?: Error | null) => {
      out.off('error', done);
      out.off('close', closed);
      if (error) reject(error);
      else resolve();
    };
    const closed = () => done(new Error('the output closed early'));
    out.on('error', done);
    out.on('close', closed);
    out.write(chunk, done);
  });
}
