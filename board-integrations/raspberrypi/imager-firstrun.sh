#!/bin/sh
# mender-convert: lets Raspberry Pi Imager's first-boot customisation run once. Imager writes
# firstrun.sh to the boot partition and appends "systemd.run=/boot/firstrun.sh
# systemd.run_success_action=reboot systemd.unit=kernel-command-line.target" to cmdline.txt; the
# script ends by removing /boot/firstrun.sh and those arguments from /boot/cmdline.txt. On this
# image the boot partition is mounted elsewhere (MENDER_BOOT_MOUNT) and /boot belongs to the
# root filesystem, so the script would not be found (the boot stops in kernel-command-line.target)
# or, found through another path, could not remove itself nor its arguments, and its success
# action would reboot into it again on every boot. Run before systemd starts the script
# (mender-imager-firstrun.service), this points /boot/firstrun.sh at the boot partition's copy
# for this boot and makes the script's clean-up name the boot partition, as Raspberry Pi OS's
# initramfs does for its own /boot/firmware. Running it twice changes nothing more.
set -e

root="${DPKG_ROOT:-}"
MENDER_BOOT_MOUNT=/boot/firmware
[ ! -r "$root/etc/default/mender-raspberrypi" ] || . "$root/etc/default/mender-raspberrypi"
boot="$root$MENDER_BOOT_MOUNT"
script="$boot/firstrun.sh"
[ -f "$script" ] || exit 0

# Later boots (if this one is cut short) find the script where it is.
if [ -f "$boot/cmdline.txt" ]; then
    sed -i "s| systemd\.run=/boot/firstrun\.sh| systemd.run=$MENDER_BOOT_MOUNT/firstrun.sh|" "$boot/cmdline.txt"
fi
# The clean-up: from the script's removal of itself on, replaced by one for the boot partition.
sed -n -i '/rm.*firstrun\.sh$/q;p' "$script"
cat >> "$script" <<EOF
rm -f $MENDER_BOOT_MOUNT/firstrun.sh /boot/firstrun.sh
sed -i 's| systemd\.run=[^ ]*||g; s| systemd\.run_success_action=[^ ]*||g; s| systemd\.unit=kernel-command-line\.target||g' $MENDER_BOOT_MOUNT/cmdline.txt
sync
exit 0
EOF
sync
ln -sfn "$MENDER_BOOT_MOUNT/firstrun.sh" "$root/boot/firstrun.sh"
echo "mender-imager-firstrun: $MENDER_BOOT_MOUNT/firstrun.sh runs as /boot/firstrun.sh, then removes itself and its cmdline.txt arguments" >&2
