import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../../helpers/cli.js';
import { extBadGroupChecksum, extPastPartitionEnd, fatCircularChain, partitionOf } from '../../helpers/damage.js';
import { buildGoldenImage, tool, type GoldenOptions } from '../../helpers/images.js';

/**
 * Golden images that try to make the conversion read or write what it must not: every case
 * ends in a correct conversion with a note, or one error line, nothing under the output
 * directory and the input unchanged.
 */
const base = fs.mkdtempSync(path.join(os.tmpdir(), 'hostile-'));
const SMALL = 'storage:\n  total_size_mb: 160\n  alignment: 4194304\ndata:\n  size_mb: 16\nimage:\n  compression: none\nartifact:\n  sbom: none\n';
const SHADOW = 'root:$y$j9T$SECRETSALT$SECRETHASHSECRETHASH:19000:0:99999:7:::\n';

async function convert(name: string, golden: Omit<GoldenOptions, 'dir'>, config = SMALL, afterBuild?: (image: string, dir: string) => Promise<void>) {
  const dir = path.join(base, name);
  const built = await buildGoldenImage({ dir, ...golden });
  await afterBuild?.(built.image, dir);
  const configFile = path.join(dir, 'c.yaml');
  fs.writeFileSync(configFile, config);
  const deploy = path.join(dir, 'deploy');
  const before = fs.readFileSync(built.image);
  // Its own temporary directory: whatever the run leaves there is seen.
  const tmp = fs.mkdtempSync(path.join(dir, 'tmp-'));
  const result = await runCli(['--disk-image', built.image, '--config', configFile, '-n', 'release-1', '--output-dir', deploy, '--work-dir', path.join(dir, 'work')], { env: { TMPDIR: tmp } });
  expect(fs.readFileSync(built.image).equals(before), 'the input is unchanged').toBe(true);
  expect(fs.readdirSync(tmp), 'nothing is left in the temporary directory').toEqual([]);
  fs.rmdirSync(tmp);
  const runs = fs.existsSync(path.join(dir, 'work')) ? fs.readdirSync(path.join(dir, 'work')).filter((name) => name.startsWith('run-')) : [];
  expect(runs, 'no run directory is left').toEqual([]);
  const outputs = fs.existsSync(deploy) ? fs.readdirSync(deploy) : [];
  const rootfs = outputs.find((f) => f.endsWith('.ext4'));
  const cat = async (file: string) => (await tool('debugfs', ['-R', `cat ${file}`, path.join(deploy, rootfs!)])).stdout;
  const stat = async (file: string) => (await tool('debugfs', ['-R', `stat ${file}`, path.join(deploy, rootfs!)])).stdout;
  return { result, deploy, outputs, cat, stat, dir };
}

/** More partitions after the golden image's, each an ext4 (with files at its root) or a swap area. */
function appendPartitions(parts: { kind: 'ext4' | 'swap'; files?: Record<string, string> }[]) {
  return async (image: string, dir: string) => {
    const MiB = 1024 * 1024;
    let offset = fs.statSync(image).size;
    const lines: string[] = [];
    for (const [index, part] of parts.entries()) {
      const file = path.join(dir, `extra-${index}.img`);
      if (part.kind === 'swap') {
        fs.writeFileSync(file, Buffer.alloc(4 * MiB));
        await tool('mkswap', [file]);
      } else {
        const tree = path.join(dir, `extra-${index}`);
        for (const [name, content] of Object.entries(part.files ?? { 'note.txt': 'data\n' })) {
          fs.mkdirSync(path.dirname(path.join(tree, name)), { recursive: true });
          fs.writeFileSync(path.join(tree, name), content);
        }
        await tool('mke2fs', ['-q', '-F', '-t', 'ext4', '-d', tree, file, '4M']);
      }
      lines.push(`start=${offset / 512}, size=${(4 * MiB) / 512}, type=${part.kind === 'swap' ? 'S' : 'L'}`);
      await tool('dd', [`if=${file}`, `of=${image}`, 'bs=1M', `seek=${offset / MiB}`, 'conv=notrunc', 'status=none']);
      offset += 4 * MiB;
    }
    // Room for a GPT's backup header after the new partitions, moved there before they are added.
    fs.truncateSync(image, offset + MiB);
    const gpt = JSON.parse((await tool('sfdisk', ['--json', image])).stdout).partitiontable.label === 'gpt';
    if (gpt) await tool('sfdisk', ['--relocate', 'gpt-bak-std', image]);
    await tool('sfdisk', ['--append', '--no-reread', '--no-tell-kernel', '-q', image], `${lines.join('\n')}\n`);
  };
}

function expectRefused(result: Awaited<ReturnType<typeof convert>>, message: RegExp): void {
  expect(result.result.exitCode, result.result.all).toBe(1);
  expect(result.result.stderr).toMatch(message);
  expect(result.result.stderr).not.toMatch(/\n\s+at /);
  expect(result.outputs).toEqual([]);
}

describe('hostile golden images', () => {
  it('an /etc/fstab linked to /etc/shadow: replaced by a regular fstab, none of the target copied', async () => {
    const c = await convert('fstab-shadow', {
      files: { 'etc/shadow': SHADOW },
      editTree: (tree) => {
        fs.rmSync(path.join(tree, 'etc/fstab'));
        fs.symlinkSync('/../../../etc/shadow', path.join(tree, 'etc/fstab'));
      },
    });
    expect(c.result.exitCode, c.result.all).toBe(0);
    const fstab = await c.cat('/etc/fstab');
    expect(fstab).toContain('/data');
    expect(fstab).not.toContain('SECRET');
    expect(await c.stat('/etc/fstab')).toMatch(/Type: regular/);
    expect(await c.cat('/etc/shadow')).toBe(SHADOW);
    expect(c.result.all).toContain('/etc/fstab is a symlink (to /../../../etc/shadow): replaced by a regular file');
    expect(fs.readFileSync(path.join(c.dir, 'work', 'convert.log'), 'utf8')).not.toContain('SECRET');
  });

  it('a hostname that is a path, or a link to /etc/shadow: not a device type, outputs stay in the output directory', async () => {
    for (const [name, edit] of [
      ['hostname-path', { hostname: '../../../../x' }],
      ['hostname-shadow', {
        files: { 'etc/shadow': SHADOW },
        editTree: (tree: string) => {
          fs.rmSync(path.join(tree, 'etc/hostname'));
          fs.symlinkSync('shadow', path.join(tree, 'etc/hostname'));
        },
      }],
    ] as const) {
      const c = await convert(name, edit);
      expect(c.result.exitCode, c.result.all).toBe(0);
      expect(c.outputs).toContain('golden-default-mender.img');
      expect(fs.readdirSync(c.dir).sort()).toEqual(['bootfiles', 'c.yaml', 'deploy', 'golden.img', 'tree', 'work']);
      expect(c.result.all).toContain("/etc/hostname does not hold a valid hostname, so the device type is 'default'");
      expect(c.result.all).not.toContain('SECRET');
    }
  });

  it('a /data that links to /etc: the link makes way for the mount point, /etc stays in the root filesystem', async () => {
    const c = await convert('data-etc', {
      editTree: (tree) => fs.symlinkSync('/etc', path.join(tree, 'data')),
    });
    expect(c.result.exitCode, c.result.all).toBe(0);
    expect(await c.cat('/etc/os-release')).toContain('Debian');
    expect(await c.stat('/data')).toMatch(/Type: directory/);
    expect(c.result.all).toContain("/data was a symlink to /etc; it is now the data partition's mount point and nothing was moved from it");
  });

  it('a 2 GiB sparse /etc/fstab: one message naming the file, no output', async () => {
    const c = await convert('huge-fstab', {
      rootMiB: 32,
      editTree: (tree) => fs.truncateSync(path.join(tree, 'etc/fstab'), 2 * 1024 ** 3),
    });
    expectRefused(c, /error: \/etc\/fstab in the image is 2147483648 bytes; a file of its kind holds a few lines/);
  });

  it('a failure late in the run (a FIFO under /data) leaves no staging directory, run directory or output', async () => {
    const c = await convert('data-fifo', {
      editTree: (tree) => {
        fs.mkdirSync(path.join(tree, 'data'), { recursive: true });
        execFileSync('mkfifo', [path.join(tree, 'data', 'pipe')]);
      },
    });
    expectRefused(c, /error: \/data\/pipe in the root filesystem is a special file/);
  });

  it('a file named with a newline under /data is never left behind: the conversion names it and stops', async () => {
    // Listed (a name may hold a newline) but not expressible in a debugfs command.
    const c = await convert('data-newline', { files: { 'data/two\nlines': 'kept\n', 'data/plain': 'plain\n' } });
    expectRefused(c, /error: The path "\/data\/two\\nlines" in the image contains a quote or newline[^\n]*\nhint: Rename or remove that file in the golden image\./);
  });

  it('an ordinary /data/lost+found (a filesystem that was mounted at /data) converts', async () => {
    const c = await convert('data-lost-found', {
      files: { 'data/app/state': 'state\n' },
      editTree: (tree) => fs.mkdirSync(path.join(tree, 'data', 'lost+found'), { mode: 0o700 }),
    });
    expect(c.result.exitCode, c.result.all).toBe(0);
    expect(c.result.all).toMatch(/\d+ entries under \/data moved/);
  });

  it('partitions besides boot and root are refused, naming them, instead of dropped', async () => {
    const c = await convert('extra-partitions', { scheme: 'gpt' }, SMALL, appendPartitions([{ kind: 'ext4' }, { kind: 'ext4' }, { kind: 'ext4' }, { kind: 'ext4' }, { kind: 'ext4' }, { kind: 'ext4' }]));
    expectRefused(c, /error: The input has partitions besides its boot and root filesystems: partition 3 \(ext4, 4 MiB\), partition 4 .*partition 8 \(ext4, 4 MiB\)\. .*would be lost\.\nhint: Move what they hold/);
  });

  it('a separate ext4 /boot partition is refused: the kernels belong in each root filesystem', async () => {
    const c = await convert('separate-boot', {}, SMALL, appendPartitions([{ kind: 'ext4', files: { 'vmlinuz-6.1.0-test': 'kernel\n', 'initrd.img-6.1.0-test': 'initrd\n' } }]));
    expectRefused(c, /error: Partition 3 is a separate \/boot \(it holds initrd.img-6.1.0-test, vmlinuz-6.1.0-test\)/);
  });

  it('a swap partition is left out with a note', async () => {
    const c = await convert('swap', {}, SMALL, appendPartitions([{ kind: 'swap' }]));
    expect(c.result.exitCode, c.result.all).toBe(0);
    expect(c.result.all).toContain('Partition 3 (swap) is not part of the Mender layout and was left out');
  });

  it('kernels that are all symlink loops or dangling links are refused, naming each', async () => {
    const c = await convert('kernel-loops', {
      editTree: (tree) => {
        fs.rmSync(path.join(tree, 'boot/vmlinuz-6.1.0-test'));
        fs.symlinkSync('vmlinuz-6.1.0-test', path.join(tree, 'boot/vmlinuz-6.1.0-test'));
        fs.symlinkSync('/nowhere/vmlinuz', path.join(tree, 'boot/vmlinuz'));
      },
    });
    expectRefused(c, /error: The image's kernels lead nowhere: .*\/boot\/vmlinuz is a symlink to \/nowhere\/vmlinuz, which does not exist.*\/boot\/vmlinuz-6\.1\.0-test is a symlink loop/);
  });

  it('an ext4 filesystem larger than its partition (file data past its end) is refused before it is read', async () => {
    const c = await convert('ext4-past-end', {}, SMALL, (image, dir) => extPastPartitionEnd(image, 2, path.join(dir, 'scratch'), 18 * 1024 * 1024, 3 * 1024 * 1024));
    expectRefused(c, /error: Partition 2 holds an ext4 filesystem of 24 MiB \(25165824 bytes\) in 21 MiB \(22020096 bytes\): the filesystem reaches past the partition's end[^\n]*\nhint: The partition table and the filesystem disagree/);
  });

  it('a wrong group-descriptor checksum (e2fsck -fn says IGNORED and exits 0) is refused, naming the problem', async () => {
    const c = await convert('group-checksum', {}, SMALL, async (image) => extBadGroupChecksum(image, (await partitionOf(image, 2)).start));
    expectRefused(c, /error: e2fsck finds errors in the ext4 filesystem of partition 2: One or more block group descriptor checksums are invalid\. Group descriptor 0 checksum is 0x[0-9a-f]+, should be 0x[0-9a-f]+\.\n(.*\n)*hint: Set input\.repair: true .* or repair a copy of the golden image \(e2fsck -f on its partition\)/);
  });

  it('a boot partition with a circular cluster chain is refused instead of copied into the output', async () => {
    const c = await convert('fat-loop', { bootFiles: { 'big.txt': 'x'.repeat(20000) } }, SMALL, async (image) => fatCircularChain(image, (await partitionOf(image, 1)).start, 'BIG     TXT'));
    expectRefused(c, /error: fsck\.fat finds the FAT filesystem of partition 1 damaged: \/BIG\.TXT Circular cluster chain\. Truncating to \d+ clusters\.\nhint: Repair a copy of the golden image \(fsck\.vfat -a on that partition/);
  });

  it('device types and image names that are paths are refused where they enter', async () => {
    const types = await convert('types-path', {}, `${SMALL}device:\n  types: [../../x]\n`);
    expectRefused(types, /'device.types' must be device types made of letters, digits and _ \. : \+ - \(no \/ or spaces\), not "\.\.\/\.\.\/x"/);
    const name = await convert('name-path', {}, SMALL.replace('image:\n', 'image:\n  name: ../../../x\n'));
    expectRefused(name, /'image.name' must be a file name without \//);
  });
});
