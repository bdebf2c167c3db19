import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, runCli } from '../../helpers/cli.js';
import { partitionOf } from '../../helpers/damage.js';
import { CORPUS, SMALL_CONFIG, type CaseRun, type CorpusCase } from '../../helpers/hostile-corpus.js';
import { buildGoldenImage } from '../../helpers/images.js';
import { ext4Listing, listingChanges, type TreeListing } from '../../helpers/rootfs-tree.js';

/**
 * The hostile-input corpus (test/helpers/hostile-corpus.ts), case by case. Whatever the input,
 * a run ends in a correct conversion or in one `error:` line (and a `hint:`) with a non-zero exit
 * and no stack trace; the input is unchanged, nothing is left in TMPDIR, in a run directory, under
 * the output directory after a failure, or anywhere else in the case's directory, and no process
 * of the run is left. A conversion's root filesystem holds the input's files byte for byte but
 * for what every conversion changes (CHANGED, ADDED) and what the case says it changes; what was
 * under /data is in the data partition.
 */
const base = fs.mkdtempSync(path.join(os.tmpdir(), 'hostile-corpus-'));

/**
 * Input paths every conversion may change or remove: the fstab it rewrites, /data (moved to the
 * data partition, a mount point left), the client's state directories (links to /data instead).
 */
const CHANGED = [/^\/etc\/fstab$/, /^\/data(\/.*)?$/, /^\/var\/lib\/mender(-configure|-monitor|-orchestrator)?(\/.*)?$/];
/** Paths every conversion adds (the directories above them too, where the input had none). */
const ADDED = [
  /^\/boot\/(kernel|initrd|efi|firmware)$/,
  // The links Debian's kernel packages keep on the newest kernel, where the input has none:
  // GRUB's /boot/kernel and /boot/initrd point at them.
  /^\/(vmlinuz|initrd\.img)$/,
  /^\/data$/,
  /^\/etc\/mender(\/(artifact_info|scripts|scripts\/version))?$/,
  /^\/etc\/systemd(\/system(\/mender-grow-data\.service|\/[\w.-]+\.(wants|requires)(\/mender-[\w-]+\.service)?)?)?$/,
  /^\/lib(\/systemd(\/system(\/mender-data-dir\.service)?)?)?$/,
  /^\/usr\/bin\/grub-mender-grubenv-(print|set)$/,
  /^\/usr\/libexec(\/mender-convert(\/grow-data-partition)?)?$/,
  /^\/var(\/lib(\/mender(-configure|-monitor|-orchestrator)?)?)?$/,
];
let shared: Promise<{ image: string; sha256: string }> | undefined;
/**
 * One plain golden image for the cases that vary only the configuration or the command line.
 * Hashed once when built and once after all cases; each case checks it did not change by what
 * the kernel updates on any write (size, mtime, ctime), without reading it again.
 */
function sharedGolden(): Promise<{ image: string; sha256: string }> {
  shared ??= buildGoldenImage({ dir: path.join(base, 'shared') }).then(({ image }) => ({ image, sha256: sha256(image) }));
  return shared;
}
const identity = (file: string) => {
  const st = fs.statSync(file);
  return `${st.size} ${st.mtimeMs} ${st.ctimeMs}`;
};
const OUTPUT_SUFFIXES = ['.cfg', '.ext4', '.img', '.json', '.mender'];

/** A file's sha256, read 1 MiB at a time (one large buffer costs more than the hashing). */
function sha256(file: string): string {
  const hash = createHash('sha256');
  const buffer = Buffer.allocUnsafe(1024 * 1024);
  const fd = fs.openSync(file, 'r');
  try {
    for (let n; (n = fs.readSync(fd, buffer, 0, buffer.length, null)) > 0;) hash.update(buffer.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return hash.digest('hex');
}

/** Every file and directory under `dir` (not following links), with what identifies its content, but for the named subdirectories. */
function snapshot(dir: string, skip: string[]): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (at: string, rel: string) => {
    for (const name of fs.readdirSync(at)) {
      const relative = path.join(rel, name);
      if (rel === '' && skip.includes(name)) continue;
      const st = fs.lstatSync(path.join(at, name));
      out.set(relative, `${st.mode.toString(8)} ${st.size} ${st.mtimeMs}`);
      if (st.isDirectory()) walk(path.join(at, name), relative);
    }
  };
  walk(dir, '');
  return out;
}

/** Processes with an argument in `dir` (the run's tools all get paths inside it). */
function processesIn(dir: string): string[] {
  const found: string[] = [];
  for (const pid of fs.readdirSync('/proc').filter((name) => /^\d+$/.test(name) && Number(name) !== process.pid)) {
    try {
      const args = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (args.some((arg) => arg === dir || arg.includes(`${dir}/`))) found.push(`${pid}: ${args.join(' ')}`);
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

async function noProcessesIn(dir: string): Promise<string[]> {
  // A killed run's children end with the tool they were running: give them a moment.
  for (let tries = 0; tries < 50; tries++) {
    if (processesIn(dir).length === 0) return [];
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return processesIn(dir);
}

/** Input paths the conversion may change, as the case's changes and CHANGED say; additions as ADDED says. */
function unexpectedChanges(before: TreeListing, after: TreeListing, extra: RegExp[]): string[] {
  return listingChanges(before, after)
    .filter(({ path: p, before: was }) => {
      if ([...CHANGED, ...extra].some((pattern) => pattern.test(p))) return false;
      return was !== undefined || !ADDED.some((pattern) => pattern.test(p));
    })
    .map(({ path: p, before: was, after: now }) => `${p}: ${was ?? '(none)'} → ${now ?? '(none)'}`);
}

async function checkConverted(c: CorpusCase, dir: string, deploy: string, input: { image: string; rootPartition: number }): Promise<void> {
  const outputs = fs.readdirSync(deploy).sort();
  expect(outputs.map((name) => path.extname(name)).sort(), `the outputs: ${outputs.join(', ')}`).toEqual(OUTPUT_SUFFIXES);
  const stem = outputs.find((name) => name.endsWith('.img'))!.slice(0, -'.img'.length);
  const golden = await ext4Listing(input.image, path.join(dir, 'listing-input'), await partitionOf(input.image, input.rootPartition).then(({ start, size }) => ({ offset: start, bytes: size })));
  expect(golden.get('/etc/os-release') ?? golden.get('/etc'), 'the input\'s root filesystem was listed').toBeDefined();
  const rootfs = await ext4Listing(path.join(deploy, `${stem}.ext4`), path.join(dir, 'listing-rootfs'));
  expect(unexpectedChanges(golden, rootfs, c.changes ?? []), 'the root filesystem holds the input\'s files as they were').toEqual([]);
  // What was under /data is in the data partition (partition 4 of the output), as it was.
  const image = path.join(deploy, `${stem}.img`);
  const data = await ext4Listing(image, path.join(dir, 'listing-data'), await partitionOf(image, 4).then(({ start, size }) => ({ offset: start, bytes: size })));
  const moved = [...golden].filter(([p]) => p.startsWith('/data/')).map(([p, what]) => [p.slice('/data'.length), what] as const);
  if (golden.get('/data')?.startsWith('dir ')) expect(moved.filter(([p, what]) => data.get(p) !== what).map(([p]) => p), 'the input\'s /data is in the data partition').toEqual([]);
}

async function runCase(c: CorpusCase): Promise<void> {
  const dir = path.join(base, c.name);
  fs.mkdirSync(dir);
  const input = await c.build({ dir, golden: (options = {}) => buildGoldenImage({ dir, ...options }), shared: async () => (await sharedGolden()).image });
  const isShared = shared !== undefined && input.image === (await shared).image;
  const deploy = input.outputDir ?? path.join(dir, 'deploy');
  const work = input.workDir ?? path.join(dir, 'work');
  const args = ['--disk-image', input.image];
  if (input.config !== null) {
    fs.writeFileSync(path.join(dir, 'c.yaml'), input.config ?? SMALL_CONFIG);
    args.push('--config', path.join(dir, 'c.yaml'));
  }
  if (!input.extraArgs?.includes('-n')) args.push('-n', 'release-1');
  args.push('--output-dir', deploy, '--work-dir', work, ...(input.extraArgs ?? []));
  const exists = fs.existsSync(input.image) && fs.statSync(input.image).isFile();
  const unchanged = exists ? { identity: identity(input.image), sha256: isShared ? undefined : sha256(input.image) } : undefined;
  // Its own temporary directory: whatever the run leaves there is seen.
  const tmp = fs.mkdtempSync(path.join(dir, 'tmp-'));
  const env = { TMPDIR: tmp, ...input.env };
  const before = snapshot(dir, ['deploy', 'work', path.basename(tmp), 'killed-deploy']);
  const cli = async (argv: string[], runEnv: Record<string, string>): Promise<CaseRun> => {
    const result = await runCli(argv.slice(1), { env: runEnv });
    return { exitCode: result.exitCode, stdout: String(result.stdout), stderr: String(result.stderr), all: String(result.all) };
  };
  const result = c.run ? await c.run({ dir, argv: [CLI, ...args], env, deploy, work }, cli) : await cli([CLI, ...args], env);

  expect(await noProcessesIn(dir), 'no process of the run is left').toEqual([]);
  if (unchanged) expect({ identity: identity(input.image), sha256: unchanged.sha256 && sha256(input.image) }, 'the input is unchanged').toEqual(unchanged);
  expect(fs.readdirSync(tmp), 'nothing is left in TMPDIR').toEqual([]);
  fs.rmdirSync(tmp);
  if (fs.existsSync(work) && fs.statSync(work).isDirectory()) expect(fs.readdirSync(work).filter((name) => name.startsWith('run-')), 'no run directory is left').toEqual([]);
  expect(result.all, 'no stack trace').not.toMatch(/\n\s+at .*[(/].*:\d+:\d+\)?\n/);
  expect(snapshot(dir, ['deploy', 'work', 'killed-deploy']), 'nothing changed outside the work and output directories').toEqual(before);
  if (c.expect === 'converts') {
    expect(result.exitCode, result.all).toBe(0);
    await checkConverted(c, dir, deploy, { image: input.image, rootPartition: input.rootPartition ?? 2 });
  } else {
    // A user-caused failure: status 1, never an internal error (status 70, 'please report this as a bug').
    expect(result.exitCode, result.all).toBe(1);
    expect(result.stderr, 'no internal error').not.toMatch(/internal error/);
    const errors = result.stderr.split('\n').filter((line) => line.startsWith('error:'));
    expect(errors, `one error line:\n${result.stderr}`).toHaveLength(1);
    expect(result.stderr.split('\n').filter((line) => line.startsWith('hint:')).length, 'at most one hint').toBeLessThanOrEqual(1);
    expect(result.stderr).toMatch(c.expect);
    const outputs = fs.existsSync(deploy) && fs.statSync(deploy).isDirectory() ? fs.readdirSync(deploy) : [];
    expect(outputs, 'nothing under the output directory').toEqual([]);
  }
  await c.check?.(result, { dir, deploy, work });
}

const CLASSES = [...new Set(CORPUS.map((c) => c.class))];

afterAll(async () => {
  if (shared) expect(sha256((await shared).image), 'the shared input is unchanged after every case').toBe((await shared).sha256);
});

describe('hostile-input corpus', () => {
  it('has at least 60 cases, each named once', () => {
    expect(CORPUS.length).toBeGreaterThanOrEqual(60);
    expect(new Set(CORPUS.map((c) => c.name)).size).toBe(CORPUS.length);
  });

  describe.concurrent('cases', () => {
    for (const name of CLASSES) {
      describe(name, () => {
        for (const c of CORPUS.filter((item) => item.class === name)) {
          it(`${c.name}: ${c.expect === 'converts' ? 'converts' : 'refused'}`, { timeout: 180_000 }, () => runCase(c));
        }
      });
    }
  });
});
