#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Stores written by OBuilder itself (tests/fixtures/obuilder-stores, or
# $CAIRN_OBUILDER_FIXTURES): cairn opens each as it is and reuses every step
# of the spec OBuilder built, sees the cache OBuilder filled, and what it
# adds has OBuilder's shapes (database rows, files), so OBuilder can go on
# using the store.  CAIRN_TEST_STORE_KIND: overlayfs or rsync.
set -u
: "${CAIRN:?path to the cairn binary}" "${CAIRN_SRCDIR:?source tree}"
. "$CAIRN_SRCDIR/tests/lib/tap.sh"

kind=${CAIRN_TEST_STORE_KIND:-overlayfs}
fixtures=${CAIRN_OBUILDER_FIXTURES:-$CAIRN_SRCDIR/tests/fixtures/obuilder-stores}
[ "$(id -u)" = 0 ] || need "needs root"
[ -d "$fixtures" ] || need "needs OBuilder's stores in $fixtures"
command -v zstd >/dev/null || need "needs zstd"
tmp=$(mktemp -d /tmp/cairn-obuilder-stores.XXXXXX)
cleanup() {
        grep " $tmp" /proc/self/mountinfo | awk '{print $5}' | sort -r | xargs -r -n1 umount -l 2>/dev/null
        rm -rf "$tmp"
}
trap cleanup EXIT
cd "$tmp"

store=$tmp/store
mkdir -p "$store" ctx
case $kind in
overlayfs)
        zstd -q -d --long=27 -c "$fixtures/overlayfs-store.tar.zst" |
                tar --xattrs --xattrs-include='*' -C "$store" -x ;;
rsync)
        zstd -q -d --long=27 -c "$fixtures/rsync-store.tar.zst" | tar -C "$store" -x ;;
*) need "no fixture for store kind $kind" ;;
esac
tar -C ctx -xf "$fixtures/context.tar"
export CAIRN_STORE="$kind:$store"

# The chain OBuilder recorded (the fixtures' README).
final=9623b3717b12bb1977883278760ce1877ee5d402d84097652ecfde32e14e6fef
db() {
        python3 -c 'import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
for row in c.execute(sys.argv[2]): print("|".join("" if v is None else str(v) for v in row))' \
                "$store/state/db/db.sqlite" "$1"
}

# --- every step OBuilder built is reused ----------------------------------------------------
run_cmd "$CAIRN" build -f "$fixtures/fixture.spec" ctx
is_status 0 "$kind: cairn builds OBuilder's spec on OBuilder's store"
has "$out" "Got: \"$final\"" "with OBuilder's final ID"
lacks "$out" "saved as" "and no step runs: every one is reused"
is "$(printf '%s\n' "$out" | grep -c 'from cache')" 7 "all seven lookups hit (the base twice)"

# --- OBuilder's cache is seen, and what cairn adds has OBuilder's shapes --------------------
{ sed '$ s/)$//' "$fixtures/fixture.spec"
  printf ' (user (uid 0) (gid 0))\n (run (cache (downloads (target /var/cache/downloads))) (shell "cat /var/cache/downloads/log; echo from-cairn >> /var/cache/downloads/log")))\n'
} >more.spec
run_cmd "$CAIRN" build -f more.spec ctx
is_status 0 "$kind: a new step on top of OBuilder's chain"
has "$out" "fetched-by-obuilder" "the cache downloads shows what OBuilder's step wrote to it"
new=$(printf '%s\n' "$out" | sed -n 's/^Got: "\(.*\)"$/\1/p')
is "$(printf '%s\n' "$out" | grep -c 'saved as')" 1 "only the new step runs"
has "$(cat "$store/cache/downloads/log")" "from-cairn" "and writes to OBuilder's cache/downloads, where OBuilder will look"
ok $([ ! -e "$store/cache/c-downloads" ]; echo $?) "no cache of cairn's own naming beside it"

row=$(db "select rc, parent from builds where id = '$new'")
is "$row" "0|$final" "its row: rc 0 and OBuilder's final step as parent"
created=$(db "select created || '/' || used from builds where id = '$new'")
ok $(printf '%s' "$created" | grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}/[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}$' && echo 0 || echo 1) \
        "created and used as OBuilder writes them ($created)"
is "$(db "select rc from builds where id = '$final'")" 1 "the parent's rc counts its new child"
ok $([ -d "$store/result/$new/rootfs" ] && [ -f "$store/result/$new/log" ]; echo $?) "result/ID holds rootfs/ and log"
has "$(cat "$store/result/$new/log")" "fetched-by-obuilder" "the log is the step's output"
if [ "$kind" = overlayfs ]; then
        is "$(readlink "$store/result/$new/parent")" "$store/result/$final" "parent: a link to the parent's result"
        ok $([ -L "$store/result/$new/env" ]; echo $?) "env: a link, as OBuilder's overlayfs results"
else
        ok $([ -f "$store/result/$new/env" ] && [ ! -e "$store/result/$new/parent" ]; echo $?) \
                "env a file and no parent link, as OBuilder's rsync results"
        ok $([ -f "$store/result/$new/rootfs/data/all" ]; echo $?) "a complete root, as rsync results are"
fi
run_cmd "$CAIRN" build -f more.spec ctx
lacks "$out" "saved as" "the new step is reused in turn"

# --- fsck, prune and delete ---------------------------------------------------------------
run_cmd "$CAIRN" fsck --check
is "$status:$out" "0:The store is consistent
" "fsck --check finds nothing wrong in OBuilder's store with cairn's step"
run_cmd "$CAIRN" delete "$new"
is "$status:$out" "0:Removing $new
" "delete removes cairn's step"
is "$(db "select rc from builds where id = '$final'")" 0 "and the parent's rc goes back"
ok $([ ! -e "$store/result/$new" ]; echo $?) "its result is gone"
run_cmd "$CAIRN" delete 15b7e980c621152f4e2960a9dd749ca0b771ba72572977d3c9f0cdcb4047c183
is "$(printf '%s\n' "$out" | grep -c '^Removing ')" 4 "delete of one of OBuilder's steps removes it and its three descendants"
run_cmd "$CAIRN" prune --max-items=1
is_status 0 "prune on OBuilder's store"
is "$(db "select count(*) from builds")" 1 "prune keeps one result"
is "$(ls "$store/result")" "245923d9517275fc65e897d3634629e4a698d1e9179c4c8f954ab664b57edbdb" \
        "OBuilder's base, the one the others were built on"
run_cmd "$CAIRN" fsck --check
is "$status:$out" "0:The store is consistent
" "fsck finds nothing wrong after"
run_cmd "$CAIRN" build -f "$fixtures/fixture.spec" ctx
is_status 0 "the spec builds again from the base"
has "$out" "Got: \"$final\"" "to the same final ID"

tap_done
