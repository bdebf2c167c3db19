#!/usr/bin/env zx
// Overlay for hosted Mender: the server URL and your tenant token (Settings → Organization).
// usage: zx scripts/bootstrap-rootfs-overlay-hosted-server.mjs --output-dir DIR --tenant-token TOKEN [--server-url URL]
import { argv } from 'zx';
import { fail, usage, writeOverlay } from './lib/server-overlay.mjs';

const outputDir = argv['output-dir'] ?? argv.o;
const token = argv['tenant-token'] ?? argv.t;
if (!outputDir || !token) fail(usage('bootstrap-rootfs-overlay-hosted-server.mjs', '--tenant-token TOKEN [--server-url https://hosted.mender.io]'));
await writeOverlay(outputDir, { conf: { ServerURL: argv['server-url'] ?? 'https://hosted.mender.io', TenantToken: String(token) } });
