// Shared helpers of the benchmarks: run a command under /usr/bin/time for wall time and CPU
// time, sample the memory of every process it starts and the disk usage of a directory.
import { readdirSync, readFileSync } from 'node:fs';
import { $, fs, path } from 'zx';

$.verbose = false;
process.env.PATH = [process.env.PATH, '/usr/local/sbin', '/usr/sbin', '/sbin'].join(':');

export const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
export const benchDir = path.join(root, 'work', 'bench');
const MiB = 1024 * 1024;

/**
 * Bytes used on disk by a directory tree (allocated blocks, not apparent size), not counting
 * filesystems mounted inside it (their bytes are in the image files they are mounted from).
 */
export async function diskUsage(dir) {
  if (!(await fs.pathExists(dir))) return 0;
  const out = await $`du -x -s -B1 ${dir}`.nothrow();
  return Number(out.stdout.split('\t')[0]) || 0;
}

const readProc = (file) => {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return ''; // the process (or thread) has just exited
  }
};

/** `pid` and all its descendants now, through every thread's children list. */
function processTree(pid) {
  const tree = [];
  for (const queue = [pid]; queue.length > 0; ) {
    const next = queue.pop();
    tree.push(next);
    let tasks = [];
    try {
      tasks = readdirSync(`/proc/${next}/task`);
    } catch {
      continue;
    }
    for (const task of tasks) queue.push(...readProc(`/proc/${next}/task/${task}/children`).split(' ').filter(Boolean).map(Number));
  }
  return tree;
}

/**
 * Peak memory of a process tree, sampled from /proc/PID/status every `interval` ms: the last
 * VmHWM (the kernel's high-water mark of the process's resident pages, all its threads
 * together) seen per process, then the largest per process name; and the largest sum of VmRSS
 * over the tree at one sample. It can miss a process that lives less than one interval, and a
 * process's growth after the last sample before it exits (GNU time's %M, from wait4, sees those
 * but names no process). Resident pages count the process's anonymous memory and the file pages
 * it maps, not the page cache its reads and writes fill.
 */
function sampleTree(rootPid, interval = 150) {
  const hwm = new Map(); // pid:name -> { name, kib }: a pid reused or re-executed is another process
  let treeKiB = 0;
  const sample = () => {
    let sum = 0;
    for (const pid of processTree(rootPid)) {
      const status = readProc(`/proc/${pid}/status`);
      const name = /^Name:\s+(.*)$/m.exec(status)?.[1];
      const peak = Number(/^VmHWM:\s+(\d+)/m.exec(status)?.[1]);
      if (!name || !peak) continue; // a zombie has no memory left to count
      hwm.set(`${pid}:${name}`, { name, kib: peak });
      sum += Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1]);
    }
    treeKiB = Math.max(treeKiB, sum);
  };
  const timer = setInterval(sample, interval);
  sample();
  return () => {
    clearInterval(timer);
    const byName = {};
    for (const { name, kib } of hwm.values()) byName[name] = Math.max(byName[name] ?? 0, kib / 1024);
    return { rssMiB: byName, treeRssMiB: treeKiB / 1024 };
  };
}

/**
 * Run `command` (an argument array) and measure it: wall seconds; CPU seconds of it and its
 * children (GNU time); peak RSS per process name and of the whole tree (sampleTree), and the
 * largest process's peak RSS as wait4 reports it (GNU time's %M); the peak disk usage of `watchDir`.
 */
export async function measure(command, { watchDir, env, cwd } = {}) {
  const timeFile = path.join(benchDir, `time-${process.pid}-${Date.now()}.txt`);
  let peakDisk = 0;
  let watching = Boolean(watchDir);
  // One du at a time, 0.5 s apart: a slow one must not pile up more.
  const diskSampler = (async () => {
    while (watching) {
      peakDisk = Math.max(peakDisk, await diskUsage(watchDir));
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  })();
  const started = process.hrtime.bigint();
  const running = $({ env: { ...process.env, ...env }, cwd, nothrow: true })`/usr/bin/time -f ${'%e %U %S %M'} -o ${timeFile} ${command}`;
  const memory = sampleTree(running.child.pid);
  const result = await running;
  const wall = Number(process.hrtime.bigint() - started) / 1e9;
  const { rssMiB, treeRssMiB } = memory();
  watching = false;
  await diskSampler;
  if (watchDir) peakDisk = Math.max(peakDisk, await diskUsage(watchDir));
  const times = await fs.readFile(timeFile, 'utf8').catch(() => ''); // none if time itself was killed
  await fs.remove(timeFile);
  if (result.exitCode !== 0) throw new Error(`benchmark command failed: ${command.join(' ')}\n${result.stderr.slice(-2000)}`);
  const [, user, sys, maxKb] = times.trim().split('\n').pop().split(' ').map(Number);
  return { wall, user, sys, cpu: user + sys, rssMiB, treeRssMiB, wait4MaxRssMiB: maxKb / 1024, peakDiskMiB: peakDisk / MiB };
}

/**
 * Read the data ranges of `files` so that they are in the page cache when a contender starts:
 * each contender then reads its input as the others do, not after another one's writes have
 * evicted it (the limit, run after upstream's 12 GB of copies, took 45 s cold and 38 s warm).
 */
export async function warmCache(files) {
  const { readChunks } = await import(path.join(root, 'dist/disk/sparse.js'));
  for (const file of files) {
    for await (const chunk of readChunks(file, undefined, { reuse: true })) void chunk; // holes are not read
  }
}

/** The largest process's peak RSS of a measure() result: sampled, or wait4's when that saw more. */
export function largestRssMiB(m) {
  return Math.max(m.wait4MaxRssMiB, ...Object.values(m.rssMiB));
}

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Median of each measured field over runs (of each key of an object's, such as rssMiB). */
export function summarise(runs) {
  const keys = [...new Set(runs.flatMap((r) => Object.keys(r)))];
  return Object.fromEntries(
    keys.map((key) => {
      const values = runs.map((r) => r[key]).filter((v) => v !== undefined);
      if (typeof values[0] === 'number') return [key, median(values)];
      if (values[0] && typeof values[0] === 'object') return [key, summarise(values)];
      return [key, values[0]];
    }),
  );
}

export function table(rows, columns) {
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c] ?? '').length)));
  const line = (cells) => cells.map((cell, i) => String(cell ?? '').padEnd(widths[i])).join('  ');
  return [line(columns), line(widths.map((w) => '-'.repeat(w))), ...rows.map((r) => line(columns.map((c) => r[c])))].join('\n');
}

export const fmt = (n, digits = 1) => (typeof n === 'number' ? n.toFixed(digits) : n);
