#!/bin/sh
# mender-convert: keeps the Raspberry Pi boot partition starting U-Boot after package upgrades.
# Firmware packages rewrite config.txt and cmdline.txt (Debian's raspi-firmware writes both
# anew; /etc/default/raspi-firmware is set so that they name u-boot.bin and the Mender root=,
# and this makes sure of it for any package): config.txt ends with the mender-convert block
# (kernel= U-Boot), cmdline.txt takes root= from U-Boot's environment and has no first-boot
# resize. As a kernel hook (/etc/kernel/postinst.d, postrm.d, /etc/initramfs/post-update.d:
# zz-mender-raspberrypi, after the firmware's own z50 hooks) it also copies the newest kernel's
# device trees and overlays to the boot partition, which the firmware hands to U-Boot: the
# firmware packages do that only when they start the kernel themselves. Run with --config-only
# by APT after every dpkg run. Files are written only when their content changes.
set -e

root="${DPKG_ROOT:-}"
config="$root/etc/default/mender-raspberrypi"
[ -r "$config" ] || exit 0
MENDER_BOOT_MOUNT=/boot/firmware
MENDER_UBOOT_FILE=u-boot.bin
MENDER_ARM_64BIT=1
MENDER_KERNEL_FLAVOUR=
[ ! -r "$root/etc/default/mender-uboot" ] || . "$root/etc/default/mender-uboot"
. "$config"

say() { echo "mender-raspberrypi: $*" >&2; }

boot="$root$MENDER_BOOT_MOUNT"
if [ -z "$root" ] && ! mountpoint -q "$MENDER_BOOT_MOUNT"; then
    say "$MENDER_BOOT_MOUNT is not mounted: the boot partition is left as it is"
    exit 0
fi

changed=
# Replace $1 by $1.mender-new when they differ.
update() {
    if cmp -s "$1.mender-new" "$1"; then
        rm -f "$1.mender-new"
    else
        mv -f "$1.mender-new" "$1"
        changed="$changed ${1##*/}"
    fi
}

begin='# mender-convert: the firmware starts U-Boot, which boots the active root filesystem (A/B).'
end='# mender-convert: end'
if [ -f "$boot/config.txt" ]; then
    # The file without an earlier mender-convert block and without trailing blank lines, then
    # the block, whose [all] section comes last so that its settings win.
    awk -v begin="$begin" -v end="$end" '
        $0 == begin { skip = 1; next }
        skip { if ($0 == end) skip = 0; next }
        /^[[:space:]]*$/ { blank = blank $0 "\n"; next }
        { printf "%s%s\n", blank, $0; blank = ""; kept = 1 }
        END { if (kept) print "" }
    ' "$boot/config.txt" > "$boot/config.txt.mender-new"
    printf '%s\n[all]\nkernel=%s\nenable_uart=1\narm_64bit=%s\n%s\n' "$begin" "$MENDER_UBOOT_FILE" "$MENDER_ARM_64BIT" "$end" >> "$boot/config.txt.mender-new"
    update "$boot/config.txt"
fi

for file in cmdline.txt btcmd.txt; do
    [ -f "$boot/$file" ] || continue
    # One line: root= from U-Boot's environment, the first-boot resize scripts left out.
    tr -s ' \t\r\n' '\n\n\n\n' < "$boot/$file" | awk '
        $0 == "" || $0 == "init=/usr/lib/raspi-config/init_resize.sh" || $0 == "init=/usr/lib/raspberrypi-sys-mods/firstboot" { next }
        /^root=/ { $0 = "root=${mender_kernel_root}"; root = 1 }
        { line = line (line == "" ? "" : " ") $0 }
        END { if (!root) line = line (line == "" ? "" : " ") "root=${mender_kernel_root}"; print line }
    ' > "$boot/$file.mender-new"
    update "$boot/$file"
done

if [ "$1" != "--config-only" ]; then
    newest=$(for kernel in "$root"/boot/vmlinuz-*; do
        [ -f "$kernel" ] || continue
        case "$kernel" in *.dpkg-*|*.old-dkms|*.bak) continue ;; esac
        case "${kernel##*/vmlinuz-}" in
            *"-$MENDER_KERNEL_FLAVOUR") ;;
            *) [ -z "$MENDER_KERNEL_FLAVOUR" ] || continue ;;
        esac
        echo "$kernel"
    done | sort -V | tail -n 1)
    version=${newest##*/vmlinuz-}
    source="$root/usr/lib/linux-image-$version"
    trees=0
    if [ -n "$newest" ] && [ -d "$source" ]; then
        # Every Broadcom device tree, as Debian's raspi-firmware copies them: Raspberry Pi's names
        # (bcm2710-rpi-3-b.dtb) and upstream's, which Debian's kernel carries and the firmware
        # loads once that package's config.txt says upstream_kernel=1 (bcm2837-rpi-3-b.dtb).
        for dtb in "$source"/bcm*.dtb "$source"/broadcom/bcm*.dtb; do
            [ -f "$dtb" ] || continue
            cp "$dtb" "$boot/${dtb##*/}.mender-new"
            update "$boot/${dtb##*/}"
            trees=$((trees + 1))
        done
        if [ -d "$source/overlays" ]; then
            mkdir -p "$boot/overlays"
            for overlay in "$source/overlays"/*; do
                [ -f "$overlay" ] || continue
                cp "$overlay" "$boot/overlays/${overlay##*/}.mender-new"
                update "$boot/overlays/${overlay##*/}"
                trees=$((trees + 1))
            done
        fi
    fi
    say "device trees of ${version:-no kernel} on the boot partition ($trees files)"
fi
[ -z "$changed" ] || { sync; say "rewrote$changed"; }
