import fs from 'node:fs/promises';
import type { FsEditor } from '../fs/editor.js';
import { UserError } from '../util/errors.js';

/** The client's own configuration in the root filesystem: mender.conf, certificate, identity and inventory. */

export interface ServerSettings {
  url: string;
  tenantToken: string;
  /** Host path of the server's CA certificate. */
  certificate: string;
  updatePollSeconds: number;
  inventoryPollSeconds: number;
  retryPollSeconds: number;
}

export const CLIENT_CONF = '/etc/mender/mender.conf';
const CERTIFICATE = '/etc/mender/server.crt';

export function clientConf(settings: ServerSettings): string {
  const conf: Record<string, unknown> = {
    ...(settings.url ? { ServerURL: settings.url } : {}),
    ...(settings.tenantToken ? { TenantToken: settings.tenantToken } : {}),
    ...(settings.certificate ? { ServerCertificate: CERTIFICATE } : {}),
    UpdatePollIntervalSeconds: settings.updatePollSeconds,
    InventoryPollIntervalSeconds: settings.inventoryPollSeconds,
    RetryPollIntervalSeconds: settings.retryPollSeconds,
  };
  return `${JSON.stringify(conf, null, 2)}\n`;
}

/** Where Debian's mender-client keeps example scripts, and where the client looks for them. */
const EXAMPLES = '/usr/share/doc/mender-client/examples';
const IDENTITY = '/usr/share/mender/identity';
const INVENTORY = '/usr/share/mender/inventory';

export async function configureClient(rootfs: FsEditor, settings: ServerSettings): Promise<string[]> {
  const root = { uid: 0, gid: 0 };
  const done: string[] = [];
  await rootfs.mkdir('/etc/mender', { ...root, mode: 0o755 });
  await rootfs.writeFile(CLIENT_CONF, clientConf(settings), { ...root, mode: 0o600 });
  done.push(CLIENT_CONF);
  if (settings.certificate) {
    const pem = await fs.readFile(settings.certificate, 'utf8').catch(() => {
      throw new UserError(`The server certificate ${settings.certificate} cannot be read.`, { hint: 'Check server.certificate.' });
    });
    if (!pem.includes('BEGIN CERTIFICATE')) throw new UserError(`${settings.certificate} is not a PEM certificate.`);
    await rootfs.writeFile(CERTIFICATE, pem, { ...root, mode: 0o644 });
    done.push(CERTIFICATE);
  }
  // The identity and inventory scripts the client runs, from the package's own examples.
  if (await rootfs.exists(EXAMPLES)) {
    for (const entry of await rootfs.list(EXAMPLES)) {
      const target = entry.name === 'mender-device-identity' ? IDENTITY : entry.name.startsWith('mender-inventory-') ? INVENTORY : undefined;
      if (!target || entry.type !== 'file') continue;
      await rootfs.mkdir(target, { ...root, mode: 0o755 });
      if (!(await rootfs.exists(`${target}/${entry.name}`))) {
        await rootfs.writeFile(`${target}/${entry.name}`, await rootfs.readFile(entry.path), { ...root, mode: 0o755 });
        done.push(`${target}/${entry.name}`);
      }
    }
  }
  return done;
}
