# SPDX-License-Identifier: Apache-2.0
# A filesystem on a sparse loop image, for the tests that need a given
# filesystem (or a small one).  Source after tap.sh; the test's cleanup
# unmounts it (everything mounted below its tmp dir) and removes the image
# with the tmp dir.
#
#   loopfs_mount TYPE SIZE IMAGE MOUNTPOINT
#       TYPE: ext4, btrfs, xfs; SIZE as truncate takes it (64M, 1G).
#       Skips the whole test (need) when the mkfs tool or loop devices are
#       missing.

loopfs_mount() {
        local type=$1 size=$2 img=$3 mnt=$4
        case $type in
        ext4)  command -v mkfs.ext4 >/dev/null || need "needs mkfs.ext4 (e2fsprogs)" ;;
        btrfs) command -v mkfs.btrfs >/dev/null || need "needs mkfs.btrfs (btrfs-progs)"
               grep -qw btrfs /proc/filesystems || modprobe btrfs 2>/dev/null || true
               grep -qw btrfs /proc/filesystems || need "needs btrfs in the kernel" ;;
        xfs)   command -v mkfs.xfs >/dev/null || need "needs mkfs.xfs (xfsprogs)" ;;
        *)     echo "loopfs_mount: unknown filesystem $type" >&2; exit 2 ;;
        esac
        truncate -s "$size" "$img"
        case $type in
        ext4)  mkfs.ext4 -q -F "$img" ;;
        btrfs) mkfs.btrfs -q -f "$img" >/dev/null 2>&1 ;;
        xfs)   mkfs.xfs -q -f -m reflink=1 "$img" ;;
        esac || { echo "mkfs.$type failed" >&2; exit 1; }
        mkdir -p "$mnt"
        mount -o loop "$img" "$mnt" || need "needs loop devices"
}
