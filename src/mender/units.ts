/** systemd units and helper scripts the contract puts into the root filesystem. */

export const DATA_DIR_UNIT_PATH = '/lib/systemd/system/mender-data-dir.service';
export const GROW_DATA_UNIT_PATH = '/etc/systemd/system/mender-grow-data.service';
export const GROW_DATA_SCRIPT_PATH = '/usr/libexec/mender-convert/grow-data-partition';

/** Client services that must not start before /data/mender exists (3.x and 4.x names). */
export const CLIENT_SERVICES = ['mender-client.service', 'mender-updated.service', 'mender-authd.service'];

export const DATA_DIR_UNIT = `[Unit]
Description=Mender persistent data directory
DefaultDependencies=no
RequiresMountsFor=/data
ConditionPathIsDirectory=!/data/mender

[Service]
Type=oneshot
ExecStart=/bin/mkdir -p /data/mender
ExecStart=/bin/chmod 0700 /data/mender
`;

/** The name of the systemd unit of a device path, as `systemd-escape --path --suffix=device` writes it. */
export function deviceUnitName(devicePath: string): string {
  const trimmed = devicePath.replace(/^\/+|\/+$/g, '').replace(/\/+/g, '/');
  const escaped = [...Buffer.from(trimmed, 'utf8')]
    .map((byte, index) => {
      const char = String.fromCharCode(byte);
      if (char === '/') return '-';
      if (/[A-Za-z0-9:_]/.test(char) || (char === '.' && index > 0)) return char;
      return `\\x${byte.toString(16).padStart(2, '0')}`;
    })
    .join('');
  return `${escaped}.device`;
}

/**
 * After the device is announced by udev (so its coldplug is done): the partition table written
 * while udevd was still starting made udev's later events take the partitions away and back,
 * unmounting /data and the boot partition in the middle of the first boot.
 */
export function growDataUnit(dataDevice: string): string {
  const device = deviceUnitName(dataDevice);
  return `[Unit]
Description=Grow the Mender data partition to the end of the storage
DefaultDependencies=no
Requires=${device}
After=${device} systemd-udev-trigger.service local-fs-pre.target
Before=data.mount systemd-growfs@data.service
ConditionPathExists=!/etc/mender-convert/data-partition-grown

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=${GROW_DATA_SCRIPT_PATH} ${dataDevice}

[Install]
WantedBy=data.mount
`;
}

/**
 * Grows the data partition (the last one) to the end of its disk with the partitioning tool the
 * image has (sfdisk or parted); the filesystem itself is grown by x-systemd.growfs afterwards.
 * Works for device-base and PARTUUID names alike by finding the disk through sysfs.
 */
export const GROW_DATA_SCRIPT = `#!/bin/sh
# Installed by mender-convert: grow the data partition to the end of the storage, once.
set -eu
part=$(readlink -f "$1")
name=$(basename "$part")
sys=/sys/class/block/$name
if [ ! -e "$sys/partition" ]; then
    echo "mender-grow-data: $part is not a partition" >&2
    exit 0
fi
number=$(cat "$sys/partition")
disk=/dev/$(basename "$(readlink -f "$sys/..")")
mark() { mkdir -p /etc/mender-convert 2>/dev/null && touch /etc/mender-convert/data-partition-grown 2>/dev/null || true; }
# Already to the end (within 1 MiB and a GPT's backup header): the table is left alone.
free=$(( $(cat "$sys/../size") - $(cat "$sys/start") - $(cat "$sys/size") ))
if [ "$free" -lt 2082 ]; then
    mark
    exit 0
fi
if command -v sfdisk >/dev/null 2>&1; then
    # A GPT's backup header sits at the image's end, not the medium's: move it first.
    sfdisk --relocate gpt-bak-std "$disk" >/dev/null 2>&1 || true
    echo ", +" | sfdisk --no-reread --no-tell-kernel -N "$number" "$disk"
elif command -v parted >/dev/null 2>&1; then
    parted --script --fix "$disk" resizepart "$number" 100%
else
    echo "mender-grow-data: neither sfdisk nor parted is installed; the data partition keeps its size" >&2
    exit 0
fi
partx -u -n "$number" "$disk" || true
# The events of the new table handled before anything mounts the partitions.
udevadm settle --timeout=120 || true
mark
`;
