import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { extUsedRanges } from '../../../src/disk/extblocks.js';
import { extractPartitions } from '../../../src/disk/extract.js';
import { readPartitionTable } from '../../../src/disk/table.js';
import { UserError } from '../../../src/util/errors.js';
import {
  allocatedBytes,
  buildImage,
  makeExt4,
  makeFat,
  MiB,
  pack,
  patch,
  sameBytes,
  sha256,
  tool,
  truncatedCopy,
  type Packing,
} from './images.js';

const ESP = 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B';
const LINUX = '0FC63DAF-8483-4772-8E79-3D69D8477DE4';
const ROOT_UUID = '6c362f6b-6492-6e48-b848-c623ce143922';

let dir: string;
let boot: string;
let root: string;
let mbr: string;
let gpt: string;
const gapBytes = randomBytes(5000);

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'disk-extract-'));
  boot = await makeFat(dir, 'boot', 8);
  root = await makeExt4(dir, 'root', 16);
  mbr = await buildImage({
    file: path.join(dir, 'mbr.img'),
    sizeMiB: 32,
    label: 'dos',
    id: '0xc0ffee01',
    partitions: [
      { number: 1, startMiB: 4, sizeMiB: 8, type: 'c', file: boot, bootable: true },
      { number: 2, startMiB: 12, sizeMiB: 16, type: '83', file: root },
    ],
    gap: { offset: 8192, bytes: gapBytes },
  });
  // Numbered against disk order: partition 1 (root) lies after partition 2 (boot).
  gpt = await buildImage({
    file: path.join(dir, 'gpt.img'),
    sizeMiB: 32,
    label: 'gpt',
    id: '0DB4528A-6BB1-174B-BC9F-117C964A6100',
    partitions: [
      { number: 2, startMiB: 1, sizeMiB: 8, type: ESP, file: boot, name: 'boot', bootable: true },
      { number: 1, startMiB: 10, sizeMiB: 16, type: LINUX, file: root, name: 'root', uuid: ROOT_UUID },
    ],
  });
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function outDir(name: string): string {
  return path.join(dir, 'out', name);
}

async function expectUserError(promise: Promise<unknown>, pattern: RegExp): Promise<UserError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(UserError);
  expect((error as UserError).message).toMatch(pattern);
  return error as UserError;
}

describe('extractPartitions on an MBR image', () => {
  const packings: Packing[] = ['raw', 'gzip', 'xz', 'zstd', 'zip'];
  it.each(packings)('%s: partitions byte-identical, sparse, boot gap kept, input untouched', async (packing) => {
    const input = await pack(mbr, packing);
    const before = sha256(input);
    const out = outDir(`mbr-${packing}`);
    const progress: [number, number][] = [];
    const result = await extractPartitions(input, 'all', out, { bootGap: true, sha256: true, onProgress: (done, total) => progress.push([done, total]) });

    expect(result.format).toBe(packing);
    expect(result.passes).toBe(1);
    expect(result.imageSize).toBe(32 * MiB);
    expect(result.inputSize).toBe(fs.statSync(input).size);
    expect(await result.sha256).toBe(before);
    expect(sha256(input)).toBe(before);
    expect(result.table).toMatchObject({ label: 'dos', id: 'c0ffee01', sectorSize: 512, tableEnd: 512, bootGap: { start: 512, end: 4 * MiB }, usedBackupGpt: false });
    expect(result.table.warnings).toEqual([]);
    expect(result.files.map((f) => [f.number, f.start, f.size, f.type, f.bootable, f.partuuid])).toEqual([
      [1, 4 * MiB, 8 * MiB, 'c', true, 'c0ffee01-01'],
      [2, 12 * MiB, 16 * MiB, '83', false, 'c0ffee01-02'],
    ]);
    expect(await sameBytes(result.files[0]!.file, boot, 8 * MiB)).toBe(true);
    expect(await sameBytes(result.files[1]!.file, root, 16 * MiB)).toBe(true);
    for (const file of result.files) expect(fs.statSync(file.file).size).toBe(file.size);
    expect(allocatedBytes(result.files[1]!.file)).toBeLessThan(16 * MiB / 2);

    expect(result.bootGap).toEqual({ file: path.join(out, 'boot-gap.bin'), offset: 512, size: Math.ceil((8192 + 5000 - 512) / 512) * 512 });
    const gap = fs.readFileSync(result.bootGap!.file);
    expect(gap.subarray(8192 - 512, 8192 - 512 + 5000).equals(gapBytes)).toBe(true);
    expect(gap.subarray(0, 8192 - 512).every((b) => b === 0)).toBe(true);

    expect(progress.length).toBeGreaterThan(0);
    const [done, total] = progress[progress.length - 1]!;
    expect(done).toBe(total);
  });

  it('reads only the allocated blocks of an ext partition in a raw image: stale free blocks come out as zeros', async () => {
    const image = path.join(dir, 'stale.img');
    fs.copyFileSync(mbr, image);
    // Stale bytes in the root filesystem's last 64 KiB, which its bitmaps call free.
    const map = (await extUsedRanges(root))!;
    const staleAt = 16 * MiB - 64 * 1024;
    expect(map.used.every(([, end]) => end <= staleAt)).toBe(true);
    patch(image, 12 * MiB + staleAt, randomBytes(64 * 1024));
    const progress: [number, number][] = [];
    const raw = await extractPartitions(image, [2], outDir('stale-raw'), { onProgress: (done, total) => progress.push([done, total]) });
    expect(await sameBytes(raw.files[0]!.file, root, 16 * MiB)).toBe(true);
    const used = map.used.reduce((n, [start, end]) => n + end - start, 0);
    expect(progress[progress.length - 1]).toEqual([used, used]);
    // A compressed image is read through anyway: its partitions come out byte for byte.
    const xz = await extractPartitions(await pack(image, 'xz'), [2], outDir('stale-xz'));
    expect(await sameBytes(xz.files[0]!.file, root, 16 * MiB)).toBe(false);
    expect(fs.readFileSync(xz.files[0]!.file).subarray(0, staleAt).equals(fs.readFileSync(root).subarray(0, staleAt))).toBe(true);
  });

  it('extracts only the wanted partitions', async () => {
    const out = outDir('wanted');
    const result = await extractPartitions(mbr, [2], out);
    expect(result.files.map((f) => f.number)).toEqual([2]);
    expect(fs.readdirSync(out)).toEqual(['partition-2.img']);
    expect(result.bootGap).toBeUndefined();
    const chosen = await extractPartitions(await pack(mbr, 'xz'), (table) => table.partitions.filter((p) => p.type === 'c').map((p) => p.number), outDir('wanted-fn'));
    expect(chosen.files.map((f) => f.number)).toEqual([1]);
    expect(await sameBytes(chosen.files[0]!.file, boot, 8 * MiB)).toBe(true);
    await expectUserError(extractPartitions(mbr, [3], outDir('wanted-missing')), /no partition 3; it has partitions 1, 2/);
  });

  it('reports an empty boot gap as none', async () => {
    const result = await extractPartitions(gpt, 'all', outDir('no-gap'), { bootGap: true });
    expect(result.bootGap).toBeUndefined();
    expect(fs.existsSync(path.join(outDir('no-gap'), 'boot-gap.bin'))).toBe(false);
  });
});

describe('extractPartitions on a GPT image', () => {
  it.each(['raw', 'xz', 'zstd'] as Packing[])('%s: out-of-order numbers, names, uuids', async (packing) => {
    const input = await pack(gpt, packing);
    const result = await extractPartitions(input, 'all', outDir(`gpt-${packing}`));
    expect(result.table).toMatchObject({ label: 'gpt', id: '0db4528a-6bb1-174b-bc9f-117c964a6100', tableEnd: 34 * 512, bootGap: { start: 34 * 512, end: MiB } });
    expect(result.table.warnings).toEqual([]);
    expect(result.files.map((f) => [f.number, f.start, f.size, f.type, f.name, f.bootable])).toEqual([
      [2, MiB, 8 * MiB, ESP.toLowerCase(), 'boot', true],
      [1, 10 * MiB, 16 * MiB, LINUX.toLowerCase(), 'root', false],
    ]);
    expect(result.files[1]!.partuuid).toBe(ROOT_UUID);
    expect(result.files[0]!.partuuid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(await sameBytes(result.files[0]!.file, boot, 8 * MiB)).toBe(true);
    expect(await sameBytes(result.files[1]!.file, root, 16 * MiB)).toBe(true);
  });

  it('reads the backup GPT when the primary header is damaged, and says so', async () => {
    const damaged = path.join(dir, 'gpt-bad-primary.img');
    fs.copyFileSync(gpt, damaged);
    patch(damaged, 512 + 16, Buffer.from('XXXX'));
    const table = await readPartitionTable(damaged);
    expect(table.usedBackupGpt).toBe(true);
    expect(table.warnings.join('\n')).toMatch(/primary GPT table is corrupt/);

    for (const packing of ['raw', 'xz'] as Packing[]) {
      const input = await pack(damaged, packing);
      const before = sha256(input);
      const result = await extractPartitions(input, 'all', outDir(`gpt-bad-primary-${packing}`), { sha256: true });
      expect(result.passes).toBe(packing === 'raw' ? 1 : 2);
      expect(await result.sha256).toBe(before);
      expect(result.table.usedBackupGpt).toBe(true);
      expect(result.table.warnings.join('\n')).toMatch(/primary GPT table is corrupt, but the backup appears OK/);
      expect(result.files.map((f) => f.number)).toEqual([2, 1]);
      expect(await sameBytes(result.files[0]!.file, boot, 8 * MiB)).toBe(true);
      expect(await sameBytes(result.files[1]!.file, root, 16 * MiB)).toBe(true);
    }
  });

  it('reads a GPT image cut after its last partition (backup gone), with a warning', async () => {
    const cut = path.join(dir, 'gpt-cut.img');
    fs.copyFileSync(gpt, cut);
    fs.truncateSync(cut, 26 * MiB);
    for (const packing of ['raw', 'zstd'] as Packing[]) {
      const result = await extractPartitions(await pack(cut, packing), 'all', outDir(`gpt-cut-${packing}`));
      expect(result.table.label).toBe('gpt');
      expect(result.table.warnings.join('\n')).toMatch(/backup GPT is missing/);
      expect(await sameBytes(result.files[1]!.file, root, 16 * MiB)).toBe(true);
    }
  });

  it('refuses a protective MBR with no valid GPT behind it', async () => {
    const broken = path.join(dir, 'gpt-no-gpt.img');
    fs.copyFileSync(gpt, broken);
    patch(broken, 512, Buffer.alloc(512));
    patch(broken, 32 * MiB - 512, Buffer.alloc(512));
    for (const packing of ['raw', 'gzip'] as Packing[]) {
      await expectUserError(extractPartitions(await pack(broken, packing), 'all', outDir(`no-gpt-${packing}`)), /protective MBR but no valid GPT/);
    }
  });
});

describe('extractPartitions refuses bad inputs clearly', () => {
  it.each(['raw', 'gzip', 'xz', 'zstd', 'zip'] as Packing[])('%s truncated', async (packing) => {
    const input = truncatedCopy(await pack(mbr, packing), packing === 'raw' ? 0.6 : 0.5);
    const out = outDir(`truncated-${packing}`);
    const error = await expectUserError(extractPartitions(input, 'all', out), /truncated/);
    expect(error.hint).toBeTruthy();
    expect(fs.readdirSync(out)).toEqual([]);
  });

  it('a compressed image whose stream is complete but whose image is short', async () => {
    const short = path.join(dir, 'short.img');
    fs.copyFileSync(mbr, short);
    fs.truncateSync(short, 20 * MiB);
    await expectUserError(extractPartitions(await pack(short, 'xz'), 'all', outDir('short-xz')), /is truncated: partition 2 ends at byte 29360128 but the image has only 20971520 bytes/);
  });

  it('a zip with two images, and a zip with none', async () => {
    const two = path.join(dir, 'two.zip');
    const a = path.join(dir, 'a.img');
    const b = path.join(dir, 'b.img');
    fs.copyFileSync(mbr, a);
    fs.copyFileSync(gpt, b);
    await tool('zip', ['-q', '-1', '-j', two, a, b]);
    await expectUserError(extractPartitions(two, 'all', outDir('zip-two')), /holds 2 disk images \(a\.img, b\.img\)/);

    const none = path.join(dir, 'none.zip');
    const readme = path.join(dir, 'README.txt');
    fs.writeFileSync(readme, 'nothing here\n');
    await tool('zip', ['-q', '-j', none, readme]);
    await expectUserError(extractPartitions(none, 'all', outDir('zip-none')), /holds no disk image; it contains: README\.txt \(13 bytes\)/);
  });

  it('a zip whose image has no telling name is found by content', async () => {
    const zip = path.join(dir, 'unnamed.zip');
    const unnamed = path.join(dir, 'sdcard');
    fs.copyFileSync(mbr, unnamed);
    const readme = path.join(dir, 'README.txt');
    fs.writeFileSync(readme, 'nothing here\n');
    await tool('zip', ['-q', '-1', '-j', zip, readme, unnamed]);
    const result = await extractPartitions(zip, [2], outDir('zip-unnamed'));
    expect(await sameBytes(result.files[0]!.file, root, 16 * MiB)).toBe(true);
  });

  it('overlapping partitions', async () => {
    const overlapping = path.join(dir, 'overlap.img');
    fs.copyFileSync(mbr, overlapping);
    // Second MBR entry's start LBA moved into partition 1.
    const lba = Buffer.alloc(4);
    lba.writeUInt32LE(10 * 2048);
    patch(overlapping, 446 + 16 + 8, lba);
    await expectUserError(extractPartitions(overlapping, 'all', outDir('overlap')), /overlapping partitions: 1 .* and 2/);
    await expectUserError(extractPartitions(await pack(overlapping, 'zstd'), 'all', outDir('overlap-zst')), /overlapping partitions/);
  });

  it('extended and logical partitions', async () => {
    const extended = path.join(dir, 'extended.img');
    await buildImage({
      file: extended,
      sizeMiB: 32,
      label: 'dos',
      partitions: [
        { number: 1, startMiB: 1, sizeMiB: 8, type: 'c' },
        { number: 2, startMiB: 10, sizeMiB: 20, type: '5' },
      ],
    });
    await tool('sfdisk', ['-q', '--no-reread', '--no-tell-kernel', '-a', extended], Buffer.from('start=22528, size=16384, type=83\n'));
    await expectUserError(extractPartitions(extended, 'all', outDir('extended')), /extended partition with logical partitions/);
    await expectUserError(extractPartitions(await pack(extended, 'gzip'), 'all', outDir('extended-gz')), /extended partition/);
  });

  it('a single filesystem, not a disk image', async () => {
    await expectUserError(extractPartitions(root, 'all', outDir('bare-ext4')), /not a disk image: it is a single ext2\/3\/4 filesystem/);
    await expectUserError(extractPartitions(await pack(boot, 'xz'), 'all', outDir('bare-fat')), /single FAT filesystem/);
  });

  it('formats it does not read', async () => {
    const bz = path.join(dir, 'image.img.bz2');
    // A bzip2 stream header is all detection looks at.
    fs.writeFileSync(bz, Buffer.concat([Buffer.from('BZh91AY&SY', 'latin1'), randomBytes(4000)]));
    await expectUserError(extractPartitions(bz, 'all', outDir('bz2')), /bzip2-compressed/);
  });
});
