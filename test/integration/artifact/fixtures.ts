/**
 * Shared material of the Artifact integration tests: a small ext4 payload made by mke2fs,
 * module files, a state script, RSA and ECDSA keys (in the PEM forms mender-artifact 3.9
 * reads), and helpers around the reference tool.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import tar from 'tar-stream';
import { toolEnv } from '../../helpers/images.js';

export interface Fixtures {
  dir: string;
  payload: string;
  moduleFiles: string[];
  script: string;
  keys: Record<'rsa' | 'ecdsa', { priv: string; pub: string }>;
}

/** Run a tool; never throws, the result carries exitCode, stdout and stderr. */
export function run(name: string, args: string[]) {
  return execa(name, args, { env: toolEnv, reject: false, stripFinalNewline: false });
}

export async function must(name: string, args: string[]) {
  const result = await run(name, args);
  if (result.exitCode !== 0) throw new Error(`${name} ${args.join(' ')} failed (${result.exitCode}): ${result.stderr}`);
  return result;
}

export async function makeFixtures(label: string): Promise<Fixtures> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `artifact-${label}-`));
  const tree = path.join(dir, 'tree');
  fs.mkdirSync(path.join(tree, 'etc'), { recursive: true });
  fs.writeFileSync(path.join(tree, 'etc/os-release'), 'ID=debian\n');
  fs.copyFileSync('/usr/bin/dash', path.join(tree, 'dash'));
  const payload = path.join(dir, 'rootfs.ext4');
  await must('mke2fs', ['-q', '-F', '-t', 'ext4', '-d', tree, payload, '4M']);
  const moduleFiles = ['app.bin', 'app.conf'].map((name, index) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, index === 0 ? Buffer.alloc(100_000, 7) : `${name} content\n`);
    return file;
  });
  const script = path.join(dir, 'ArtifactInstall_Enter_00_check');
  fs.writeFileSync(script, '#!/bin/sh\nexit 0\n', { mode: 0o755 });
  const keys = { rsa: { priv: path.join(dir, 'rsa.pem'), pub: path.join(dir, 'rsa.pub') }, ecdsa: { priv: path.join(dir, 'ec.pem'), pub: path.join(dir, 'ec.pub') } };
  // mender-artifact 3.9 reads PKCS#1 RSA and SEC1 EC private keys (not PKCS#8).
  await must('openssl', ['genrsa', '-traditional', '-out', keys.rsa.priv, '2048']);
  await must('openssl', ['rsa', '-in', keys.rsa.priv, '-pubout', '-out', keys.rsa.pub]);
  await must('openssl', ['ecparam', '-genkey', '-name', 'prime256v1', '-noout', '-out', keys.ecdsa.priv]);
  await must('openssl', ['ec', '-in', keys.ecdsa.priv, '-pubout', '-out', keys.ecdsa.pub]);
  return { dir, payload, moduleFiles, script, keys };
}

export interface Member {
  name: string;
  data: Buffer;
}

/** The members of a (small) tar file, whole. */
export async function members(file: string | Buffer): Promise<Member[]> {
  const found: Member[] = [];
  const extract = tar.extract();
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        found.push({ name: header.name, data: Buffer.concat(chunks) });
        next();
      });
    });
    extract.on('finish', resolve);
    extract.on('error', reject);
  });
  extract.end(Buffer.isBuffer(file) ? file : fs.readFileSync(file));
  await done;
  return found;
}

/** Write `list` as a plain tar (for tampered Artifacts). */
export async function packMembers(list: Member[], output: string): Promise<void> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (chunk: Buffer) => chunks.push(chunk));
  const ended = new Promise((resolve) => pack.on('end', resolve));
  for (const member of list) pack.entry({ name: member.name, size: member.data.length }, member.data);
  pack.finalize();
  await ended;
  fs.writeFileSync(output, Buffer.concat(chunks));
}

/** Decompress an Artifact part with the real tools. */
export async function decompress(name: string, data: Buffer): Promise<Buffer> {
  const tool = name.endsWith('.gz') ? ['gzip', ['-dc']] : name.endsWith('.xz') ? ['xz', ['-dc']] : name.endsWith('.zst') ? ['zstd', ['-dc']] : undefined;
  if (!tool) return data;
  const result = await execa(tool[0] as string, tool[1] as string[], { input: data, encoding: 'buffer', env: toolEnv });
  return Buffer.from(result.stdout);
}

/** header-info, type-info and meta-data of an Artifact, as text. */
export async function headerFiles(file: string): Promise<Record<string, string>> {
  const header = (await members(file)).find((m) => m.name.startsWith('header.tar'))!;
  const inner = await members(await decompress(header.name, header.data));
  return Object.fromEntries(inner.filter((m) => !m.name.startsWith('scripts/')).map((m) => [m.name, m.data.toString()]));
}
