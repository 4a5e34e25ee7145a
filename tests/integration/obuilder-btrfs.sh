#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A btrfs store written by OBuilder itself (tests/fixtures/obuilder-stores,
# its README says how it was made), opened by cairn: every step of the
# fixture's spec is reused, the cache OBuilder filled is seen, what cairn
# adds has OBuilder's shapes, and fsck, delete and prune work on it.
set -u
: "${CAIRN:?path to the cairn binary}" "${CAIRN_SRCDIR:?source tree}"
. "$CAIRN_SRCDIR/tests/lib/tap.sh"
. "$CAIRN_SRCDIR/tests/lib/loopfs.sh"

fixtures=${CAIRN_FIXTURES:-$CAIRN_SRCDIR/tests/fixtures/obuilder-stores}
[ "$(id -u)" = 0 ] || need "needs root"
[ -f "$fixtures/btrfs-store.img.zst" ] || need "needs the OBuilder fixtures (CAIRN_FIXTURES=DIR)"
command -v zstd >/dev/null || need "needs zstd"
grep -qw btrfs /proc/filesystems || modprobe btrfs 2>/dev/null || true
grep -qw btrfs /proc/filesystems || need "needs btrfs in the kernel"
command -v btrfs >/dev/null || need "needs btrfs-progs"
tmp=$(mktemp -d /tmp/cairn-obuilder-btrfs-test.XXXXXX)
cleanup() {
        grep " $tmp" /proc/self/mountinfo | awk '{print $5}' | sort -r | xargs -r -n1 umount -l 2>/dev/null
        rm -rf "$tmp"
}
trap cleanup EXIT
cd "$tmp"
zstd -q -d --long=27 "$fixtures/btrfs-store.img.zst" -o store.img
# zstd keeps the fixture's modes: a read-only image would mount read-only.
chmod 0600 store.img
mkdir store ctx
mount -o loop store.img store || need "needs loop devices"
tar -C ctx -xf "$fixtures/context.tar"
export CAIRN_STORE="btrfs:$tmp/store"
db() { python3 -c 'import sqlite3, sys; db = sqlite3.connect(sys.argv[1])
for row in db.execute(sys.argv[2], sys.argv[3:]): print("|".join("" if v is None else str(v) for v in row))' \
        store/state/db/db.sqlite "$@"; }
is_subvol() { [ "$(stat -c %i "$1")" = 256 ]; }
final=9623b3717b12bb1977883278760ce1877ee5d402d84097652ecfde32e14e6fef

# --- every step of OBuilder's build is reused -------------------------------------------
run_cmd "$CAIRN" build -f "$fixtures/fixture.spec" ctx
is_status 0 "the fixture's spec builds on OBuilder's btrfs store"
lacks "$out" "saved as" "no step runs"
is "$(printf '%s\n' "$out" | grep -c 'from cache')" 7 "every step (the base twice) comes from OBuilder's results"
for id in 245923d9 097180fa 15b7e980 74cade6a ebf01c43 9623b371; do
        has "$out" "---> using \"$id" "with OBuilder's ID $id…"
done
is "$(printf '%s' "$out" | tail -n 1)" "Got: \"$final\"" "and OBuilder's final ID"

# --- a new step: OBuilder's cache, OBuilder's shapes --------------------------------------
# As root: OBuilder's bbtar root directory is 0700 (from its tarball), which
# OBuilder's runc steps cross as uid 1000 only through CAP_DAC_OVERRIDE; the
# native sandbox gives a non-root step no capabilities.
sed '$d' "$fixtures/fixture.spec" >new.spec
cat >>new.spec <<'SPEC'
 (run (shell "echo $GREETING > /tmp/x; id -u"))
 (user (uid 0) (gid 0))
 (run (cache (downloads (target /var/cache/downloads)))
      (shell "cat /var/cache/downloads/log; echo added-by-cairn")))
SPEC
run_cmd "$CAIRN" build -f new.spec ctx
is_status 0 "a spec with one more step builds"
is "$(printf '%s\n' "$out" | grep -c 'saved as')" 1 "only the new step runs"
has "$out" "fetched-by-obuilder
added-by-cairn" "it sees what OBuilder left in the cache downloads (cache/c-downloads)"
new=$(printf '%s\n' "$out" | sed -n 's/^Got: "\(.*\)"$/\1/p')
ok $([ ${#new} = 64 ]; echo $?) "its ID"

row=$(db 'SELECT rc, parent, created = used FROM builds WHERE id = ?' "$new")
is "$row" "0|$final|1" "its row: no children, its parent, created = used (OBuilder's row)"
ok $(db 'SELECT created FROM builds WHERE id = ?' "$new" | grep -qE '^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}$'; echo $?) \
        "with OBuilder's timestamp format"
is "$(db 'SELECT rc FROM builds WHERE id = ?' "$final")" 1 "the parent's child count went up"
is "$(db "SELECT sql FROM sqlite_master WHERE name = 'builds'" | tr -s ' \n' '  ' | sed 's/ $//')" \
        "CREATE TABLE builds ( id TEXT PRIMARY KEY, created DATETIME NOT NULL, used DATETIME NOT NULL, rc INTEGER NOT NULL, parent TEXT, FOREIGN KEY (parent) REFERENCES builds (id) ON DELETE RESTRICT )" \
        "the builds table is OBuilder's"
ok $(is_subvol "store/result/$new"; echo $?) "the result is a subvolume, as OBuilder's"
is "$(btrfs property get -ts "store/result/$new" ro)" "ro=true" "read-only"
ok $([ -d "store/result/$new/rootfs" ] && [ -f "store/result/$new/log" ]; echo $?) "holding rootfs/ and log"
has "$(cat "store/result/$new/log")" "added-by-cairn" "the log has the step's output"
has "$(cat "store/result/$new/rootfs/tmp/x" 2>/dev/null; ls "store/result/$new/rootfs/data")" "all" \
        "the root is the whole filesystem, built on OBuilder's"
ok $(is_subvol store/cache/c-downloads; echo $?) "the cache is still a subvolume"
is "$(btrfs property get -ts store/cache/c-downloads ro)" "ro=true" "read-only, as OBuilder leaves it"
is "$(cat store/cache/c-downloads/log)" "fetched-by-obuilder" "with OBuilder's contents"
is "$(ls -A store/result-tmp store/cache-tmp | grep -vc -e : -e '^$')" 0 "no temporary subvolume is left"

# A cache written by cairn, in OBuilder's layout.
printf '((from bbtar) (shell /bin/sh -c) (run (cache (cairn-made (target /c))) (shell "echo by-cairn > /c/f")))' >mk.spec
run_cmd "$CAIRN" build -f mk.spec ctx
is_status 0 "a step fills a new cache"
ok $(is_subvol store/cache/c-cairn-made && [ "$(cat store/cache/c-cairn-made/f)" = by-cairn ]; echo $?) \
        "which is the subvolume cache/c-cairn-made, where OBuilder looks"

# --- fsck, delete, prune ---------------------------------------------------------------
run_cmd "$CAIRN" fsck --check
is "$out" "The store is consistent
" "fsck --check finds nothing wrong"
run_cmd "$CAIRN" delete "$new"
is_status 0 "cairn delete of the new step"
ok $([ ! -e "store/result/$new" ]; echo $?) "removes its subvolume"
is "$(db 'SELECT count(*) FROM builds WHERE id = ?' "$new") $(db 'SELECT rc FROM builds WHERE id = ?' "$final")" "0 0" \
        "and its row, the parent's count back to 0"
run_cmd "$CAIRN" delete 15b7e980c621152f4e2960a9dd749ca0b771ba72572977d3c9f0cdcb4047c183
is "$(printf '%s' "$out" | grep -c '^Removing ')" 4 "delete of one of OBuilder's steps removes it and what is built on it"
ok $([ ! -e store/result/$final ] && [ -e store/result/245923d9517275fc65e897d3634629e4a698d1e9179c4c8f954ab664b57edbdb ]; echo $?) \
        "leaving the base"
run_cmd "$CAIRN" prune --max-items=0
is_status 0 "prune"
has "$out" "Removed 3 items" "removes what is left"
is "$(ls -A store/result)" "" "leaving no result"
is "$(btrfs subvolume list store | grep -c ' path result')" 0 "and no result subvolume"
run_cmd "$CAIRN" fsck --check
is "$out" "The store is consistent
" "the store is consistent after"
run_cmd "$CAIRN" build -f "$fixtures/fixture.spec" ctx
is_status 1 "building again needs the base image, which only OBuilder had"
has "$err" "bbtar" "naming it"

tap_done
