import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import type { KeyObject } from 'node:crypto';
import { Readable, type Writable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { throwIfCancelled } from '../util/exec.js';
import { UserError, errorText, isUserError } from '../util/errors.js';
import zlib from 'node:zlib';
import { compressionOfSuffix, type Compression } from '../util/compression.js';
import { startDecompressor, type FilterProcess } from './compress.js';
import { loadVerifyingKey, verifyManifest } from './sign.js';

/**
 * Reads a Mender Artifact (format version 3) in one streaming pass: the order of its parts,
 * every checksum of the manifest (payload files while they stream by, never held whole) and,
 * given a public key, the signature — before anything the manifest covers is trusted. Any
 * deviation is a UserError naming what is wrong.
 */

export interface PayloadFileInfo {
  name: string;
  size: number;
  sha256: string;
  /** Seconds since the epoch, from the data tar. */
  mtime: number;
}

export interface PayloadInfo {
  /** From header-info: rootfs-image, an update module's name, or null (bootstrap). */
  type: string | null;
  provides: Record<string, string>;
  depends: Record<string, unknown>;
  clearsProvides: string[];
  /** headers/NNNN/meta-data (a JSON object), when present and not empty. */
  metaData?: Record<string, unknown>;
  files: PayloadFileInfo[];
}

export interface ArtifactInfo {
  format: string;
  version: number;
  name: string;
  group?: string;
  deviceTypes: string[];
  dependsArtifactNames: string[];
  dependsGroups: string[];
  /** Compression of header.tar*. */
  compression: Compression;
  signed: boolean;
  /** True when a public key was given and the signature verified with it. */
  signatureVerified: boolean;
  scripts: string[];
  payloads: PayloadInfo[];
  /** The outer tar's parts in order (version, manifest, …). */
  parts: string[];
  bytes: number;
}

export interface ReadOptions {
  /** Public key (PEM) to verify the signature with; an unsigned Artifact is then refused. */
  publicKey?: string;
  /** Where to write a payload file as it streams by (by payload index and file name); undefined: not kept. Its checksum is verified as usual. */
  keepPayload?: (index: number, name: string) => string | undefined;
}

const MANIFEST_LIMIT = 1 << 20;
const HEADER_LIMIT = 64 << 20;

type Json = Record<string, unknown>;

function compressionSuffix(name: string, prefix: string): Compression | undefined {
  return name.startsWith(prefix) ? compressionOfSuffix(name.slice(prefix.length)) : undefined;
}

function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

async function collect(stream: AsyncIterable<unknown>, limit: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new UserError(`The Artifact's ${what} is larger than ${limit} bytes: this is not a valid Artifact.`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function parseJson(data: Buffer, what: string): Json {
  let value: unknown;
  try {
    value = JSON.parse(data.toString('utf8'));
  } catch {
    throw new UserError(`The Artifact's ${what} is not valid JSON.`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new UserError(`The Artifact's ${what} is not a JSON object.`);
  return value as Json;
}

function parseManifest(text: Buffer, what: string): Map<string, string> {
  const sums = new Map<string, string>();
  for (const line of text.toString('utf8').split('\n')) {
    if (!line) continue;
    const match = /^([0-9a-f]{64}) {2}(\S+)$/.exec(line);
    if (!match) throw new UserError(`The Artifact's ${what} has a malformed line: ${JSON.stringify(line.slice(0, 100))}.`);
    if (sums.has(match[2]!)) throw new UserError(`The Artifact's ${what} lists ${match[2]} twice.`);
    sums.set(match[2]!, match[1]!);
  }
  return sums;
}

function stringArray(value: unknown, what: string): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || value.some((item) => typeof item !== 'string')) throw new UserError(`The Artifact's ${what} is not a list of strings.`);
  return value as string[];
}

/** Hand each entry of a tar stream to `onEntry`, one at a time; the first failure ends the walk. */
async function walkTar(source: Readable, onEntry: (header: tar.Header, stream: Readable) => Promise<void>): Promise<void> {
  const extract = tar.extract();
  let failure: unknown;
  // The failure is rethrown below; an 'error' event without a listener would crash the process.
  extract.on('error', () => undefined);
  extract.on('entry', (header, stream, next) => {
    // Destroying the walk destroys the entry's stream with the same error: already reported.
    stream.on('error', () => undefined);
    if (failure !== undefined) return;
    onEntry(header, stream as unknown as Readable).then(
      () => {
        // Whatever the handler left unread flows away unread, so the next entry can come.
        stream.resume();
        next();
      },
      (error: unknown) => {
        failure = error;
        extract.destroy(error as Error);
      },
    );
  });
  try {
    await pipeline(source, extract as unknown as Writable);
  } catch (error) {
    throw failure ?? error;
  }
  if (failure !== undefined) throw failure;
}

/** A decompressor: Node's zlib for gzip (as fast as pigz at inflating), the xz and zstd tools. */
function decoder(algorithm: Exclude<Compression, 'none'>, what: string): FilterProcess {
  if (algorithm !== 'gzip') return startDecompressor(algorithm, `reading ${what}`);
  const gunzip = zlib.createGunzip();
  const done = finished(gunzip);
  done.catch(() => undefined);
  return { input: gunzip, output: gunzip, done, kill: () => gunzip.destroy() };
}

/** The decompressed stream of a compressed part; damage is reported as what is wrong. */
async function withDecompressed(source: Readable, algorithm: Compression, what: string, use: (plain: Readable) => Promise<void>): Promise<void> {
  if (algorithm === 'none') return use(source);
  const filter = decoder(algorithm, what);
  let handlerError: unknown;
  const using = use(filter.output).catch((error: unknown) => {
    handlerError = error;
    throw error;
  });
  try {
    await Promise.all([using, pipeline(source, filter.input), filter.done]);
  } catch (error) {
    filter.kill();
    source.resume();
    // A checksum or structure finding says more than the broken stream it causes.
    if (isUserError(handlerError)) throw handlerError;
    throw new UserError(`${what} is not valid ${algorithm === 'xz' ? 'xz (lzma)' : algorithm} data holding a tar archive: the Artifact is truncated or corrupted.`, {
      detail: isUserError(error) ? error.detail : errorText(error),
    });
  }
}

async function decompressSmall(data: Buffer, algorithm: Compression, what: string): Promise<Buffer> {
  let plain: Buffer = Buffer.alloc(0);
  await withDecompressed(Readable.from([data]), algorithm, what, async (stream) => {
    plain = await collect(stream, HEADER_LIMIT, what);
  });
  return plain;
}

interface HeaderContent {
  info: Json;
  scripts: string[];
  typeInfos: Json[];
  metaData: (Json | undefined)[];
}

async function parseHeader(tarBytes: Buffer, name: string, augment = false): Promise<HeaderContent> {
  const content: HeaderContent = { info: {}, scripts: [], typeInfos: [], metaData: [] };
  let seenInfo = false;
  await walkTar(Readable.from([tarBytes]), async (entry, stream) => {
    const data = await collect(stream, HEADER_LIMIT, `${name}: ${entry.name}`);
    if (!seenInfo) {
      if (entry.name !== 'header-info') throw new UserError(`${name} does not start with header-info (it starts with ${entry.name}).`);
      content.info = parseJson(data, 'header-info');
      seenInfo = true;
      return;
    }
    if (entry.name.startsWith('scripts/')) {
      if (augment) throw new UserError(`${name} holds a state script (${entry.name}); the unsigned augmented header may not.`);
      if (content.typeInfos.length) throw new UserError(`The state script ${entry.name} comes after the payload headers in ${name}.`);
      content.scripts.push(entry.name.slice('scripts/'.length));
      return;
    }
    const match = /^headers\/(\d{4})\/(type-info|meta-data)$/.exec(entry.name);
    if (!match) throw new UserError(`${name} holds an unexpected file: ${entry.name}.`);
    const index = Number(match[1]);
    if (match[2] === 'type-info') {
      if (index !== content.typeInfos.length) throw new UserError(`${name} has ${entry.name} out of order.`);
      content.typeInfos.push(parseJson(data, entry.name));
    } else {
      if (index !== content.typeInfos.length - 1) throw new UserError(`${name} has ${entry.name} before its type-info.`);
      content.metaData[index] = data.length ? parseJson(data, entry.name) : undefined;
    }
  });
  if (!seenInfo) throw new UserError(`${name} has no header-info.`);
  const payloads = content.info.payloads;
  if (!Array.isArray(payloads)) throw new UserError('The Artifact header-info has no payloads list.');
  if (content.typeInfos.length !== payloads.length) {
    throw new UserError(`The Artifact header lists ${payloads.length} payload(s) but has type-info for ${content.typeInfos.length}.`);
  }
  return content;
}

/** Where the reading is, so that each part can check what came before it. */
type Stage = 'start' | 'version' | 'manifest' | 'signature' | 'augment-manifest' | 'header' | 'augment-header' | 'data';

export async function readArtifact(file: string, options: ReadOptions = {}): Promise<ArtifactInfo> {
  const key: KeyObject | undefined = options.publicKey ? await loadVerifyingKey(options.publicKey) : undefined;
  let bytes: number;
  try {
    const stat = await fs.stat(file);
    if (!stat.isFile()) throw new Error('not a regular file');
    bytes = stat.size;
  } catch (error) {
    throw new UserError(`Cannot read the Artifact ${file}: ${errorText(error)}.`);
  }

  const parts: string[] = [];
  let stage: Stage = 'start';
  let version: Json | undefined;
  let versionBytes: Buffer | undefined;
  let manifestBytes: Buffer | undefined;
  const sums = new Map<string, string>();
  const checked = new Set<string>();
  let signature: Buffer | undefined;
  let header: HeaderContent | undefined;
  let augment: HeaderContent | undefined;
  let compression: Compression = 'none';
  const files: PayloadFileInfo[][] = [];

  const check = (name: string, sum: string) => {
    const want = sums.get(name);
    if (!want) throw new UserError(`${name} is in the Artifact but not in its manifest: it was tampered with.`);
    if (want !== sum) throw new UserError(`Checksum mismatch for ${name}: the Artifact was modified or corrupted.`);
    checked.add(name);
  };
  const outOfOrder = (name: string, where: string) => new UserError(`The Artifact's ${name} is ${where}: its parts are out of order.`);

  const trustManifest = () => {
    if (!key) return;
    if (!signature) throw new UserError('The Artifact is not signed, but a key was given to verify it with.', { hint: 'Sign it (-k when writing), or read it without a key.' });
    if (!verifyManifest(manifestBytes!, signature, key)) {
      throw new UserError('The Artifact signature does not verify with the given key: it was signed with another key, or its manifest was modified.');
    }
  };

  const onPart = async (entry: tar.Header, stream: Readable) => {
    throwIfCancelled();
    const name = entry.name;
    parts.push(name);
    if (entry.type !== 'file') throw new UserError(`The Artifact's part ${name} is not a regular file (${entry.type}).`);
    if (name === 'version') {
      if (stage !== 'start') throw outOfOrder('version', 'not its first part');
      versionBytes = await collect(stream, 4096, 'version');
      version = parseJson(versionBytes, 'version');
      if (version.format !== 'mender') throw new UserError(`${file} is not a Mender Artifact (format ${JSON.stringify(version.format)}).`);
      if (version.version !== 3) throw new UserError(`${file} is a Mender Artifact of format version ${JSON.stringify(version.version)}; only version 3 is read.`);
      stage = 'version';
    } else if (name === 'manifest') {
      if (stage !== 'version') throw outOfOrder('manifest', 'not right after its version');
      manifestBytes = await collect(stream, MANIFEST_LIMIT, 'manifest');
      for (const [part, sum] of parseManifest(manifestBytes, 'manifest')) sums.set(part, sum);
      check('version', sha256(versionBytes!));
      stage = 'manifest';
    } else if (name === 'manifest.sig') {
      if (stage !== 'manifest') throw outOfOrder('signature', 'not right after its manifest');
      signature = await collect(stream, 16 * 1024, 'manifest.sig');
      stage = 'signature';
    } else if (name === 'manifest-augment') {
      if (stage !== 'manifest' && stage !== 'signature') throw outOfOrder('manifest-augment', 'not right after its manifest');
      // Unsigned by design: it lists what may change after signing (delta payloads).
      for (const [part, sum] of parseManifest(await collect(stream, MANIFEST_LIMIT, 'manifest-augment'), 'manifest-augment')) {
        if (sums.has(part)) throw new UserError(`The Artifact's manifest-augment overrides the signed checksum of ${part}.`);
        sums.set(part, sum);
      }
      stage = 'augment-manifest';
    } else if (compressionSuffix(name, 'header.tar') !== undefined) {
      if (stage !== 'manifest' && stage !== 'signature' && stage !== 'augment-manifest') throw outOfOrder(name, stage === 'start' || stage === 'version' ? 'before its manifest' : 'not right after its manifest');
      trustManifest();
      compression = compressionSuffix(name, 'header.tar')!;
      const raw = await collect(stream, HEADER_LIMIT, name);
      check(name, sha256(raw));
      header = await parseHeader(await decompressSmall(raw, compression, name), name);
      stage = 'header';
    } else if (compressionSuffix(name, 'header-augment.tar') !== undefined) {
      if (stage !== 'header') throw outOfOrder(name, 'not right after the header');
      const raw = await collect(stream, HEADER_LIMIT, name);
      check(name, sha256(raw));
      augment = await parseHeader(await decompressSmall(raw, compressionSuffix(name, 'header-augment.tar')!, name), name, true);
      stage = 'augment-header';
    } else if (/^data\/\d{4}\.tar/.test(name)) {
      if (stage !== 'header' && stage !== 'augment-header' && stage !== 'data') throw outOfOrder(name, 'before its header');
      const index = Number(name.slice(5, 9));
      if (index !== files.length) throw outOfOrder(name, `not payload ${files.length}'s data`);
      if (index >= (header!.info.payloads as unknown[]).length) throw new UserError(`The Artifact has ${name} but its header lists no payload ${index}.`);
      const algorithm = compressionSuffix(name, name.slice(0, 13));
      if (algorithm === undefined) throw new UserError(`The Artifact's ${name} has an unknown compression.`);
      const found: PayloadFileInfo[] = [];
      files.push(found);
      await withDecompressed(stream, algorithm, name, (plain) =>
        walkTar(plain, async (inner, content) => {
          const part = `data/${name.slice(5, 9)}/${inner.name}`;
          if (inner.type !== 'file') throw new UserError(`${part} in the Artifact is not a regular file.`);
          const hash = createHash('sha256');
          let size = 0;
          const keep = options.keepPayload?.(index, inner.name);
          const sink = keep ? createWriteStream(keep, { mode: 0o600 }) : undefined;
          for await (const chunk of content) {
            throwIfCancelled();
            hash.update(chunk as Buffer);
            size += (chunk as Buffer).length;
            if (sink && !sink.write(chunk)) await once(sink, 'drain');
          }
          if (sink) await finished(sink.end());
          check(part, hash.digest('hex'));
          found.push({ name: inner.name, size, sha256: sums.get(part)!, mtime: Math.floor((inner.mtime?.getTime() ?? 0) / 1000) });
        }),
      );
      stage = 'data';
    } else {
      throw new UserError(`The Artifact holds an unexpected part: ${name}.`);
    }
  };

  const source = createReadStream(file, { highWaterMark: 1 << 20 });
  try {
    await walkTar(source, onPart);
  } catch (error) {
    source.destroy();
    if (isUserError(error)) throw error;
    throw new UserError(`${file} is not a readable Mender Artifact: ${errorText(error)}.`, { hint: 'It may be truncated, or not an Artifact at all.' });
  }
  if (!version) throw new UserError(`${file} is not a Mender Artifact: it has no version part.`);
  if (!manifestBytes) throw new UserError(`${file} has no manifest: it is truncated or not a Mender Artifact.`);
  if (!header) throw new UserError(`${file} has no header: it is truncated.`);
  const payloadTypes = header.info.payloads as { type?: unknown }[];
  if (files.length < payloadTypes.length) throw new UserError(`${file} ends before the data of payload ${files.length}: it is truncated.`);
  for (const name of sums.keys()) {
    if (!checked.has(name)) throw new UserError(`${name} is listed in the Artifact's manifest but missing: the Artifact is truncated or was tampered with.`);
  }

  const provides = (header.info.artifact_provides ?? {}) as Json;
  const depends = (header.info.artifact_depends ?? {}) as Json;
  if (typeof provides.artifact_name !== 'string' || !provides.artifact_name) throw new UserError('The Artifact header-info has no artifact_name.');
  return {
    format: String(version.format),
    version: Number(version.version),
    name: provides.artifact_name,
    ...(typeof provides.artifact_group === 'string' && provides.artifact_group ? { group: provides.artifact_group } : {}),
    deviceTypes: stringArray(depends.device_type, 'artifact_depends.device_type'),
    dependsArtifactNames: stringArray(depends.artifact_name, 'artifact_depends.artifact_name'),
    dependsGroups: stringArray(depends.artifact_group, 'artifact_depends.artifact_group'),
    compression,
    signed: signature !== undefined,
    signatureVerified: signature !== undefined && key !== undefined,
    scripts: header.scripts,
    payloads: payloadTypes.map((payload, index) => {
      const info = header!.typeInfos[index]!;
      // An augmented header (delta updates) overrides the type and adds provides and depends, as mender-artifact reads it.
      const extra = augment?.typeInfos[index] ?? {};
      const augmentedType = (augment?.info.payloads as { type?: unknown }[] | undefined)?.[index]?.type;
      const type = typeof augmentedType === 'string' && augmentedType ? augmentedType : typeof payload?.type === 'string' ? payload.type : null;
      const metaData = augment?.metaData[index] ?? header!.metaData[index];
      return {
        type,
        provides: { ...(info.artifact_provides as Record<string, string>), ...(extra.artifact_provides as Record<string, string>) },
        depends: { ...(info.artifact_depends as Record<string, unknown>), ...(extra.artifact_depends as Record<string, unknown>) },
        clearsProvides: stringArray(info.clears_artifact_provides, `headers/${String(index).padStart(4, '0')}/type-info clears_artifact_provides`),
        ...(metaData ? { metaData } : {}),
        files: files[index] ?? [],
      };
    }),
    parts,
    bytes,
  };
}
