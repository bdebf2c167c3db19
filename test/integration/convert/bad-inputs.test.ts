import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../helpers/cli.js';
import { buildGoldenImage, tool } from '../../helpers/images.js';

/**
 * The bad-input corpus: every case is generated here, and each must end in one clear error line,
 * a non-zero exit, no stack trace, nothing under a final output name, and the input unchanged.
 */
const base = fs.mkdtempSync(path.join(os.tmpdir(), 'bad-inputs-'));
const MiB = 1024 * 1024;
const CONFIG = 'storage:\n  total_size_mb: 160\n  alignment: 4194304\ndata:\n  size_mb: 16\n';
let goldenDir: string;
let golden: string;
let rootStart: number;
let bootStart: number;

beforeAll(async () => {
  goldenDir = path.join(base, 'golden');
  golden = (await buildGoldenImage({ dir: goldenDir })).image;
  const table = JSON.parse((await tool('sfdisk', ['--json', golden])).stdout).partitiontable;
  bootStart = table.partitions[0].start * 512;
  rootStart = table.partitions[1].start * 512;
});

function variant(name: string, edit?: (file: string) => void): string {
  const file = path.join(base, `${name}.img`);
  fs.copyFileSync(golden, file);
  edit?.(file);
  return file;
}

function patch(file: string, offset: number, data: Buffer): void {
  const handle = fs.openSync(file, 'r+');
  fs.writeSync(handle, data, 0, data.length, offset);
  fs.closeSync(handle);
}

async function expectRefused(name: string, input: string, pattern: RegExp, config = CONFIG, extraArgs: string[] = []) {
  const dir = path.join(base, `run-${name}`);
  fs.mkdirSync(dir, { recursive: true });
  const configFile = path.join(dir, 'c.yaml');
  fs.writeFileSync(configFile, config);
  const sum = fs.existsSync(input) ? createHash('sha256').update(fs.readFileSync(input)).digest('hex') : '';
  const mtime = fs.existsSync(input) ? fs.statSync(input).mtimeMs : 0;
  const deploy = path.join(dir, 'deploy');
  const result = await runCli(['--disk-image', input, '--config', configFile, '-n', 'bad-1', '--output-dir', deploy, '--work-dir', path.join(dir, 'work'), ...extraArgs]);
  expect(result.exitCode, result.all).not.toBe(0);
  const stderr = String(result.stderr);
  expect(stderr).toMatch(/^error: /);
  expect(stderr).not.toMatch(/\n\s+at .*:\d+:\d+\)?/);
  expect(stderr).toMatch(pattern);
  expect(fs.existsSync(deploy) ? fs.readdirSync(deploy) : []).toEqual([]);
  if (sum) {
    expect(createHash('sha256').update(fs.readFileSync(input)).digest('hex')).toBe(sum);
    expect(fs.statSync(input).mtimeMs).toBe(mtime);
  }
  return stderr;
}

describe('bad disk images', () => {
  it('an empty file', async () => {
    const file = path.join(base, 'empty.img');
    fs.writeFileSync(file, '');
    await expectRefused('empty', file, /is empty/);
  });

  it('random bytes', async () => {
    const file = path.join(base, 'random.img');
    fs.writeFileSync(file, Buffer.from(Array.from({ length: 3 * MiB }, (_, i) => (i * 2654435761) >>> 24)));
    await expectRefused('random', file, /no partition table|not a disk image/i);
  });

  it('a truncated image (the table points past the end)', async () => {
    const file = variant('truncated', (f) => fs.truncateSync(f, rootStart + 4 * MiB));
    await expectRefused('truncated', file, /truncated/);
  });

  it('overlapping partitions', async () => {
    const file = variant('overlap', (f) => {
      // Partition 2 starts inside partition 1.
      const entry = Buffer.alloc(4);
      entry.writeUInt32LE(bootStart / 512 + 8);
      patch(f, 446 + 16 + 8, entry);
    });
    await expectRefused('overlap', file, /overlap/i);
  });

  it('extended and logical partitions', async () => {
    const file = path.join(base, 'extended.img');
    await tool('truncate', ['-s', String(64 * MiB), file]);
    await tool('sfdisk', ['-q', file], 'label: dos\nstart=2048, size=20480, type=c\nstart=22528, size=100000, type=5\nstart=24576, size=40000, type=83\n');
    await expectRefused('extended', file, /extended partition/i);
  });

  it('a protective MBR without a GPT', async () => {
    const file = path.join(base, 'protective.img');
    await tool('truncate', ['-s', String(64 * MiB), file]);
    await tool('sfdisk', ['-q', file], 'label: gpt\nstart=2048, size=20480, type=L\n');
    // Destroy both GPT headers.
    patch(file, 512, Buffer.alloc(512));
    patch(file, 64 * MiB - 512, Buffer.alloc(512));
    await expectRefused('protective', file, /protective MBR|no valid GPT|GPT/i);
  });

  it('a GPT with a bad primary header is read from its backup, and says so', async () => {
    const dir = path.join(base, 'gpt-backup');
    const built = await buildGoldenImage({ dir, scheme: 'gpt' });
    patch(built.image, 512 + 16, Buffer.from([0xde, 0xad, 0xbe, 0xef])); // header CRC
    const configFile = path.join(dir, 'c.yaml');
    fs.writeFileSync(configFile, CONFIG);
    const result = await runCli(['--disk-image', built.image, '--config', configFile, '-n', 'gpt-1', '--output-dir', path.join(dir, 'deploy'), '--work-dir', path.join(dir, 'work')]);
    expect(result.exitCode, result.all).toBe(0);
    expect(result.stdout).toMatch(/backup/i);
  });

  it('no Linux root filesystem', async () => {
    const file = variant('noroot', (f) => patch(f, rootStart, Buffer.alloc(128 * 1024)));
    await expectRefused('noroot', file, /no Linux root filesystem/);
  });

  it('two root filesystems: the user is asked to choose, and the knob chooses', async () => {
    const dir = path.join(base, 'tworoots');
    fs.mkdirSync(dir, { recursive: true });
    const rootFile = path.join(dir, 'root.bin');
    await tool('dd', [`if=${golden}`, `of=${rootFile}`, 'bs=1M', `skip=${rootStart / MiB}`, 'count=24', 'status=none']);
    const file = path.join(dir, 'two.img');
    await tool('truncate', ['-s', String(64 * MiB), file]);
    await tool('sfdisk', ['-q', file], `label: dos\nstart=${4 * 2048}, size=${24 * 2048}, type=83\nstart=${28 * 2048}, size=${24 * 2048}, type=83\n`);
    await tool('dd', [`if=${rootFile}`, `of=${file}`, 'bs=1M', 'seek=4', 'conv=notrunc', 'status=none']);
    await tool('dd', [`if=${rootFile}`, `of=${file}`, 'bs=1M', 'seek=28', 'conv=notrunc', 'status=none']);
    await expectRefused('tworoots', file, /2 root filesystems.*input\.root_partition/s);
    const result = await runCli(['--disk-image', file, '--config', path.join(base, 'run-tworoots', 'c.yaml'), '-n', 'two-1', '--output-dir', path.join(dir, 'deploy'), '--work-dir', path.join(dir, 'work')], {
      env: { MENDER_CLIENT_INSTALL: 'n' },
    });
    expect(result.exitCode).toBe(1); // still ambiguous without the knob
    fs.appendFileSync(path.join(base, 'run-tworoots', 'c.yaml'), 'input:\n  root_partition: 2\n');
    const chosen = await runCli(['--disk-image', file, '--config', path.join(base, 'run-tworoots', 'c.yaml'), '-n', 'two-1', '--output-dir', path.join(dir, 'deploy'), '--work-dir', path.join(dir, 'work')]);
    expect(chosen.exitCode, chosen.all).toBe(0);
  });

  it('a corrupt ext4 superblock', async () => {
    const file = variant('badsuper', (f) => patch(f, rootStart + 1024 + 0x20, Buffer.from([0xff, 0xff, 0xff, 0x7f])));
    await expectRefused('badsuper', file, /e2fsck|superblock|corrupt|root filesystem/i);
  });

  it('an ext4 that e2fsck -n finds in error is refused unless repair is asked for', async () => {
    const dir = path.join(base, 'dirty');
    fs.mkdirSync(dir, { recursive: true });
    const file = variant('dirty');
    const rootFile = path.join(dir, 'root.ext4');
    await tool('dd', [`if=${file}`, `of=${rootFile}`, 'bs=1M', `skip=${rootStart / MiB}`, 'count=24', 'status=none']);
    // A directory's link count that does not match: a real inconsistency.
    await tool('debugfs', ['-w', '-R', 'sif /etc links_count 7', rootFile]);
    await tool('dd', [`if=${rootFile}`, `of=${file}`, 'bs=1M', `seek=${rootStart / MiB}`, 'conv=notrunc', 'status=none']);
    await expectRefused('dirty', file, /e2fsck finds errors/);
    const result = await runCli(['--disk-image', file, '--config', path.join(base, 'run-dirty', 'c.yaml'), '-n', 'dirty-1', '--output-dir', path.join(dir, 'deploy'), '--work-dir', path.join(dir, 'work')], {
      env: { MENDER_CLIENT_INSTALL: 'n' },
    });
    expect(result.exitCode).toBe(1);
    fs.appendFileSync(path.join(base, 'run-dirty', 'c.yaml'), 'input:\n  repair: true\n');
    const repaired = await runCli(['--disk-image', file, '--config', path.join(base, 'run-dirty', 'c.yaml'), '-n', 'dirty-1', '--output-dir', path.join(dir, 'deploy'), '--work-dir', path.join(dir, 'work')]);
    expect(repaired.exitCode, repaired.all).toBe(0);
  });

  it('a corrupt FAT boot partition', async () => {
    const file = variant('badfat', (f) => patch(f, bootStart, Buffer.alloc(512)));
    await expectRefused('badfat', file, /FAT|boot partition/i);
  });

  it('a truncated compressed image', async () => {
    const file = variant('trunc-xz');
    await execa('xz', ['-k', '-f', '-T0', file]);
    const xz = `${file}.xz`;
    fs.truncateSync(xz, Math.floor(fs.statSync(xz).size / 2));
    await expectRefused('trunc-xz', xz, /truncated|corrupt/);
  });

  it.each([
    ['zero', [] as string[]],
    ['two', ['a.img', 'b.img']],
  ])('a .zip with %s images', async (name, members) => {
    const dir = path.join(base, `zip-${name}`);
    fs.mkdirSync(dir, { recursive: true });
    for (const member of members) fs.copyFileSync(golden, path.join(dir, member));
    if (members.length === 0) fs.writeFileSync(path.join(dir, 'README.txt'), 'nothing here\n');
    const zip = path.join(base, `zip-${name}.zip`);
    await execa('zip', ['-j', '-q', zip, ...(members.length ? members : ['README.txt']).map((m) => path.join(dir, m))]);
    await expectRefused(`zip-${name}`, zip, members.length ? /2 disk images|holds 2/ : /no disk image/);
  });
});

describe('bad configuration', () => {
  it.each([
    ['an unknown key', 'storage:\n  totl_size_mb: 100\n', /unknown setting 'storage\.totl_size_mb'; did you mean 'storage\.total_size_mb'/],
    ['a wrong type', 'data:\n  growfs: sometimes\n', /must be true or false/],
    ['a negative size', 'boot:\n  size_mb: -40\n', /must be at least 1/],
    ['an alignment not a multiple of 512', 'storage:\n  alignment: 1000000\n', /multiple of 512/],
    ['a storage size too small', 'storage:\n  total_size_mb: 50\n', /storage is too small/],
  ])('%s', async (name, config, pattern) => {
    await expectRefused(`config-${name.replace(/\W/g, '')}`, golden, pattern, config);
  });

  it('an overlay path that does not exist', async () => {
    await expectRefused('overlay', golden, /overlay directory .* does not exist/, CONFIG, ['--overlay', path.join(base, 'nope')]);
  });

  it('an artifact name the client rejects', async () => {
    const dir = path.join(base, 'badname');
    fs.mkdirSync(dir, { recursive: true });
    const result = await runCli(['--disk-image', golden, '--config', path.join(base, 'run-overlay', 'c.yaml'), '-n', 'release 1/2', '--output-dir', path.join(dir, 'deploy'), '--work-dir', path.join(dir, 'work')]);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/letters, digits/);
  });
});
