import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { describe, expect, it } from 'vitest';
import { BLOCK, END_OF_ARCHIVE, fileEntry, fileHeader, paddedFileHeader, paxRecord, smallTar } from '../../../src/artifact/tar.js';

async function entries(archive: Buffer) {
  const found: { header: tar.Header; body: Buffer }[] = [];
  const extract = tar.extract();
  extract.on('entry', (header, stream, next) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => {
      found.push({ header, body: Buffer.concat(chunks) });
      next();
    });
  });
  await pipeline(Readable.from([archive]), extract as unknown as Writable);
  return found;
}

describe('tar encoding', () => {
  it('writes USTAR entries with owners 0/0, empty owner names, one mtime and the given mode', async () => {
    const archive = smallTar([{ name: 'header-info', content: '{"a":1}', mode: 0o600 }, { name: 'scripts/ArtifactInstall_Enter_00', content: '#!/bin/sh\n', mode: 0o755 }], 1700000000);
    expect(archive.length % BLOCK).toBe(0);
    expect(archive.subarray(-2 * BLOCK).equals(END_OF_ARCHIVE)).toBe(true);
    const [first, second] = await entries(archive);
    expect(first!.header).toMatchObject({ name: 'header-info', size: 7, mode: 0o600, uid: 0, gid: 0, uname: '', gname: '', type: 'file' });
    expect(first!.header.mtime!.getTime()).toBe(1700000000 * 1000);
    expect(first!.body.toString()).toBe('{"a":1}');
    expect(second!.header).toMatchObject({ name: 'scripts/ArtifactInstall_Enter_00', mode: 0o755 });
  });

  it('puts names over 100 bytes into a PAX path record', async () => {
    const name = `data/${'x'.repeat(150)}`;
    const [entry] = await entries(Buffer.concat([fileEntry(name, 'hello', 0), END_OF_ARCHIVE]));
    expect(entry!.header.name).toBe(name);
    expect(entry!.body.toString()).toBe('hello');
  });

  it('puts sizes of 8 GiB and more into a PAX size record, as Go writes them', () => {
    const size = 9 * 1024 ** 3;
    const header = fileHeader({ name: 'rootfs.ext4', size, mtime: 0 });
    expect(header.length).toBe(3 * BLOCK);
    expect(header.subarray(156, 157).toString()).toBe('x');
    expect(header.subarray(BLOCK, 2 * BLOCK).toString()).toContain(`size=${size}\n`);
    // the USTAR size field of the entry itself then holds 0
    expect(header.subarray(2 * BLOCK + 124, 2 * BLOCK + 135).toString()).toBe('00000000000');
    expect(fileHeader({ name: 'small', size: 0o77777777777, mtime: 0 }).length).toBe(BLOCK);
  });

  it('PAX records count their own length, across digit boundaries', () => {
    for (let valueLength = 0; valueLength < 1200; valueLength++) {
      const record = paxRecord('comment', 'y'.repeat(valueLength));
      expect(Buffer.byteLength(record)).toBe(Number(record.split(' ')[0]));
    }
  });

  it('pads a header to exactly the room reserved, and readers see only the entry', async () => {
    for (const length of [3 * BLOCK, 4 * BLOCK, 17 * BLOCK]) {
      const header = paddedFileHeader({ name: 'data/0000.tar.gz', size: 5, mtime: 42, mode: 0o600 }, length);
      expect(header.length).toBe(length);
      const archive = Buffer.concat([fileEntry('version', '{}', 42), header, Buffer.from('abcde'), Buffer.alloc(BLOCK - 5), END_OF_ARCHIVE]);
      const found = await entries(archive);
      expect(found.map((e) => e.header.name)).toEqual(['version', 'data/0000.tar.gz']);
      expect(found[1]!.body.toString()).toBe('abcde');
      expect(found[1]!.header.pax?.comment?.trim()).toBe('');
    }
    expect(() => paddedFileHeader({ name: 'x', size: 1, mtime: 0 }, 2 * BLOCK)).toThrow();
    expect(() => paddedFileHeader({ name: 'x', size: 1, mtime: 0 }, 3 * BLOCK + 1)).toThrow();
  });
});
