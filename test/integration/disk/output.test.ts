import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeAtomically } from '../../../src/util/atomic.js';
import { compressImage } from '../../../src/disk/compress.js';
import { createImage, placeFile, writeBmap, writePartitionTable, type TableSpec } from '../../../src/disk/output.js';
import { UserError } from '../../../src/util/errors.js';
import { allocatedBytes, makeExt4, makeFat, MiB, patch, sameBytes, sha256, tool, toolText } from './images.js';

const ESP = 'c12a7328-f81f-11d2-ba4b-00a0c93ec93b';
const LINUX = '0fc63daf-8483-4772-8e79-3d69d8477de4';

let dir: string;
let root: string;
let boot: string;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'disk-output-'));
  root = await makeExt4(dir, 'root', 24, { filesKiB: 3000 });
  boot = await makeFat(dir, 'boot', 8);
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

interface SfdiskPartition { node: string; start: number; size: number; type: string; uuid?: string; name?: string; attrs?: string; bootable?: boolean }
async function sfdiskJson(image: string): Promise<{ label: string; id: string; partitions: SfdiskPartition[] }> {
  const { stdout } = await toolText('sfdisk', ['--json', image]);
  return JSON.parse(stdout).partitiontable;
}

describe('createImage', () => {
  it('makes a sparse file of exactly the size', async () => {
    const image = path.join(dir, 'empty.img');
    await createImage(image, 64 * MiB + 512);
    expect(fs.statSync(image).size).toBe(64 * MiB + 512);
    expect(allocatedBytes(image)).toBe(0);
  });
});

describe('writePartitionTable', () => {
  it('writes an MBR table with disk id, types and boot flag as sfdisk reads it back', async () => {
    const image = path.join(dir, 'mbr.img');
    await createImage(image, 64 * MiB);
    const spec: TableSpec = {
      label: 'dos',
      id: '0x1234abcd',
      partitions: [
        { number: 1, start: 8 * MiB, size: 8 * MiB, type: '0c', bootable: true },
        { number: 2, start: 16 * MiB, size: 16 * MiB, type: '83' },
        { number: 3, start: 32 * MiB, size: 16 * MiB, type: '83' },
        { number: 4, start: 48 * MiB, size: 16 * MiB, type: '83' },
      ],
    };
    await writePartitionTable(image, spec);
    const { stdout } = await toolText('sfdisk', ['-d', image]);
    expect(stdout).toContain('label-id: 0x1234abcd');
    expect(stdout).toContain(`${image}1 : start=       16384, size=       16384, type=c, bootable`);
    expect(stdout).toContain(`${image}2 : start=       32768, size=       32768, type=83`);
    expect(stdout).toContain(`${image}4 : start=       98304, size=       32768, type=83`);
    expect(fs.statSync(image).size).toBe(64 * MiB);
  });

  it('writes a GPT with disk GUID, partition GUIDs, names, bootable and numbers against disk order', async () => {
    const image = path.join(dir, 'gpt.img');
    await createImage(image, 64 * MiB);
    const spec: TableSpec = {
      label: 'gpt',
      id: '0DB4528A-6BB1-174B-BC9F-117C964A6100',
      partitions: [
        { number: 2, start: 4 * MiB, size: 8 * MiB, type: ESP, name: 'boot', bootable: true, partuuid: 'a97b32fb-c1e0-0f49-b50e-48440cb5ed33' },
        { number: 1, start: 12 * MiB, size: 16 * MiB, type: LINUX, name: 'root A', partuuid: '21b473cd-c3ca-9948-91bb-44311826789b' },
        { number: 3, start: 512 * 40, size: 512 * 100, type: LINUX },
      ],
    };
    await writePartitionTable(image, spec);
    const table = await sfdiskJson(image);
    expect(table.label).toBe('gpt');
    expect(table.id).toBe('0DB4528A-6BB1-174B-BC9F-117C964A6100');
    const byNode = Object.fromEntries(table.partitions.map((p) => [p.node.slice(image.length), p]));
    expect(byNode['1']).toMatchObject({ start: 24576, size: 32768, type: LINUX.toUpperCase(), uuid: '21B473CD-C3CA-9948-91BB-44311826789B', name: 'root A' });
    expect(byNode['2']).toMatchObject({ start: 8192, size: 16384, type: ESP.toUpperCase(), uuid: 'A97B32FB-C1E0-0F49-B50E-48440CB5ED33', name: 'boot', attrs: 'LegacyBIOSBootable' });
    expect(byNode['3']).toMatchObject({ start: 40, size: 100 });
    // The backup GPT is at the end and valid: sfdisk says nothing about it.
    const { stderr } = await toolText('sfdisk', ['--verify', image]);
    expect(stderr).toBe('');
  });

  it('refuses a spec that cannot be right', async () => {
    const image = path.join(dir, 'bad-spec.img');
    await createImage(image, 16 * MiB);
    const overlap: TableSpec = { label: 'dos', partitions: [{ number: 1, start: MiB, size: 4 * MiB, type: 'c' }, { number: 2, start: 4 * MiB, size: 4 * MiB, type: '83' }] };
    await expect(writePartitionTable(image, overlap)).rejects.toThrow(/overlap/);
    const past: TableSpec = { label: 'gpt', partitions: [{ number: 1, start: MiB, size: 16 * MiB, type: LINUX }] };
    await expect(writePartitionTable(image, past)).rejects.toThrow(/ends past the image/);
    const unaligned: TableSpec = { label: 'dos', partitions: [{ number: 1, start: MiB + 1, size: MiB, type: '83' }] };
    await expect(writePartitionTable(image, unaligned)).rejects.toThrow(/whole, positive sectors/);
  });
});

describe('placeFile', () => {
  it('places ext4 by its block bitmap byte-identically, sparse, without touching the rest of the image', async () => {
    const image = path.join(dir, 'place.img');
    await createImage(image, 64 * MiB);
    await writePartitionTable(image, { label: 'gpt', partitions: [{ number: 1, start: 8 * MiB, size: 24 * MiB, type: LINUX }, { number: 2, start: 32 * MiB, size: 16 * MiB, type: LINUX }] });
    const marker = randomBytes(4096);
    patch(image, 60 * MiB, marker);
    const tableBefore = (await toolText('sfdisk', ['-d', image])).stdout;

    const progress: number[] = [];
    const result = await placeFile(image, root, 8 * MiB, { onProgress: (done) => progress.push(done) });
    expect(result.method).toBe('allocated');
    expect(result.bytesWritten).toBeLessThan(allocatedBytes(root) + 4096);
    expect(await sameBytes(image, root, 24 * MiB, 8 * MiB, 0)).toBe(true);
    expect(fs.statSync(image).size).toBe(64 * MiB);
    expect(allocatedBytes(image)).toBeLessThan(12 * MiB);
    expect(progress[progress.length - 1]).toBe(24 * MiB);
    expect((await toolText('sfdisk', ['-d', image])).stdout).toBe(tableBefore);
    const after = Buffer.alloc(4096);
    const fd = fs.openSync(image, 'r');
    fs.readSync(fd, after, 0, 4096, 60 * MiB);
    fs.closeSync(fd);
    expect(after.equals(marker)).toBe(true);
  });

  it('copies only allocated blocks: stale bytes in free blocks are left out, unless asked for every non-zero block', async () => {
    const dirty = path.join(dir, 'dirty.ext4');
    fs.copyFileSync(root, dirty);
    // A deleted file's bytes stay in its freed blocks.
    await tool('debugfs', ['-w', '-R', 'rm random.bin', dirty]);
    const used = await toolText('dumpe2fs', [dirty]);
    expect(used.stdout).toMatch(/Free blocks: /);

    const image = path.join(dir, 'dirty.img');
    await createImage(image, 32 * MiB);
    const allocated = await placeFile(image, dirty, 4 * MiB);
    expect(allocated.method).toBe('allocated');
    expect(await sameBytes(image, dirty, 24 * MiB, 4 * MiB, 0)).toBe(false);
    // The copy is the same filesystem: e2fsck finds it clean, the remaining file reads the same.
    const region = path.join(dir, 'dirty-region.ext4');
    await tool('dd', [`if=${image}`, `of=${region}`, 'bs=1M', 'skip=4', 'count=24', 'status=none']);
    await tool('e2fsck', ['-fn', region]);
    expect((await toolText('debugfs', ['-R', 'cat /etc/os-release', region])).stdout).toBe('ID=debian\nVERSION_ID="12"\n');

    const exact = path.join(dir, 'exact.img');
    await createImage(exact, 32 * MiB);
    const everything = await placeFile(exact, dirty, 4 * MiB, { blocks: 'nonzero' });
    expect(everything.method).toBe('nonzero');
    expect(await sameBytes(exact, dirty, 24 * MiB, 4 * MiB, 0)).toBe(true);

    // Once e2fsck has discarded the free blocks (holes in a regular file), the bitmap copy is exact too.
    await tool('e2fsck', ['-fy', '-E', 'discard', dirty]);
    const clean = path.join(dir, 'discarded.img');
    await createImage(clean, 32 * MiB);
    expect((await placeFile(clean, dirty, 4 * MiB)).method).toBe('allocated');
    expect(await sameBytes(clean, dirty, 24 * MiB, 4 * MiB, 0)).toBe(true);
  });

  it('lets the kernel copy the allocated blocks, and copies them itself where the kernel cannot (another filesystem)', async (context) => {
    const image = path.join(dir, 'kernel.img');
    await createImage(image, 32 * MiB);
    const inKernel = await placeFile(image, root, 4 * MiB);
    expect(inKernel.inKernel).toBe(true);
    expect(await sameBytes(image, root, 24 * MiB, 4 * MiB, 0)).toBe(true);
    expect(allocatedBytes(image)).toBeLessThan(12 * MiB);

    const otherFs = '/dev/shm';
    if (!fs.existsSync(otherFs) || fs.statSync(otherFs).dev === fs.statSync(dir).dev) return context.skip();
    const otherDir = fs.mkdtempSync(path.join(otherFs, 'disk-output-'));
    try {
      const elsewhere = path.join(otherDir, 'kernel.img');
      await createImage(elsewhere, 32 * MiB);
      const ours = await placeFile(elsewhere, root, 4 * MiB);
      expect(ours).toMatchObject({ method: 'allocated', inKernel: false });
      expect(await sameBytes(elsewhere, root, 24 * MiB, 4 * MiB, 0)).toBe(true);
      expect(allocatedBytes(elsewhere)).toBeLessThanOrEqual(allocatedBytes(image));
    } finally {
      fs.rmSync(otherDir, { recursive: true, force: true });
    }
  });

  it('does not trust the bitmaps of a filesystem whose journal waits to be replayed', async () => {
    const pending = path.join(dir, 'pending.ext4');
    fs.copyFileSync(root, pending);
    await tool('debugfs', ['-w', '-R', 'feature needs_recovery', pending]);
    const image = path.join(dir, 'pending.img');
    await createImage(image, 32 * MiB);
    expect((await placeFile(image, pending, 4 * MiB)).method).toBe('nonzero');
    expect(await sameBytes(image, pending, 24 * MiB, 4 * MiB, 0)).toBe(true);
    await expect(placeFile(image, pending, 4 * MiB, { blocks: 'allocated' })).rejects.toThrow(/unreplayed journal/);
  });

  it('places a FAT filesystem and a boot-gap blob byte-identically', async () => {
    const image = path.join(dir, 'fat.img');
    await createImage(image, 16 * MiB);
    const fat = await placeFile(image, boot, 4 * MiB);
    expect(fat.method).toBe('nonzero');
    expect(await sameBytes(image, boot, 8 * MiB, 4 * MiB, 0)).toBe(true);
    const gap = path.join(dir, 'gap.bin');
    fs.writeFileSync(gap, Buffer.concat([randomBytes(1000), Buffer.alloc(8192), randomBytes(3000)]));
    await placeFile(image, gap, 512);
    expect(await sameBytes(image, gap, 12192, 512, 0)).toBe(true);
    expect(allocatedBytes(image)).toBeLessThan(2 * MiB);
  });

  it('refuses to place a file past the end of the image', async () => {
    const image = path.join(dir, 'small.img');
    await createImage(image, 16 * MiB);
    await expect(placeFile(image, root, 0)).rejects.toThrow(/does not fit/);
    expect(fs.statSync(image).size).toBe(16 * MiB);
  });
});

describe('compressImage', () => {
  const decompress: Record<string, string[]> = { gzip: ['gzip', '-dc'], xz: ['xz', '-dc'], zstd: ['zstd', '-dc'] };
  // Boot at 1 MiB, "rootfs A" at 8 MiB, its copy "rootfs B" at 48 MiB, zeros up to 100 MiB:
  // several blocks of each kind (full, partial, copied, all-zero).
  const A = 8 * MiB;
  const B = 48 * MiB;
  const LENGTH = 40 * MiB;
  let image: string;
  beforeAll(async () => {
    image = path.join(dir, 'compress.img');
    await createImage(image, 100 * MiB);
    await placeFile(image, boot, MiB);
    // Varied but compressible (random bytes alone would take xz a minute): 256 KiB of random
    // bytes repeated, each copy numbered.
    const seed = randomBytes(256 * 1024);
    const content = Buffer.alloc(LENGTH / 2);
    for (let at = 0; at < content.length; at += seed.length) {
      seed.copy(content, at);
      content.writeUInt32LE(at, at);
    }
    const fd = fs.openSync(image, 'r+');
    for (const at of [A, B]) {
      fs.writeSync(fd, content, 0, content.length, at);
      fs.writeSync(fd, content.subarray(0, MiB), 0, MiB, at + LENGTH - MiB);
    }
    fs.closeSync(fd);
  });

  it.each(['gzip', 'xz', 'zstd'] as const)('%s: decompresses to the same bytes; a declared copy gives the same file, compressed once', async (kind) => {
    const plain = path.join(dir, `compress-plain.${kind}`);
    const copied = path.join(dir, `compress-copied.${kind}`);
    const boundaries = [MiB, A, B, A + LENGTH, B + LENGTH];
    await compressImage(image, plain, kind, { level: 1, boundaries });
    const { sha256: written } = await compressImage(image, copied, kind, { level: 1, boundaries: [MiB], copies: [{ from: A, to: B, length: LENGTH }] });
    expect(written).toBe(sha256(copied));
    expect(fs.readdirSync(dir).filter((f) => f.includes('.partial-'))).toEqual([]);
    expect(sha256(copied)).toBe(sha256(plain));
    const [command, ...args] = decompress[kind]!;
    const back = `${image}.back`;
    const out = fs.openSync(back, 'w');
    const result = spawnSync(command!, [...args, copied], { stdio: ['ignore', out, 'inherit'] });
    fs.closeSync(out);
    expect(result.status).toBe(0);
    expect(fs.statSync(back).size).toBe(100 * MiB);
    expect(await sameBytes(back, image, 100 * MiB)).toBe(true);
    expect(fs.statSync(copied).mode & 0o777).toBe(0o644);
  });

  it.each(['gzip', 'xz'] as const)('%s: rootfs A read from its own file (an overlay over a hole of the image) gives the same file as the image holding it', async (kind) => {
    // The "root filesystem": rootfs A's bytes with a hole in the middle, ending inside a block.
    const rootfs = path.join(dir, `overlay-rootfs-${kind}`);
    fs.writeFileSync(rootfs, '');
    fs.truncateSync(rootfs, LENGTH - 3 * MiB);
    const fd = fs.openSync(rootfs, 'r+');
    const content = fs.readFileSync(image).subarray(A, A + LENGTH - 3 * MiB);
    fs.writeSync(fd, content, 0, 10 * MiB, 0);
    fs.writeSync(fd, content, 20 * MiB, content.length - 20 * MiB, 20 * MiB);
    fs.closeSync(fd);
    // The image as it would hold it, and the image without it (only its boot partition).
    const holding = path.join(dir, `overlay-holding-${kind}.img`);
    const holed = path.join(dir, `overlay-holed-${kind}.img`);
    for (const file of [holding, holed]) {
      await createImage(file, 100 * MiB);
      await placeFile(file, boot, MiB);
    }
    await placeFile(holding, rootfs, A);
    await placeFile(holding, rootfs, B);
    const options = { level: 1, boundaries: [MiB, A, B], copies: [{ from: A, to: B, length: B - A }] };
    const expected = await compressImage(holding, `${holding}.${kind}`, kind, options);
    const overlaid = await compressImage(holed, `${holed}.${kind}`, kind, { ...options, overlays: [{ at: A, file: rootfs }] });
    expect(overlaid.sha256).toBe(expected.sha256);
    expect(sha256(`${holed}.${kind}`)).toBe(expected.sha256);
    await expect(compressImage(holed, `${holed}.never`, kind, { overlays: [{ at: 99 * MiB, file: rootfs }] })).rejects.toThrow(/does not fit/);
  });

  it('xz: one stream of independent blocks with their sizes, as xz -T0 writes it (decompressible in parallel)', async () => {
    const dest = path.join(dir, 'compress-blocks.xz');
    await compressImage(image, dest, 'xz', { level: 1, boundaries: [MiB], copies: [{ from: A, to: B, length: LENGTH }] });
    const listing = (await toolText('xz', ['--robot', '-lvv', dest])).stdout;
    expect(listing).toMatch(/^totals\t1\t/m);
    const blocks = listing.split('\n').filter((line) => line.startsWith('block\t'));
    // 0-1 MiB, the boot's 1-8 MiB, A's 32 + 8, the same for B, 48 + 4 MiB of zeros.
    expect(blocks.map((line) => Number(line.split('\t')[7]) / MiB)).toEqual([1, 7, 32, 8, 32, 8, 12]);
    // Sizes in every block header ("cu"): what multi-threaded decompression needs.
    expect(blocks.every((line) => line.split('\t')[12] === 'cu')).toBe(true);
    await tool('xz', ['-t', '-T0', dest]);
  });

  it('reports progress and refuses an impossible level', async () => {
    const small = path.join(dir, 'compress-progress.img');
    await createImage(small, 8 * MiB);
    const seen: [number, number][] = [];
    await compressImage(small, `${small}.zst`, 'zstd', { onProgress: (done, total) => seen.push([done, total]) });
    expect(seen[seen.length - 1]).toEqual([8 * MiB, 8 * MiB]);
    await expect(compressImage(small, `${small}.xz`, 'xz', { level: 12 })).rejects.toBeInstanceOf(UserError);
    expect(fs.existsSync(`${small}.xz`)).toBe(false);
  });

  it('leaves nothing behind when the compressor fails', async () => {
    const missing = path.join(dir, 'no-such-file');
    const dest = path.join(dir, 'never.gz');
    await expect(compressImage(missing, dest, 'gzip')).rejects.toThrow();
    expect(fs.readdirSync(dir).filter((f) => f.startsWith('never.gz'))).toEqual([]);
  });
});

describe('writeBmap', () => {
  it('writes a bmap with which bmaptool copy reproduces the image', async () => {
    const image = path.join(dir, 'bmap.img');
    await createImage(image, 48 * MiB);
    await writePartitionTable(image, { label: 'dos', partitions: [{ number: 1, start: 4 * MiB, size: 8 * MiB, type: 'c' }, { number: 2, start: 12 * MiB, size: 24 * MiB, type: '83' }] });
    await placeFile(image, boot, 4 * MiB);
    await placeFile(image, root, 12 * MiB);
    const bmap = `${image}.bmap`;
    await writeBmap(image, bmap);
    const xml = fs.readFileSync(bmap, 'utf8');
    expect(xml).toMatch(/<ImageSize> 50331648 <\/ImageSize>/);
    const mapped = Number(/<MappedBlocksCount> (\d+)/.exec(xml)![1]);
    expect(mapped * 4096).toBeLessThan(16 * MiB);
    expect(mapped * 4096).toBeGreaterThanOrEqual(3 * MiB);
    const copy = path.join(dir, 'bmap-copy.img');
    await tool('bmaptool', ['copy', '--bmap', bmap, image, copy]);
    expect(sha256(copy)).toBe(sha256(image));
  });
});

describe('writeAtomically', () => {
  it('renames on success and removes the partial file on failure', async () => {
    const final = path.join(dir, 'atomic.txt');
    let seen = '';
    await writeAtomically(final, async (partial) => {
      seen = partial;
      fs.writeFileSync(partial, 'done');
      expect(fs.existsSync(final)).toBe(false);
    });
    expect(seen).toBe(`${final}.partial-${process.pid}`);
    expect(fs.readFileSync(final, 'utf8')).toBe('done');
    expect(fs.existsSync(seen)).toBe(false);

    const failed = path.join(dir, 'atomic-failed.txt');
    await expect(writeAtomically(failed, async (partial) => {
      fs.writeFileSync(partial, 'half');
      throw new Error('boom');
    })).rejects.toThrow('boom');
    expect(fs.readdirSync(dir).filter((f) => f.startsWith('atomic-failed'))).toEqual([]);
  });
});
