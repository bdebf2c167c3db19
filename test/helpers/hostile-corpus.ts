/**
 * The hostile-input corpus: golden images, configurations and command lines that try to make the
 * conversion read or write what it must not, lose what it must keep, or fail in a way a user
 * cannot act on. Each case builds its input in a directory of its own (small images synthesized
 * with the real tools, or damaged byte by byte) and says how it must end: a correct conversion, or
 * one error line matching its pattern. test/integration/convert/hostile-corpus.test.ts runs them
 * and checks, for every case, what must hold whatever the input.
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { CLI_ENV } from './cli.js';
import { tool, type Golden, type GoldenOptions } from './images.js';
import {
  appendPartitions,
  debugfsAt,
  extBadGroupChecksum,
  extPastPartitionEnd,
  fatCircularChain,
  fatCrossLinked,
  fatSetDirty,
  partitionOf,
  resizePartitionEntry,
  writeAt,
} from './damage.js';

const MiB = 1024 * 1024;

/** Small outputs, no compression, no SBOM: what every case converts with unless it says otherwise. */
export const SMALL_CONFIG = 'storage:\n  total_size_mb: 160\n  alignment: 4194304\ndata:\n  size_mb: 16\nimage:\n  compression: none\nartifact:\n  compression: none\n  sbom: none\n';
/** A shadow line whose pieces must never appear in any output or message. */
export const SHADOW = 'root:$y$j9T$SECRETSALT$SECRETHASHSECRETHASH:19000:0:99999:7:::\n';

export type CorpusClass =
  | 'paths that escape'
  | 'symlinks in the image'
  | 'damaged filesystems'
  | 'valid but unusual'
  | 'nothing dropped'
  | 'sizes and special files'
  | 'tables and containers'
  | 'inputs and arguments'
  | 'time and size bombs'
  | 'secrets'
  | 'kills and the work directory';

export interface CaseInput {
  /** The disk image given with --disk-image. */
  image: string;
  /** The config file's YAML (default SMALL_CONFIG); null: no --config at all. */
  config?: string | null;
  /** More arguments after the standard command line. */
  extraArgs?: string[];
  /** Environment of the run (TMPDIR is the runner's). */
  env?: Record<string, string>;
  /** --output-dir and --work-dir (default: deploy and work in the case's directory). */
  outputDir?: string;
  workDir?: string;
  /** The input's root partition, which a conversion is compared with (default 2). */
  rootPartition?: number;
}

/** What a run gives the runner: the result it judges and the paths it checks. */
export interface CaseRun {
  exitCode: number | undefined;
  stdout: string;
  stderr: string;
  all: string;
}

export interface RunContext {
  dir: string;
  /** The standard command line for this case's input. */
  argv: string[];
  env: Record<string, string>;
  deploy: string;
  work: string;
}

export interface CorpusCase {
  name: string;
  class: CorpusClass;
  build: (ctx: CaseContext) => Promise<CaseInput>;
  /** 'converts', or the pattern the error output must match (its one `error:` line, its hint). */
  expect: 'converts' | RegExp;
  /** Paths of the root filesystem this case's conversion changes besides the ones every conversion does. */
  changes?: RegExp[];
  /** Instead of one run of the standard command line (kills, locks): the run the runner judges. */
  run?: (ctx: RunContext, runCli: (argv: string[], env: Record<string, string>) => Promise<CaseRun>) => Promise<CaseRun>;
  /** Checks of the case's own after the runner's. */
  check?: (result: CaseRun, ctx: { dir: string; deploy: string; work: string }) => Promise<void> | void;
}

export interface CaseContext {
  dir: string;
  /** A golden image built in the case's directory. */
  golden(options?: Omit<GoldenOptions, 'dir'>): Promise<Golden>;
  /** The plain golden image every case that varies only the configuration or the command line shares (never changed). */
  shared(): Promise<string>;
}

/** A case's assertion: the runner reports the message as the case's failure. */
function ensure(condition: boolean, message: string): void {
  if (!condition) throw new Error(message);
}

function write(file: string, content: string | Buffer): string {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, content);
  return file;
}

/** The image of `golden(options)` with `damage` applied to it. */
function damaged(options: Omit<GoldenOptions, 'dir'>, damage: (image: string, dir: string) => Promise<void> | void) {
  return async (ctx: CaseContext): Promise<CaseInput> => {
    const { image } = await ctx.golden(options);
    await damage(image, ctx.dir);
    return { image };
  };
}

const plain = (options: Omit<GoldenOptions, 'dir'> = {}, more: Omit<CaseInput, 'image'> = {}) => async (ctx: CaseContext): Promise<CaseInput> => ({
  image: (await ctx.golden(options)).image,
  ...more,
});

/** The shared plain golden image, with this configuration or these arguments. */
const shared = (more: Omit<CaseInput, 'image'> = {}) => async (ctx: CaseContext): Promise<CaseInput> => ({ image: await ctx.shared(), ...more });
const withConfig = (config: string) => shared({ config });

function replaceWithSymlink(tree: string, file: string, target: string): void {
  fs.rmSync(path.join(tree, file), { recursive: true, force: true });
  fs.mkdirSync(path.dirname(path.join(tree, file)), { recursive: true });
  fs.symlinkSync(target, path.join(tree, file));
}

const dataFile = (name: string, content = `${name}\n`) => ({ [`data/${name}`]: content });

/** Names that fill /etc's first directory blocks (1 KiB each), deleted again by the case that uses them. */
const PADS = Array.from({ length: 80 }, (_, i) => `pad-${String(i).padStart(3, '0')}-${'x'.repeat(40)}`);
/** 30 directories deep, each name 40 characters: a path of over 1 200 characters. */
const DEEP = Array.from({ length: 30 }, (_, i) => `level-${String(i).padStart(2, '0')}-${'d'.repeat(31)}`).join('/');

/** A disk image whose two partitions hold the same root filesystem (no boot partition). */
async function twoRoots(ctx: CaseContext): Promise<string> {
  const { image } = await ctx.golden({ rootOnly: true });
  const { start, size } = await partitionOf(image, 1);
  const second = fs.statSync(image).size;
  fs.truncateSync(image, second + size);
  await tool('dd', [`if=${image}`, `of=${image}`, 'bs=512', `skip=${start / 512}`, `seek=${second / 512}`, `count=${size / 512}`, 'conv=notrunc', 'status=none']);
  await tool('sfdisk', ['--append', '--no-reread', '--no-tell-kernel', '-q', image], `start=${second / 512}, size=${size / 512}, type=83\n`);
  return image;
}

/**
 * A file the run writes (in its work or output directory) is already there as a symlink to a
 * precious file beside it: the run must write a file of its own, never through the link.
 */
function linkInTheWay(name: string, under: 'work' | 'deploy', file: string, replaced: string): CorpusCase {
  return {
    name,
    class: 'paths that escape',
    build: async (ctx) => {
      write(path.join(ctx.dir, 'victim'), 'precious\n');
      fs.mkdirSync(path.join(ctx.dir, under));
      fs.symlinkSync(path.join(ctx.dir, 'victim'), path.join(ctx.dir, under, file));
      return { image: await ctx.shared() };
    },
    expect: 'converts',
    check: (_result, { dir, ...dirs }) => {
      ensure(fs.readFileSync(path.join(dir, 'victim'), 'utf8') === 'precious\n', "the link's target is untouched");
      ensure(fs.lstatSync(path.join(dirs[under], file)).isFile(), replaced);
    },
  };
}

export const CORPUS: CorpusCase[] = [
  // Paths that escape: names that become paths are checked where they enter.
  {
    name: 'hostname-parent-path',
    class: 'paths that escape',
    build: plain({ hostname: '../../../../escaped' }),
    expect: 'converts',
    check: (result, { deploy, dir }) => {
      ensure(result.all.includes("/etc/hostname does not hold a valid hostname, so the device type is 'default'"), 'the hostname is named as invalid');
      ensure(fs.existsSync(path.join(deploy, 'golden-default-mender.img')), 'the outputs are in the output directory');
      ensure(!fs.existsSync(path.resolve(deploy, '../../../../escaped-mender.img')) && !fs.existsSync(path.resolve(dir, '..', 'escaped-mender.img')), 'nothing written above');
    },
  },
  {
    name: 'hostname-link-to-shadow',
    class: 'paths that escape',
    build: plain({ files: { 'etc/shadow': SHADOW }, editTree: (tree) => replaceWithSymlink(tree, 'etc/hostname', 'shadow') }),
    expect: 'converts',
    check: (result, { deploy }) => {
      ensure(result.all.includes("/etc/hostname does not hold a valid hostname, so the device type is 'default'"), 'the hostname is named as invalid');
      ensure(!result.all.includes('SECRET') && !fs.readFileSync(path.join(deploy, 'golden-default-mender.json'), 'utf8').includes('SECRET'), 'the target is never printed or recorded');
    },
  },
  {
    name: 'device-types-path',
    class: 'paths that escape',
    build: withConfig(`${SMALL_CONFIG}device:\n  types: [../../x]\n`),
    expect: /error: .*c\.yaml:\d+: 'device.types' must be device types made of letters, digits and _ \. : \+ - \(no \/ or spaces\), not "\.\.\/\.\.\/x"/,
  },
  {
    name: 'image-name-path',
    class: 'paths that escape',
    build: withConfig(SMALL_CONFIG.replace('image:\n', 'image:\n  name: ../../../x\n')),
    expect: /error: .*c\.yaml:\d+: 'image.name' must be a file name without \//,
  },
  {
    name: 'artifact-name-newline',
    class: 'paths that escape',
    build: shared({ extraArgs: ['-n', 'release-1\nartifact_group=evil'] }),
    expect: /error: .*artifact\.name/,
  },
  {
    name: 'artifact-name-slash-and-space',
    class: 'paths that escape',
    build: shared({ extraArgs: ['-n', 'release 1/2'] }),
    expect: /error: .*letters, digits/,
  },
  linkInTheWay('convert-log-symlink', 'work', 'convert.log', 'convert.log is a file of its own'),
  linkInTheWay('output-name-symlink', 'deploy', 'golden-testhost-mender.img', 'the output replaced the link'),
  {
    name: 'overlay-symlink-to-host',
    class: 'paths that escape',
    build: async (ctx) => {
      const overlay = path.join(ctx.dir, 'overlay');
      write(path.join(overlay, 'etc/motd'), 'hello\n');
      fs.symlinkSync('/etc/passwd', path.join(overlay, 'etc/host-passwd'));
      return { image: await ctx.shared(), extraArgs: ['--overlay', overlay] };
    },
    expect: 'converts',
    changes: [/^\/etc\/(motd|host-passwd)$/],
    check: async (_result, { deploy }) => {
      const stat = (await tool('debugfs', ['-R', 'stat /etc/host-passwd', path.join(deploy, 'golden-testhost-mender.ext4')])).stdout;
      ensure(/Type: symlink/.test(stat) && stat.includes('Fast link dest: "/etc/passwd"'), "the overlay's symlink is copied as a symlink, not the host file it points at");
    },
  },

  // Symlinks in the image: followed only inside the image, never out of it, and never into /data.
  {
    name: 'data-link-to-etc',
    class: 'symlinks in the image',
    build: plain({ editTree: (tree) => fs.symlinkSync('/etc', path.join(tree, 'data')) }),
    expect: 'converts',
    check: (result) => ensure(result.all.includes("/data was a symlink to /etc; it is now the data partition's mount point and nothing was moved from it"), 'the note names the link'),
  },
  {
    name: 'data-link-to-root',
    class: 'symlinks in the image',
    build: plain({ editTree: (tree) => fs.symlinkSync('../../../..', path.join(tree, 'data')) }),
    expect: 'converts',
    check: (result) => ensure(result.all.includes('/data was a symlink to ../../../..;'), 'the note names the link'),
  },
  {
    name: 'data-is-a-file',
    class: 'symlinks in the image',
    build: plain({ files: { data: 'a file where the mount point goes\n' } }),
    expect: 'converts',
    check: (result) => ensure(result.all.includes("/data was a file; it is now the data partition's mount point"), 'the note names the file'),
  },
  {
    name: 'os-release-link-to-shadow',
    class: 'symlinks in the image',
    build: plain({ files: { 'etc/shadow': SHADOW }, editTree: (tree) => replaceWithSymlink(tree, 'etc/os-release', 'shadow') }),
    expect: 'converts',
    check: (result, { deploy }) => ensure(!result.all.includes('SECRET') && !fs.readFileSync(path.join(deploy, 'golden-testhost-mender.json'), 'utf8').includes('SECRET'), 'the target is never printed or recorded'),
  },
  {
    name: 'etc-mender-link-into-data',
    class: 'symlinks in the image',
    build: plain({ files: { 'data/etc-mender/mender.conf': '{}\n' }, editTree: (tree) => fs.symlinkSync('/data/etc-mender', path.join(tree, 'etc/mender')) }),
    expect: /error: \/etc\/mender\/[a-z_/]+, which the conversion writes into the root filesystem, would land at \/data\/etc-mender\/[a-z_/]+ \(\/etc\/mender is a symlink to \/data\/etc-mender\): \/data goes to the data partition/,
  },
  {
    name: 'var-lib-mender-with-state',
    class: 'symlinks in the image',
    build: plain({ files: { 'var/lib/mender/mender-agent.pem': 'a device key\n', 'var/lib/mender/mender-store': 'a database\n' } }),
    expect: 'converts',
    check: (result) => ensure(result.all.includes('/var/lib/mender held 2 entries: the state of the device the image was made from'), 'the note says the state was left out'),
  },
  {
    // A golden image made on a machine where cloud-init ran: its instance, semaphores and logs.
    name: 'cloud-init-state-of-the-build-machine',
    class: 'valid but unusual',
    build: plain({
      files: {
        'var/lib/cloud/instances/rpios-image/sem/config_set_hostname': '',
        'var/lib/cloud/instances/rpios-image/obj.pkl': 'cached datasource\n',
        'var/lib/cloud/data/instance-id': 'rpios-image\n',
        'var/lib/cloud/sem/config_scripts_per_once.once': '',
        'var/lib/cloud/seed/nocloud/user-data': '#cloud-config\nhostname: baked-in\n',
        'var/log/cloud-init.log': 'the build machine\n',
        'var/log/cloud-init-output.log': 'the build machine\n',
      },
      editTree: (tree) => fs.symlinkSync('/var/lib/cloud/instances/rpios-image', path.join(tree, 'var/lib/cloud/instance')),
    }),
    expect: 'converts',
    changes: [/^\/var\/lib\/cloud\/(data|instance|instances|sem)(\/.*)?$/, /^\/var\/log\/cloud-init(-output)?\.log$/],
    check: async (result, { deploy }) => {
      ensure(result.all.includes("/var/lib/cloud held cloud-init's state of the machine the image was made on (data, instance, instances, sem): left out"), 'the note names what was left out');
      ensure(result.all.includes("cloud-init's logs of the machine the image was made on left out: /var/log/cloud-init.log, /var/log/cloud-init-output.log"), 'the note names the logs');
      const rootfs = path.join(deploy, fs.readdirSync(deploy).find((name) => name.endsWith('.ext4'))!);
      const listing = (await tool('debugfs', ['-R', 'ls -p /var/lib/cloud', rootfs])).stdout;
      ensure(listing.includes('/seed/') && !/\/(data|instance|instances|sem)\//.test(listing), `only the seed is left: ${listing}`);
      ensure((await tool('debugfs', ['-R', 'cat /var/lib/cloud/seed/nocloud/user-data', rootfs])).stdout.includes('hostname: baked-in'), 'the seed as it was');
      ensure(!(await tool('debugfs', ['-R', 'ls -p /var/log', rootfs])).stdout.includes('cloud-init'), 'no cloud-init log');
    },
  },
  {
    name: 'kernels-loop-or-dangle',
    class: 'symlinks in the image',
    build: plain({
      editTree: (tree) => {
        replaceWithSymlink(tree, 'boot/vmlinuz-6.1.0-test', 'vmlinuz-6.1.0-test');
        fs.symlinkSync('/nowhere/vmlinuz', path.join(tree, 'boot/vmlinuz'));
      },
    }),
    expect: /error: The image's kernels lead nowhere: .*\/boot\/vmlinuz is a symlink to \/nowhere\/vmlinuz, which does not exist.*\/boot\/vmlinuz-6\.1\.0-test is a symlink loop/,
  },
  {
    name: 'fstab-link-to-shadow',
    class: 'symlinks in the image',
    build: plain({ files: { 'etc/shadow': SHADOW }, editTree: (tree) => replaceWithSymlink(tree, 'etc/fstab', '/../../../etc/shadow') }),
    expect: 'converts',
    check: async (result, { deploy, work }) => {
      ensure(result.all.includes('/etc/fstab is a symlink (to /../../../etc/shadow): replaced by a regular file'), 'the note names the link');
      const fstab = (await tool('debugfs', ['-R', 'cat /etc/fstab', path.join(deploy, 'golden-testhost-mender.ext4')])).stdout;
      ensure(fstab.includes('/data') && !fstab.includes('SECRET'), 'a regular fstab, nothing of the target');
      ensure(!fs.readFileSync(path.join(work, 'convert.log'), 'utf8').includes('SECRET'), 'nothing of the target in the log');
    },
  },

  // Damaged filesystems: refused, named, before anything reads them; or repaired when asked.
  {
    name: 'ext4-past-partition-end',
    class: 'damaged filesystems',
    build: damaged({}, (image, dir) => extPastPartitionEnd(image, 2, path.join(dir, 'scratch'), 18 * MiB, 3 * MiB)),
    expect: /error: Partition 2 holds an ext4 filesystem of 24 MiB \(25165824 bytes\) in 21 MiB \(22020096 bytes\): the filesystem reaches past the partition's end[^\n]*\nhint: The partition table and the filesystem disagree/,
  },
  {
    name: 'fat-past-partition-end',
    class: 'damaged filesystems',
    build: damaged({}, (image) => resizePartitionEntry(image, 1, 12 * MiB)),
    expect: /error: Partition 1 holds an vfat filesystem of 16 MiB \(16777216 bytes\) in 12 MiB \(12582912 bytes\): the filesystem reaches past the partition's end/,
  },
  {
    name: 'ext4-group-checksum',
    class: 'damaged filesystems',
    build: damaged({}, async (image) => extBadGroupChecksum(image, (await partitionOf(image, 2)).start)),
    expect: /error: e2fsck finds errors in the ext4 filesystem of partition 2: One or more block group descriptor checksums are invalid\. Group descriptor 0 checksum is 0x[0-9a-f]+, should be 0x[0-9a-f]+\.\n(.*\n)*hint: Set input\.repair: true .* or repair a copy of the golden image \(e2fsck -f on its partition\)/,
  },
  {
    name: 'ext4-group-checksum-repaired',
    class: 'damaged filesystems',
    build: async (ctx) => ({ ...(await damaged({}, async (image) => extBadGroupChecksum(image, (await partitionOf(image, 2)).start))(ctx)), config: `${SMALL_CONFIG}input:\n  repair: true\n` }),
    expect: 'converts',
  },
  {
    name: 'ext4-inode-checksum',
    class: 'damaged filesystems',
    // The inode of /etc/hostname, which the probe reads: checked before it is read.
    build: damaged({}, async (image) => debugfsAt(image, (await partitionOf(image, 2)).start, 'sif /etc/os-release checksum 0x1234')),
    expect: /error: e2fsck finds errors in the ext4 filesystem of partition 2: Inode \d+ passes checks, but checksum does not match inode\./,
  },
  {
    name: 'ext4-block-bitmap',
    class: 'damaged filesystems',
    build: damaged({}, async (image) => {
      const { start } = await partitionOf(image, 2);
      const blocks = (await tool('debugfs', ['-R', 'blocks /usr/bin/dash', `${image}?offset=${start}`])).stdout.trim().split(/\s+/);
      await debugfsAt(image, start, `freeb ${blocks[0]} ${blocks.length}`);
    }),
    expect: /error: e2fsck finds errors in the ext4 filesystem of partition 2: Block bitmap differences: +\+\(\d+--\d+\) Free blocks count wrong/,
  },
  {
    name: 'ext4-links-count',
    class: 'damaged filesystems',
    build: damaged({}, async (image) => debugfsAt(image, (await partitionOf(image, 2)).start, 'sif /etc links_count 7')),
    expect: /error: e2fsck finds errors in the ext4 filesystem of partition 2: Inode \d+ ref count is 7, should be \d+\./,
  },
  {
    name: 'ext4-superblock-field',
    class: 'damaged filesystems',
    // s_blocks_per_group made absurd: the primary superblock is unusable, e2fsck reads a backup.
    build: damaged({}, async (image) => writeAt(image, (await partitionOf(image, 2)).start + 1024 + 0x20, Buffer.from([0xff, 0xff, 0xff, 0x7f]))),
    expect: /error: e2fsck finds errors in the ext4 filesystem of partition 2: Superblock invalid, trying backup blocks\.\.\. /,
  },
  {
    name: 'ext4-no-superblock',
    class: 'damaged filesystems',
    build: damaged({}, async (image) => writeAt(image, (await partitionOf(image, 2)).start, Buffer.alloc(128 * 1024))),
    expect: /error: The input has no Linux root filesystem/,
  },
  {
    name: 'ext4-needs-recovery-flag',
    class: 'damaged filesystems',
    build: damaged({}, async (image) => debugfsAt(image, (await partitionOf(image, 2)).start, 'feature needs_recovery')),
    expect: 'converts',
  },
  {
    name: 'fat-circular-chain',
    class: 'damaged filesystems',
    build: damaged({ bootFiles: { 'big.txt': 'x'.repeat(20000) } }, async (image) => fatCircularChain(image, (await partitionOf(image, 1)).start, 'BIG     TXT')),
    expect: /error: fsck\.fat finds the FAT filesystem of partition 1 damaged: \/BIG\.TXT Circular cluster chain\. Truncating to \d+ clusters\.\nhint: Repair a copy of the golden image \(fsck\.vfat -a on that partition/,
  },
  {
    name: 'fat-cross-linked',
    class: 'damaged filesystems',
    build: damaged({ bootFiles: { 'one.txt': 'a'.repeat(9000), 'two.txt': 'b'.repeat(9000) } }, async (image) => fatCrossLinked(image, (await partitionOf(image, 1)).start, 'ONE     TXT', 'TWO     TXT')),
    expect: /error: fsck\.fat finds the FAT filesystem of partition 1 damaged: \/ONE\.TXT +and \/TWO\.TXT share clusters\./,
  },
  {
    name: 'fat-dirty-bit',
    class: 'damaged filesystems',
    // What the kernel leaves on a FAT it had mounted: a copy of a running device, harmless.
    build: damaged({}, async (image) => fatSetDirty(image, (await partitionOf(image, 1)).start)),
    expect: 'converts',
  },
  {
    name: 'fat-boot-sector-zeroed',
    class: 'damaged filesystems',
    build: damaged({}, async (image) => writeAt(image, (await partitionOf(image, 1)).start, Buffer.alloc(512))),
    expect: /error: Partition 1 is a FAT boot partition \(type c\) but holds no readable FAT filesystem: it is corrupt\./,
  },
  {
    name: 'data-name-with-newline',
    class: 'damaged filesystems',
    build: plain({ files: { 'data/two\nlines': 'kept\n', 'data/plain': 'plain\n' } }),
    expect: /error: The path "\/data\/two\\nlines" in the image contains a quote or newline[^\n]*\nhint: Rename or remove that file in the golden image\./,
  },

  // Valid but unusual images: converted, every file as it was.
  {
    name: 'data-lost-found',
    class: 'valid but unusual',
    build: plain({ files: dataFile('app/state'), editTree: (tree) => fs.mkdirSync(path.join(tree, 'data', 'lost+found'), { mode: 0o700 }) }),
    expect: 'converts',
    check: (result) => ensure(/\d+ entries under \/data moved/.test(result.all), 'the note counts what was moved'),
  },
  {
    name: 'deleted-entries-start-blocks',
    class: 'valid but unusual',
    // 1 KiB blocks; /etc spans several, and every entry but fstab, hostname and os-release is
    // deleted: a later block then starts with a deleted entry (inode 0, its name kept).
    build: damaged({ files: Object.fromEntries(PADS.map((name) => [`etc/${name}`, 'pad\n'])) }, async (image) => debugfsAt(image, (await partitionOf(image, 2)).start, PADS.map((name) => `rm /etc/${name}`).join('\n'))),
    expect: 'converts',
  },
  {
    name: 'odd-names-long-and-deep',
    class: 'valid but unusual',
    // Names a shell or a tool's command language would split or expand, a 255-byte name, a path
    // of over 1 200 characters: in the root filesystem and under /data alike.
    build: plain({
      files: {
        ...Object.fromEntries(['with space', 'ünïcødé', '-leading-dash', 'back\\slash', '$(reboot)', 'semi;colon', 'star*', "single'quote", 'tab\tname'].flatMap((name) => [[`usr/share/odd/${name}`, `${name}\n`], [`data/odd/${name}`, `${name}\n`]])),
        [`usr/share/${'n'.repeat(255)}`]: 'long\n',
        [`data/${'n'.repeat(255)}`]: 'long\n',
        [`data/${DEEP}/deep`]: 'deep\n',
        [`usr/${DEEP}/deep`]: 'deep\n',
      },
    }),
    expect: 'converts',
  },
  {
    name: 'many-files-in-one-directory',
    class: 'valid but unusual',
    build: plain({ files: Object.fromEntries(Array.from({ length: 1500 }, (_, i) => [`data/many/f${i}`, `${i}\n`])), rootMiB: 32 }),
    expect: 'converts',
  },
  {
    name: 'links-sparse-modes-owners',
    class: 'valid but unusual',
    // Hard links, a sparse file, set-id and sticky modes, owners from nobody to 2 000 000.
    build: plain({
      files: { 'usr/share/a': 'shared\n', 'usr/bin/suid': 'x\n', 'usr/bin/sgid': 'x\n', 'usr/share/nobody': 'x\n', 'usr/share/big-uid': 'x\n', ...dataFile('b', 'shared data\n'), ...dataFile('owned', 'x\n') },
      editTree: (tree) => {
        fs.linkSync(path.join(tree, 'usr/share/a'), path.join(tree, 'usr/share/a-link'));
        fs.linkSync(path.join(tree, 'data/b'), path.join(tree, 'data/b-link'));
        const sparse = fs.openSync(path.join(tree, 'usr/share/sparse'), 'w');
        fs.writeSync(sparse, 'end\n', 8 * MiB);
        fs.closeSync(sparse);
        fs.chmodSync(path.join(tree, 'usr/bin/suid'), 0o4755);
        fs.chmodSync(path.join(tree, 'usr/bin/sgid'), 0o2711);
        fs.mkdirSync(path.join(tree, 'usr/share/sticky'));
        fs.chmodSync(path.join(tree, 'usr/share/sticky'), 0o1777);
        fs.chownSync(path.join(tree, 'usr/share/nobody'), 65534, 65534);
        fs.chownSync(path.join(tree, 'usr/share/big-uid'), 1000000, 2000000);
        fs.chownSync(path.join(tree, 'data/owned'), 1000, 1000);
        fs.chmodSync(path.join(tree, 'data/owned'), 0o600);
      },
    }),
    expect: 'converts',
  },
  {
    name: 'ext2-root',
    class: 'valid but unusual',
    build: plain({ rootFsType: 'ext2', files: dataFile('x') }),
    expect: 'converts',
  },
  {
    name: 'ext4-4k-blocks-inline-data',
    class: 'valid but unusual',
    build: plain({ rootMkfsArgs: ['-b', '4096', '-O', 'inline_data,^metadata_csum'], files: { 'usr/share/small': 'tiny\n', ...dataFile('tiny') } }),
    expect: 'converts',
  },
  {
    name: 'gpt-out-of-order-numbers',
    class: 'valid but unusual',
    build: plain({ scheme: 'gpt', swapNumbers: true }),
    expect: 'converts',
  },
  {
    name: 'root-only-no-boot-partition',
    class: 'valid but unusual',
    build: async (ctx) => ({ image: (await ctx.golden({ rootOnly: true })).image, rootPartition: 1 }),
    expect: 'converts',
    check: (result) => ensure(result.all.includes('The input had no boot partition: a FAT boot partition was created.'), 'the note says so'),
  },
  {
    name: 'fstab-crlf-no-final-newline',
    class: 'valid but unusual',
    build: plain({ files: { 'etc/fstab': '# comment\r\nproc\t/proc\tproc\tdefaults\t0\t0\r\nPARTUUID=c0ffee01-02 / ext4 defaults 0 1' } }),
    expect: 'converts',
  },
  {
    name: 'no-hostname',
    class: 'valid but unusual',
    build: plain({ editTree: (tree) => fs.rmSync(path.join(tree, 'etc/hostname')) }),
    expect: 'converts',
  },
  {
    name: 'two-root-filesystems-chosen',
    class: 'valid but unusual',
    build: async (ctx) => ({ image: await twoRoots(ctx), config: `${SMALL_CONFIG}input:\n  root_partition: 2\n` }),
    expect: 'converts',
    check: (result) => ensure(result.all.includes('Partition 1 (ext4) was left out: input.root_partition chose partition 2.'), 'the note names the other one'),
  },

  // Nothing dropped without a word: every partition and kernel converted, noted or refused.
  {
    name: 'gpt-eight-partitions',
    class: 'nothing dropped',
    build: damaged({ scheme: 'gpt' }, (image, dir) => appendPartitions(image, dir, Array.from({ length: 6 }, () => ({ kind: 'ext4' as const })))),
    expect: /error: The input has partitions besides its boot and root filesystems: partition 3 \(ext4, 4 MiB\), partition 4 .*partition 8 \(ext4, 4 MiB\)\. .*would be lost\.\nhint: Move what they hold/,
  },
  {
    name: 'separate-ext4-boot',
    class: 'nothing dropped',
    build: damaged({}, (image, dir) => appendPartitions(image, dir, [{ kind: 'ext4', files: { 'vmlinuz-6.1.0-test': 'kernel\n', 'initrd.img-6.1.0-test': 'initrd\n' } }])),
    expect: /error: Partition 3 is a separate \/boot \(it holds initrd.img-6.1.0-test, vmlinuz-6.1.0-test\)/,
  },
  {
    name: 'swap-partition',
    class: 'nothing dropped',
    build: damaged({}, (image, dir) => appendPartitions(image, dir, [{ kind: 'swap' }])),
    expect: 'converts',
    check: (result) => ensure(result.all.includes('Partition 3 (swap) is not part of the Mender layout and was left out'), 'the note names the swap partition'),
  },
  {
    name: 'second-fat-partition',
    class: 'nothing dropped',
    build: damaged({}, (image, dir) => appendPartitions(image, dir, [{ kind: 'vfat' }])),
    expect: /error: The input has a partition besides its boot and root filesystems: partition 3 \(vfat, 4 MiB\)/,
  },
  {
    name: 'unrecognised-partition-data',
    class: 'nothing dropped',
    build: damaged({}, (image, dir) => appendPartitions(image, dir, [{ kind: 'raw' }])),
    expect: /error: The input has a partition besides its boot and root filesystems: partition 3 \(no filesystem mender-convert knows, 4 MiB\)\. [^\n]*\nhint: .*board\.raw_files.*input\.root_partition/,
  },
  {
    name: 'zero-filled-partition',
    class: 'nothing dropped',
    build: damaged({}, (image, dir) => appendPartitions(image, dir, [{ kind: 'zeros' }])),
    expect: 'converts',
    check: (result) => ensure(result.all.includes('Partition 3 holds only zeros and was left out.'), 'the note names it'),
  },
  {
    name: 'bios-boot-partition',
    class: 'nothing dropped',
    build: damaged({ scheme: 'gpt' }, (image, dir) => appendPartitions(image, dir, [{ kind: 'raw', type: '21686148-6449-6E6F-744E-656564454649' }])),
    expect: 'converts',
    check: (result) => ensure(result.all.includes('Partition 3 (a BIOS boot partition'), 'the note names it'),
  },
  {
    name: 'no-kernel',
    class: 'nothing dropped',
    build: plain({ editTree: (tree) => { fs.rmSync(path.join(tree, 'boot/vmlinuz-6.1.0-test')); fs.rmSync(path.join(tree, 'boot/initrd.img-6.1.0-test')); } }),
    expect: 'converts',
    // No kernel to link to: no /boot/kernel or /boot/initrd either.
    check: (result) => ensure(result.all.includes('No kernel found in the root filesystem /boot or on the boot partition: the image will not boot until one is installed.'), 'the note says so'),
  },
  {
    name: 'data-larger-than-data-partition',
    class: 'nothing dropped',
    build: plain({ rootMiB: 48, editTree: (tree) => write(path.join(tree, 'data/big.bin'), Buffer.alloc(20 * MiB, 1)) }),
    expect: /error: \/data in the root filesystem holds more than the data partition of 16 MiB \(data\.size_mb\) can take\.\nhint: Raise data\.size_mb/,
  },
  {
    name: 'two-root-filesystems',
    class: 'nothing dropped',
    build: async (ctx) => ({ image: await twoRoots(ctx) }),
    expect: /error: The input has 2 root filesystems \(partitions 1 and 2\)\.\nhint: Choose one with input\.root_partition/,
  },

  // Sizes and special files: a message, not an internal error.
  {
    name: 'fstab-2gib-sparse',
    class: 'sizes and special files',
    build: plain({ rootMiB: 32, editTree: (tree) => fs.truncateSync(path.join(tree, 'etc/fstab'), 2 * 1024 ** 3) }),
    expect: /error: \/etc\/fstab in the image is 2147483648 bytes; a file of its kind holds a few lines/,
  },
  {
    name: 'os-release-1gib-sparse',
    class: 'sizes and special files',
    build: plain({ rootMiB: 32, editTree: (tree) => fs.truncateSync(path.join(tree, 'etc/os-release'), 1024 ** 3) }),
    expect: /error: \/etc\/os-release in the image is 1073741824 bytes/,
  },
  {
    name: 'fstab-is-a-directory',
    class: 'sizes and special files',
    build: plain({ editTree: (tree) => { fs.rmSync(path.join(tree, 'etc/fstab')); fs.mkdirSync(path.join(tree, 'etc/fstab/inside'), { recursive: true }); } }),
    expect: 'converts',
    changes: [/^\/etc\/fstab\/inside$/],
    check: (result) => ensure(result.all.includes('/etc/fstab is a directory, not a file: replaced by a regular file; none of its lines were kept.'), 'the note names it'),
  },
  {
    name: 'fifo-under-data',
    class: 'sizes and special files',
    build: plain({ editTree: (tree) => { fs.mkdirSync(path.join(tree, 'data'), { recursive: true }); execFileSync('mkfifo', [path.join(tree, 'data', 'pipe')]); } }),
    expect: /error: \/data\/pipe in the root filesystem is a special file/,
  },
  {
    name: 'device-node-under-data',
    class: 'sizes and special files',
    build: plain({ editTree: (tree) => { fs.mkdirSync(path.join(tree, 'data'), { recursive: true }); execFileSync('mknod', [path.join(tree, 'data', 'null'), 'c', '1', '3']); } }),
    expect: /error: \/data\/null in the root filesystem is a special file/,
  },
  {
    name: 'total-size-beyond-any-table',
    class: 'sizes and special files',
    build: withConfig(SMALL_CONFIG.replace('total_size_mb: 160', 'total_size_mb: 100000000')),
    expect: /error: .*(2 TiB|GPT)/,
  },
  {
    name: 'overlay-with-fifo',
    class: 'sizes and special files',
    build: async (ctx) => {
      const overlay = path.join(ctx.dir, 'overlay');
      fs.mkdirSync(path.join(overlay, 'etc'), { recursive: true });
      execFileSync('mkfifo', [path.join(overlay, 'etc/pipe')]);
      return { image: await ctx.shared(), extraArgs: ['--overlay', overlay] };
    },
    expect: /error: .*pipe/,
  },
  {
    name: 'device-type-4mib',
    class: 'sizes and special files',
    build: withConfig(`${SMALL_CONFIG}device:\n  types: [${'a'.repeat(4 * MiB)}]\n`),
    expect: /error: The outputs' file names would be \d+ bytes long \(golden-a+….img and the others, while they are written\), past the 255 bytes a file name may have\.\nhint: Set image\.name/,
    check: (result) => ensure(result.all.length < 4096, 'the name is not printed back whole'),
  },

  // Tables and containers.
  {
    name: 'truncated-image',
    class: 'tables and containers',
    build: damaged({}, (image) => fs.truncateSync(image, 30 * MiB)),
    expect: /error: golden.img is truncated: partition 2 ends at byte \d+ but the image has only 31457280 bytes\./,
  },
  {
    name: 'overlapping-partitions',
    class: 'tables and containers',
    // Partition 1's MBR entry made 8 MiB longer, over the start of partition 2.
    build: damaged({}, (image) => {
      const size = Buffer.alloc(4);
      size.writeUInt32LE((24 * MiB) / 512);
      writeAt(image, 446 + 12, size);
    }),
    expect: /error: .*overlap/,
  },
  {
    name: 'extended-partition',
    class: 'tables and containers',
    build: damaged({}, async (image) => {
      const { start, size } = await partitionOf(image, 2);
      fs.truncateSync(image, start + size + 8 * MiB);
      await tool('sfdisk', ['--append', '--no-reread', '--no-tell-kernel', '-q', image], `start=${(start + size) / 512}, size=${(8 * MiB) / 512}, type=5\nstart=${(start + size) / 512 + 2048}, size=${(4 * MiB) / 512}, type=83\n`);
    }),
    expect: /error: .*extended partition/i,
  },
  {
    name: 'protective-mbr-without-gpt',
    class: 'tables and containers',
    build: damaged({ scheme: 'gpt' }, (image) => {
      writeAt(image, 512, Buffer.alloc(512));
      writeAt(image, fs.statSync(image).size - 512, Buffer.alloc(512));
    }),
    expect: /error: .*(protective MBR|GPT)/,
  },
  {
    name: 'gpt-primary-header-damaged',
    class: 'tables and containers',
    build: damaged({ scheme: 'gpt' }, (image) => writeAt(image, 512 + 16, Buffer.from([0xde, 0xad, 0xbe, 0xef]))),
    expect: 'converts',
    check: (result) => ensure(/Partition table: .*backup/i.test(result.all), 'the note says the backup GPT was used'),
  },
  {
    name: 'random-bytes',
    class: 'tables and containers',
    build: async (ctx) => ({ image: write(path.join(ctx.dir, 'random.img'), Buffer.from(Array.from({ length: 3 * MiB }, (_, i) => (i * 2654435761) >>> 24))) }),
    expect: /error: .*(no partition table|not a disk image)/i,
  },
  {
    name: 'xz-input-truncated',
    class: 'tables and containers',
    build: async (ctx) => {
      const { image } = await ctx.golden();
      await tool('xz', ['-k', '-0', '-T1', image]);
      fs.truncateSync(`${image}.xz`, Math.floor(fs.statSync(`${image}.xz`).size / 2));
      return { image: `${image}.xz` };
    },
    expect: /error: .*(truncated|corrupt)/,
  },
  {
    name: 'zip-with-two-images',
    class: 'tables and containers',
    build: async (ctx) => {
      const image = await ctx.shared();
      fs.copyFileSync(image, path.join(ctx.dir, 'a.img'));
      fs.copyFileSync(image, path.join(ctx.dir, 'b.img'));
      await tool('zip', ['-q', '-j', '-0', path.join(ctx.dir, 'golden.zip'), path.join(ctx.dir, 'a.img'), path.join(ctx.dir, 'b.img')]);
      return { image: path.join(ctx.dir, 'golden.zip') };
    },
    expect: /error: .*(2 disk images|holds 2)/,
  },
  {
    name: 'zip-without-image',
    class: 'tables and containers',
    build: async (ctx) => {
      write(path.join(ctx.dir, 'readme.txt'), 'no image here\n');
      await tool('zip', ['-q', '-j', path.join(ctx.dir, 'golden.zip'), path.join(ctx.dir, 'readme.txt')]);
      return { image: path.join(ctx.dir, 'golden.zip') };
    },
    expect: /error: .*no disk image/,
  },

  // Inputs, arguments and configurations that are not what they should be.
  {
    name: 'input-missing',
    class: 'inputs and arguments',
    build: async (ctx) => ({ image: path.join(ctx.dir, 'missing.img') }),
    expect: /error: The disk image .*missing\.img does not exist or is not a file\./,
  },
  {
    name: 'input-is-a-directory',
    class: 'inputs and arguments',
    build: async (ctx) => {
      fs.mkdirSync(path.join(ctx.dir, 'dir.img'));
      return { image: path.join(ctx.dir, 'dir.img') };
    },
    expect: /error: The disk image .*dir\.img does not exist or is not a file\./,
  },
  {
    name: 'input-is-empty',
    class: 'inputs and arguments',
    build: async (ctx) => ({ image: write(path.join(ctx.dir, 'empty.img'), '') }),
    expect: /error: The disk image .*empty\.img is empty\./,
  },
  {
    name: 'input-is-a-fifo',
    class: 'inputs and arguments',
    build: async (ctx) => {
      execFileSync('mkfifo', [path.join(ctx.dir, 'pipe.img')]);
      return { image: path.join(ctx.dir, 'pipe.img') };
    },
    expect: /error: The disk image .*pipe\.img does not exist or is not a file\./,
  },
  {
    name: 'output-dir-is-a-file',
    class: 'inputs and arguments',
    build: async (ctx) => ({ image: await ctx.shared(), outputDir: write(path.join(ctx.dir, 'deploy-file'), 'a file\n') }),
    expect: /error: The output directory \(--output-dir\) .*deploy-file cannot be created \(.*deploy-file: a file, not a directory\)\.\nhint: Check the path/,
  },
  {
    name: 'work-dir-is-a-file',
    class: 'inputs and arguments',
    build: async (ctx) => ({ image: await ctx.shared(), workDir: write(path.join(ctx.dir, 'work-file'), 'a file\n') }),
    expect: /error: The work directory \(--work-dir\) .*work-file cannot be created \(.*work-file: a file, not a directory\)\.\nhint: Check the path/,
  },
  {
    name: 'output-dir-in-proc',
    class: 'inputs and arguments',
    // mkdir there fails with ENOENT under an existing parent: Node's recursive mkdir retried it forever.
    build: shared({ outputDir: '/proc/mender-convert-deploy' }),
    expect: /error: The output directory \(--output-dir\) \/proc\/mender-convert-deploy cannot be created \(\/proc\/mender-convert-deploy: its filesystem refuses a new directory there, as \/proc and \/sys do\)\./,
  },
  {
    name: 'output-dir-under-dangling-link',
    class: 'inputs and arguments',
    // An unmounted volume: the link is there, what it names is not.
    build: async (ctx) => {
      fs.symlinkSync(path.join(ctx.dir, 'unmounted'), path.join(ctx.dir, 'volume'));
      return { image: await ctx.shared(), outputDir: path.join(ctx.dir, 'volume', 'deploy') };
    },
    expect: /error: The output directory \(--output-dir\) .*volume\/deploy cannot be created \(.*volume: a symlink that leads nowhere\)\./,
  },
  {
    name: 'output-dir-read-only',
    class: 'inputs and arguments',
    // A read-only volume (a CI cache mounted ro): the run sees the output directory as a read-only
    // tmpfs in a mount namespace of its own, the runner's checks see the real, empty directory.
    build: shared(),
    expect: /error: The output directory \(--output-dir\) .*deploy cannot be written to \(a read-only filesystem\)\.\nhint: Choose a directory on a writable filesystem/,
    run: async (ctx) => {
      fs.mkdirSync(ctx.deploy, { recursive: true });
      const mountReadOnly = 'mount -t tmpfs -o ro tmpfs "$0" && exec "$@"';
      const argv = ['--user', '--map-root-user', '--mount', '--', 'sh', '-c', mountReadOnly, ctx.deploy, 'node', ...ctx.argv];
      const { exitCode, stdout, stderr, all } = await execa('unshare', argv, { reject: false, all: true, env: { ...CLI_ENV, ...ctx.env } });
      return { exitCode, stdout, stderr, all };
    },
  },
  {
    name: 'config-is-a-directory',
    class: 'inputs and arguments',
    build: async (ctx) => {
      fs.mkdirSync(path.join(ctx.dir, 'config-dir'));
      return { image: await ctx.shared(), config: null, extraArgs: ['--config', path.join(ctx.dir, 'config-dir')] };
    },
    expect: /error: .*config-dir/,
  },
  {
    name: 'config-binary-garbage',
    class: 'inputs and arguments',
    build: withConfig(Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256)).toString('latin1')),
    expect: /error: .*c\.yaml:1: (expected a mapping of settings|not valid YAML)/,
  },
  {
    name: 'config-unknown-key',
    class: 'inputs and arguments',
    build: withConfig('storage:\n  totl_size_mb: 100\n'),
    expect: /error: .*unknown setting 'storage\.totl_size_mb'; did you mean 'storage\.total_size_mb'/,
  },
  {
    name: 'config-wrong-type',
    class: 'inputs and arguments',
    build: withConfig('data:\n  growfs: sometimes\n'),
    expect: /error: .*must be true or false/,
  },
  {
    name: 'config-negative-size',
    class: 'inputs and arguments',
    build: withConfig('boot:\n  size_mb: -40\n'),
    expect: /error: .*must be at least 1/,
  },
  {
    name: 'config-alignment-not-sectors',
    class: 'inputs and arguments',
    build: withConfig('storage:\n  alignment: 1000000\n'),
    expect: /error: .*multiple of 512/,
  },
  {
    name: 'config-storage-too-small',
    class: 'inputs and arguments',
    build: withConfig('storage:\n  total_size_mb: 50\n'),
    expect: /error: .*storage is too small/,
  },
  {
    name: 'overlay-missing',
    class: 'inputs and arguments',
    build: async (ctx) => ({ image: await ctx.shared(), extraArgs: ['--overlay', path.join(ctx.dir, 'nope')] }),
    expect: /error: The overlay directory .*nope does not exist\./,
  },

  // Time and size bombs in configurations: answered at once, in a few lines.
  {
    name: 'config-40000-unknown-keys',
    class: 'time and size bombs',
    build: withConfig(`${SMALL_CONFIG}${Array.from({ length: 40000 }, (_, i) => `unknown_${i}: ${i}\n`).join('')}`),
    expect: /error: [^\n]*\n(.*\n){0,25}.*and 39980 more/,
    check: (result) => ensure(result.stderr.split('\n').length < 30, 'the error is a few lines'),
  },
  {
    name: 'config-alias-bomb',
    class: 'time and size bombs',
    build: withConfig(`a: &a ["x","x","x","x","x","x","x","x","x"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n`),
    // Its keys are unknown: refused before any alias is expanded.
    expect: /error: Invalid config:\n  .*c\.yaml:1: unknown setting 'a'/,
  },
  {
    name: 'config-deep-nesting',
    class: 'time and size bombs',
    build: withConfig(`device:\n  types: ${'['.repeat(20000)}${']'.repeat(20000)}\n`),
    expect: /error: .*c\.yaml: not valid YAML: /,
  },
  {
    name: 'config-4mib-wrong-value',
    class: 'time and size bombs',
    build: withConfig(`${SMALL_CONFIG}device:\n  types: [${'/'.repeat(4 * MiB)}]\n`),
    expect: /error: .*'device\.types' must be device types .*, not "\/+… \(\d+ characters\)/,
    check: (result) => ensure(result.all.length < 4096, 'the value is not printed back whole'),
  },

  // Secrets: never printed, never left behind.
  {
    name: 'tenant-token-wrong-type',
    class: 'secrets',
    build: withConfig(`${SMALL_CONFIG}server:\n  tenant_token: [SECRETTOKEN1]\n`),
    expect: /error: .*server\.tenant_token/,
    check: (result) => ensure(!result.all.includes('SECRETTOKEN1'), 'the token is never printed'),
  },
  {
    name: 'tenant-token-late-failure',
    class: 'secrets',
    build: async (ctx) => ({
      image: (await ctx.golden({ editTree: (tree) => { fs.mkdirSync(path.join(tree, 'data'), { recursive: true }); execFileSync('mkfifo', [path.join(tree, 'data', 'pipe')]); } })).image,
      config: `${SMALL_CONFIG}server:\n  url: https://mender.example.com\n  tenant_token: SECRETTOKEN2\n`,
    }),
    expect: /error: \/data\/pipe in the root filesystem is a special file/,
    check: (result, { work }) => {
      ensure(!result.all.includes('SECRETTOKEN2'), 'the token is never printed');
      ensure(!fs.readFileSync(path.join(work, 'convert.log'), 'utf8').includes('SECRETTOKEN2'), 'the token is not in the log');
    },
  },
  {
    name: 'tenant-token-converted',
    class: 'secrets',
    build: withConfig(`${SMALL_CONFIG}server:\n  url: https://mender.example.com\n  tenant_token: SECRETTOKEN3\n`),
    expect: 'converts',
    changes: [/^\/etc\/mender\/mender\.conf$/],
    check: (result, { work, deploy }) => {
      ensure(!result.all.includes('SECRETTOKEN3'), 'the token is never printed');
      ensure(!fs.readFileSync(path.join(work, 'convert.log'), 'utf8').includes('SECRETTOKEN3'), 'the token is not in the log');
      ensure(!fs.readFileSync(path.join(deploy, 'golden-testhost-mender.json'), 'utf8').includes('SECRETTOKEN3'), 'the token is not in the results');
    },
  },

  // Kills and the work directory: a directory shared by CI jobs stays usable.
  {
    name: 'sigkill-while-writing-outputs',
    class: 'kills and the work directory',
    build: shared(),
    expect: 'converts',
    run: async (ctx, runCli) => {
      // Killed (as an OOM kill does) while its first partial output exists, in an output directory of its own.
      const killedDeploy = path.join(ctx.dir, 'killed-deploy');
      const argv = ctx.argv.map((arg) => (arg === ctx.deploy ? killedDeploy : arg));
      const partials = await killWhen(argv, ctx.env, () => (fs.existsSync(killedDeploy) ? fs.readdirSync(killedDeploy).filter((name) => name.includes('.partial-run-')) : []));
      ensure(partials.length > 0, 'the run was killed while writing its outputs');
      ensure(fs.readdirSync(ctx.work).filter((name) => name.startsWith('run-')).length === 1, 'the killed run left its run directory');
      const next = await runCli(ctx.argv, ctx.env);
      ensure(fs.readdirSync(killedDeploy).length === 0, `the killed run's partial outputs were removed by the next run (left: ${fs.readdirSync(killedDeploy).join(', ')})`);
      fs.rmdirSync(killedDeploy);
      return next;
    },
  },
  {
    name: 'lock-held-by-another-process',
    class: 'kills and the work directory',
    build: shared(),
    expect: /error: Another conversion .*is using the work directory .*\nhint: Wait for it to finish, or give this one its own directory with --work-dir\./,
    run: async (ctx, runCli) => {
      fs.mkdirSync(ctx.work, { recursive: true });
      const holder = spawnHolder(path.join(ctx.work, '.lock'));
      await holder.ready;
      try {
        return await runCli(ctx.argv, ctx.env);
      } finally {
        await holder.stop();
      }
    },
  },
];

/** Start the conversion, SIGKILL it once `when` gives something, and wait until nothing of it runs. */
async function killWhen(argv: string[], env: Record<string, string>, when: () => string[]): Promise<string[]> {
  const child = execa('node', argv, { reject: false, all: true, env: { ...CLI_ENV, ...env } });
  let seen: string[] = [];
  for (const started = Date.now(); (seen = when()).length === 0; await new Promise((resolve) => setTimeout(resolve, 5))) {
    if (child.exitCode !== null || Date.now() - started > 90_000) break;
  }
  if (seen.length > 0) child.kill('SIGKILL');
  await child;
  return seen;
}

/** Another holder of the work directory's kernel lock, as a concurrent conversion is. */
function spawnHolder(lock: string): { ready: Promise<void>; stop: () => Promise<void> } {
  const child = spawn('flock', ['--no-fork', lock, 'sh', '-c', 'echo held; exec sleep 600'], { stdio: ['ignore', 'pipe', 'ignore'] });
  return {
    ready: new Promise((resolve) => child.stdout!.once('data', () => resolve())),
    stop: async () => {
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('close', resolve));
    },
  };
}
