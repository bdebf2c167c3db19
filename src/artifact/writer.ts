import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import { readChunks } from '../disk/sparse.js';
import { throwIfCancelled } from '../util/exec.js';
import { UserError, errorText, isUserError, writeFailure } from '../util/errors.js';
import { silentLogger, type Logger } from '../util/log.js';
import { COMPRESSION_SUFFIX } from '../util/compression.js';
import { writeAndWait } from '../util/streams.js';
import { checkArtifactLevel, compressBuffer, levelOf, startCompressor, type ArtifactCompression } from './compress.js';
import { gzipParallel } from './gzip.js';
import { checkFields, goJson, headerInfo, metaData, typeInfo, type HeaderFields } from './header.js';
import type { StateScript } from './scripts.js';
import { loadSigningKey, type SigningKey } from './sign.js';
import { BLOCK, END_OF_ARCHIVE, fileEntry, fileHeader, paddedFileHeader, paddedSize, paddingAfter, smallTar } from './tar.js';

/**
 * Writes a Mender Artifact (format version 3) in one pass over its payload.
 *
 * The outer tar must hold version, manifest, [manifest.sig], header.tar* and only then
 * data/0000.tar*, but the manifest and the header carry the payload's checksums, known only
 * once the payload has been read. So the compressed payload goes straight into the output
 * file after room reserved for the front parts (whose size is bounded in advance); then the
 * front is written into that room, its slack taken up by a PAX comment record in the data
 * entry's header. The payload is read once, nothing is copied, and memory does not grow
 * with the payload.
 */

export type PayloadSource =
  | { /** Name inside the Artifact (data/0000/<name>). */ name: string; path: string }
  | { name: string; size: number; stream: Readable | AsyncIterable<Uint8Array> };

export interface ArtifactSpec extends HeaderFields {
  /** The Artifact file; written under a temporary name in the same directory, then renamed. */
  output: string;
  /** rootfs-image: exactly one; module-image: any number; bootstrap: none. */
  files: PayloadSource[];
  scripts?: StateScript[];
  compression: ArtifactCompression;
  /** Private key (PEM, RSA 2048-4096 or ECDSA P-256) to sign the manifest with. */
  signingKey?: string;
  /** Seconds since the epoch for every timestamp; default SOURCE_DATE_EPOCH, else now. */
  mtime?: number;
  onProgress?: (done: number, total: number) => void;
  logger?: Logger;
}

export interface ArtifactResult {
  output: string;
  /** Size of the Artifact file in bytes. */
  bytes: number;
  /** sha256 (hex) of each payload file, by name. */
  payloadSha256: Record<string, string>;
  /** What the Artifact's type-info provides (the software version, the checksum, the extra ones). */
  provides: Record<string, string>;
  signed: boolean;
}

const VERSION = JSON.stringify({ format: 'mender', version: 3 });
const MANIFEST_LINE = 64 + 2 + 1;
const ENTRY_MODE = 0o600;
/** Bytes per read of a payload file. */
const READ_CHUNK = 4 << 20;

/** Seconds since the epoch for Artifact timestamps: SOURCE_DATE_EPOCH when set. */
export function defaultMtime(): number {
  const text = process.env.SOURCE_DATE_EPOCH;
  if (text && /^\d+$/.test(text)) return Number(text);
  return Math.floor(Date.now() / 1000);
}

interface ResolvedPayload {
  name: string;
  size: number;
  open(): Readable | AsyncIterable<Uint8Array>;
}

async function resolvePayloads(files: PayloadSource[]): Promise<ResolvedPayload[]> {
  return Promise.all(
    files.map(async (file) => {
      if ('stream' in file) {
        if (!Number.isSafeInteger(file.size) || file.size < 0) throw new UserError(`The payload stream ${file.name} has no valid size.`);
        return { name: file.name, size: file.size, open: () => file.stream };
      }
      let stat;
      try {
        stat = await fs.stat(file.path);
      } catch {
        throw new UserError(`The payload file ${file.path} does not exist.`);
      }
      if (!stat.isFile()) throw new UserError(`The payload ${file.path} is not a regular file.`);
      // Holes are not read; chunks are valid until the next is asked for (every consumer below is done with one by then).
      return { name: file.name, size: stat.size, open: () => readChunks(file.path, READ_CHUNK, { reuse: true }) };
    }),
  );
}

async function readScripts(scripts: StateScript[]): Promise<{ name: string; content: Buffer }[]> {
  return Promise.all(
    scripts.map(async (script) => {
      try {
        return { name: script.name ?? path.basename(script.path), content: await fs.readFile(script.path) };
      } catch {
        throw new UserError(`Cannot read the state script ${script.path}.`);
      }
    }),
  );
}

function headerTar(spec: ArtifactSpec, scripts: { name: string; content: Buffer }[], sums: Record<string, string>, mtime: number): Buffer {
  const meta = metaData(spec);
  return smallTar(
    [
      { name: 'header-info', content: goJson(headerInfo(spec)), mode: ENTRY_MODE },
      ...scripts.map((script) => ({ name: `scripts/${script.name}`, content: script.content, mode: 0o755 })),
      { name: 'headers/0000/type-info', content: goJson(typeInfo(spec, sums)), mode: ENTRY_MODE },
      ...(meta === undefined ? [] : [{ name: 'headers/0000/meta-data', content: meta, mode: ENTRY_MODE }]),
    ],
    mtime,
  );
}

/** The inner data tar as a stream of chunks, hashing each payload file on the way into `sums`. */
async function* dataTar(payloads: ResolvedPayload[], sums: Record<string, string>, mtime: number, onProgress?: (done: number, total: number) => void): AsyncGenerator<Uint8Array> {
  const total = payloads.reduce((sum, p) => sum + p.size, 0);
  let done = 0;
  for (const payload of payloads) {
    yield fileHeader({ name: payload.name, size: payload.size, mtime });
    const hash = createHash('sha256');
    let size = 0;
    for await (const chunk of payload.open()) {
      throwIfCancelled();
      const bytes = chunk as Uint8Array;
      size += bytes.length;
      if (size > payload.size) break;
      hash.update(bytes);
      yield bytes;
      done += bytes.length;
      onProgress?.(done, total);
    }
    if (size !== payload.size) {
      throw new UserError(`The payload ${payload.name} changed size while it was being read (expected ${payload.size} bytes, got ${size > payload.size ? 'more' : size}).`, {
        hint: 'Do not modify the payload while the Artifact is written.',
      });
    }
    sums[payload.name] = hash.digest('hex');
    yield Buffer.alloc(paddingAfter(payload.size));
  }
  yield END_OF_ARCHIVE;
}

/** A failure while writing the Artifact, in a user's words (a full disk names the file). */
function writeError(spec: ArtifactSpec, error: unknown): unknown {
  const failure = writeFailure(error, spec.output);
  if (isUserError(failure)) return failure;
  return new UserError(`Writing the Artifact ${spec.output} failed: ${errorText(error)}.`, { cause: error });
}

/** Compress the data tar into `file` from byte `offset` on; returns the checksums and the compressed size. */
async function writeData(spec: ArtifactSpec, payloads: ResolvedPayload[], file: string, offset: number, mtime: number): Promise<{ sums: Record<string, string>; size: number }> {
  const sums: Record<string, string> = {};
  const out = createWriteStream(file, { flags: 'r+', start: offset, highWaterMark: 1 << 20 });
  const source = dataTar(payloads, sums, mtime, spec.onProgress);
  // Each chunk is written completely before the next is read: a payload file's chunks reuse buffers.
  const copy = async (target: Writable) => {
    for await (const chunk of source) await writeAndWait(target, chunk);
    target.end();
  };
  if (spec.compression.algorithm === 'none') {
    await Promise.all([copy(out), finished(out)]).catch((error: unknown) => {
      out.destroy();
      throw writeError(spec, error);
    });
    return { sums, size: out.bytesWritten };
  }
  if (spec.compression.algorithm === 'gzip') {
    try {
      return { sums, size: await gzipParallel(source, out, levelOf(spec.compression)) };
    } catch (error) {
      out.destroy();
      throw writeError(spec, error);
    }
  }
  const tarSize = payloads.reduce((sum, payload) => sum + fileHeader({ name: payload.name, size: payload.size, mtime }).length + paddedSize(payload.size), END_OF_ARCHIVE.length);
  const compressor = startCompressor(spec.compression, tarSize, `compressing the Artifact payload (${spec.compression.algorithm})`);
  try {
    await Promise.all([copy(compressor.input), pipeline(compressor.output, out), compressor.done]);
  } catch (error) {
    if (isUserError(error)) {
      compressor.kill();
      throw error;
    }
    // A broken pipe: the tool's own exit says why; otherwise the payload could not be read.
    await compressor.done;
    throw writeError(spec, error);
  }
  return { sums, size: out.bytesWritten };
}

function manifestText(spec: ArtifactSpec, sums: Record<string, string>, headerName: string, header: Buffer): Buffer {
  const sha = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');
  const lines: [string, string][] = [
    ...spec.files.map((file): [string, string] => [`data/0000/${file.name}`, sums[file.name]!]),
    [headerName, sha(header)],
    ['version', sha(VERSION)],
  ];
  lines.sort(([a], [b]) => (a < b ? -1 : 1));
  return Buffer.from(lines.map(([name, sum]) => `${sum}  ${name}\n`).join(''), 'utf8');
}

/**
 * Room for the compressed header beyond its size with stand-in checksums: the real ones differ
 * only in their 64 hex digits each, which no compressor codes in more than 2 bytes apiece.
 */
function headerRoom(estimate: number, payloads: number): number {
  return estimate + 128 * payloads + 256;
}

/**
 * The size the front parts (version … header.tar*) can take at most, with the data entry's
 * header and at least three blocks of slack for its PAX padding header.
 */
function reservedFront(spec: ArtifactSpec, headerRoom: number, headerName: string, signing?: SigningKey): number {
  const manifestSize = spec.files.reduce((sum, file) => sum + MANIFEST_LINE + `data/0000/${file.name}`.length, 0) + 2 * MANIFEST_LINE + headerName.length + 'version'.length;
  const entry = (name: string, size: number) => fileHeader({ name, size, mtime: 0 }).length + paddedSize(size);
  return (
    entry('version', VERSION.length) +
    entry('manifest', manifestSize) +
    (signing ? entry('manifest.sig', signing.signatureLength) : 0) +
    entry(headerName, headerRoom) +
    3 * BLOCK
  );
}

export async function writeArtifact(spec: ArtifactSpec): Promise<ArtifactResult> {
  const logger = spec.logger ?? silentLogger;
  const mtime = spec.mtime ?? defaultMtime();
  checkArtifactLevel(spec.compression);
  const scripts = await readScripts(spec.scripts ?? []);
  checkFields(spec, spec.files.map((file) => file.name), scripts.map((script) => script.name));
  const payloads = await resolvePayloads(spec.files);
  const signing = spec.signingKey ? await loadSigningKey(spec.signingKey) : undefined;

  const suffix = COMPRESSION_SUFFIX[spec.compression.algorithm];
  const headerName = `header.tar${suffix}`;
  const dataName = `data/0000.tar${suffix}`;
  // The header compressed with stand-in checksums (hex digits as random as real ones) tells
  // its compressed size closely: only room for the difference is kept besides.
  const standIns = Object.fromEntries(payloads.map((p) => [p.name, createHash('sha256').update(`stand-in for ${p.name}`).digest('hex')]));
  const estimate = await compressBuffer(headerTar(spec, scripts, standIns, mtime), spec.compression, 'compressing the Artifact header');
  const room = headerRoom(estimate.length, payloads.length);
  const front = reservedFront(spec, room, headerName, signing);

  const temporary = path.join(path.dirname(spec.output), `.${path.basename(spec.output)}.partial-${process.pid}`);
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(temporary, 'w', 0o644);
  } catch (error) {
    throw new UserError(`Cannot create the Artifact ${spec.output}: ${errorText(error)}.`, { hint: 'Check that its directory exists and is writable.' });
  }
  try {
    await handle.close();
    handle = undefined;
    logger.debug(`artifact: writing ${spec.kind} ${spec.artifactName} (${spec.compression.algorithm}) to ${spec.output}`);
    const { sums, size: dataSize } = await writeData(spec, payloads, temporary, front, mtime);

    const header = await compressBuffer(headerTar(spec, scripts, sums, mtime), spec.compression, 'compressing the Artifact header');
    if (header.length > room) throw new Error(`the compressed Artifact header took ${header.length} bytes, more than the ${room} kept for it`);
    const manifest = manifestText(spec, sums, headerName, header);
    const parts = [
      fileEntry('version', VERSION, mtime, ENTRY_MODE),
      fileEntry('manifest', manifest, mtime, ENTRY_MODE),
      ...(signing ? [fileEntry('manifest.sig', signing.sign(manifest), mtime, ENTRY_MODE)] : []),
      fileEntry(headerName, header, mtime, ENTRY_MODE),
    ];
    const used = parts.reduce((sum, part) => sum + part.length, 0);
    parts.push(paddedFileHeader({ name: dataName, size: dataSize, mtime, mode: ENTRY_MODE }, front - used));

    handle = await fs.open(temporary, 'r+');
    await handle.write(Buffer.concat(parts), 0, front, 0);
    await handle.write(Buffer.concat([Buffer.alloc(paddingAfter(dataSize)), END_OF_ARCHIVE]), 0, undefined, front + dataSize);
    await handle.close();
    handle = undefined;
    await fs.rename(temporary, spec.output);
    const bytes = front + paddedSize(dataSize) + END_OF_ARCHIVE.length;
    logger.debug(`artifact: ${spec.output}: ${bytes} bytes`);
    return { output: spec.output, bytes, payloadSha256: sums, provides: typeInfo(spec, sums).artifact_provides ?? {}, signed: signing !== undefined };
  } catch (error) {
    await handle?.close().catch(() => undefined);
    await fs.rm(temporary, { force: true });
    throw error;
  }
}
