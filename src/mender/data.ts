import fs from 'node:fs/promises';
import type { FsEditor } from '../fs/editor.js';
import { DATA_STATE_DIRS } from './rootfs.js';

export interface DataContractInput {
  data: FsEditor;
  rootfsPartA: string;
  rootfsPartB: string;
  deviceTypes: string[];
  /** Host path of the bootstrap Artifact to place at /mender/bootstrap.mender. */
  bootstrapArtifact?: string;
}

/** mender.conf on the data partition names the two root filesystem devices, nothing else. */
export function dataMenderConf(rootfsPartA: string, rootfsPartB: string): string {
  return `${JSON.stringify({ RootfsPartA: rootfsPartA, RootfsPartB: rootfsPartB }, null, 2)}\n`;
}

export function deviceTypeFile(deviceTypes: string[]): string {
  return `device_type=${deviceTypes.join(' ')}\n`;
}

/** The data partition half of the contract; everything owned by root:root. */
export async function applyDataContract(input: DataContractInput): Promise<void> {
  const { data } = input;
  const root = { uid: 0, gid: 0 };
  for (const dir of DATA_STATE_DIRS) await data.mkdir(`/${dir}`, { ...root, mode: 0o755 });
  await data.writeFile('/mender/mender.conf', dataMenderConf(input.rootfsPartA, input.rootfsPartB), { ...root, mode: 0o600 });
  await data.writeFile('/mender/device_type', deviceTypeFile(input.deviceTypes), { ...root, mode: 0o444 });
  if (input.bootstrapArtifact) {
    await data.writeFile('/mender/bootstrap.mender', await fs.readFile(input.bootstrapArtifact), { ...root, mode: 0o644 });
  }
  await data.flush();
}
