/** The /etc/fstab of a converted image (contract, "Root filesystem"). */

export interface FstabInput {
  original: string;
  bootDevice: string;
  bootMountpoint: string;
  bootOptions: string;
  rootOptions: string;
  rootPassno: number;
  dataDevice: string;
  dataOptions: string;
  growData: boolean;
}

function mountpointOf(line: string): string | undefined {
  const trimmed = line.trim();
  if (!trimmed || trimmed.startsWith('#')) return undefined;
  return trimmed.split(/\s+/)[1];
}

/**
 * Our boot, root and data lines first, then every original line except the old root and
 * /boot* mounts and anything mounted where ours are (no mount point may appear twice).
 */
export function rewriteFstab(input: FstabInput): string {
  const ours = new Set(['/', '/data', input.bootMountpoint]);
  const kept = input.original
    .split('\n')
    .filter((line) => {
      const mountpoint = mountpointOf(line);
      if (mountpoint === undefined) return true;
      const normalised = mountpoint.replace(/\/+$/, '') || '/';
      return !ours.has(normalised) && normalised !== '/boot' && !normalised.startsWith('/boot/');
    })
    .join('\n')
    .trim();
  const dataOptions = input.growData && !input.dataOptions.split(',').includes('x-systemd.growfs')
    ? `${input.dataOptions},x-systemd.growfs`
    : input.dataOptions;
  const row = (cols: string[]) => cols.join('\t');
  return [
    '# Written by mender-convert: boot, root and data partitions of the Mender layout.',
    row([input.bootDevice, input.bootMountpoint, 'auto', input.bootOptions, '0', '0']),
    row(['/dev/root', '/', 'auto', input.rootOptions, '1', String(input.rootPassno)]),
    row([input.dataDevice, '/data', 'auto', dataOptions, '0', '0']),
    '',
    '# Entries kept from the original fstab',
    kept,
    '',
  ].join('\n');
}
