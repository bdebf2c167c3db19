#!/usr/bin/env bash
# Upstream mender-convert's conversion, step by step with its tools and defaults, for
# `npm run bench` (read from mender-convert, mender-convert-extract/-modify/-package and
# modules/disk.sh): partitions dd'd out whole (MENDER_SPARSE_IMAGE=n), loop-mounted, the tree
# copied into a fresh ext4 of used × 1.5 with rsync, mender-artifact for the Artifact, the image
# from full dd copies of each partition, pigz --best. GRUB-EFI layout (x86-64), no client
# install (MENDER_CLIENT_INSTALL=n), and of modify only its edits of the tree: its GRUB
# integration downloads and builds bootloader files, which no Artifact or image byte count here
# depends on. Needs root (mount), as upstream does.
# usage: upstream.sh IMAGE WORK_DIR OUTPUT_DIR none|gzip|xz
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"
image=$(realpath "$1") work=$(realpath "$2") out=$(realpath "$3") compression=$4
MiB=$((1024 * 1024))
align=$((8 * MiB))
log="$work/convert.log"
cd "$work"
mkdir -p boot rootfs output
# Upstream's scripts unmount in their exit traps too: a failed run leaves no mount behind (lazily
# where a process still has a file open in it).
cleanup() {
    for m in output rootfs boot; do
        if mountpoint -q "$work/$m"; then umount "$work/$m" || umount -l "$work/$m"; fi
    done
}
trap cleanup EXIT

# mender-convert: decompress_image unpacks a compressed input into work/ first (xzcat).
case "$image" in
    *.xz) xzcat "$image" > image.img; raw=$work/image.img ;;
    *) raw=$image ;;
esac

# mender-convert-extract: every partition dd'd to work/part-N.fs, and the boot gap
# (MENDER_COPY_BOOT_GAP=y: the sectors between the MBR and the first partition).
mapfile -t parts < <(sfdisk -d "$raw" | awk -F'[=,]' '/start=/{print $2+0, $4+0}')
n=0
for part in "${parts[@]}"; do
    read -r start sectors <<< "$part"
    n=$((n + 1))
    dd if="$raw" of="part-$n.fs" skip="${start}b" bs=1M count="${sectors}b" status=none iflag=count_bytes,skip_bytes
done
read -r first_start _ <<< "${parts[0]}"
dd if="$raw" of=boot-gap.bin skip=1b bs=1M count="$((first_start - 1))b" status=none iflag=count_bytes,skip_bytes

# The boot partition is mounted only for modify's bootloader edits (left out, see above) and is
# dd'd whole either way: where the kernel has no vfat (a VM's), it stays unmounted.
mount_boot() { if grep -qw vfat /proc/filesystems; then mount -o loop part-1.fs boot; fi; }

# mender-convert-modify: the partitions loop-mounted, the tree edited in place.
mount_boot
mount -o loop part-2.fs rootfs
mkdir -p rootfs/data/mender rootfs/var/lib rootfs/boot/efi rootfs/etc/mender/scripts
ln -sf /data/mender rootfs/var/lib
echo 'device_type=bench' > rootfs/data/mender/device_type
echo '{}' > rootfs/data/mender/mender.conf
chmod 600 rootfs/data/mender/mender.conf
fstab=$(sed -e '/\/boot/d' -e '/.*\s\/\s.*/d' rootfs/etc/fstab 2>/dev/null || true)
printf '/dev/sda1 /boot/efi auto defaults,sync 0 0\n/dev/root / auto defaults 1 1\n/dev/sda4 /data auto defaults 0 0\n%s\n' "$fstab" > rootfs/etc/fstab
umount rootfs
if mountpoint -q boot; then umount boot; fi

# mender-convert-package: mounted again; /data moved out of the tree.
mount_boot
mount -o loop part-2.fs rootfs
mv --force rootfs/data data
mkdir rootfs/data

# disk_create_file_system_from_folder: dd to size, mkfs.ext4, mount, rsync, unmount.
fs_from_folder() { # FOLDER FILE SECTORS
    dd if=/dev/zero of="$2" seek="$3" count=0 bs=512 status=none
    mkfs.ext4 -q -F "$2"
    mount -o loop "$2" output
    rsync --archive --xattrs --delete "$1" output/
    umount output
}
used=$(du -s --block-size=512 rootfs | cut -f1)
fs_from_folder rootfs/ rootfs.img "$(awk -v u="$used" 'BEGIN{printf "%.0f", u * 1.5}')"
cp --sparse=always rootfs.img "$out/bench.ext4"

# The bootstrap Artifact in /data carries the root filesystem's checksum (sha256sum of it).
# --device-type: Debian 12's mender-artifact 3.9 name for upstream's --compatible-types.
checksum=$(sha256sum rootfs.img | cut -d' ' -f1)
mender-artifact write bootstrap-artifact --artifact-name bench-1 --no-progress --device-type bench \
    --provides rootfs-image.version:bench-1 --provides "rootfs-image.checksum:$checksum" \
    --clears-provides 'rootfs-image.*' --output-path data/mender/bootstrap.mender >> "$log" 2>&1
fs_from_folder data/ data.img $((128 * MiB / 512))
rm -rf data

# mender_create_artifact: gzip, upstream's MENDER_ARTIFACT_COMPRESSION default.
mender-artifact --compression gzip write rootfs-image --file rootfs.img --output-path "$out/bench.mender" \
    --artifact-name bench-1 --device-type bench >> "$log" 2>&1

# The image: MENDER_STORAGE_TOTAL_SIZE_MB=8192, partitions aligned to 8 MiB, the boot partition
# as large as the input's (bigger than the 40 MiB default), the table written with parted.
up() { echo $(( ($1 + align - 1) / align * align / 512 )); }
total=$((8192 * MiB / 512))
boot_sectors=$(up "$(stat -c %s part-1.fs)")
data_sectors=$((128 * MiB / 512))
root_sectors=$(up $(( (total - data_sectors - boot_sectors - 4 * align / 512) / 2 * 512 )))
boot_start=$((align / 512))
a_start=$(up $(( (boot_start + boot_sectors - 1) * 512 )))
b_start=$(up $(( (a_start + root_sectors - 1) * 512 )))
data_start=$(up $(( (b_start + root_sectors - 1) * 512 )))
img="$out/bench.img"
dd if=/dev/zero of="$img" bs=512 count=0 seek="$total" status=none
# parted's output (and its complaints about a missing udevadm) to the log, as upstream does.
parted_img() { parted -s "$img" "$@" >> "$log" 2>&1; }
parted_img mklabel msdos
parted_img unit s mkpart primary fat32 "$boot_start" $((boot_start + boot_sectors - 1))
parted_img set 1 boot on
parted_img -- unit s mkpart primary ext4 "$a_start" $((a_start + root_sectors - 1))
parted_img -- unit s mkpart primary ext4 "$b_start" $((b_start + root_sectors - 1))
parted_img -- unit s mkpart primary ext4 "$data_start" $((data_start + data_sectors - 1))
dd if=boot-gap.bin of="$img" seek=1 bs=512 conv=notrunc status=none
umount rootfs
if mountpoint -q boot; then umount boot; fi

# disk_write_at_offset: every partition written whole with dd (no conv=sparse).
dd if=part-1.fs of="$img" seek="$boot_start" bs=512 conv=notrunc status=none
dd if=rootfs.img of="$img" seek="$a_start" bs=512 conv=notrunc status=none
dd if=rootfs.img of="$img" seek="$b_start" bs=512 conv=notrunc status=none
dd if=data.img of="$img" seek="$data_start" bs=512 conv=notrunc status=none

# MENDER_COMPRESS_DISK_IMAGE: pigz --best; lzma is pxz --best upstream, which Debian 12 no
# longer ships: xz on every core at the same level stands in.
case "$compression" in
    gzip) pigz --best --force "$img" ;;
    xz) xz -T0 --best --force "$img" ;;
esac
