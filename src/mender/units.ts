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

export function growDataUnit(dataDevice: string): string {
  return `[Unit]
Description=Grow the Mender data partition to the end of the storage
DefaultDependencies=no
After=systemd-udev-settle.service local-fs-pre.target
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
mark
`;
