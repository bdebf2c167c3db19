#!/usr/bin/env zx
// The main job on the built-in sample (after scripts/setup.mjs installed what is missing): build
// the sample golden image (Debian bookworm via debootstrap, cached in work/sample/), convert it into deploy/.
import { $, path } from 'zx';

$.verbose = false;
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
process.chdir(root);
process.env.PATH = [process.env.PATH, '/usr/local/sbin', '/usr/sbin', '/sbin'].join(':');

console.log('Building the sample golden image (cached in work/sample/)…');
const image = (await $({ stdio: ['inherit', 'pipe', 'inherit'] })`zx scripts/build-sample-image.mjs`).stdout.trim();

console.log(`Converting ${path.relative(root, image)}…`);
await $({ stdio: 'inherit', env: { ...process.env, MENDER_ARTIFACT_NAME: process.env.MENDER_ARTIFACT_NAME ?? 'demo-release-1' } })`node bin/mender-convert.js --disk-image ${image} --config configs/demo.yaml --overlay scripts/demo-overlay`;
