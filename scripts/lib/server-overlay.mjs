// Shared by the bootstrap-rootfs-overlay-*-server scripts: write a root filesystem overlay that
// points the Mender client at a server (the overlay is then passed with --overlay).
import { fs, path } from 'zx';

export function usage(script, options) {
  return `usage: zx scripts/${script} --output-dir DIR ${options}`;
}

/** Fail with one clear line (no stack trace), as the conversion does. */
export function fail(message) {
  console.error(`error: ${message}`);
  process.exit(1);
}

export async function writeOverlay(outputDir, { conf, certificate, hosts }) {
  const etc = path.join(outputDir, 'etc', 'mender');
  await fs.mkdirp(etc);
  await fs.writeFile(path.join(etc, 'mender.conf'), `${JSON.stringify(conf, null, 2)}\n`, { mode: 0o600 });
  if (certificate) await fs.writeFile(path.join(etc, 'server.crt'), certificate, { mode: 0o644 });
  if (hosts) await fs.writeFile(path.join(outputDir, 'etc', 'hosts'), hosts, { mode: 0o644 });
  console.log(`Mender client configuration written to ${path.join(etc, 'mender.conf')}`);
}

export async function readCertificate(file) {
  const pem = await fs.readFile(file, 'utf8').catch(() => fail(`cannot read the certificate ${file}`));
  if (!pem.includes('BEGIN CERTIFICATE')) fail(`${file} is not a PEM certificate`);
  return pem;
}
