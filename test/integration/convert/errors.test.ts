import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../helpers/cli.js';
import { buildGoldenImage } from '../../helpers/images.js';

const base = fs.mkdtempSync(path.join(os.tmpdir(), 'convert-errors-'));
let golden: string;

beforeAll(async () => {
  golden = (await buildGoldenImage({ dir: path.join(base, 'golden') })).image;
});

async function convertExpectingFailure(name: string, args: string[], config?: string) {
  const dir = path.join(base, name);
  fs.mkdirSync(dir, { recursive: true });
  const configArgs = config === undefined ? [] : ['--config', path.join(dir, 'c.yaml')];
  if (config !== undefined) fs.writeFileSync(path.join(dir, 'c.yaml'), config);
  const deploy = path.join(dir, 'deploy');
  const result = await runCli(['--artifact-name', 'r1', '--output-dir', deploy, '--work-dir', path.join(dir, 'work'), ...configArgs, ...args]);
  expect(result.exitCode).not.toBe(0);
  const stderr = String(result.stderr);
  expect(stderr).toMatch(/^error: /);
  expect(stderr).not.toMatch(/\n\s+at .*\(.*:\d+:\d+\)/); // no stack trace
  const published = fs.existsSync(deploy) ? fs.readdirSync(deploy) : [];
  expect(published).toEqual([]);
  return stderr;
}

describe('user errors end in one clear message and no output', () => {
  it('an image of random bytes', async () => {
    const file = path.join(base, 'random.img');
    fs.writeFileSync(file, Buffer.alloc(2 * 1024 * 1024, 0x5a));
    const stderr = await convertExpectingFailure('random', ['--disk-image', file]);
    expect(stderr).toMatch(/partition table/i);
  });

  it('a missing image', async () => {
    const stderr = await convertExpectingFailure('missing', ['--disk-image', path.join(base, 'nope.img')]);
    expect(stderr).toMatch(/does not exist/);
  });

  it('a config with an unknown key', async () => {
    const stderr = await convertExpectingFailure('badconfig', ['--disk-image', golden], 'storage:\n  total_size: 100\n');
    expect(stderr).toContain("unknown setting 'storage.total_size'; did you mean 'storage.total_size_mb'?");
  });

  it('a storage size too small for the layout', async () => {
    const stderr = await convertExpectingFailure('small', ['--disk-image', golden], 'storage:\n  total_size_mb: 64\n');
    expect(stderr).toMatch(/storage is too small/);
    expect(stderr).toMatch(/hint: Raise storage\.total_size_mb/);
  });

  it('a root filesystem that does not fit its partition', async () => {
    const stderr = await convertExpectingFailure('tight', ['--disk-image', golden], 'storage:\n  total_size_mb: 160\n  alignment: 4194304\ndata:\n  size_mb: 16\nrootfs:\n  extra_space_kb: 204800\n');
    expect(stderr).toMatch(/root filesystem needs .* but each root partition holds/);
  });

  it('an overlay directory that does not exist', async () => {
    const stderr = await convertExpectingFailure('overlay', ['--disk-image', golden, '--overlay', path.join(base, 'no-such-dir')]);
    expect(stderr).toMatch(/overlay directory .* does not exist/);
  });

  it('no artifact name', async () => {
    const result = await runCli(['--disk-image', golden, '--output-dir', path.join(base, 'noname')], { env: { MENDER_ARTIFACT_NAME: '' } });
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toMatch(/No artifact name is set/);
  });
});

describe('partitions that cannot be converted are refused with the reason', () => {
  async function goldenWithRootMagic(name: string, magic: Buffer, at: number): Promise<string> {
    const built = await buildGoldenImage({ dir: path.join(base, name) });
    const table = JSON.parse((await (await import('../../helpers/images.js')).tool('sfdisk', ['--json', built.image])).stdout).partitiontable;
    const root = table.partitions[1];
    const handle = fs.openSync(built.image, 'r+');
    fs.writeSync(handle, Buffer.alloc(128 * 1024), 0, 128 * 1024, root.start * 512);
    fs.writeSync(handle, magic, 0, magic.length, root.start * 512 + at);
    fs.closeSync(handle);
    return built.image;
  }

  it.each([
    ['luks', Buffer.from('LUKS\xba\xbe', 'latin1'), 0, /LUKS-encrypted/],
    ['lvm', Buffer.from('LABELONE\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0LVM2 001', 'latin1'), 512, /LVM physical volume/],
    ['xfs', Buffer.from('XFSB', 'latin1'), 0, /XFS/],
    ['unknown', Buffer.from('nothing we know'), 0, /no Linux root filesystem/],
  ])('%s', async (name, magic, at, pattern) => {
    const image = await goldenWithRootMagic(name, magic, at);
    const stderr = await convertExpectingFailure(`refuse-${name}`, ['--disk-image', image]);
    expect(stderr).toMatch(pattern);
  });
});

describe('missing host tools', () => {
  it('are named, all at once, with the Debian packages that provide them', async () => {
    const bin = path.join(base, 'only-node');
    fs.mkdirSync(bin, { recursive: true });
    fs.symlinkSync(process.execPath, path.join(bin, 'node'));
    const result = await runCli(['--disk-image', golden, '-n', 'r1', '--output-dir', path.join(base, 'notools'), '--work-dir', path.join(base, 'notools-work')], {
      env: { PATH: bin },
    });
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/^error: Missing host tools: .*mcopy/m);
    expect(result.stderr).toMatch(/hint: Install them with: sudo apt-get install .*mtools/);
  });
});
