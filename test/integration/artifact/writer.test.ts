import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { readArtifact, writeArtifact, writeBootstrapArtifact, writeModuleImageArtifact, writeRootfsImageArtifact, type ArtifactSpec } from '../../../src/artifact/index.js';
import { storedGzipSize } from '../../../src/util/stored-gzip.js';
import { decompress, makeFixtures, members, run, type Fixtures } from './fixtures.js';

/** Writer properties beyond field agreement: payload bytes, determinism, sources, failures. */

let fx: Fixtures;
beforeAll(async () => {
  fx = await makeFixtures('writer');
});

const spec = (output: string, extra: Partial<ArtifactSpec> = {}): ArtifactSpec => ({
  kind: 'rootfs-image',
  output,
  artifactName: 'release-1',
  deviceTypes: ['dev'],
  files: [{ name: 'rootfs.ext4', path: fx.payload }],
  compression: { algorithm: 'gzip' },
  mtime: 1700000000,
  ...extra,
});

describe('writeArtifact', () => {
  it.each(['none', 'gzip', 'xz', 'zstd'] as const)('%s: the payload inside data/0000.tar* is byte-identical to the input', async (algorithm) => {
    const output = path.join(fx.dir, `bytes-${algorithm}.mender`);
    const result = await writeArtifact(spec(output, { compression: { algorithm } }));
    const data = (await members(output)).find((m) => m.name.startsWith('data/'))!;
    const inner = await members(await decompress(data.name, data.data));
    expect(inner.map((m) => m.name)).toEqual(['rootfs.ext4']);
    expect(inner[0]!.data.equals(fs.readFileSync(fx.payload))).toBe(true);
    expect(result.bytes).toBe(fs.statSync(output).size);
    const sha = (await run('sha256sum', [fx.payload])).stdout.split(' ')[0];
    expect(result.payloadSha256).toEqual({ 'rootfs.ext4': sha });
  });

  it('writes the same bytes for the same inputs and mtime, owners 0/0 without names, the given mtime everywhere', async () => {
    const a = path.join(fx.dir, 'same-a.mender');
    const b = path.join(fx.dir, 'same-b.mender');
    for (const output of [a, b]) await writeArtifact(spec(output, { compression: { algorithm: 'xz' }, signingKey: fx.keys.rsa.priv, scripts: [{ path: fx.script }] }));
    expect(fs.readFileSync(a).equals(fs.readFileSync(b))).toBe(true);
    const listing = (await run('tar', ['--numeric-owner', '--full-time', '--utc', '-tvf', a])).stdout.trim().split('\n');
    for (const line of listing) expect(line).toMatch(/^-rw------- 0\/0 .* 2023-11-14 22:13:20 /);
    const names = (await run('tar', ['-tvf', a])).stdout;
    expect(names).not.toMatch(/root/);
    await writeArtifact(spec(b, { compression: { algorithm: 'xz' }, signingKey: fx.keys.rsa.priv, scripts: [{ path: fx.script }], mtime: 1700000001 }));
    expect(fs.readFileSync(a).equals(fs.readFileSync(b))).toBe(false);
  });

  it('takes SOURCE_DATE_EPOCH when no mtime is given', async () => {
    const output = path.join(fx.dir, 'epoch.mender');
    const saved = process.env.SOURCE_DATE_EPOCH;
    process.env.SOURCE_DATE_EPOCH = '1234567890';
    try {
      await writeArtifact({ ...spec(output), mtime: undefined });
    } finally {
      if (saved === undefined) delete process.env.SOURCE_DATE_EPOCH;
      else process.env.SOURCE_DATE_EPOCH = saved;
    }
    const info = await readArtifact(output);
    expect(info.payloads[0]!.files[0]!.mtime).toBe(1234567890);
  });

  it('a payload given as a stream with its size gives the same Artifact as the file', async () => {
    const fromFile = path.join(fx.dir, 'source-file.mender');
    const fromStream = path.join(fx.dir, 'source-stream.mender');
    await writeArtifact(spec(fromFile));
    await writeArtifact(spec(fromStream, { files: [{ name: 'rootfs.ext4', size: fs.statSync(fx.payload).size, stream: fs.createReadStream(fx.payload) }] }));
    expect(fs.readFileSync(fromFile).equals(fs.readFileSync(fromStream))).toBe(true);
  });

  it('refuses a stream that is shorter or longer than its size, leaving no file behind', async () => {
    for (const [what, size] of [['short', 10], ['long', 100]] as const) {
      const output = path.join(fx.dir, `bad-stream-${what}.mender`);
      await expect(writeArtifact(spec(output, { files: [{ name: 'p', size, stream: Readable.from([Buffer.alloc(50)]) }] }))).rejects.toThrow(/changed size while it was being read/);
      expect(fs.readdirSync(fx.dir).filter((f) => f.includes(`bad-stream-${what}`))).toEqual([]);
    }
  });

  it('a failure leaves an existing Artifact of the same name untouched', async () => {
    const output = path.join(fx.dir, 'keep.mender');
    fs.writeFileSync(output, 'previous');
    await expect(writeArtifact(spec(output, { scripts: [{ path: path.join(fx.dir, 'missing-script') }] }))).rejects.toThrow(/Cannot read the state script/);
    await expect(writeArtifact(spec(output, { files: [{ name: 'x', path: path.join(fx.dir, 'missing') }] }))).rejects.toThrow(/does not exist/);
    await expect(writeArtifact(spec(output, { compression: { algorithm: 'gzip', level: 13 } }))).rejects.toThrow(/out of range for gzip/);
    expect(fs.readFileSync(output, 'utf8')).toBe('previous');
    expect(fs.readdirSync(fx.dir).filter((f) => f.includes('partial'))).toEqual([]);
  });

  // The reserved-room layout puts a PAX header (a comment record) before data/0000.tar*: Go's
  // archive/tar (mender-artifact, client 3.x) is covered by the round trips; libarchive is what
  // the 4.x client reads tar with (bsdtar, Debian package libarchive-tools).
  it.skipIf(!fs.existsSync('/usr/bin/bsdtar'))('libarchive lists the parts with their sizes and reads the payload back', async () => {
    const output = path.join(fx.dir, 'libarchive.mender');
    await writeArtifact(spec(output, { compression: { algorithm: 'xz' }, signingKey: fx.keys.ecdsa.priv }));
    const sizes = (await members(output)).map((m) => `${m.name} ${m.data.length}`);
    const listing = (await run('bsdtar', ['-tvf', output])).stdout.trim().split('\n').map((line) => line.split(/\s+/)).map((f) => `${f[8]} ${f[4]}`);
    expect(listing).toEqual(sizes);
    const data = await execa('bsdtar', ['-xOf', output, 'data/0000.tar.xz'], { encoding: 'buffer' });
    const inner = await members(await decompress('data/0000.tar.xz', Buffer.from(data.stdout)));
    expect(inner[0]!.data.equals(fs.readFileSync(fx.payload))).toBe(true);
  });

  it('names the problem when the output directory does not exist', async () => {
    await expect(writeArtifact(spec(path.join(fx.dir, 'no-such-dir', 'a.mender')))).rejects.toThrow(/Cannot create the Artifact .*ENOENT/);
  });

  it('a large header (1 MiB state script of random bytes) still fits its reserved room, for each compression', async () => {
    const script = path.join(fx.dir, 'ArtifactCommit_Leave_50_big');
    fs.writeFileSync(script, Buffer.concat([Buffer.from('#!/bin/sh\n# '), crypto.randomBytes(1 << 20)]));
    for (const algorithm of ['none', 'gzip', 'xz'] as const) {
      const output = path.join(fx.dir, `big-header-${algorithm}.mender`);
      await writeArtifact(spec(output, { compression: { algorithm }, scripts: [{ path: script }], signingKey: fx.keys.ecdsa.priv }));
      const validate = await run('mender-artifact', ['validate', '-k', fx.keys.ecdsa.pub, output]);
      expect(validate.exitCode, validate.stderr).toBe(0);
      expect((await readArtifact(output, { publicKey: fx.keys.ecdsa.pub })).scripts).toEqual(['ArtifactCommit_Leave_50_big']);
    }
  });

  it.each(['none', 'gzip', 'xz'] as const)('%s: the room kept for the front parts is little more than they take (under 3 KiB between the header and the data)', async (algorithm) => {
    const output = path.join(fx.dir, `front-${algorithm}.mender`);
    await writeArtifact(spec(output, { compression: { algorithm } }));
    const file = fs.readFileSync(output);
    const parts = await members(output);
    const header = parts.find((m) => m.name.startsWith('header.tar'))!.data;
    const data = parts.find((m) => m.name.startsWith('data/'))!.data;
    const headerEnd = file.indexOf(header) + header.length;
    const dataStart = file.indexOf(data.subarray(0, 4096), headerEnd);
    expect(dataStart).toBeGreaterThan(headerEnd);
    expect(dataStart - headerEnd).toBeLessThan(3072);
    expect((await run('mender-artifact', ['validate', output])).exitCode).toBe(0);
  });

  it('incompressible blocks are stored: mender-artifact reads and validates the Artifact, gunzip restores the payload', async () => {
    // 40 MiB of random bytes (one whole block stored, the rest too short to judge and compressed) then 8 MiB of text.
    const payload = path.join(fx.dir, 'mixed.bin');
    const words = Buffer.from('mender artifact rootfs update device kernel boot '.repeat(8 << 14));
    fs.writeFileSync(payload, Buffer.concat([crypto.randomBytes(40 << 20), words]));
    const output = path.join(fx.dir, 'stored.mender');
    await writeArtifact(spec(output, { files: [{ name: 'mixed.bin', path: payload }] }));
    expect((await run('mender-artifact', ['validate', output])).exitCode).toBe(0);
    const read = await run('mender-artifact', ['read', output]);
    expect(read.exitCode, read.stderr).toBe(0);
    expect(read.stdout).toContain((await run('sha256sum', [payload])).stdout.split(' ')[0]);
    const data = (await members(output)).find((m) => m.name === 'data/0000.tar.gz')!.data;
    const gz = path.join(fx.dir, 'stored-data.tar.gz');
    fs.writeFileSync(gz, data);
    expect((await run('gzip', ['-t', gz])).exitCode).toBe(0);
    const inner = await members(Buffer.from((await execa('gunzip', ['-c', gz], { encoding: 'buffer', maxBuffer: 128 << 20 })).stdout));
    expect(inner[0]!.data.equals(fs.readFileSync(payload))).toBe(true);
    // The first block is our stored member (its 32 MiB as they are, 5 bytes of framing every 65535): the next member starts right after it.
    expect(data.subarray(0, 15).equals(Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff, 0, 0xff, 0xff, 0, 0]))).toBe(true);
    expect(data.subarray(storedGzipSize(32 << 20), storedGzipSize(32 << 20) + 3).equals(Buffer.from([0x1f, 0x8b, 8]))).toBe(true);
  });

  it('module-image with no files and with many files', async () => {
    const none = path.join(fx.dir, 'module-none.mender');
    await writeModuleImageArtifact({ output: none, type: 'noop', files: [], artifactName: 'm-0', deviceTypes: ['dev'], compression: 'gzip', mtime: 0 });
    expect((await run('mender-artifact', ['validate', none])).exitCode).toBe(0);
    expect((await readArtifact(none)).payloads[0]).toMatchObject({ type: 'noop', files: [] });
    const many = Array.from({ length: 12 }, (_, i) => {
      const file = path.join(fx.dir, `part-${String(i).padStart(2, '0')}.bin`);
      fs.writeFileSync(file, Buffer.alloc(1000 + i * 513, i));
      return file;
    });
    const output = path.join(fx.dir, 'module-many.mender');
    const result = await writeModuleImageArtifact({ output, type: 'files', files: many, artifactName: 'm-12', deviceTypes: ['dev'], compression: 'xz', level: 1, mtime: 0 });
    expect((await run('mender-artifact', ['validate', output])).exitCode).toBe(0);
    const info = await readArtifact(output);
    expect(info.payloads[0]!.files.map((f) => [f.name, f.size, f.sha256])).toEqual(many.map((f) => [path.basename(f), fs.statSync(f).size, result.payloadSha256[path.basename(f)]]));
  });
});

describe('the wrappers the conversion calls', () => {
  it('writeRootfsImageArtifact returns the payload sha256 and writes rootfs-image.checksum and .version', async () => {
    const output = path.join(fx.dir, 'wrapper-rootfs.mender');
    const result = await writeRootfsImageArtifact({ output, payload: fx.payload, artifactName: 'release-2', deviceTypes: ['a', 'b'], compression: 'xz', signingKey: fx.keys.ecdsa.priv, mtime: 0 });
    expect(result.sha256).toBe((await run('sha256sum', [fx.payload])).stdout.split(' ')[0]);
    const info = await readArtifact(output, { publicKey: fx.keys.ecdsa.pub });
    expect(info).toMatchObject({ name: 'release-2', deviceTypes: ['a', 'b'], compression: 'xz', signatureVerified: true });
    expect(info.payloads[0]!.provides).toEqual({ 'rootfs-image.checksum': result.sha256, 'rootfs-image.version': 'release-2' });
  });

  it('writeBootstrapArtifact: empty payload with the provides and clears the data partition needs', async () => {
    const output = path.join(fx.dir, 'wrapper-bootstrap.mender');
    await writeBootstrapArtifact({
      output,
      artifactName: 'release-2',
      deviceTypes: ['a'],
      provides: { 'rootfs-image.version': 'release-2', 'rootfs-image.checksum': 'f'.repeat(64) },
      clearsProvides: ['rootfs-image.*'],
      compression: 'gzip',
      mtime: 0,
    });
    const read = (await run('mender-artifact', ['read', output])).stdout;
    expect(read).toContain('Type:   Empty type');
    expect(read).toContain(`rootfs-image.checksum: ${'f'.repeat(64)}`);
    expect(read).toContain('Clears Provides: ["rootfs-image.*"]');
    expect(read).toContain('Files: None');
  });
});
