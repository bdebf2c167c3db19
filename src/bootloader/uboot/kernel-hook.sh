#!/bin/sh
# mender-convert: keeps the kernel, initrd and device trees that the U-Boot boot script
# (boot.scr) loads from this root filesystem in step with the installed kernel packages. Runs as
# /etc/kernel/postinst.d/zz-mender-uboot and /etc/kernel/postrm.d/zz-mender-uboot (after
# initramfs-tools has built the new kernel's initrd) and as
# /etc/initramfs/post-update.d/zz-mender-uboot (update-initramfs outside a kernel install).
# Whatever the arguments, it takes the newest installed kernel of the flavour in
# /etc/default/mender-uboot, as the distribution's own boot hooks do, so it can be run again at
# any time. Every file is written beside its target and renamed over it once all are written.
# (Paths have no spaces: they are written by mender-convert.)
set -e

root="${DPKG_ROOT:-}"
config="$root/etc/default/mender-uboot"
[ -r "$config" ] || exit 0
MENDER_KERNEL_IMAGE=
MENDER_INITRD=
MENDER_KERNEL_FLAVOUR=
MENDER_DTB_DIR=
. "$config"

# During a kernel install initramfs-tools runs post-update.d from its own kernel hook; this
# script runs later from the same postinst.d directory.
case "$0" in
    */post-update.d/*) [ -z "$INITRAMFS_TOOLS_KERNEL_HOOK" ] || exit 0 ;;
esac

say() { echo "mender-uboot: $*" >&2; }

newest=$(for kernel in "$root"/boot/vmlinuz-*; do
    [ -f "$kernel" ] || continue
    case "$kernel" in *.dpkg-*|*.old-dkms|*.bak) continue ;; esac
    case "${kernel##*/vmlinuz-}" in
        *"-$MENDER_KERNEL_FLAVOUR") ;;
        *) [ -z "$MENDER_KERNEL_FLAVOUR" ] || continue ;;
    esac
    echo "$kernel"
done | sort -V | tail -n 1)
if [ -z "$newest" ]; then
    say "no kernel /boot/vmlinuz-*${MENDER_KERNEL_FLAVOUR:+-$MENDER_KERNEL_FLAVOUR} installed; $MENDER_KERNEL_IMAGE left as it is"
    exit 0
fi
version=${newest##*/vmlinuz-}

# New files are written beside their targets (.mender-new), synced, then renamed over them.
pending=
stage() {
    pending="$pending $1"
    cp "$2" "$1.mender-new"
}

# booti cannot inflate a kernel: a gzip-compressed one is stored decompressed.
target="$root$MENDER_KERNEL_IMAGE"
mkdir -p "${target%/*}"
if [ "$(od -An -tx1 -N2 "$newest" | tr -d ' ')" = "1f8b" ]; then
    gzip -dc "$newest" > "$target.mender-new"
    pending="$target"
else
    stage "$target" "$newest"
fi

if [ -n "$MENDER_INITRD" ]; then
    if [ -e "$root/boot/initrd.img-$version" ]; then
        stage "$root$MENDER_INITRD" "$root/boot/initrd.img-$version"
    else
        # An initrd of another kernel would not match its modules.
        rm -f "$root$MENDER_INITRD"
    fi
fi

# The regular files among the arguments, in $files (counted in $count), without a fork per
# file: a kernel package carries a thousand device trees, and a fork each made an upgrade slow.
regular_files() {
    files=
    count=0
    for file in "$@"; do
        if [ -f "$file" ]; then
            files="$files $file"
            count=$((count + 1))
        fi
    done
}

# The device trees (vendor directories flattened) and overlays, where the conversion put the
# image's own, are staged in one directory beside them and moved in with one mv each.
trees=0
source="$root/usr/lib/linux-image-$version"
dtb_dir="$root$MENDER_DTB_DIR"
staging="$dtb_dir/.mender-new"
if [ -n "$MENDER_DTB_DIR" ] && [ -d "$source" ]; then
    rm -rf "$staging"
    for directory in "$source" "$source"/*/; do
        regular_files "${directory%/}"/*.dtb
        [ "$count" -eq 0 ] || { mkdir -p "$staging"; cp $files "$staging/"; }
    done
    regular_files "$source/overlays"/*
    [ "$count" -eq 0 ] || { mkdir -p "$staging/overlays"; cp $files "$staging/overlays/"; }
    regular_files "$staging"/*.dtb "$staging/overlays"/*
    trees=$count
fi
sync
for file in $pending; do
    mv -f "$file.mender-new" "$file"
done
if [ -d "$staging" ]; then
    regular_files "$staging"/*.dtb
    [ "$count" -eq 0 ] || mv -f $files "$dtb_dir/"
    regular_files "$staging/overlays"/*
    [ "$count" -eq 0 ] || { mkdir -p "$dtb_dir/overlays"; mv -f $files "$dtb_dir/overlays/"; }
    rm -rf "$staging"
fi
sync
say "$MENDER_KERNEL_IMAGE${MENDER_INITRD:+ and $MENDER_INITRD} from $version ($trees device tree files)"
