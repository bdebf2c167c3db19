#!/usr/bin/env zx
// Benchmark: our `artifact write rootfs-image` against mender-artifact's, on the same ≥ 1 GiB
// filesystem image of real files, per compression, side by side in one run.
// usage: zx scripts/bench/artifact.mjs [--payload FILE] [--runs N] [--lzma-runs N]
// Results: a table on stdout and work/bench-artifact.json.
import { $, argv, fs, path } from 'zx';
import { benchDir, fmt, measure, root, summarise, table } from './lib.mjs';

await fs.mkdirp(benchDir);
const runs = Number(argv.runs ?? 3);
// mender-artifact's lzma is single-threaded and takes minutes per GiB: one run unless asked.
const lzmaRuns = Number(argv['lzma-runs'] ?? 1);

async function payloadImage() {
  if (argv.payload) return path.resolve(argv.payload);
  const file = path.join(benchDir, 'payload-1g.ext4');
  if (await fs.pathExists(file)) return file;
  const tree = path.join(benchDir, 'payload-tree');
  await fs.remove(tree);
  await fs.mkdirp(tree);
  // Real files: shared libraries, Java runtime, documentation and data from the host.
  for (const dir of ['/usr/lib/x86_64-linux-gnu', '/usr/lib/jvm']) {
    if (await fs.pathExists(dir)) await $`cp -a ${dir} ${path.join(tree, dir.replaceAll('/', '_'))}`.nothrow();
  }
  const used = Number((await $`du -s -B1 ${tree}`).stdout.split('\t')[0]);
  if (used < 1024 ** 3) throw new Error(`only ${used} bytes of real files found for the payload; pass --payload`);
  await $`mke2fs -q -F -t ext4 -d ${tree} ${file} ${Math.ceil((used * 1.15) / 1048576)}M`;
  await fs.remove(tree);
  return file;
}

const payload = await payloadImage();
const payloadBytes = (await fs.stat(payload)).size;
console.log(`payload: ${payload} (${fmt(payloadBytes / 1048576, 0)} MiB)`);

// A private copy of the built CLI, so that rebuilding the project during a long run cannot
// change what is being measured.
const app = path.join(benchDir, 'app');
await fs.remove(app);
for (const part of ['bin', 'dist', 'configs', 'package.json']) await fs.copy(path.join(root, part), path.join(app, part));
await fs.symlink(path.join(root, 'node_modules'), path.join(app, 'node_modules'));
const cli = path.join(app, 'bin', 'mender-convert.js');
const cases = [
  { compression: 'gzip', runs },
  { compression: 'lzma', runs: lzmaRuns },
  { compression: 'zstd', runs, oursOnly: true },
];
const results = [];
for (const { compression, runs: count, oursOnly } of cases) {
  const tools = {
    ours: (out) => ['node', cli, 'artifact', 'write', 'rootfs-image', '-n', 'bench-1', '-t', 'bench', '-f', payload, '-o', out, '--compression', compression],
    ...(oursOnly ? {} : { 'mender-artifact': (out) => ['mender-artifact', '--compression', compression, 'write', 'rootfs-image', '-n', 'bench-1', '-t', 'bench', '-f', payload, '-o', out, '--no-progress'] }),
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
      console.log(`  ${compression} ${name} run ${run + 1}: ${fmt(m.wall)} s, ${fmt(m.sizeMiB)} MiB`);
      await fs.remove(out);
    }
  }
  for (const [name, list] of Object.entries(measured)) results.push({ compression, tool: name, runs: list.length, ...summarise(list) });
}

const rows = results.map((r) => {
  const reference = results.find((x) => x.compression === r.compression && x.tool === 'mender-artifact');
  return {
    compression: r.compression,
    tool: r.tool,
    'wall s': fmt(r.wall),
    'cpu s': fmt(r.cpu),
    'peak RSS MiB': fmt(r.peakRssMiB, 0),
    'size MiB': fmt(r.sizeMiB),
    'speed-up': reference && r.tool === 'ours' ? `${fmt(reference.wall / r.wall, 2)}×` : '',
    'size vs ref': reference && r.tool === 'ours' ? `${fmt((100 * (r.sizeMiB - reference.sizeMiB)) / reference.sizeMiB, 1)} %` : '',
  };
});
console.log(`\n${table(rows, Object.keys(rows[0]))}`);
await fs.writeJson(path.join(root, 'work', 'bench-artifact.json'), { payload, payloadBytes, date: new Date().toISOString(), results }, { spaces: 2 });
