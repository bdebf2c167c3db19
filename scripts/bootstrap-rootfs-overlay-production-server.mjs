#!/usr/bin/env zx
// Overlay for your own production server: its URL and, for a private CA, its certificate.
// usage: zx scripts/bootstrap-rootfs-overlay-production-server.mjs --output-dir DIR --server-url URL [--server-cert FILE]
import { argv } from 'zx';
import { fail, readCertificate, usage, writeOverlay } from './lib/server-overlay.mjs';

const outputDir = argv['output-dir'] ?? argv.o;
const url = argv['server-url'];
if (!outputDir || !url) fail(usage('bootstrap-rootfs-overlay-production-server.mjs', '--server-url URL [--server-cert FILE]'));
if (!/^https:\/\//.test(url)) fail(`the server URL must start with https:// (got ${url})`);
const certificate = argv['server-cert'] ? await readCertificate(argv['server-cert']) : undefined;
await writeOverlay(outputDir, { conf: { ServerURL: url, ...(certificate ? { ServerCertificate: '/etc/mender/server.crt' } : {}) }, certificate });
