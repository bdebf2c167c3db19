import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readArtifact, writeArtifact } from '../../../src/artifact/index.js';
import type { Compression } from '../../../src/util/compression.js';
import { makeFixtures, members, packMembers, run, type Fixtures, type Member } from './fixtures.js';

/** Damaged Artifacts: refused by mender-artifact 3.9 and by our reader, which names the damage. */

let fx: Fixtures;
const base: Partial<Record<Compression, string>> = {};

beforeAll(async () => {
  fx = await makeFixtures('tamper');
  for (const algorithm of ['none', 'gzip'] as const) {
    base[algorithm] = path.join(fx.dir, `base-${algorithm}.mender`);
    await writeArtifact({
      kind: 'rootfs-image',
      output: base[algorithm]!,
      artifactName: 'release-1',
      deviceTypes: ['dev'],
      files: [{ name: 'rootfs.ext4', path: fx.payload }],
      compression: { algorithm },
      signingKey: fx.keys.rsa.priv,
      mtime: 1700000000,
    });
  }
});

async function tampered(name: string, from: string, edit: (list: Member[]) => Member[]): Promise<string> {
  const file = path.join(fx.dir, `${name}.mender`);
  await packMembers(edit(await members(from)), file);
  return file;
}

async function refusedByBoth(file: string, key: string | undefined, message: RegExp): Promise<void> {
  const theirs = await run('mender-artifact', ['validate', ...(key ? ['-k', key] : []), file]);
  expect(theirs.exitCode, 'mender-artifact validate').not.toBe(0);
  await expect(readArtifact(file, { publicKey: key })).rejects.toThrow(message);
}

function flipByte(data: Buffer, at: number): Buffer {
  const copy = Buffer.from(data);
  copy[at] = copy[at]! ^ 0xff;
  return copy;
}

describe('tampered Artifacts are refused by both readers', () => {
  it('the untouched Artifacts pass both', async () => {
    for (const file of Object.values(base)) {
      expect((await run('mender-artifact', ['validate', '-k', fx.keys.rsa.pub, file])).exitCode).toBe(0);
      await expect(readArtifact(file, { publicKey: fx.keys.rsa.pub })).resolves.toMatchObject({ signatureVerified: true });
    }
  });

  it('a flipped payload byte (uncompressed data)', async () => {
    // Past the inner tar header, inside the filesystem image.
    const file = await tampered('flip-none', base.none!, (list) => list.map((m) => (m.name.startsWith('data/') ? { ...m, data: flipByte(m.data, 512 + 70_000) } : m)));
    await refusedByBoth(file, undefined, /Checksum mismatch for data\/0000\/rootfs\.ext4/);
  });

  it('a flipped byte in the compressed data', async () => {
    const file = await tampered('flip-gzip', base.gzip!, (list) => list.map((m) => (m.name.startsWith('data/') ? { ...m, data: flipByte(m.data, Math.floor(m.data.length / 2)) } : m)));
    await refusedByBoth(file, undefined, /Checksum mismatch for data\/0000\/rootfs\.ext4|data\/0000\.tar\.gz is not valid gzip data/);
  });

  it('a modified header (the manifest no longer matches)', async () => {
    const file = await tampered('flip-header', base.none!, (list) => list.map((m) => (m.name === 'header.tar' ? { ...m, data: flipByte(m.data, 600) } : m)));
    await refusedByBoth(file, undefined, /Checksum mismatch for header\.tar/);
  });

  it('a modified manifest with its signature kept', async () => {
    const file = await tampered('edit-manifest', base.none!, (list) =>
      list.map((m) => (m.name === 'manifest' ? { ...m, data: Buffer.from(m.data.toString().replace(/^[0-9a-f]/, (c) => (c === '0' ? '1' : '0'))) } : m)),
    );
    await refusedByBoth(file, fx.keys.rsa.pub, /signature does not verify/);
  });

  it('manifest.sig dropped when a key is required', async () => {
    const file = await tampered('nosig', base.none!, (list) => list.filter((m) => m.name !== 'manifest.sig'));
    await refusedByBoth(file, fx.keys.rsa.pub, /not signed, but a key was given/);
    // Without a key, an unsigned Artifact is fine for both.
    expect((await run('mender-artifact', ['validate', file])).exitCode).toBe(0);
    await expect(readArtifact(file)).resolves.toMatchObject({ signed: false });
  });

  it('a signature by another key', async () => {
    await refusedByBoth(base.none!, fx.keys.ecdsa.pub, /signature does not verify/);
  });

  it('the header moved before the manifest', async () => {
    const file = await tampered('order-header', base.none!, (list) => [list[0]!, list[3]!, list[1]!, list[2]!, ...list.slice(4)]);
    await refusedByBoth(file, undefined, /header\.tar is before its manifest: its parts are out of order/);
  });

  it('the data moved before the header', async () => {
    const file = await tampered('order-data', base.none!, (list) => [...list.slice(0, 3), list[4]!, list[3]!]);
    await refusedByBoth(file, undefined, /data\/0000\.tar is before its header: its parts are out of order/);
  });

  it('version not first', async () => {
    const file = await tampered('order-version', base.none!, (list) => [list[1]!, list[0]!, ...list.slice(2)]);
    await refusedByBoth(file, undefined, /out of order/);
  });

  it('cut in the middle of the payload', async () => {
    const file = path.join(fx.dir, 'truncated.mender');
    const data = fs.readFileSync(base.gzip!);
    fs.writeFileSync(file, data.subarray(0, data.length - 1500));
    await refusedByBoth(file, undefined, /not valid gzip data|truncated|not a readable Mender Artifact/);
  });

  it('cut right after the header (no data part)', async () => {
    const file = await tampered('no-data', base.none!, (list) => list.filter((m) => !m.name.startsWith('data/')));
    await refusedByBoth(file, undefined, /ends before the data of payload 0: it is truncated/);
  });

  it('a payload file the manifest does not list', async () => {
    const extra = await tampered('extra-file', base.none!, (list) =>
      list.map((m) => {
        if (!m.name.startsWith('data/')) return m;
        // A second file appended inside the data tar (before its end-of-archive blocks).
        const inner = m.data.subarray(0, m.data.length - 1024);
        const header = Buffer.alloc(512);
        header.write('evil.sh', 0);
        header.write('0000644\0', 100);
        header.write('0000000\0', 108);
        header.write('0000000\0', 116);
        header.write('00000000004\0', 124);
        header.write('00000000000\0', 136);
        header.write('        ', 148);
        header.write('0', 156);
        header.write('ustar\x0000', 257);
        let sum = 0;
        for (const byte of header) sum += byte;
        header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
        const body = Buffer.alloc(512);
        body.write('boom');
        return { ...m, data: Buffer.concat([inner, header, body, Buffer.alloc(1024)]) };
      }),
    );
    await refusedByBoth(extra, undefined, /data\/0000\/evil\.sh is in the Artifact but not in its manifest/);
  });

  it('not an Artifact at all', async () => {
    const file = path.join(fx.dir, 'not-an-artifact.mender');
    fs.writeFileSync(file, Buffer.alloc(4096, 1));
    await refusedByBoth(file, undefined, /not a readable Mender Artifact/);
  });
});
