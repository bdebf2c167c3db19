#!/usr/bin/env node
// Makes a fresh Debian machine ready (runs before `npm test`, `npm run test:boot` and
// `npm run demo`): npm dependencies, then the host packages of the given lists in
// scripts/host-packages/ (apt-get as root, or through sudo). One line per step; npm's and apt's
// output goes to work/setup.log, whose tail is shown when a step fails. Plain Node without
// dependencies, since it runs before they are installed.
//
// usage: node scripts/setup.mjs [conversion] [boot] [sample] [tests]   (no list: all of them)
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const listDir = path.join(root, 'scripts', 'host-packages');
const logFile = path.join(root, 'work', 'setup.log');
const lists = process.argv.length > 2 ? process.argv.slice(2) : fs.readdirSync(listDir).filter((f) => f.endsWith('.txt')).map((f) => f.slice(0, -4)).sort();
const shown = path.relative(process.cwd(), logFile) || logFile;

fs.mkdirSync(path.dirname(logFile), { recursive: true });
fs.appendFileSync(logFile, `\n=== ${new Date().toISOString()} setup: ${lists.join(' ')}\n`);
const thisRun = fs.statSync(logFile).size;

/** Runs a command with its output in the log; on failure ends the step's line, prints the log's tail and the fix, and exits. */
function step(what, cmd, args, { env, fix } = {}) {
  fs.appendFileSync(logFile, `$ ${[cmd, ...args].join(' ')}\n`);
  const log = fs.openSync(logFile, 'a');
  // stdin stays the terminal: sudo may ask for a password there.
  const result = spawnSync(cmd, args, { cwd: root, stdio: ['inherit', log, log], env: env ?? process.env });
  fs.closeSync(log);
  if (result.status === 0) return;
  process.stdout.write('failed\n');
  const tail = fs.readFileSync(logFile).subarray(thisRun).toString().trimEnd().split('\n').slice(-20);
  console.error(`setup: ${what} failed (${result.error?.message ?? `exit status ${result.status}`}); the end of ${shown}:`);
  console.error(tail.map((line) => `  | ${line}`).join('\n'));
  if (fix) console.error(fix);
  process.exit(1);
}

const wanted = [...new Set(lists.flatMap((list) => {
  const file = path.join(listDir, `${list}.txt`);
  if (!fs.existsSync(file)) {
    console.error(`setup: no package list ${list} (scripts/host-packages/ has ${fs.readdirSync(listDir).map((f) => f.replace(/\.txt$/, '')).join(', ')})`);
    process.exit(2);
  }
  return fs.readFileSync(file, 'utf8').split('\n').map((line) => line.trim()).filter((line) => line && !line.startsWith('#'));
}))];
// npm writes node_modules/.package-lock.json on every install: older than the lock file means the dependencies changed.
const installed = path.join(root, 'node_modules', '.package-lock.json');
const stale = !fs.existsSync(installed) || fs.statSync(installed).mtimeMs < fs.statSync(path.join(root, 'package-lock.json')).mtimeMs;
if (stale) {
  process.stdout.write(`setup: npm dependencies (npm install, output in ${shown})… `);
  step('npm install', 'npm', ['install', '--no-audit', '--no-fund']);
  // npm leaves its record alone when nothing changed: mark the lock file's state as installed.
  const now = new Date();
  fs.utimesSync(installed, now, now);
  console.log('done');
} else {
  console.log('setup: npm dependencies are installed');
}

const missing = wanted.filter((pkg) => {
  const status = spawnSync('dpkg-query', ['-W', '-f=${Status}', pkg], { encoding: 'utf8' });
  return !(status.stdout ?? '').includes('install ok installed');
});
if (missing.length === 0) {
  console.log(`setup: host packages (${lists.join(', ')}) are installed`);
} else {
  const asRoot = process.getuid() === 0;
  const apt = asRoot ? ['apt-get'] : ['sudo', 'apt-get'];
  const fix = `Install them yourself with: sudo apt-get install ${missing.join(' ')}`;
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  process.stdout.write(`setup: host packages (${lists.join(', ')}): installing ${missing.join(' ')}${asRoot ? '' : ' through sudo'} (output in ${shown})… `);
  step('apt-get update', apt[0], [...apt.slice(1), 'update'], { env, fix });
  step('apt-get install', apt[0], [...apt.slice(1), 'install', '-y', '--no-install-recommends', ...missing], { env, fix });
  console.log('done');
}
