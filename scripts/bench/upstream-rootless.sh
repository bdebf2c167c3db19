#!/usr/bin/env bash
# A rootless stand-in for upstream's method (scripts/bench/upstream.sh is the faithful one), an
# extra of the bench (`--contenders …,rootless`): where upstream loop-mounts a partition and
# copies the tree with rsync, this takes the tree out with debugfs rdump and builds the new
# filesystem with mke2fs -d — other tools, other costs, so not a measure of upstream itself.
# The rest follows upstream's defaults (MENDER_SPARSE_IMAGE=n: full dd copies; GRUB layout;
# IMAGE_ROOTFS_SIZE=0, factor 1.5).
# usage: upstream-rootless.sh IMAGE WORK_DIR OUTPUT_DIR none|gzip|xz
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"
image=$1 work=$2 out=$3 compression=$4
MiB=$((1024 * 1024))

# 1. mender-convert: a compressed input is decompressed to a file first (decompress_image).
case "$image" in
    *.xz) xz -dc -T0 "$image" > "$work/image.img"; raw="$work/image.img" ;;
    *) raw="$image" ;;
esac

# 2. mender-convert-extract: each partition is copied out with dd (disk_extract_part).
read -r boot_start boot_size root_start root_size < <(sfdisk -d "$raw" | awk -F'[=,]' '/start=/{printf "%s %s ", $2+0, $4+0} END{print ""}')
dd if="$raw" of="$work/boot.vfat" bs=1M skip=$((boot_start * 512))B count=$((boot_size * 512))B iflag=skip_bytes,count_bytes status=none
dd if="$raw" of="$work/rootfs-in.ext4" bs=1M skip=$((root_start * 512))B count=$((root_size * 512))B iflag=skip_bytes,count_bytes status=none

# 3. mender-convert-modify mounts the root partition and edits the tree in place; the
#    package step then reads that tree. Stand-in without a mount: the tree copied out.
mkdir -p "$work/rootfs" "$work/data/mender"
debugfs -R "rdump / $work/rootfs" "$work/rootfs-in.ext4" 2>/dev/null
mv "$work/rootfs/data"/* "$work/data/" 2>/dev/null || true

# 4. mender-convert-package: a fresh filesystem of used × 1.5 with the tree copied in
#    (disk_create_file_system_from_folder: dd to size, mkfs.ext4 -d).
used=$(du -s --block-size=512 "$work/rootfs" | cut -f1)
rootfs_sectors=$(awk -v u="$used" 'BEGIN{printf "%.0f", u * 1.5}')
dd if=/dev/zero of="$work/rootfs.img" seek="$rootfs_sectors" count=0 bs=512 status=none
mkfs.ext4 -q -F -d "$work/rootfs" "$work/rootfs.img"
cp --sparse=always "$work/rootfs.img" "$out/bench.ext4"

# 5. mender_create_artifact: mender-artifact write rootfs-image (gzip, upstream's default).
mender-artifact --compression gzip write rootfs-image --no-progress -f "$work/rootfs.img" -n bench-1 -t bench -o "$out/bench.mender"

# 6. The data partition (another mkfs -d), the image file, the table (parted there, sfdisk
#    here: same table), then every partition written with dd (disk_write_at_offset, no sparse).
dd if=/dev/zero of="$work/data.img" seek=$((128 * MiB / 512)) count=0 bs=512 status=none
mkfs.ext4 -q -F -d "$work/data" "$work/data.img"
total=$((8192 * MiB)) align=$((8 * MiB))
boot_bytes=$(( ($(stat -c %s "$work/boot.vfat") + align - 1) / align * align ))
part=$(( ((total - boot_bytes - 128 * MiB - 4 * align) / 2 + align - 1) / align * align ))
img="$out/bench.img"
dd if=/dev/zero of="$img" bs=512 count=0 seek=$((total / 512)) status=none
a=$align b=$((align + boot_bytes)) c=$((align + boot_bytes + part)) d=$((align + boot_bytes + 2 * part))
printf 'label: dos\nstart=%d, size=%d, type=c, bootable\nstart=%d, size=%d, type=83\nstart=%d, size=%d, type=83\nstart=%d, size=%d, type=83\n' \
    $((a / 512)) $((boot_bytes / 512)) $((b / 512)) $((part / 512)) $((c / 512)) $((part / 512)) $((d / 512)) $((128 * MiB / 512)) | sfdisk -q "$img"
dd if="$work/boot.vfat" of="$img" seek=$((a / 512)) bs=512 conv=notrunc status=none
dd if="$work/rootfs.img" of="$img" seek=$((b / 512)) bs=512 conv=notrunc status=none
dd if="$work/rootfs.img" of="$img" seek=$((c / 512)) bs=512 conv=notrunc status=none
dd if="$work/data.img" of="$img" seek=$((d / 512)) bs=512 conv=notrunc status=none

# 7. Image compression as upstream does it: pigz --best, pxz --best (xz -T0 -9 here).
case "$compression" in
    gzip) pigz --best --force "$img" ;;
    xz) xz -T0 -9 --force "$img" ;;
esac
