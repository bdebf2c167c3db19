#!/usr/bin/env zx
// Benchmark: our `artifact write rootfs-image` against mender-artifact's, on the same ≥ 1 GiB
// filesystem image of real files, per compression, side by side in one run: wall time, CPU
// time (user + sys of the command and its children), peak RSS of its largest process, output
// size, and the ratios the goals are stated in (issue 8: lzma ≥ 2× faster within 5 % of the
// size; gzip at least as fast at no worse size).
//
// usage: zx scripts/bench/artifact.mjs [--payload FILE] [--runs N] [--lzma-runs N] [--only gzip,lzma,zstd]
//                                      [--kinds own,partition,sparse,random] [--lzma-kind slice|partition]
//   --payload or BENCH_ARTIFACT_PAYLOAD: a filesystem image to use; default: work/bench/payload-1g.ext4,
//   made once from copies of the host's /usr (shared libraries, JVMs, documentation).
//   --kinds: the payloads gzip is measured on (default all): own (the payload above); partition: an
//   887 MiB ext4 of 640 MiB of files (the sample debootstrap trees when built, then host files),
//   copied out whole (free space as zeros, as dd gives it); sparse: the same file with its free
//   space as holes; random: 400 MB of incompressible bytes. lzma runs on the whole partition, the
//   size of a real root filesystem's payload (xz's equal blocks on every core; mender-artifact's
//   one-core lzma takes 7-9 minutes for it), or with --lzma-kind slice on its first 128 MiB (one
//   block, so one core: payloads under 384 MiB are not split, see src/artifact/compress.ts). Times are of the
//   process tree (GNU time, from wait4: wall, user, system; the largest process's peak RSS, sampled
//   from /proc and from wait4, see lib.mjs), tools
//   alternating run by run.
// Results: a table on stdout and work/bench-artifact.json.
import { $, argv, fs, path } from 'zx';
import { benchDir, fmt, largestRssMiB, measure, root, summarise, table } from './lib.mjs';

await fs.mkdirp(benchDir);
const runs = Number(argv.runs ?? 1);
// mender-artifact's lzma uses one core and takes minutes per GiB: one run unless asked.
const lzmaRuns = Number(argv['lzma-runs'] ?? 1);
const only = argv.only ? String(argv.only).split(',') : ['gzip', 'lzma', 'zstd'];
const kinds = argv.kinds ? String(argv.kinds).split(',') : ['own', 'partition', 'sparse', 'random'];
const lzmaKind = String(argv['lzma-kind'] ?? 'partition');
if (!['slice', 'partition'].includes(lzmaKind)) throw new Error(`--lzma-kind ${lzmaKind}: slice or partition`);
const GiB = 1024 ** 3;

async function payloadImage() {
  const given = argv.payload ?? process.env.BENCH_ARTIFACT_PAYLOAD;
  if (given) {
    const file = path.resolve(String(given));
    if ((await fs.stat(file)).size < GiB) console.warn(`note: ${file} is smaller than 1 GiB`);
    return file;
  }
  const file = path.join(benchDir, 'payload-1g.ext4');
  if (await fs.pathExists(file)) return file;
  const tree = path.join(benchDir, 'payload-tree');
  await fs.remove(tree);
  await fs.mkdirp(tree);
  // Real files of the kinds a root filesystem holds, until there is more than 1 GiB of them.
  for (const dir of ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/share', '/usr/lib/jvm', '/usr/lib/python3', '/usr/bin']) {
    const used = Number((await $`du -s -B1 ${tree}`).stdout.split('\t')[0]);
    if (used > 1.1 * GiB) break;
    if (await fs.pathExists(dir)) await $`cp -a ${dir} ${path.join(tree, dir.replaceAll('/', '_'))}`.nothrow();
  }
  const used = Number((await $`du -s -B1 ${tree}`).stdout.split('\t')[0]);
  if (used < GiB) throw new Error(`only ${used} bytes of real files found for the payload; pass --payload FILE`);
  // Rootless: mke2fs -d copies the tree in; 15 % headroom as a converted rootfs has.
  await $`mke2fs -q -F -t ext4 -d ${tree} ${file} ${Math.ceil((used * 1.15) / 1048576)}M`;
  await fs.remove(tree);
  return file;
}

/** The payload kinds of issue 24, made once under work/bench/payloads. */
async function kindPayloads() {
  const dir = path.join(benchDir, 'payloads');
  await fs.mkdirp(dir);
  const partition = path.join(dir, 'partition.ext4');
  const sparse = path.join(dir, 'sparse.ext4');
  const random = path.join(dir, 'random-400m.bin');
  const slice = path.join(dir, 'partition-128m.bin');
  if (!(await fs.pathExists(partition))) {
    const tree = path.join(dir, 'tree');
    await fs.remove(tree);
    await fs.mkdirp(tree);
    // The sample amd64 root filesystem when the tests have built it, then host files of the kinds a
    // root filesystem holds (programs, libraries, translations, documentation), up to 640 MiB:
    // about 70 % of the 887 MiB filesystem, as in the partition. One sample only: the arm64
    // ones are near copies of each other, and a root filesystem holding three copies of Debian
    // would make long-distance matches (which favour xz's one-block output) look common.
    const samples = (await fs.pathExists(path.join(root, 'work/sample'))) ? (await fs.readdir(path.join(root, 'work/sample'))).filter((name) => name.startsWith('rootfs-bookworm-amd64-') && !name.endsWith('.lock')).slice(0, 1).map((name) => path.join(root, 'work/sample', name)) : [];
    const host = ['/usr/lib/gcc', '/usr/share/locale', '/usr/share/doc', '/usr/share/man', '/usr/lib/python3.11', '/usr/lib/python3', '/usr/lib/x86_64-linux-gnu/perl', '/usr/share/perl', '/usr/lib/x86_64-linux-gnu', '/usr/bin'];
    for (const source of [...samples, ...host]) {
      if (Number((await $`du -s -B1 ${tree}`).stdout.split('\t')[0]) >= 640 * 1048576) break;
      if (await fs.pathExists(source)) await $`cp -a ${source} ${path.join(tree, source.replaceAll('/', '_'))}`.nothrow();
    }
    await $`mke2fs -q -F -t ext4 -E root_owner=0:0 -d ${tree} ${sparse} 887M`;
    await fs.remove(tree);
    await $`cp --sparse=never ${sparse} ${partition}`;
  }
  if (!(await fs.pathExists(sparse))) await $`cp --sparse=always ${partition} ${sparse}`;
  // Reproducible incompressible bytes: AES-CTR of zeros.
  if (!(await fs.pathExists(random))) await $`openssl enc -aes-128-ctr -K 00112233445566778899aabbccddeeff -iv 0 -nosalt -in /dev/zero 2>/dev/null | head -c 400000000 > ${random}`.nothrow();
  if (!(await fs.pathExists(slice))) await $`head -c ${128 * 1048576} ${partition} > ${slice}`;
  return { partition, sparse, random, slice };
}

const payload = await payloadImage();
const payloadBytes = (await fs.stat(payload)).size;
console.log(`payload: ${payload} (${fmt(payloadBytes / 1048576, 0)} MiB)`);

// A private copy of the built CLI, so that rebuilding the project during a long run cannot
// change what is being measured.
const app = path.join(benchDir, `app-artifact-${process.pid}`);
await fs.remove(app);
for (const part of ['bin', 'dist', 'configs', 'package.json']) await fs.copy(path.join(root, part), path.join(app, part));
await fs.symlink(path.join(root, 'node_modules'), path.join(app, 'node_modules'));
const cli = path.join(app, 'bin', 'mender-convert.js');

const versions = {
  node: process.version,
  menderArtifact: (await $`mender-artifact --version`).stdout.trim(),
  xz: (await $`xz --version`).stdout.split('\n')[0],
  pigz: (await $`pigz --version 2>&1`).stdout.trim(),
  zstd: (await $`zstd --version`).stdout.trim(),
  cores: Number((await $`nproc`).stdout.trim()),
  load: (await fs.readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' '),
};

const made = kinds.some((k) => k !== 'own') || only.includes('lzma') ? await kindPayloads() : undefined;
const files = { own: payload, ...(made ?? {}) };
const cases = [
  ...kinds.map((kind) => ({ compression: 'gzip', runs, kind, file: files[kind] })),
  { compression: 'lzma', runs: lzmaRuns, kind: made ? lzmaKind : 'own', file: made ? made[lzmaKind] : payload },
  { compression: 'zstd', runs, oursOnly: true, kind: 'own', file: payload },
].filter((c) => only.includes(c.compression));
for (const c of cases) if (!c.file) throw new Error(`unknown payload kind ${c.kind}; kinds: own, partition, sparse, random`);
const results = [];
try {
  for (const { compression, runs: count, oursOnly, kind, file } of cases) {
    const tools = {
      ours: (out) => ['node', cli, 'artifact', 'write', 'rootfs-image', '-n', 'bench-1', '-t', 'bench', '-f', file, '-o', out, '--compression', compression],
      ...(oursOnly ? {} : { 'mender-artifact': (out) => ['mender-artifact', '--compression', compression, 'write', 'rootfs-image', '-n', 'bench-1', '-t', 'bench', '-f', file, '-o', out, '--no-progress'] }),
    };
    const measured = Object.fromEntries(Object.keys(tools).map((name) => [name, []]));
    // Alternate the tools run by run so that both see the same machine state.
    for (let run = 0; run < count; run++) {
      for (const [name, command] of Object.entries(tools)) {
        const out = path.join(benchDir, `bench-${name}-${compression}.mender`);
        await fs.remove(out);
        const m = await measure(command(out));
        m.sizeMiB = (await fs.stat(out)).size / 1048576;
        measured[name].push(m);
        console.log(`  ${compression} ${kind} ${name} run ${run + 1}: ${fmt(m.wall)} s wall, ${fmt(m.user)} user, ${fmt(m.sys)} sys, ${fmt(largestRssMiB(m), 0)} MiB RSS, ${fmt(m.sizeMiB)} MiB (load ${(await fs.readFile('/proc/loadavg', 'utf8')).split(' ')[0]})`);
        if (name === 'ours' && run === 0) {
          // Our output must be a valid Artifact: checked by our reader (every checksum), and by mender-artifact when it can read it.
          await $`node ${cli} artifact validate ${out}`;
          if (!oursOnly && argv['verify-with-mender-artifact']) await $`mender-artifact validate ${out}`;
        }
        await fs.remove(out);
      }
    }
    for (const [name, list] of Object.entries(measured)) results.push({ compression, kind, tool: name, runs: list.length, ...summarise(list) });
  }
} finally {
  await fs.remove(app);
}

const ratios = {};
const key = (r) => `${r.compression} ${r.kind}`;
for (const r of results.filter((x) => x.tool === 'ours')) {
  const reference = results.find((x) => key(x) === key(r) && x.tool === 'mender-artifact');
  if (!reference) continue;
  ratios[key(r)] = {
    speedUp: reference.wall / r.wall,
    cpuRatio: r.cpu / reference.cpu,
    sysRatio: r.sys / reference.sys,
    sizeRatio: r.sizeMiB / reference.sizeMiB,
  };
}
const goals = Object.fromEntries(Object.entries(ratios).map(([name, ratio]) => {
  const lzma = name.startsWith('lzma');
  const wanted = lzma ? 'speed-up >= 2, size ratio <= 1.05' : 'speed-up >= 1, size ratio <= 1';
  return [name, { wanted, met: lzma ? ratio.speedUp >= 2 && ratio.sizeRatio <= 1.05 : ratio.speedUp >= 1 && ratio.sizeRatio <= 1 }];
}));

const rows = results.map((r) => ({
  compression: r.compression,
  payload: r.kind,
  tool: r.tool,
  'wall s': fmt(r.wall),
  'user s': fmt(r.user),
  'sys s': fmt(r.sys),
  'peak RSS MiB': fmt(largestRssMiB(r), 0),
  'size MiB': fmt(r.sizeMiB),
  'speed-up': r.tool === 'ours' && ratios[key(r)] ? `${fmt(ratios[key(r)].speedUp, 2)}×` : '',
  'CPU ratio': r.tool === 'ours' && ratios[key(r)] ? fmt(ratios[key(r)].cpuRatio, 2) : '',
  'sys ratio': r.tool === 'ours' && ratios[key(r)] ? fmt(ratios[key(r)].sysRatio, 2) : '',
  'size vs ref': r.tool === 'ours' && ratios[key(r)] ? `${fmt(100 * (ratios[key(r)].sizeRatio - 1), 2)} %` : '',
}));
console.log(`\n${table(rows, Object.keys(rows[0]))}`);
for (const [compression, goal] of Object.entries(goals)) console.log(`${compression}: ${goal.wanted}: ${goal.met ? 'met' : 'NOT met'}`);
const report = { payload, payloadBytes, date: new Date().toISOString(), versions, results, ratios, goals };
await fs.writeJson(path.join(root, 'work', 'bench-artifact.json'), report, { spaces: 2 });
console.log(`written: ${path.join(root, 'work', 'bench-artifact.json')}`);
