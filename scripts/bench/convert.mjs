#!/usr/bin/env zx
// Benchmark: our full conversion against upstream mender-convert's method with upstream's tools
// (loop mounts and rsync, so as root; scripts/bench/upstream.sh) and against the I/O limit (what
// the outputs cost at the least; scripts/bench/limit.mjs), side by side in one run,
// alternating, median of --runs (default 3). Per contender: wall time, user+sys CPU time of the
// whole process tree, peak RSS per process name (sampled from /proc, see lib.mjs), peak work-dir
// use (also over the root filesystem written), output size. `rootless` adds a stand-in for
// upstream without mounts (debugfs rdump, mke2fs -d): other tools, so not upstream's cost.
//
// usage: zx scripts/bench/convert.mjs [--runs N] [--size-gib 4] [--total-mb 8192] [--skip-xz] [--cases none,gzip,xz,xz-input]
//                                     [--contenders ours,upstream,rootless,limit] [--json FILE]
// Results: a table on stdout and work/bench.json.
import { $, argv, fs, path } from 'zx';
import { benchDir, diskUsage, fmt, measure, root, summarise, table, warmCache } from './lib.mjs';

const runs = Number(argv.runs ?? 3);
const sizeGiB = Number(argv['size-gib'] ?? 4);
const MiB = 1024 * 1024;
await fs.mkdirp(benchDir);

// ---- the input: the sample golden image grown with ≥ 1.5 GiB of real files -------------------
async function buildInput() {
  const image = path.join(benchDir, `bench-${sizeGiB}g.img`);
  if (await fs.pathExists(image)) return image;
  const sample = (await $`npx zx ${path.join(root, 'scripts/build-sample-image.mjs')}`).stdout.trim().split('\n').pop();
  const sampleTree = (await fs.readdir(path.join(root, 'work/sample'))).find((n) => n.startsWith('rootfs-bookworm-amd64-'));
  const tree = path.join(benchDir, 'input-tree');
  await fs.remove(tree);
  await $`cp -a ${path.join(root, 'work/sample', sampleTree)} ${tree}`;
  for (const dir of ['/usr/lib/x86_64-linux-gnu', '/usr/lib/jvm', '/usr/share']) {
    if (await fs.pathExists(dir)) await $`cp -a ${dir} ${path.join(tree, 'opt', dir.replaceAll('/', '_'))}`.nothrow();
  }
  const used = Number((await $`du -s -B1 ${tree}`).stdout.split('\t')[0]);
  if (used < 1.5 * 1024 ** 3) throw new Error(`only ${used} bytes of files for the bench input`);
  const bootStart = 4 * MiB;
  const bootSize = 256 * MiB;
  const rootStart = bootStart + bootSize;
  const total = sizeGiB * 1024 * MiB;
  const rootSize = total - rootStart;
  const rootFs = path.join(benchDir, 'input-root.ext4');
  await $`mke2fs -q -F -t ext4 -d ${tree} ${rootFs} ${rootSize / 1024}k`;
  const partial = `${image}.partial`;
  await $`truncate -s ${total} ${partial}`;
  await $({ input: `label: dos\nstart=${bootStart / 512}, size=${bootSize / 512}, type=c\nstart=${rootStart / 512}, size=${rootSize / 512}, type=83\n` })`sfdisk -q ${partial}`;
  await $`dd if=${sample} of=${partial} bs=1M skip=4 seek=4 count=256 conv=notrunc,sparse status=none`;
  await $`dd if=${rootFs} of=${partial} bs=1M seek=${rootStart / MiB} conv=notrunc,sparse status=none`;
  await fs.remove(rootFs);
  await fs.remove(tree);
  await fs.rename(partial, image);
  return image;
}

const input = await buildInput();
const inputXz = `${input}.xz`;
if (!argv['skip-xz'] && !(await fs.pathExists(inputXz))) await $`xz -T0 -3 -k ${input}`;
console.log(`input: ${input} (${fmt((await fs.stat(input)).blocks * 512 / MiB, 0)} MiB allocated of ${sizeGiB} GiB)`);

// ---- the contenders -----------------------------------------------------------------------
const app = path.join(benchDir, 'app-convert');
await fs.remove(app);
for (const part of ['bin', 'dist', 'configs', 'board-integrations', 'package.json']) await fs.copy(path.join(root, part), path.join(app, part));
await fs.symlink(path.join(root, 'node_modules'), path.join(app, 'node_modules'));
// --total-mb: our output's size (default 8192, upstream's and ours). A 16 GiB input's filesystem
// metadata makes its root filesystem outgrow an 8 GiB layout's root partitions: compare 4 and
// 16 GiB with --total-mb 10240 for both.
const env = { MENDER_CLIENT_INSTALL: 'n', MENDER_ARTIFACT_NAME: 'bench-1', CI: 'true', ...(argv['total-mb'] ? { MENDER_STORAGE_TOTAL_SIZE_MB: String(argv['total-mb']) } : {}) };

function ours(image, compression) {
  return {
    key: 'ours',
    name: `ours (image ${compression})`,
    input: image,
    run: (work, out) => measure(['node', path.join(app, 'bin/mender-convert.js'), '--disk-image', image, '--output-dir', out, '--work-dir', work], { watchDir: work, env: { ...env, ...(compression === 'default' ? {} : { MENDER_COMPRESS_DISK_IMAGE: compression }) } }),
  };
}
// Upstream's method with upstream's tools: loop mounts and rsync (scripts/bench/upstream.sh).
function upstream(image, compression) {
  return {
    key: 'upstream',
    name: `upstream (mount + rsync, image ${compression})`,
    input: image,
    run: (work, out) => measure(['bash', path.join(root, 'scripts/bench/upstream.sh'), image, work, out, compression], { watchDir: work }),
  };
}
// An extra, asked for by --contenders …,rootless: the same steps without mounts (debugfs rdump,
// mke2fs -d), other tools with other costs.
function rootless(image, compression) {
  return {
    key: 'rootless',
    name: `upstream stand-in (rdump + mke2fs -d, image ${compression})`,
    input: image,
    run: (work, out) => measure(['bash', path.join(root, 'scripts/bench/upstream-rootless.sh'), image, work, out, compression], { watchDir: work }),
  };
}
// The root filesystem and image a reference conversion wrote, for the I/O limit.
const limitRootfs = path.join(benchDir, 'limit-rootfs.ext4');
const limitImage = path.join(benchDir, 'limit-output.img');
function ioLimit(image, compression) {
  return {
    key: 'limit',
    name: `I/O limit (image ${compression})`,
    input: image,
    // The filesystem and image stand for what a conversion has just written: in the page cache.
    reads: [image, limitRootfs, limitImage],
    // What the outputs cost at the least (scripts/bench/limit.mjs), on the filesystem and image
    // our conversion wrote, with the compressors and levels it uses.
    run: (work) => measure(['node', path.join(root, 'scripts/bench/limit.mjs'), image, limitRootfs, limitImage, compression, work], { watchDir: work }),
  };
}

const every = (image, oursCompression, compression) => [ours(image, oursCompression), upstream(image, compression), rootless(image, compression), ioLimit(image, compression)];
const allCases = {
  none: every(input, 'none', 'none'),
  gzip: every(input, 'gzip', 'gzip'),
  xz: every(input, 'xz', 'xz'),
  // Ours by default writes the image compressed as its input was.
  ...(argv['skip-xz'] ? {} : { 'xz-input': every(inputXz, 'default', 'xz') }),
};
const chosen = argv.cases ? String(argv.cases).split(',') : Object.keys(allCases);
for (const name of chosen) if (!allCases[name]) throw new Error(`unknown case ${name}; cases: ${Object.keys(allCases).join(', ')}`);
// --contenders ours (or ours,limit): leave the others out, e.g. to compare input sizes.
let contenders = argv.contenders ? String(argv.contenders).split(',') : ['ours', 'upstream', 'limit'];
for (const key of contenders) if (!['ours', 'upstream', 'rootless', 'limit'].includes(key)) throw new Error(`unknown contender ${key}: ours, upstream, rootless, limit`);
if (contenders.includes('upstream')) {
  // Upstream mounts the partitions (sudo mount); the stand-in costs differently, so none replaces it.
  const missing = process.getuid() !== 0 ? 'root (it loop-mounts the partitions, as upstream does with sudo)' : (await $`command -v rsync`.nothrow()).exitCode !== 0 ? 'rsync' : undefined;
  if (missing) {
    console.warn(`upstream (mount + rsync) cannot run here: it needs ${missing}. Left out; no ratio to upstream is reported.`);
    contenders = contenders.filter((key) => key !== 'upstream');
  }
}
const cases = chosen.map((name) => allCases[name].filter((c) => contenders.includes(c.key)));

// The I/O limit compresses the filesystem and image our conversion wrote: make them once.
if (contenders.includes('limit')) {
  const reference = path.join(benchDir, 'reference');
  await fs.remove(reference);
  await $({ env: { ...process.env, ...env, MENDER_COMPRESS_DISK_IMAGE: 'none' } })`node ${path.join(app, 'bin/mender-convert.js')} --disk-image ${input} --output-dir ${reference} --work-dir ${path.join(benchDir, 'work-reference')}`;
  const refFiles = await fs.readdir(reference);
  await $`cp --sparse=always ${path.join(reference, refFiles.find((f) => f.endsWith('.ext4')))} ${limitRootfs}`;
  await $`cp --sparse=always ${path.join(reference, refFiles.find((f) => f.endsWith('.img')))} ${limitImage}`;
  await fs.remove(reference);
}

const results = [];
for (const group of cases) {
  const measured = new Map(group.map((c) => [c.name, []]));
  for (let run = 0; run < runs; run++) {
    for (const contender of group) {
      const work = path.join(benchDir, 'work-run');
      const out = path.join(benchDir, 'out-run');
      await fs.remove(work);
      await fs.remove(out);
      await fs.mkdirp(work);
      await fs.mkdirp(out);
      // Every contender starts with what it reads (its input unless it says) in the page cache
      // and no dirty pages of the one before still being written back.
      await warmCache(contender.reads ?? [contender.input]);
      await $`sync`;
      const m = await contender.run(work, out);
      m.outputMiB = (await diskUsage(out)) / MiB;
      // The root filesystem the contender wrote: what its work-dir use is measured against.
      const ext4 = (await fs.readdir(out)).find((f) => f.endsWith('.ext4'));
      if (ext4) m.rootfsMiB = (await fs.stat(path.join(out, ext4))).blocks * 512 / MiB;
      measured.get(contender.name).push(m);
      console.log(`  ${contender.name} run ${run + 1}: ${fmt(m.wall)} s wall, ${fmt(m.cpu)} s CPU, ${fmt(m.rssMiB.node ?? 0, 0)} MiB node RSS, ${fmt(m.peakDiskMiB, 0)} MiB work, ${fmt(m.outputMiB, 0)} MiB out`);
    }
  }
  const summary = Object.fromEntries([...measured].map(([name, list]) => [name, summarise(list)]));
  const wallOf = (key) => summary[group.find((c) => c.key === key)?.name]?.wall;
  results.push({
    case: path.basename(group[0].input),
    contenders: summary,
    // How many times faster ours is than upstream's method, and ours' wall time over the limit's.
    oursVsUpstream: wallOf('upstream') && wallOf('ours') ? wallOf('upstream') / wallOf('ours') : undefined,
    oursVsRootless: wallOf('rootless') && wallOf('ours') ? wallOf('rootless') / wallOf('ours') : undefined,
    oursVsLimit: wallOf('ours') && wallOf('limit') ? wallOf('ours') / wallOf('limit') : undefined,
  });
}

const rows = results.flatMap((r) =>
  Object.entries(r.contenders).map(([name, m]) => ({
    input: r.case,
    contender: name,
    'wall s': fmt(m.wall),
    'user+sys s': fmt(m.cpu),
    'node RSS MiB': m.rssMiB.node === undefined ? '' : fmt(m.rssMiB.node, 0),
    'largest process MiB': Object.entries(m.rssMiB).sort((a, b) => b[1] - a[1]).slice(0, 1).map(([n, v]) => `${n} ${fmt(v, 0)}`)[0],
    'tree RSS MiB': fmt(m.treeRssMiB, 0),
    'peak work MiB': fmt(m.peakDiskMiB, 0),
    'work/rootfs': m.rootfsMiB ? fmt(m.peakDiskMiB / m.rootfsMiB, 2) : '',
    'output MiB': fmt(m.outputMiB, 0),
    'vs upstream': name.startsWith('ours') && r.oursVsUpstream ? `${fmt(r.oursVsUpstream, 2)}× faster` : '',
    'vs limit': name.startsWith('ours') && r.oursVsLimit ? `${fmt(r.oursVsLimit, 2)}× the limit` : '',
  })),
);
console.log(`\n${table(rows, Object.keys(rows[0]))}`);
console.log('(RSS: the peak sampled from /proc per process; every process\'s peak is in the JSON, rssMiB)');
await fs.writeJson(argv.json ?? path.join(root, 'work', 'bench.json'), { input, sizeGiB, runs, date: new Date().toISOString(), results }, { spaces: 2 });
