#!/usr/bin/env node
// Makes a fresh Debian machine ready (runs before `npm test` and `npm run demo`): npm
// dependencies, then the host packages listed in scripts/host-packages.txt (apt-get as root, or
// through sudo). Plain Node without dependencies, since it runs before they are installed.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const run = (cmd, args, options = {}) => spawnSync(cmd, args, { stdio: 'inherit', cwd: root, ...options });

if (!fs.existsSync(path.join(root, 'node_modules', '.bin', 'vitest'))) {
  console.log('Installing npm dependencies…');
  const result = run('npm', ['install', '--no-audit', '--no-fund']);
  if (result.status !== 0) process.exit(result.status ?? 1);
}

const wanted = fs
  .readFileSync(path.join(root, 'scripts', 'host-packages.txt'), 'utf8')
  .split('\n')
  .map((line) => line.trim())
  .filter((line) => line && !line.startsWith('#'));
const missing = wanted.filter((pkg) => {
  const status = spawnSync('dpkg-query', ['-W', '-f=${Status}', pkg], { encoding: 'utf8' });
  return !(status.stdout ?? '').includes('install ok installed');
});
if (missing.length > 0) {
  console.log(`Installing host packages: ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const apt = (args) => (process.getuid() === 0 ? run('apt-get', args, { env }) : run('sudo', ['apt-get', ...args], { env }));
  const update = apt(['update', '-qq']);
  const install = update.status === 0 ? apt(['install', '-y', '-qq', '--no-install-recommends', ...missing]) : update;
  if (install.status !== 0) {
    console.error(`Could not install: ${missing.join(' ')}. Run: sudo apt-get install ${missing.join(' ')}`);
    process.exit(1);
  }
}
