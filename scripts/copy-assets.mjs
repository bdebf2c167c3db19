#!/usr/bin/env node
// Part of `npm run build`: the files beside the code in src/ that are not TypeScript (bootloader
// templates and scripts) are copied to the same place in dist/, where the compiled code reads them.
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const src = path.join(root, 'src');
for (const entry of fs.readdirSync(src, { withFileTypes: true, recursive: true })) {
  if (!entry.isFile() || entry.name.endsWith('.ts')) continue;
  const from = path.join(entry.parentPath, entry.name);
  const to = path.join(root, 'dist', path.relative(src, from));
  fs.mkdirSync(path.dirname(to), { recursive: true });
  fs.copyFileSync(from, to);
  fs.chmodSync(to, fs.statSync(from).mode & 0o777);
}
