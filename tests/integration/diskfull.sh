#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A store on a small loop-mounted filesystem, filled by a step: overlayfs on
# ext4, or (CAIRN_TEST_STORE_KIND=btrfs) a btrfs store on btrfs.
set -u
: "${CAIRN:?path to the cairn binary}" "${CAIRN_SRCDIR:?source tree}"
. "$CAIRN_SRCDIR/tests/lib/tap.sh"
. "$CAIRN_SRCDIR/tests/lib/loopfs.sh"

[ "$(id -u)" = 0 ] || need "needs root"
[ -x /bin/busybox ] || need "needs busybox-static"
tmp=$(mktemp -d /tmp/cairn-diskfull-test.XXXXXX)
cleanup() {
        grep " $tmp" /proc/self/mountinfo | awk '{print $5}' | sort -r | xargs -r -n1 umount -l 2>/dev/null
        rm -rf "$tmp"
}
trap cleanup EXIT
cd "$tmp"
kind=${CAIRN_TEST_STORE_KIND:-overlayfs}
# Sizes: what fills the filesystem, and a file that cannot be copied in.
case $kind in
overlayfs) loopfs_mount ext4 64M small.img small; fill=200; big=80 ;;
# mkfs.btrfs makes nothing much smaller.
btrfs)     loopfs_mount btrfs 160M small.img small; fill=400; big=200 ;;
# mkfs.xfs makes nothing under 300 MiB.
xfs)       loopfs_mount xfs 320M small.img small; fill=600; big=400 ;;
*)         echo "unknown CAIRN_TEST_STORE_KIND $kind" >&2; exit 2 ;;
esac
# btrfs frees a deleted subvolume's space in the background: the test waits
# for it where it measures or needs the space (cairn itself never waits).
settle() {
        [ "$kind" = btrfs ] && btrfs subvolume sync small >/dev/null
        sync
}
export CAIRN_STORE="$kind:$tmp/small/store"
store=$tmp/small/store
mkdir -p rootfs/bin rootfs/tmp ctx
cp /bin/busybox rootfs/bin/
for a in sh echo dd cat; do ln -s busybox rootfs/bin/$a; done
tar -C rootfs -cf bb.tar .
"$CAIRN" image import --env PATH=/bin busybox bb.tar >/dev/null
printf '((from busybox))' >base.spec
"$CAIRN" build -f base.spec ctx >/dev/null
settle
free_before=$(df --output=avail small | tail -n 1)

printf '((from busybox) (shell /bin/sh -c) (run (shell "dd if=/dev/zero of=/big bs=1M count=%s")))' "$fill" >fill.spec
run_cmd "$CAIRN" build -f fill.spec ctx
is_status 1 "a step that fills the filesystem fails"
has "$out" "No space left on device" "the step's own error is in the log"
has "$err" "Build step failed: \"/bin/sh\" \"-c\" \"dd if=/dev/zero of=/big bs=1M count=$fill\" failed with exit status 1" \
        "and the build says which step failed"
settle
free_after=$(df --output=avail small | tail -n 1)
ok $([ $((free_before - free_after)) -lt 1024 ]; echo $?) "the space the step used is given back (${free_before}K before, ${free_after}K after)"
run_cmd "$CAIRN" fsck --check
is "$out" "The store is consistent
" "the store is consistent"

head -c "${big}M" /dev/zero >ctx/big.bin
printf '((from busybox) (copy (src big.bin) (dst /big.bin)))' >copy.spec
run_cmd "$CAIRN" build -f copy.spec ctx
is_status 1 "a copy that does not fit fails"
has "$err" "No space left on device" "with the reason"
# On btrfs the failed step's subvolume is freed by the kernel's cleaner a
# little later (within its commit interval); until then the filesystem is
# still full, for cairn's database too.
settle
run_cmd "$CAIRN" fsck --check
is "$out" "The store is consistent
" "and the store is still consistent"

printf '((from busybox) (shell /bin/sh -c) (run (shell "echo fits > /small")))' >small.spec
run_cmd "$CAIRN" build -f small.spec ctx
is_status 0 "the next build that fits succeeds"
run_cmd "$CAIRN" prune --keep-free=99%
is_status 0 "prune --keep-free on the full filesystem"
has "$out" "Removed " "removes results to make room"

tap_done
