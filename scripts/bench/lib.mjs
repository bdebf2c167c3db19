// Shared helpers of the benchmarks: run a command under /usr/bin/time for wall time, CPU time
// and peak RSS; sample the disk usage of a directory while it runs.
import { $, fs, path } from 'zx';

$.verbose = false;
process.env.PATH = [process.env.PATH, '/usr/local/sbin', '/usr/sbin', '/sbin'].join(':');

export const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
export const benchDir = path.join(root, 'work', 'bench');

/** Bytes used on disk by a directory tree (allocated blocks, not apparent size). */
export async function diskUsage(dir) {
  if (!(await fs.pathExists(dir))) return 0;
  const out = await $`du -s -B1 ${dir}`.nothrow();
  return Number(out.stdout.split('\t')[0]) || 0;
}

/**
 * Run `command` (an argument array) and measure it: wall seconds, CPU seconds of it and its
 * children, peak RSS of the largest process (GNU time), and the peak disk usage of `watchDir`.
 */
export async function measure(command, { watchDir, env, cwd } = {}) {
  const timeFile = path.join(benchDir, `time-${process.pid}-${Date.now()}.txt`);
  let peakDisk = 0;
  const sampler = watchDir
    ? setInterval(async () => {
        peakDisk = Math.max(peakDisk, await diskUsage(watchDir));
      }, 500)
    : undefined;
  const started = process.hrtime.bigint();
  const result = await $({ env: { ...process.env, ...env }, cwd, nothrow: true })`/usr/bin/time -f ${'%e %U %S %M'} -o ${timeFile} ${command}`;
  const wall = Number(process.hrtime.bigint() - started) / 1e9;
  if (sampler) clearInterval(sampler);
  if (watchDir) peakDisk = Math.max(peakDisk, await diskUsage(watchDir));
  if (result.exitCode !== 0) throw new Error(`benchmark command failed: ${command.join(' ')}\n${result.stderr.slice(-2000)}`);
  const [, user, sys, maxKb] = (await fs.readFile(timeFile, 'utf8')).trim().split('\n').pop().split(' ').map(Number);
  await fs.remove(timeFile);
  return { wall, user, sys, cpu: user + sys, peakRssMiB: maxKb / 1024, peakDiskMiB: peakDisk / 1048576 };
}

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Median of each measured field over runs. */
export function summarise(runs) {
  const keys = Object.keys(runs[0]);
  return Object.fromEntries(keys.map((key) => [key, typeof runs[0][key] === 'number' ? median(runs.map((r) => r[key])) : runs[0][key]]));
}

export function table(rows, columns) {
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c] ?? '').length)));
  const line = (cells) => cells.map((cell, i) => String(cell ?? '').padEnd(widths[i])).join('  ');
  return [line(columns), line(widths.map((w) => '-'.repeat(w))), ...rows.map((r) => line(columns.map((c) => r[c])))].join('\n');
}

export const fmt = (n, digits = 1) => (typeof n === 'number' ? n.toFixed(digits) : n);
