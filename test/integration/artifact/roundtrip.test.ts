import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readArtifact, writeArtifact, type ArtifactKind, type ArtifactSpec } from '../../../src/artifact/index.js';
import type { Compression } from '../../../src/util/compression.js';
import { describeArtifact } from '../../../src/cli/artifact.js';
import { headerFiles, makeFixtures, members, must, run, type Fixtures } from './fixtures.js';

/**
 * Every kind × compression mender-artifact 3.9 knows × unsigned/RSA/ECDSA, both ways:
 * our Artifact passes `mender-artifact validate` (with the public key when signed) and
 * `mender-artifact read` prints exactly what our reader makes of it; mender-artifact's Artifact
 * for the same flags reads the same through our reader, and its header files are byte for
 * byte the ones we write.
 */

let fx: Fixtures;
beforeAll(async () => {
  fx = await makeFixtures('roundtrip');
  fs.writeFileSync(path.join(fx.dir, 'meta.json'), '{"services":["b","a"],"restart":true}\n');
});

const KINDS: ArtifactKind[] = ['rootfs-image', 'module-image', 'bootstrap'];
const COMPRESSIONS: [Compression, string][] = [['none', 'none'], ['gzip', 'gzip'], ['xz', 'lzma']];
const SIGNINGS = ['unsigned', 'rsa', 'ecdsa'] as const;
type Signing = (typeof SIGNINGS)[number];

function ourSpec(kind: ArtifactKind, algorithm: Compression, signing: Signing, output: string): ArtifactSpec {
  const common = {
    output,
    artifactName: 'release-7',
    deviceTypes: ['dev-a', 'dev-b'],
    artifactGroup: 'fleet',
    dependsArtifactNames: ['release-5', 'release-6'],
    dependsGroups: ['fleet'],
    depends: { 'hw.rev': '2' },
    compression: { algorithm },
    signingKey: signing === 'unsigned' ? undefined : fx.keys[signing].priv,
    mtime: 1700000000,
  };
  if (kind === 'rootfs-image') {
    return { ...common, kind, files: [{ name: 'rootfs.ext4', path: fx.payload }], provides: { 'app.channel': 'stable' }, scripts: [{ path: fx.script }], clearsProvides: ['app.*'] };
  }
  if (kind === 'module-image') {
    return {
      ...common,
      kind,
      moduleType: 'app-module',
      files: fx.moduleFiles.map((file) => ({ name: path.basename(file), path: file })),
      provides: { 'app.channel': 'beta' },
      metaData: { restart: true, services: ['b', 'a'] },
      scripts: [{ path: fx.script }],
      software: { name: 'app', version: '1.2' },
    };
  }
  return { ...common, kind, files: [], provides: { 'rootfs-image.version': 'release-7', 'rootfs-image.checksum': 'ab'.repeat(32) }, clearsProvides: ['rootfs-image.*'] };
}

/** The same Artifact by mender-artifact's flags. */
function theirArgs(kind: ArtifactKind, compression: string, signing: Signing, output: string): string[] {
  const args = ['write', kind === 'bootstrap' ? 'bootstrap-artifact' : kind, '-n', 'release-7', '-t', 'dev-a', '-t', 'dev-b', '-o', output, '--compression', compression];
  args.push('-g', 'fleet', '-N', 'release-5', '-N', 'release-6', '-G', 'fleet', '-d', 'hw.rev:2');
  if (kind === 'rootfs-image') args.push('-f', fx.payload, '-p', 'app.channel:stable', '-s', fx.script, '--clears-provides', 'app.*', '--no-progress');
  if (kind === 'module-image') {
    args.push('-T', 'app-module', ...fx.moduleFiles.flatMap((f) => ['-f', f]), '-p', 'app.channel:beta', '-s', fx.script, '--software-name', 'app', '--software-version', '1.2');
    args.push('-m', path.join(fx.dir, 'meta.json'));
  }
  if (kind === 'bootstrap') args.push('-p', 'rootfs-image.version:release-7', '-p', `rootfs-image.checksum:${'ab'.repeat(32)}`, '--clears-provides', 'rootfs-image.*', '--no-progress');
  if (signing !== 'unsigned') args.push('-k', fx.keys[signing].priv);
  return args;
}

async function mendersRead(file: string, signing: Signing): Promise<string> {
  return (await must('mender-artifact', ['read', ...(signing === 'unsigned' ? [] : ['-k', fx.keys[signing].pub]), file])).stdout;
}

describe.each(KINDS)('%s', (kind) => {
  describe.each(COMPRESSIONS)('%s', (algorithm, compression) => {
    it.each(SIGNINGS)('%s: ours checked by mender-artifact, theirs by us, the same fields', async (signing) => {
      const key = signing === 'unsigned' ? undefined : fx.keys[signing].pub;
      const ours = path.join(fx.dir, `ours-${kind}-${compression}-${signing}.mender`);
      await writeArtifact(ourSpec(kind, algorithm, signing, ours));
      const validate = await run('mender-artifact', ['validate', ...(key ? ['-k', key] : []), ours]);
      expect(validate.exitCode, validate.stderr).toBe(0);
      const ourInfo = await readArtifact(ours, { publicKey: key });
      expect(describeArtifact(ourInfo)).toBe(await mendersRead(ours, signing));
      expect(ourInfo.signatureVerified).toBe(signing !== 'unsigned');

      const theirs = path.join(fx.dir, `theirs-${kind}-${compression}-${signing}.mender`);
      await must('mender-artifact', theirArgs(kind, compression, signing, theirs));
      const theirInfo = await readArtifact(theirs, { publicKey: key });
      expect(describeArtifact(theirInfo)).toBe(await mendersRead(theirs, signing));

      // Same header files, byte for byte; same parts in the same order.
      expect(await headerFiles(ours)).toEqual(await headerFiles(theirs));
      expect(ourInfo.parts).toEqual(theirInfo.parts);
      const { parts: _a, payloads: ourPayloads, ...ourFields } = ourInfo;
      const { parts: _b, payloads: theirPayloads, ...theirFields } = theirInfo;
      expect({ ...ourFields, bytes: 0 }).toEqual({ ...theirFields, bytes: 0 });
      expect(ourPayloads.map(({ files, ...rest }) => ({ ...rest, files: files.map((f) => [f.name, f.size, f.sha256]) }))).toEqual(
        theirPayloads.map(({ files, ...rest }) => ({ ...rest, files: files.map((f) => [f.name, f.size, f.sha256]) })),
      );
    });
  });
});

describe('zstd (mender-artifact 3.9 cannot read it): checked by our reader and the zstd tool', () => {
  it.each(KINDS)('%s', async (kind) => {
    const output = path.join(fx.dir, `ours-${kind}-zstd.mender`);
    await writeArtifact(ourSpec(kind, 'zstd', 'ecdsa', output));
    const parts = await members(output);
    expect(parts.map((p) => p.name)).toEqual(['version', 'manifest', 'manifest.sig', 'header.tar.zst', 'data/0000.tar.zst']);
    for (const part of parts.filter((p) => p.name.endsWith('.zst'))) {
      expect(part.data.readUInt32LE(0)).toBe(0xfd2fb528); // zstd frame magic
    }
    const info = await readArtifact(output, { publicKey: fx.keys.ecdsa.pub });
    expect(info.compression).toBe('zstd');
    expect(info.signatureVerified).toBe(true);
    const gzip = path.join(fx.dir, `ours-${kind}-gzip-for-zstd.mender`);
    await writeArtifact(ourSpec(kind, 'gzip', 'ecdsa', gzip));
    const expected = await readArtifact(gzip, { publicKey: fx.keys.ecdsa.pub });
    expect(info.payloads).toEqual(expected.payloads);
    expect(info.scripts).toEqual(expected.scripts);
  });
});

describe("mender-artifact's augmented Artifacts (unsigned augment manifest and header, as delta updates use)", () => {
  it('read the same through our reader, the augment checksums checked too', async () => {
    const output = path.join(fx.dir, 'theirs-augmented.mender');
    const augmentFile = path.join(fx.dir, 'delta.bin');
    fs.writeFileSync(augmentFile, 'delta payload\n');
    await must('mender-artifact', ['write', 'module-image', '-n', 'aug-1', '-t', 'dev', '-T', 'base-module', '-f', fx.moduleFiles[1]!,
      '--augment-type', 'delta-module', '--augment-file', augmentFile, '--augment-provides', 'delta.from:1', '-k', fx.keys.rsa.priv, '-o', output]);
    const info = await readArtifact(output, { publicKey: fx.keys.rsa.pub });
    expect(info.parts).toEqual(['version', 'manifest', 'manifest.sig', 'manifest-augment', 'header.tar.gz', 'header-augment.tar.gz', 'data/0000.tar.gz']);
    expect(describeArtifact(info)).toBe(await mendersRead(output, 'rsa'));
    expect(info.payloads[0]).toMatchObject({ type: 'delta-module', provides: { 'delta.from': '1' } });
    expect(info.payloads[0]!.files.map((f) => f.name)).toEqual(['app.conf', 'delta.bin']);
  });
});
