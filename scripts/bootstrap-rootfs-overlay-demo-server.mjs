#!/usr/bin/env zx
// Overlay for the Mender demo server on your network: docker.mender.io resolved to its IP
// address through /etc/hosts, and the demo server's self-signed certificate.
// usage: zx scripts/bootstrap-rootfs-overlay-demo-server.mjs --output-dir DIR --server-ip IP [--server-cert FILE]
// Without --server-cert the certificate is downloaded from the Mender client's repository.
import { argv } from 'zx';
import { fail, readCertificate, usage, writeOverlay } from './lib/server-overlay.mjs';

const DEMO_CERT_URL = 'https://raw.githubusercontent.com/mendersoftware/mender/master/support/demo.crt';
const outputDir = argv['output-dir'] ?? argv.o;
const ip = argv['server-ip'] ?? argv.s;
if (!outputDir || !ip) fail(usage('bootstrap-rootfs-overlay-demo-server.mjs', '--server-ip IP [--server-cert FILE]'));
if (!/^[0-9a-fA-F:.]+$/.test(String(ip))) fail(`'${ip}' is not an IP address`);
let certificate;
if (argv['server-cert']) {
  certificate = await readCertificate(argv['server-cert']);
} else {
  const response = await fetch(DEMO_CERT_URL, { signal: AbortSignal.timeout(20000) }).catch((error) => fail(`cannot download the demo certificate (${error.message}); pass --server-cert`));
  if (!response.ok) fail(`cannot download the demo certificate (HTTP ${response.status}); pass --server-cert`);
  certificate = await response.text();
}
const hosts = [
  '127.0.0.1\tlocalhost',
  '::1\tlocalhost ip6-localhost ip6-loopback',
  'ff02::1\tip6-allnodes',
  'ff02::2\tip6-allrouters',
  `${ip}\tdocker.mender.io s3.docker.mender.io`,
  '',
].join('\n');
await writeOverlay(outputDir, { conf: { ServerURL: 'https://docker.mender.io', ServerCertificate: '/etc/mender/server.crt' }, certificate, hosts });
