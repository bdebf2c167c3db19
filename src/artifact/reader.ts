import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';
import { spawn } from '../util/exec.js';
import { UserError } from '../util/errors.js';
import { verifyManifest } from './sign.js';
import type { ArtifactCompression } from './writer.js';

/**
 * Reads a Mender Artifact (format version 3) as one stream: checks the order of its parts,
 * every checksum in the manifest (payload files while they stream by), and the signature.
 * Any deviation is a UserError that names what is wrong.
 */

export interface PayloadFileInfo {
  name: string;
  size: number;
  sha256: string;
  mtime: number;
}

export interface PayloadInfo {
  type: string | null;
  provides: Record<string, string>;
  depends: Record<string, unknown>;
  clearsProvides: string[];
  metaData?: unknown;
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
  compression: ArtifactCompression;
  signed: boolean;
  /** True when a public key was given and the signature checked out. */
  signatureVerified: boolean;
  scripts: string[];
  payloads: PayloadInfo[];
}

export interface ReadOptions {
  /** Public key (PEM) to verify the signature with; an unsigned Artifact is then refused. */
  publicKey?: string;
}

const SUFFIXES: Record<string, ArtifactCompression> = { '': 'none', '.gz': 'gzip', '.xz': 'xz', '.zst': 'zstd' };

function compressionOf(name: string, prefix: string): ArtifactCompression | undefined {
  return SUFFIXES[name.slice(prefix.length)];
}

/** A stream of the decompressed bytes of `source`. */
function decompress(source: Readable, compression: ArtifactCompression, what: string): { stream: Readable; done: Promise<void> } {
  if (compression === 'none') return { stream: source, done: Promise.resolve() };
  if (compression === 'gzip') {
    const gunzip = createGunzip();
    source.pipe(gunzip);
    const done = new Promise<void>((resolve, reject) => {
      gunzip.on('end', resolve);
      gunzip.on('error', (error) => reject(new UserError(`${what} is not valid gzip data: ${error.message}`)));
    });
    return { stream: gunzip, done };
  }
  const [tool, args] = compression === 'xz' ? ['xz', ['-dc']] : ['zstd', ['-dc', '-q']];
  const child = spawn(tool!, args as string[], { stdin: 'pipe', stdout: 'pipe', stderr: 'pipe', reject: false });
  const feeding = pipeline(source, child.stdin!).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
  });
  const done = Promise.all([child, feeding]).then(([result]) => {
    if (result.exitCode !== 0) throw new UserError(`${what} is not valid ${compression} data: ${String(result.stderr ?? '').trim()}`);
  });
  done.catch(() => undefined);
  return { stream: child.stdout!, done };
}

async function collect(stream: Readable, limit: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new UserError(`${what} is larger than ${limit} bytes: not a Mender Artifact part.`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function parseJson(text: Buffer, what: string): Record<string, unknown> {
  try {
    return JSON.parse(text.toString('utf8')) as Record<string, unknown>;
  } catch {
    throw new UserError(`The Artifact's ${what} is not valid JSON.`);
  }
}

function parseManifest(text: string): Map<string, string> {
  const sums = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const match = /^([0-9a-f]{64}) {2}(\S+)$/.exec(line);
    if (!match) throw new UserError(`The Artifact's manifest has a malformed line: ${JSON.stringify(line.slice(0, 80))}`);
    sums.set(match[2]!, match[1]!);
  }
  return sums;
}

/** Entries of a (small or streamed) inner tar, each handed to `onEntry` with its stream. */
async function walkTar(source: Readable, onEntry: (header: tar.Header, stream: Readable) => Promise<void>): Promise<void> {
  const extract = tar.extract();
  extract.on('entry', (header, stream, next) => {
    onEntry(header, stream as unknown as Readable)
      .then(() => next())
      .catch((error) => {
        stream.resume();
        extract.destroy(error);
      });
  });
  await pipeline(source, extract as unknown as Writable);
}

export async function readArtifact(file: string, options: ReadOptions = {}): Promise<ArtifactInfo> {
  const order: string[] = [];
  let manifestText: Buffer | undefined;
  let manifest: Map<string, string> | undefined;
  let signature: string | undefined;
  let version: Record<string, unknown> | undefined;
  let versionBytes: Buffer | undefined;
  let headerInfo: Record<string, unknown> | undefined;
  const typeInfos: Record<string, unknown>[] = [];
  const metaData: unknown[] = [];
  const scripts: string[] = [];
  const payloadFiles: PayloadFileInfo[][] = [];
  let compression: ArtifactCompression | undefined;
  const checked = new Set<string>();

  const expectHash = (name: string, sha: string) => {
    if (!manifest) throw new UserError(`The Artifact has ${name} before its manifest: its parts are out of order.`);
    const want = manifest.get(name);
    if (!want) throw new UserError(`${name} is not listed in the Artifact's manifest.`);
    if (want !== sha) throw new UserError(`Checksum mismatch for ${name}: the Artifact was modified or corrupted.`);
    checked.add(name);
  };

  const checkSignature = async () => {
    if (!options.publicKey) return;
    if (signature === undefined) throw new UserError('The Artifact is not signed, but a key was given to verify it with.');
    if (!(await verifyManifest(manifestText!, signature, options.publicKey))) {
      throw new UserError('The Artifact signature does not verify with the given key: it was signed with another key, or its manifest was modified.');
    }
  };

  const onOuter = async (header: tar.Header, stream: Readable) => {
    const name = header.name;
    order.push(name);
    if (name === 'version') {
      const data = await collect(stream, 4096, 'version');
      version = parseJson(data, 'version');
      if (version.format !== 'mender' || version.version !== 3) {
        throw new UserError(`Unsupported Artifact format ${JSON.stringify(version)}: only Mender format version 3 is read.`);
      }
      if (order.length !== 1) throw new UserError('The Artifact does not start with its version: its parts are out of order.');
      versionBytes = data;
    } else if (name === 'manifest') {
      if (order[0] !== 'version' || order.length !== 2) throw new UserError('The Artifact manifest is not its second part: its parts are out of order.');
      manifestText = await collect(stream, 1024 * 1024, 'manifest');
      manifest = parseManifest(manifestText.toString('utf8'));
      expectHash('version', sha256(versionBytes!));
    } else if (name === 'manifest.sig') {
      if (order[order.length - 2] !== 'manifest') throw new UserError('The Artifact signature does not follow its manifest: its parts are out of order.');
      signature = (await collect(stream, 16 * 1024, 'manifest.sig')).toString('utf8');
    } else if (name.startsWith('header.tar')) {
      compression = compressionOf(name, 'header.tar');
      if (!compression) throw new UserError(`Unknown header compression in ${name}.`);
      if (!manifest) throw new UserError('The Artifact header comes before its manifest: its parts are out of order.');
      await checkSignature();
      const raw = await collect(stream, 64 * 1024 * 1024, name);
      expectHash(name, sha256(raw));
      const { stream: plain, done } = decompress(Readable.from([raw]), compression, name);
      await walkTar(plain, async (entry, content) => {
        const data = await collect(content, 16 * 1024 * 1024, entry.name);
        if (entry.name === 'header-info') headerInfo = parseJson(data, 'header-info');
        else if (entry.name.startsWith('scripts/')) scripts.push(entry.name.slice('scripts/'.length));
        else {
          const match = /^headers\/(\d{4})\/(type-info|meta-data)$/.exec(entry.name);
          if (!match) return;
          const index = Number(match[1]);
          if (match[2] === 'type-info') typeInfos[index] = parseJson(data, entry.name);
          else metaData[index] = data.length ? parseJson(data, entry.name) : undefined;
        }
      });
      await done;
      if (!headerInfo) throw new UserError('The Artifact header has no header-info.');
    } else if (name.startsWith('data/')) {
      const match = /^data\/(\d{4})\.tar(.*)$/.exec(name);
      if (!match || !compressionOf(name, name.slice(0, name.indexOf('.tar') + 4))) throw new UserError(`Unexpected Artifact part ${name}.`);
      if (!headerInfo) throw new UserError(`The Artifact has ${name} before its header: its parts are out of order.`);
      const index = Number(match[1]);
      const files: PayloadFileInfo[] = [];
      const { stream: plain, done } = decompress(stream, SUFFIXES[match[2]!]!, name);
      await walkTar(plain, async (entry, content) => {
        const hash = createHash('sha256');
        let size = 0;
        for await (const chunk of content) {
          hash.update(chunk as Buffer);
          size += (chunk as Buffer).length;
        }
        const sha = hash.digest('hex');
        expectHash(`data/${match[1]}/${entry.name}`, sha);
        files.push({ name: entry.name, size, sha256: sha, mtime: Math.floor((entry.mtime?.getTime() ?? 0) / 1000) });
      });
      await done;
      payloadFiles[index] = files;
    } else {
      throw new UserError(`Unexpected part '${name}' in the Artifact.`);
    }
  };

  const source = createReadStream(file);
  try {
    await walkTar(source, onOuter);
  } catch (error) {
    source.destroy();
    if (error instanceof UserError) throw error;
    throw new UserError(`${file} is not a readable Mender Artifact: ${(error as Error).message}.`, { hint: 'It may be truncated or not an Artifact at all.' });
  }
  if (!version) throw new UserError(`${file} is not a Mender Artifact (no version part).`);
  if (!manifest) throw new UserError(`${file} has no manifest: it is truncated or not a Mender Artifact.`);
  if (!headerInfo) throw new UserError(`${file} has no header: it is truncated.`);
  for (const name of manifest.keys()) {
    if (!checked.has(name)) throw new UserError(`${name} is listed in the manifest but missing from the Artifact: it is truncated or was tampered with.`);
  }

  const provides = (headerInfo.artifact_provides ?? {}) as Record<string, string>;
  const depends = (headerInfo.artifact_depends ?? {}) as Record<string, string[]>;
  const payloadTypes = (headerInfo.payloads ?? []) as { type: string | null }[];
  return {
    format: String(version.format),
    version: Number(version.version),
    name: provides.artifact_name ?? '',
    group: provides.artifact_group,
    deviceTypes: depends.device_type ?? [],
    dependsArtifactNames: depends.artifact_name ?? [],
    dependsGroups: depends.artifact_group ?? [],
    compression: compression ?? 'none',
    signed: signature !== undefined,
    signatureVerified: signature !== undefined && options.publicKey !== undefined,
    scripts,
    payloads: payloadTypes.map((payload, index) => {
      const typeInfo = typeInfos[index] ?? {};
      return {
        type: payload.type,
        provides: (typeInfo.artifact_provides ?? {}) as Record<string, string>,
        depends: (typeInfo.artifact_depends ?? {}) as Record<string, unknown>,
        clearsProvides: (typeInfo.clears_artifact_provides ?? []) as string[],
        metaData: metaData[index],
        files: payloadFiles[index] ?? [],
      };
    }),
  };
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

