#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# cairn build end to end, as root, on a real store (CAIRN_TEST_STORE_KIND:
# overlayfs, copy, or btrfs on a loop image made here) with real
# namespaces.  The base image is made here from Debian's busybox-static.
set -u
: "${CAIRN:?path to the cairn binary}" "${CAIRN_SRCDIR:?source tree}"
. "$CAIRN_SRCDIR/tests/lib/tap.sh"
. "$CAIRN_SRCDIR/tests/lib/loopfs.sh"

[ "$(id -u)" = 0 ] || need "needs root"
# Debian's busybox-static: one static binary that runs in any root.
BUSYBOX=/bin/busybox
[ -x "$BUSYBOX" ] || need "needs busybox-static"
kind=${CAIRN_TEST_STORE_KIND:-overlayfs}
case $kind in
overlayfs)
        grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null || true
        grep -qw overlay /proc/filesystems || need "needs overlayfs"
        tempdirs="in-progress merged work cache-result cache-work cache-merged"
        ;;
copy|btrfs|xfs) tempdirs="result-tmp cache-tmp" ;;
*)      echo "unknown CAIRN_TEST_STORE_KIND $kind" >&2; exit 2 ;;
esac
leftovers() {
        local d
        for d in $tempdirs; do find "$store/$d" -mindepth 1; done | wc -l
}

tmp=$(mktemp -d /tmp/cairn-build-test.XXXXXX)
cleanup() {
        grep " $tmp" /proc/self/mountinfo | awk '{print $5}' | sort -r | xargs -r -n1 umount -l 2>/dev/null
        rm -rf "$tmp"
}
trap cleanup EXIT
# Where the stores live: a btrfs or xfs store needs its filesystem.
stores=$tmp
case $kind in
btrfs|xfs)
        stores=$tmp/$kind
        loopfs_mount "$kind" 2G "$tmp/$kind.img" "$stores" ;;
esac
# Results are read-only subvolumes on btrfs: what the tests remove or change
# by hand goes through btrfs-progs there.
rm_result() {
        if [ "$kind" = btrfs ]; then
                btrfs subvolume delete "$1" >/dev/null
        else
                rm -rf "$1"
        fi
}
make_writable() {
        [ "$kind" = btrfs ] && btrfs property set -ts "$1" ro false
        return 0
}
export CAIRN_STORE="$kind:$stores/store"
store="$stores/store"
cd "$tmp"

# --- a busybox image --------------------------------------------------------
mkdir -p rootfs/bin rootfs/etc rootfs/tmp rootfs/root
chmod 1777 rootfs/tmp
cp "$BUSYBOX" rootfs/bin/busybox
for a in $(rootfs/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "rootfs/bin/$a"; done
printf 'root:x:0:0:root:/root:/bin/sh\nopam:x:1000:1000::/home/opam:/bin/sh\n' >rootfs/etc/passwd
printf 'root:x:0:\nopam:x:1000:\n' >rootfs/etc/group
tar -C rootfs -cf busybox.tar .
PATHV=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
run_cmd "$CAIRN" image import --env "PATH=$PATHV" busybox busybox.tar
is_status 0 "image import of a rootfs tarball"
has "$out" "Imported busybox (rootfs, 1 layer" "import reports what it stored"

run_cmd "$CAIRN" healthcheck
is_status 0 "healthcheck passes"
is "$out" "Healthcheck passed
" "healthcheck prints OBuilder's line"

# libarchive and libcurl are loaded when needed (base/dl.h): a missing one
# is an error naming it and what to install, not a loader failure at start.
# Hidden here behind /dev/null in a mount namespace of this command alone.
libarchive=$(ldconfig -p | awk '$1 == "libarchive.so.13" { print $NF; exit }')
libcurl=$(ldconfig -p | awk '$1 == "libcurl.so.4" { print $NF; exit }')
if [ -n "$libarchive" ] && [ -n "$libcurl" ] && unshare -m true 2>/dev/null; then
        run_cmd unshare -m sh -c 'mount --bind /dev/null "$(realpath "$1")" && shift && exec "$@"' sh "$libarchive" \
                "$CAIRN" image import busybox-again busybox.tar
        is_status 1 "without libarchive, image import fails"
        has "$err" "libarchive is needed" "and says libarchive is missing"
        has "$err" "install libarchive13" "and what to install"
        run_cmd unshare -m sh -c 'mount --bind /dev/null "$(realpath "$1")" && shift && exec "$@"' sh "$libcurl" \
                "$CAIRN" pull --help
        is_status 0 "without libcurl, cairn still starts"
        run_cmd unshare -m sh -c 'mount --bind /dev/null "$(realpath "$1")" && shift && exec "$@"' sh "$libcurl" \
                "$CAIRN" pull 127.0.0.1:1/none
        has "$err" "libcurl is needed" "but a pull says libcurl is missing"
else
        skip "needs ldconfig's libarchive.so.13 and libcurl.so.4 and unshare -m" "a missing libarchive or libcurl is named"
fi

# --- IDs equal to OBuilder's --------------------------------------------------
mkdir ctx
cat >hc.spec <<'SPEC'
((from busybox)
 (shell /bin/sh -c)
 (run (shell "echo healthcheck")))
SPEC
run_cmd "$CAIRN" build -f hc.spec ctx
is_status 0 "the reference run step builds"
has "$out" 'Got: "849be1f0bfad511b4bb7fa02312079870a5dda1d6b57b57c90913b9482305987"' \
        "the run ID equals the one computed in reference 2.2"
has "$out" '(from busybox)
Unpacking busybox' "the base heading comes first"
has "$out" '---> using "9d75f0d7c398df565d7ac04c6819b62d6d8f9560f5eb4672596ecd8f7e96ae91" from cache' \
        "the base ID is sha256(busybox), cached from the healthcheck"
has "$out" '/: (run (shell "echo healthcheck"))
healthcheck
---> saved as "849be1f0' "heading, output and note in reference 9's format"
run_cmd "$CAIRN" inspect 849be1f0bfad511b4bb7fa02312079870a5dda1d6b57b57c90913b9482305987
is_status 0 "cairn inspect on a local image's result"
has "$out" '"id": "9d75f0d7c398df565d7ac04c6819b62d6d8f9560f5eb4672596ecd8f7e96ae91"' "names its base"
has "$out" '"image": "busybox"' "and the image the base was unpacked from"
has "$out" '"digest": "sha256:' "with that image's digest"

# --- every op, cache hits and replay -----------------------------------------
mkdir -p ctx/dir/sub
echo "file one" >ctx/one.txt
echo "nested" >ctx/dir/sub/deep.txt
echo "skip me" >ctx/dir/skip.log
printf '#!/bin/sh\necho script ran\n' >ctx/run.sh
chmod 700 ctx/run.sh
ln -s one.txt ctx/link
cat >all.spec <<'SPEC'
((build tools
        ((from busybox)
         (shell /bin/sh -c)
         (workdir /build)
         (run (shell "echo built-in-stage > artifact"))))
 (from busybox)
 (comment "every operation")
 (shell /bin/sh -c)
 (workdir /src)
 (workdir rel)
 (env A 1)
 (env B 2)
 (env A 3)
 (run (shell "pwd; echo A=$A B=$B; env | grep -c '^PATH='"))
 (copy (src one.txt run.sh link) (dst ./))
 (copy (src dir) (dst /opt/d) (exclude skip.log))
 (copy (from (build tools)) (src /build/artifact) (dst /from-stage))
 (run (shell "cat /src/rel/one.txt /opt/d/sub/deep.txt /from-stage; ls /opt/d; ./run.sh; ls -l run.sh one.txt | cut -c1-10; readlink link"))
 (user (uid 1000) (gid 1000))
 (run (shell "id -u; id -g; touch /tmp/mine; stat -c %u:%g /tmp/mine"))
 (copy (src one.txt) (dst /home/opam/owned))
 (run (shell "stat -c %u:%g:%a /home/opam/owned"))
 (user (name opam))
 (run (shell "id -u"))
)
SPEC
run_cmd "$CAIRN" build -f all.spec ctx
is_status 0 "a spec using every operation builds"
first=$out
has "$out" '(build "tools" …)' "the stage heading"
has "$out" '--> finished "tools"' "the stage end note"
has "$out" "/src/rel
A=3 B=2
1" "workdir is joined, the newest env wins, the image env follows"
has "$out" "file one
nested
built-in-stage" "copied files, a directory and a file from a stage are in place"
has "$out" "built-in-stage
sub
script ran" "excluded names are not copied"
has "$out" "script ran" "an executable file stays executable"
has "$out" "-rw-r--r--
-rwxr-xr-x" "file modes are 0755 when executable, else 0644"
has "$out" "-rwxr-xr-x
one.txt" "a symlink is copied as a symlink"
has "$out" "1000
1000
1000:1000" "user switches uid and gid"
has "$out" "1000:1000:644" "copied files belong to the step's user"
has "$out" '/src/rel: (user (name opam))
/src/rel: (run (shell "id -u"))
1000' "a user name is resolved in the image's /etc/passwd"
got=$(printf '%s\n' "$out" | sed -n 's/^Got: "\(.*\)"$/\1/p')
ok $([ ${#got} = 64 ]; echo $?) "the build ends with Got: ID"

run_cmd "$CAIRN" build -f all.spec ctx
is_status 0 "the same spec builds again"
lacks "$out" "saved as" "nothing is rebuilt"
is "$(printf '%s\n' "$out" | grep -c 'from cache')" "$(printf '%s\n' "$first" | grep -c -e 'saved as' -e 'from cache')" \
        "every step comes from the cache"
has "$out" "A=3 B=2" "the output of cached steps is replayed"
is "$(printf '%s' "$out" | tail -n 1)" "Got: \"$got\"" "with the same final ID"
# A fully cached build, with copies and a stage among its steps, loads
# neither libarchive nor libcurl (the loader's own report of what it
# initialises), and marks its steps used in one database transaction: the
# hit count grows by the number of steps all the same.
hits_before=$("$CAIRN" du | sed -n 's/^cache hits: \([0-9]*\),.*/\1/p')
run_cmd env LD_DEBUG=libs "$CAIRN" build -f all.spec ctx
is_status 0 "a cached build under LD_DEBUG=libs"
lacks "$err" "libarchive" "loads no libarchive"
lacks "$err" "libcurl" "nor libcurl"
lacks "$err" "libcrypto" "nor libcrypto (its SHA-256 is linked in; the cluster's sealing loads the rest)"
lacks "$err" "libsqlite3" "nor SQLite (the database is not opened)"
lacks "$(readelf -d "$CAIRN" | grep NEEDED)" "libm.so" "cairn needs no libm (SQLite, which does, is loaded on first use)"
hits_after=$("$CAIRN" du | sed -n 's/^cache hits: \([0-9]*\),.*/\1/p')
is "$((hits_after - hits_before))" "$(printf '%s\n' "$out" | grep -c 'from cache')" "each reused step is counted as a hit"
# ... without opening the database: the hits are noted beside it and
# folded in by the next command that opens it (docs/building.md).
sql() { python3 -c 'import sqlite3, sys
c = sqlite3.connect(sys.argv[1]); r = c.execute(sys.argv[2], sys.argv[3:]).fetchall(); c.commit()
print("\n".join("|".join(str(x) for x in row) for row in r))' "$store/state/db/db.sqlite" "$@"; }
final_all=$(printf '%s\n' "$out" | sed -n 's/^Got: "\(.*\)"$/\1/p')
sql "UPDATE builds SET used = '2001-01-01 00:00:00' WHERE id = ?" "$final_all" >/dev/null
# (LeakSanitizer cannot stop the world of a traced process: no leak check.)
run_cmd env ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
        strace -f -qq -e trace=openat -o strace.out "$CAIRN" build -f all.spec ctx
is_status 0 "a cached build under strace"
lacks "$(grep -v ENOENT strace.out)" "db.sqlite" "opens no database file"
is "$(wc -l <"$store/state/db/cairn-hits")" "$(printf '%s\n' "$out" | grep -c 'from cache')" \
        "and notes one line per hit in state/db/cairn-hits"
is "$(sql 'SELECT used FROM builds WHERE id = ?' "$final_all")" "2001-01-01 00:00:00" \
        "which the database does not know yet"
run_cmd "$CAIRN" prune --older-than=1h
is "$status:$out" "0:Removed 0 items
" "prune, which opens the database, folds them in first: the leaf used just now is not old"
is "$(sql 'SELECT used > ? FROM builds WHERE id = ?' "2001-01-01 00:00:00" "$final_all")" 1 \
        "its used time is the hit's"
is "$(stat -c %s "$store/state/db/cairn-hits")" 0 "and the file is emptied"
# Without SQLite's library (hidden under /dev/null in a mount namespace of
# this test's own): a cached build still runs; a command that needs the
# database says what is missing and what to install, and touches nothing.
libsqlite=$(ldconfig -p | sed -n 's/^[[:space:]]*libsqlite3\.so\.0 (libc6,x86-64) => //p' | head -1)
if [ -n "$libsqlite" ] && [ -f "$libsqlite" ]; then
        nosqlite() { unshare -m sh -c 'mount --bind /dev/null "$1" && shift && exec "$@"' sh "$(readlink -f "$libsqlite")" "$@"; }
        run_cmd nosqlite "$CAIRN" build -f all.spec ctx
        is_status 0 "a cached build runs without SQLite's library"
        lacks "$out" "saved as" "(all of it from the cache)"
        run_cmd nosqlite "$CAIRN" du
        is_status 1 "du, which reads the database, fails without it"
        has "$err" "SQLite is needed here and cannot be loaded" "saying SQLite cannot be loaded"
        has "$err" "libsqlite3-0" "and which package to install"
        run_cmd "$CAIRN" du
        is_status 0 "with the library back, du works"
        is "$(stat -c %s "$store/state/db/cairn-hits")" 0 "and has folded the hits noted meanwhile"
else
        echo "# no libsqlite3.so.0 found by ldconfig" >&2
        ok 1 "libsqlite3.so.0 is where ldconfig says"
fi
if ldd "$CAIRN" | grep -q libasan; then
        echo "# built with AddressSanitizer, whose instrumentation relocates far more: relocations not counted"
else
        run_cmd env LD_DEBUG=statistics "$CAIRN" --version
        has "$err" "number of relative relocations:" "cairn --version under LD_DEBUG=statistics"
        relocs=$(sed -n 's/.*number of relative relocations: \([0-9]*\).*/\1/p' <<<"$err" | head -1)
        ok "$([ "${relocs:-99999}" -lt 2000 ]; echo $?)" \
                "cairn starts with few relocations ($relocs; OpenSSL's tables linked in took 19,000, SQLite's 1,600)"
fi

echo "file one, changed" >ctx/one.txt
run_cmd "$CAIRN" build -f all.spec ctx
is "$(printf '%s\n' "$out" | grep -c 'saved as')" 8 "changing a copied file rebuilds every step from that copy on"
echo "file one" >ctx/one.txt
chmod 755 ctx/one.txt
run_cmd "$CAIRN" build -f all.spec ctx
lacks "$out" "saved as" "a mode change alone does not change the copy ID (as in OBuilder)"
chmod 644 ctx/one.txt

# --- the context's stat cache (docs/building.md) --------------------------------
# Each change is built with the cache and then without it: the second build
# must be all cache hits with the same final ID.
mkdir -p sc/d/e
for i in 1 2 3; do echo "file $i" >sc/d/f$i; done
echo deep >sc/d/e/g
printf '((from busybox) (shell /bin/sh -c) (copy (src d) (dst /sc)) (run (shell "cd /sc; for f in f1 f2 f3 f9 e/g; do [ -e $f ] && echo $f: $(cat $f); done; ls -l f3 | cut -c1-10")))' >sc.spec
sleep 1.1   # past the racily-clean second
sc_check() { # what
        run_cmd "$CAIRN" build -f sc.spec sc
        local with=$out
        run_cmd env CAIRN_CONTEXT_CACHE=0 "$CAIRN" build -f sc.spec sc
        lacks "$out" "saved as" "stat cache: $1: the build without the cache reuses every step"
        is "$(printf '%s' "$out" | tail -n 1)" "$(printf '%s' "$with" | tail -n 1)" \
                "stat cache: $1: the same final ID with and without the cache"
        out=$with
}
sc_check "first build"
ls "$store/state/context-cache" | grep -q . ; ok $? "stat cache: kept in state/context-cache/"
run_cmd "$CAIRN" build -f sc.spec sc
lacks "$out" "saved as" "stat cache: nothing changed, nothing rebuilt"
old=$(stat -c %y sc/d/f1)
echo "FILE 1" >sc/d/f1
touch -d "$old" sc/d/f1
sc_check "contents changed, size and mtime restored"
has "$out" "f1: FILE 1" "stat cache: touch -d: the new contents are copied"
mv sc/d/f2 sc/d/f9
sc_check "renamed"
has "$out" "f9: file 2" "stat cache: the renamed file is copied"
chmod 755 sc/d/f3
sc_check "mode changed"
rm sc/d/f3
ln -s f1 sc/d/f3
sc_check "a file replaced by a symlink"
has "$out" "lrwxrwxrwx" "stat cache: the symlink is copied"
rm -r sc/d/e
sc_check "a directory deleted"
lacks "$out" "e/g:" "stat cache: the deleted directory is gone"

# --- incremental copies (docs/building.md) ----------------------------------------
# A copy that misses takes the unchanged files of the last result of the same
# copy op on the same parent; what it makes is what a fresh copy makes.
mkdir -p inc/t/sub inc/t/empty
for i in $(seq 1 40); do printf 'contents %s\n' "$i" >inc/t/f$i; done
echo deep >inc/t/sub/deep
: >inc/t/zero
ln -s f1 inc/t/link
chmod 755 inc/t/f2
# The listing: names, modes, owners, sizes, times, link targets, contents.
cat >inc.spec <<'SPEC'
((from busybox) (shell /bin/sh -c) (user (uid 1000) (gid 1000))
 (copy (src t) (dst /etc/inc))
 (run (shell "stat -c '%n %f %u %g' / /etc && cd /etc/inc && find . | sort | xargs stat -c '%n %f %u %g %s %Y %N' && find . -type f | sort | xargs md5sum")))
SPEC
# Files are taken by hard link on overlayfs, by reflink elsewhere (the copy
# store only on a filesystem with them).
taken() { # count from what
        if [ "$kind" != copy ] || { echo probe >"$stores/reflink-probe" && cp --reflink=always "$stores/reflink-probe" "$stores/reflink-probe2" 2>/dev/null; }; then
                has "$out" "---> $1 unchanged files taken from \"$2\"" "incremental copy: $3"
        else
                lacks "$out" "unchanged files taken" "incremental copy: $3 (none: no reflinks here)"
        fi
        rm -f "$stores/reflink-probe" "$stores/reflink-probe2"
}
copy_id() { printf '%s\n' "$out" | grep -A2 '(copy (src t)' | grep -m1 -e 'saved as' -e 'using' | sed 's/.*"\([0-9a-f]*\)".*/\1/'; }
run_cmd "$CAIRN" build -f inc.spec inc
is_status 0 "incremental copy: the first version builds"
v1=$(copy_id)
lacks "$out" "unchanged files taken" "incremental copy: nothing to take files from the first time"
echo "contents 3, changed" >inc/t/f3
rm inc/t/f40
echo new >inc/t/sub/new
printf 'contents 5\n' >inc/t/f5x
run_cmd "$CAIRN" build -f inc.spec inc
is_status 0 "incremental copy: the second version builds"
v2=$(copy_id)
taken 39 "$v1" "the unchanged files are taken from the first version"
listing=$(printf '%s\n' "$out" | sed -n '/^\/ /,/^---> saved/p')
has "$listing" "./f1 81a4 1000 1000 11 " "incremental copy: the listing is there"
# The same copy made fresh: the result and its index entry removed.
run_cmd "$CAIRN" delete "$v2"
is_status 0 "incremental copy: delete the incremental result"
rm -rf "$store/state/copy-index"
run_cmd "$CAIRN" build -f inc.spec inc
lacks "$out" "unchanged files taken" "incremental copy: made fresh"
is "$(copy_id)" "$v2" "incremental copy: the same ID"
is "$(printf '%s\n' "$out" | sed -n '/^\/ /,/^---> saved/p')" "$listing" \
        "incremental copy: names, modes, owners, sizes, times, link targets and contents as a fresh copy"
# Once more from that fresh result, then a later step writes to a shared file.
echo "contents 6, changed" >inc/t/f6
run_cmd "$CAIRN" build -f inc.spec inc
taken 41 "$v2" "taken again"
v3=$(copy_id)
cat >inc2.spec <<'SPEC'
((from busybox) (shell /bin/sh -c) (user (uid 1000) (gid 1000))
 (copy (src t) (dst /etc/inc))
 (run (shell "echo appended >> /etc/inc/f1; chmod 600 /etc/inc/f4; cat /etc/inc/f1")))
SPEC
run_cmd "$CAIRN" build -f inc2.spec inc
has "$out" "contents 1
appended" "incremental copy: a later step writes to a file taken from the earlier version"
is "$(cat "$store/result/$v2/rootfs/etc/inc/f1")" "contents 1" "incremental copy: the earlier version's file is unchanged"
is "$(cat "$store/result/$v3/rootfs/etc/inc/f1")" "contents 1" "incremental copy: and so is the later copy's"
is "$(stat -c %a "$store/result/$v2/rootfs/etc/inc/f4")" 644 "incremental copy: its mode too"
if [ "$kind" = overlayfs ]; then
        is "$(stat -c %i "$store/result/$v2/rootfs/etc/inc/f1")" "$(stat -c %i "$store/result/$v3/rootfs/etc/inc/f1")" \
                "incremental copy: on overlayfs the two layers share the file (a hard link)"
fi
# A file's record (version 2) says what the copy made of it: its owner, mode
# and time are taken from it, not from a stat of the earlier layer.  Same
# contents with a new mode or a restored older time must not be linked (a
# change of contents makes the copy miss: as OBuilder's, its ID hashes
# contents only).
has "$(head -c 19 "$store/result/$v3/copy-files")" "cairn copy-files 2" "incremental copy: the record is of version 2"
chmod 755 inc/t/f7
touch -d @1000000000 inc/t/f8
chmod 644 inc/t/f2
echo "contents 10, changed" >inc/t/f10
run_cmd "$CAIRN" build -f inc.spec inc
is_status 0 "incremental copy: a new mode and an older time build"
v4=$(copy_id)
# Hard links share the inode, so those are copied anew; a reflink takes
# their data and sets the new mode and time on its own inode.
if [ "$kind" = overlayfs ]; then
        taken 38 "$v3" "the files whose mode or time changed are copied anew"
else
        taken 41 "$v3" "the files whose mode or time changed are cloned with their new mode and time"
fi
listing=$(printf '%s\n' "$out" | sed -n '/^\/ /,/^---> saved/p')
has "$listing" "./f7 81ed 1000 1000 11 " "incremental copy: the new mode is there"
has "$listing" "./f8 81a4 1000 1000 11 1000000000 " "incremental copy: the older time is there"
run_cmd "$CAIRN" delete "$v4"
rm -rf "$store/state/copy-index"
run_cmd "$CAIRN" build -f inc.spec inc
lacks "$out" "unchanged files taken" "incremental copy: made fresh again"
is "$(printf '%s\n' "$out" | sed -n '/^\/ /,/^---> saved/p')" "$listing" \
        "incremental copy: with a new mode and an older time, as a fresh copy"
# An earlier result whose record is of version 1 (cairn before 2026-12:
# hashes and paths only) still gives its files, checked against the layer
# (overlayfs; the other stores clone, and btrfs results are read-only).
if [ "$kind" = overlayfs ]; then
        tr '\0' '\n' <"$store/result/$v4/copy-files" | sed -n '2,$p' | cut -d' ' -f1,8- | tr '\n' '\0' \
                >"$store/result/$v4/copy-files.v1"
        mv "$store/result/$v4/copy-files.v1" "$store/result/$v4/copy-files"
        has "$(head -c 200 "$store/result/$v4/copy-files" | tr '\0' '\n' | head -1)" " etc/inc/f1" \
                "incremental copy: the record was rewritten as version 1"
        echo "contents 9, changed" >inc/t/f9
        run_cmd "$CAIRN" build -f inc.spec inc
        taken 41 "$v4" "an earlier record of version 1 gives its unchanged files"
        v5=$(copy_id)
        listing=$(printf '%s\n' "$out" | sed -n '/^\/ /,/^---> saved/p')
        run_cmd "$CAIRN" delete "$v5"
        rm -rf "$store/state/copy-index"
        run_cmd "$CAIRN" build -f inc.spec inc
        lacks "$out" "unchanged files taken" "incremental copy: made fresh once more"
        is "$(printf '%s\n' "$out" | sed -n '/^\/ /,/^---> saved/p')" "$listing" \
                "incremental copy: from a record of version 1, as a fresh copy"
fi

# --- failures ---------------------------------------------------------------
cat >fail.spec <<'SPEC'
((from busybox)
 (shell /bin/sh -c)
 (run (shell "echo before; echo partial > /leftover; exit 3")))
SPEC
run_cmd "$CAIRN" build -f fail.spec ctx
is_status 1 "a failing step fails the build"
is "$err" 'Build step failed: "/bin/sh" "-c" "echo before; echo partial > /leftover; exit 3" failed with exit status 3' \
        "with OBuilder's message"
run_cmd "$CAIRN" build -f fail.spec ctx
has "$out" "before" "a failed step is not cached: it runs again"
lacks "$out" "from cache
before" "and is not replayed"
is "$(leftovers)" 0 \
        "a failed step leaves no temporary result"

printf '((from busybox) (shell /bin/sh -c) (run (shell "kill -9 $$")))' >sig.spec
run_cmd "$CAIRN" build -f sig.spec ctx
has "$err" 'failed with signal SIGKILL' "death by signal is reported as OBuilder does"

for case in 'file2|Source path "file2" not found' \
            'one.txt/x|Not a directory: one.txt (in "one.txt/x")' \
            '../one.txt|Can'"'"'t use .. in source paths! (in "../one.txt")' \
            'link/x|Not a regular file: link (in "link/x")'; do
        src=${case%%|*}
        msg=${case#*|}
        printf '((from busybox) (copy (src "%s") (dst /x)))' "$src" >copyerr.spec
        run_cmd "$CAIRN" build -f copyerr.spec ctx
        is "$err" "Build step failed: $msg" "copy error: $msg"
done
printf '((from busybox) (copy (src) (dst /x)))' >copyerr.spec
run_cmd "$CAIRN" build -f copyerr.spec ctx
is "$err" "Build step failed: No source items for copy!" "copy error: no sources"
printf '((from busybox) (copy (src one.txt run.sh) (dst /x)))' >copyerr.spec
run_cmd "$CAIRN" build -f copyerr.spec ctx
is "$err" "Build step failed: When copying multiple items, the destination must end with '/'" \
        "copy error: several items need a directory"

printf '((from busybox) (run (network a b) (shell x)))' >net.spec
run_cmd "$CAIRN" build -f net.spec ctx
is "$err" 'Build step failed: Unsupported network configuration ["a"; "b"]' "unknown networks are refused"

# Not a valid reference either, so nothing is tried over the network.
printf '((from NoSuchImage))' >noimg.spec
run_cmd "$CAIRN" build -f noimg.spec ctx
is_status 1 "a missing image fails"
has "$err" 'image "NoSuchImage" is not in the store (see cairn image import) and could not be pulled' \
        "with a clear message"
has "$err" "repository names must be lowercase" "and the reason"

printf '((from busybox) (run (shell x))' >bad.spec
before=$(ls "$store/result" | sort)
run_cmd "$CAIRN" build -f bad.spec ctx
is_status 1 "a malformed spec fails"
is "$err" "bad.spec:1:1: unbalanced parentheses: this '(' is never closed" "with the position of the problem"
is "$(ls "$store/result" | sort)" "$before" "and the store is untouched"

# --- secrets ----------------------------------------------------------------
printf 's3cr3t-value' >secret.txt
cat >secret.spec <<'SPEC'
((from busybox)
 (shell /bin/sh -c)
 (run (secrets (token (target /run/secrets/token)) (other (target /etc/other-secret)))
      (shell "cat /run/secrets/token; echo; cat /etc/other-secret; echo; echo x > /run/secrets/token 2>&1 || echo read-only"))
 (run (shell "ls /run/secrets 2>&1; cat /etc/other-secret 2>&1 || echo gone")))
SPEC
run_cmd "$CAIRN" build -f secret.spec ctx
is_status 1 "a build without its secret fails"
is "$err" "Build step failed: Couldn't find value for requested secret 'token'" "naming the secret, as OBuilder"
printf 'other-value' >other.txt
run_cmd "$CAIRN" build -f secret.spec --secret token:secret.txt --secret other:other.txt ctx
is_status 0 "a build with its secrets succeeds"
has "$out" "s3cr3t-value
other-value" "secrets are at their targets"
has "$out" "Read-only file system
read-only" "read-only"
has "$out" "gone" "and absent from the result"
ok $(grep -rqs s3cr3t-value "$store"/result/*/rootfs && echo 1 || echo 0) "no secret value is stored in any result's filesystem"
printf 'rotated' >secret.txt
run_cmd "$CAIRN" build -f secret.spec --secret token:secret.txt --secret other:other.txt ctx
has "$out" "rotated" "a new secret value reruns the step (it is part of the ID, as in OBuilder)"

# --- caches -----------------------------------------------------------------
cat >cache.spec <<'SPEC'
((from busybox)
 (shell /bin/sh -c)
 (user (uid 1000) (gid 1000))
 (run (cache (downloads (target /cache)))
      (shell "echo run >> /cache/log; wc -l < /cache/log; rm -f /cache/old; id -u > /cache/who")))
SPEC
mkdir -p ctx2
run_cmd "$CAIRN" build -f cache.spec ctx2
has "$out" "
1
" "a new cache starts empty"
"$CAIRN" delete "$(printf '%s\n' "$out" | sed -n 's/^Got: "\(.*\)"$/\1/p')" >/dev/null
run_cmd "$CAIRN" build -f cache.spec ctx2
has "$out" "
2
" "a cache keeps what earlier steps wrote"
# Each store names its caches as OBuilder's store of that kind (reference
# 4.4): the raw name on overlayfs, rsync and xfs; c- + escaped elsewhere.
case $kind in
overlayfs|copy|rsync|xfs) cdl=downloads esc='%a%2f..%2fb' ;;
*) cdl=c-downloads esc='c-a%2f..%2fb' ;;
esac
ok $([ "$(stat -c %u "$store/cache/$cdl/log")" = 1000 ]; echo $?) "cache files belong to the step's user (cache/$cdl)"
make_writable "$store/cache/$cdl"
touch "$store/cache/$cdl/old"
"$CAIRN" delete "$(printf '%s\n' "$out" | sed -n 's/^Got: "\(.*\)"$/\1/p')" >/dev/null
run_cmd "$CAIRN" build -f cache.spec ctx2
ok $([ ! -e "$store/cache/$cdl/old" ]; echo $?) "deletions in a cache are kept too"
printf '((from busybox) (shell /bin/sh -c)\n (run (cache ("a/../b" (target /c))) (shell "touch /c/f")))' >esc.spec
run_cmd "$CAIRN" build -f esc.spec ctx2
is_status 0 "a cache name with / and .. works"
ok $([ -e "$store/cache/$esc/f" ]; echo $?) "and stays inside the cache directory, as $esc"
has "$err" 'esc.spec:2:2: warning: the cache name "a/../b" is a path to OBuilder' "with a warning that OBuilder mishandles it"
run_cmd "$CAIRN" check esc.spec
is "$status:$err" "0:esc.spec:2:2: warning: the cache name \"a/../b\" is a path to OBuilder: on its overlayfs, rsync and xfs stores it would not be kept in cache/ (cairn keeps it there under a name of its own)" \
        "cairn check warns too, and passes"
if [ "$cdl" = downloads ]; then
        # A cache an earlier cairn left as c-NAME moves to OBuilder's name.
        mv "$store/cache/downloads" "$store/cache/c-downloads"
        printf '((from busybox) (shell /bin/sh -c) (run (cache (downloads (target /cache))) (shell "wc -l < /cache/log")))' >cache2.spec
        run_cmd "$CAIRN" build -f cache2.spec ctx2
        has "$out" "
3
" "a cache named c-downloads by an earlier cairn is found"
        ok $([ -d "$store/cache/downloads" ] && [ ! -e "$store/cache/c-downloads" ]; echo $?) "and renamed to downloads"
fi

# --- no host devices ---------------------------------------------------------------
# A block device of this host: a node made for it in /dev, in the root, or
# shipped in a layer can be created but never opened (nodev).  "OPEN""ED" in
# the command keeps the heading from matching what a success would print.
blk=$(ls /sys/dev/block | head -n 1)
maj=${blk%:*} min=${blk#*:}
printf '((from busybox) (shell /bin/sh -c) (run (shell "mknod /dev/hostdev b %s %s && dd if=/dev/hostdev of=/dev/null bs=1 count=1 && echo HOST-DEVICE-OPEN\\"\\"ED; mknod /tmp/n b %s %s && dd if=/tmp/n of=/dev/null bs=1 count=1 && echo ROOTFS-NODE-OPEN\\"\\"ED; echo x >/dev/null && head -c 3 /dev/zero | wc -c && head -c 5 /dev/urandom | wc -c")))' \
        "$maj" "$min" "$maj" "$min" >devices.spec
run_cmd "$CAIRN" build -f devices.spec ctx
is_status 0 "a step that makes nodes for a host block device builds"
lacks "$out" "HOST-DEVICE-OPENED" "a node made in /dev for a host device cannot be opened"
lacks "$out" "ROOTFS-NODE-OPENED" "nor one made in the root"
has "$out" "Permission denied" "the open is refused"
has "$out" "
3
5
" "while null, zero and urandom work"
cp -a rootfs devrootfs
mknod devrootfs/shipped b "$maj" "$min" && chmod 0666 devrootfs/shipped
tar -C devrootfs -cf devimg.tar .
"$CAIRN" image import devimg devimg.tar >/dev/null
printf '((from devimg) (shell /bin/sh -c) (run (shell "ls -l /shipped; dd if=/shipped of=/dev/null bs=1 count=1 && echo SHIPPED-NODE-OPEN\\"\\"ED")))' >shipped.spec
run_cmd "$CAIRN" build -f shipped.spec ctx
has "$out" "brw-rw-rw-" "a layer may ship a 0666 block node"
lacks "$out" "SHIPPED-NODE-OPENED" "but a step cannot open it"

# --- seccomp, the session keyring, inherited fds ----------------------------------------
mkdir ctxp
if cc -static -O2 -o ctxp/probe "$CAIRN_SRCDIR/tests/lib/probe.c" 2>probe.err; then
        printf '((from busybox) (shell /bin/sh -c) (copy (src probe) (dst /probe)) (run (shell "/probe")))' >probe.spec
        # An fd this test leaves open (not close-on-exec): cairn inherits it.
        exec 7</dev/null
        run_cmd "$CAIRN" build -f probe.spec ctxp
        exec 7<&-
        is_status 0 "a step runs the probe"
        for call in unshare-user keyctl add_key bpf perf_event_open userfaultfd open_by_handle_at kexec_load \
                io_uring_setup; do
                has "$out" "$call=EPERM" "seccomp: $call is refused"
        done
        has "$out" "clone3=ENOSYS" "seccomp: clone3 is ENOSYS, so libc falls back to clone"
        has "$out" "open-fds-above-2=0" "no fd cairn inherited reaches the step"
        host_keyring=$(ctxp/probe | sed -n 's/^session-keyring=//p')
        printf '((from busybox) (shell /bin/sh -c) (copy (src probe) (dst /probe)) (run (shell "/probe; echo unconfined")))' >probe2.spec
        run_cmd "$CAIRN" build --security-opt seccomp=unconfined -f probe2.spec ctxp
        is_status 0 "--security-opt seccomp=unconfined"
        has "$err" "warning: steps run without the seccomp filter" "warns"
        has "$out" "bpf=EINVAL" "and the filter is off"
        step_keyring=$(printf '%s\n' "$out" | sed -n 's/^session-keyring=//p')
        ok $([ -n "$step_keyring" ] && [ "$step_keyring" -gt 0 ] && [ "$step_keyring" != "$host_keyring" ] && echo 0 || echo 1) \
                "the step has a session keyring of its own ($step_keyring, not $host_keyring)"
        run_cmd "$CAIRN" build --security-opt apparmor=x -f probe2.spec ctxp
        is_status 124 "another --security-opt is a usage error"
else
        ok 1 "the probe compiles statically: $(cat probe.err)"
fi

# --- the store is private -----------------------------------------------------------------
is "$(stat -c %a "$store") $(stat -c %a "$store/state") $(stat -c %a "$store/state/db/db.sqlite")" "700 700 600" \
        "the store's root and state/ are 0700, the database 0600"
some=$(ls "$store/result" | head -n 1)
is "$(stat -c %a "$store/result/$some/log")" 600 "a step's log is not world-readable"
ctxjson=$(ls "$store"/result/*/context.json | head -n 1)
is "$(stat -c %a "$ctxjson")" 600 "nor its context.json"
chmod 0755 "$store"
"$CAIRN" ls >/dev/null
is "$(stat -c %a "$store")" 700 "a store made readable is made private again when opened"

# --- limits: processes, memory, time ---------------------------------------------------
printf '((from busybox) (shell /bin/sh -c) (run (shell "echo bomb; bomb() { bomb | bomb & }; bomb; sleep 60")))' >bomb.spec
start=$(date +%s)
run_cmd "$CAIRN" build --pids-limit=64 -f bomb.spec ctx
is_status 1 "a fork bomb fails its step"
is "$err" "Build step failed: killed: pids limit 64 reached" "killed at its pids limit, which the message names"
ok $([ $(($(date +%s) - start)) -lt 30 ] && echo 0 || echo 1) "promptly"
is "$(sh -c 'echo alive')" alive "and this test can still fork"
printf '((from busybox) (shell /bin/sh -c) (run (shell "awk '"'"'BEGIN { s = \\"x\\"; while (length(s) < 300000000) s = s s; print length(s) }'"'"'")))' >oom.spec
run_cmd "$CAIRN" build --memory=64M -f oom.spec ctx
is_status 1 "a step over its memory limit fails"
is "$err" "Build step failed: killed: out of memory (limit 64 MiB)" "with the OOM message"
run_cmd "$CAIRN" build -f oom.spec ctx
is_status 0 "without the limit it builds: a failure at a limit is not cached"
marker="cairn-timeout-$$"
printf '((from busybox) (shell /bin/sh -c) (run (shell "sleep 100; echo %s")))' "$marker" >timeout.spec
start=$(date +%s)
run_cmd "$CAIRN" build --step-timeout=2s -f timeout.spec ctx
is_status 1 "a step past its timeout fails"
is "$err" "Build step failed: killed: timed out after 2s" "saying so"
ok $([ $(($(date +%s) - start)) -lt 5 ] && echo 0 || echo 1) "within 5 s"
ok $(pgrep -f "$marker" >/dev/null && echo 1 || echo 0) "with no process left"
for bad in "--memory=lots" "--pids-limit=0" "--cpus=-1" "--step-timeout=soon"; do
        run_cmd "$CAIRN" build "$bad" -f timeout.spec ctx
        is_status 124 "$bad is a usage error"
done
printf '((from busybox) (shell /bin/sh -c) (run (shell "echo cpus-limited")))' >cpus.spec
run_cmd "$CAIRN" build --cpus=0.5 --memory=256M -f cpus.spec ctx
is_status 0 "a step under CPU and memory limits runs"
cpus_id=$(printf '%s\n' "$out" | sed -n 's/^Got: "\(.*\)"$/\1/p')
has "$(cat "$store/result/$cpus_id/context.json")" '"usage":{"peak_memory":' "its context.json says what the step used"
lacks "$out" "---> used" "the build's output stays OBuilder's: no usage line when not asked"
printf '((from busybox) (shell /bin/sh -c) (run (shell "echo usage; head -c 50000000 /dev/zero | md5sum")))' >usage.spec
run_cmd "$CAIRN" build --show-usage -f usage.spec ctx
ok $(printf '%s\n' "$out" | grep -A1 -E '^---> used [0-9]+\.[0-9]{2} s of CPU, [0-9.]+ [KMG]iB of memory at peak$' |
        grep -q '^---> saved as' && echo 0 || echo 1) "--show-usage: what the step used, before its saved as line"
log_of_usage=$(cat "$store/result/$(printf '%s\n' "$out" | sed -n 's/^Got: "\(.*\)"$/\1/p')/log")
lacks "$log_of_usage" "---> used" "and not in the step's log"

# --- ls: each result's own size, and with --total its whole chain's ----------------------------
printf '((from busybox) (shell /bin/sh -c) (run (shell "head -c 3145728 /dev/urandom > /a")) (run (shell "head -c 2097152 /dev/urandom > /b")))' >sizes.spec
run_cmd "$CAIRN" build -f sizes.spec ctx
top=$(printf '%s\n' "$out" | sed -n 's/^Got: "\(.*\)"$/\1/p')
run_cmd "$CAIRN" ls --total
has "$(printf '%s\n' "$out" | head -n 1)" "CHILDREN     TOTAL" "ls --total adds a TOTAL column"
line=$(printf '%s\n' "$out" | grep "^$top ")
own=$(printf '%s\n' "$line" | awk '{print $3}') total=$(printf '%s\n' "$line" | awk '{print $NF}')
if [ "$kind" = overlayfs ]; then
        ok $(awk -v o="$own" -v t="$total" 'BEGIN { exit !(o ~ /^2\.[0-9]M$/ && t ~ /M$/ && t + 0 >= 5) }'; echo $?) \
                "a layer's own size ($own) and its chain's, the layers below included ($total)"
else
        is "$total" "$own" "on a store of whole roots the chain's size is the result's own ($own)"
fi
run_cmd "$CAIRN" ls --bogus
is_status 124 "ls: an unknown option is a usage error"

# --- limits from the store's cairn.conf; the command line wins ------------------------------
printf '# defaults for every build of this store\n\nmemory = 64M\nstep-timeout = 2s\n' >"$store/cairn.conf"
sed 's/print length(s)/print length(s), 2/' oom.spec >oom2.spec
run_cmd "$CAIRN" build -f oom2.spec ctx
is "$err" "Build step failed: killed: out of memory (limit 64 MiB)" "cairn.conf's memory limit applies"
start=$(date +%s)
run_cmd "$CAIRN" build -f timeout.spec ctx
is "$err" "Build step failed: killed: timed out after 2s" "and its step-timeout"
ok $([ $(($(date +%s) - start)) -lt 5 ] && echo 0 || echo 1) "within 5 s"
run_cmd "$CAIRN" build --memory=none --step-timeout=1m -f oom2.spec ctx
is_status 0 "--memory=none lifts the config's limit"
run_cmd "$CAIRN" healthcheck --pids-limit=64 --memory=32M
is_status 0 "healthcheck takes the limits too"
run_cmd "$CAIRN" healthcheck --cpus=lots
is_status 124 "a bad limit of healthcheck is a usage error"
is "$err" "cairn healthcheck: --cpus takes a number of CPUs (0.5, 2) or none, not \"lots\"
Try 'cairn healthcheck --help'." "naming the option and what it takes"
printf 'memory = 1G\nstep-timeout =  soon\n' >"$store/cairn.conf"
run_cmd "$CAIRN" ls
is_status 1 "a bad cairn.conf stops every verb that opens the store"
is "$err" "$store/cairn.conf:2:17: step-timeout takes a duration (90s, 10m, 2h) or none, not \"soon\"" \
        "with its file, line, column and what was expected"
printf 'memory 1G\n' >"$store/cairn.conf"
run_cmd "$CAIRN" ls
has "$err" "cairn.conf:1:8: expected \"=\" after \"memory\" (KEY = VALUE)" "a line that is no setting"
printf '  timeout = 1h\n' >"$store/cairn.conf"
run_cmd "$CAIRN" ls
has "$err" "cairn.conf:1:3: unknown setting \"timeout\" (expected memory, pids-limit, cpus, step-timeout, security-opt, cache-from, cache-to, share-secret-steps or jobs)" \
        "an unknown setting, with the ones there are"
printf 'security-opt = seccomp=unconfined\n' >"$store/cairn.conf"
run_cmd "$CAIRN" build -f cpus.spec ctx
is_status 0 "security-opt in cairn.conf"
has "$err" "warning: steps run without the seccomp filter (security-opt = seccomp=unconfined in the store's cairn.conf)" \
        "warns and says where it comes from"
rm "$store/cairn.conf"

# --- network ----------------------------------------------------------------
printf '((from busybox) (shell /bin/sh -c) (run (shell "ls /sys/class/net")))' >nonet.spec
run_cmd "$CAIRN" build -f nonet.spec ctx2
is "$(printf '%s\n' "$out" | sed -n '/ls \/sys/,/saved/p' | sed '1d;$d')" "lo" "without (network host) only lo exists"
printf '((from busybox) (shell /bin/sh -c) (run (network host) (shell "ls /sys/class/net | wc -l; test -e /etc/resolv.conf && echo resolv")))' >hostnet.spec
run_cmd "$CAIRN" build -f hostnet.spec ctx2
want=$(ls /sys/class/net | wc -l)
has "$out" "$want" "(network host) sees the host's interfaces"
[ -e /etc/resolv.conf ] && has "$out" "resolv" "and gets the host's resolv.conf"

# --- delete and clean -------------------------------------------------------
printf '((from busybox) (shell /bin/sh -c) (run (shell "echo one")) (run (shell "echo two")))' >two.spec
run_cmd "$CAIRN" build -f two.spec ctx2
first_step=$(printf '%s\n' "$out" | grep -m1 'saved as' | sed 's/.*"\(.*\)".*/\1/')
run_cmd "$CAIRN" delete "$first_step"
is "$(printf '%s' "$out" | grep -c '^Removing ')" 2 "delete removes the step and its child (reference 11)"
run_cmd "$CAIRN" build -f two.spec ctx2
is "$(printf '%s\n' "$out" | grep -c 'saved as')" 2 "and they build again"

# --- kill -9 in the middle of a step -----------------------------------------
# A marker unique to this run, so that tests running in parallel do not see
# each other's processes.
marker="cairn-kill-test-$$-$RANDOM"
printf '((from busybox) (shell /bin/sh -c) (run (shell "echo started; sleep 30; echo %s")))' "$marker" >slow.spec
hosts_files() { find /tmp -maxdepth 1 -name 'cairn-hosts-*' 2>/dev/null | wc -l; }
hosts_before=$(hosts_files)
"$CAIRN" build -f slow.spec ctx2 >slow.out 2>&1 &
pid=$!
for i in $(seq 300); do grep -q started slow.out && pgrep -f "$marker" >/dev/null && break; sleep 0.1; done
pgrep -f "$marker" >/dev/null
ok $? "the step is running"
kill -9 $pid
wait $pid 2>/dev/null || true
for i in $(seq 50); do pgrep -f "$marker" >/dev/null || break; sleep 0.1; done
ok $(pgrep -f "$marker" >/dev/null && echo 1 || echo 0) "kill -9 of cairn kills the step's processes"
is "$(hosts_files)" "$hosts_before" "and leaves no file of its step in the host's /tmp"
# A step's /etc/hosts is made in its own /dev and is read-only; nothing of
# it is left there.
printf '((from busybox) (shell /bin/sh -c) (run (shell "cat /etc/hosts; ls -a /dev | grep -c cairn; echo x >> /etc/hosts || echo read-only")))' >hosts.spec
run_cmd "$CAIRN" build -f hosts.spec ctx2
has "$out" "127.0.0.1 localhost builder
::1 localhost ip6-localhost ip6-loopback
0
" "a step's /etc/hosts names the builder, and its source is gone from /dev"
has "$out" "read-only" "the step cannot write to it"
printf '((from busybox) (shell /bin/sh -c) (run (shell "echo started; echo done")))' >slow.spec
run_cmd "$CAIRN" build -f slow.spec ctx2
is_status 0 "the next build succeeds"
ok $(grep -q " $store/" /proc/self/mountinfo && echo 1 || echo 0) "no mount is left behind"
is "$(leftovers)" 0 "and no temporary result"

# --- kill -9 at each stage of a step (CAIRN_TEST_PAUSE stops a build there) ------------
"$CAIRN" image import busybox-fault busybox.tar >/dev/null
echo "fault" >ctx2/fault.txt
for stage in fetch run copy publish; do
        printf '((from busybox-fault) (shell /bin/sh -c) (env STAGE %s) (run (shell "echo ran")) (copy (src fault.txt) (dst /fault-%s)))' \
                "$stage" "$stage" >fault.spec
        CAIRN_TEST_PAUSE=$stage "$CAIRN" build -f fault.spec ctx2 >fault.out 2>fault.err &
        pid=$!
        for i in $(seq 200); do grep -q "paused at $stage" fault.err && break; sleep 0.05; done
        grep -q "paused at $stage" fault.err
        ok $? "a build paused at $stage"
        kill -9 $pid
        wait $pid 2>/dev/null || true
        run_cmd "$CAIRN" build -f fault.spec ctx2
        is_status 0 "after kill -9 at $stage, the next build succeeds"
        run_cmd "$CAIRN" fsck --check
        is "$out" "The store is consistent
" "and the store is consistent"
        is "$(leftovers)" 0 "with no temporary result left"
        ok $(grep -q " $store/" /proc/self/mountinfo && echo 1 || echo 0) "and no mount"
        # The next round must fetch again.
        "$CAIRN" delete "$(printf busybox-fault | sha256sum | cut -c1-64)" >/dev/null
done
CAIRN_TEST_PAUSE=prune "$CAIRN" prune --max-items=0 >prune.out 2>prune.err &
pid=$!
for i in $(seq 200); do grep -q "paused at prune" prune.err && break; sleep 0.05; done
kill -9 $pid
wait $pid 2>/dev/null || true
run_cmd "$CAIRN" fsck --check
is_status 1 "kill -9 in the middle of a prune leaves a row without its result"
has "$out" "in the database but not in the store" "which fsck finds"
run_cmd "$CAIRN" fsck
run_cmd "$CAIRN" fsck --check
is "$out" "The store is consistent
" "and repairs"

# --- a deep chain -------------------------------------------------------------
{
        echo '((from busybox) (shell /bin/sh -c)'
        for i in $(seq 100); do echo " (run (shell \"echo $i >> /steps\"))"; done
        echo ' (run (shell "wc -l < /steps; tail -n 1 /steps")))'
} >deep.spec
run_cmd "$CAIRN" build -f deep.spec ctx2
is_status 0 "a 100-step spec builds (101 overlay layers)"
has "$out" "
100
100
" "every layer is visible in the last step"
run_cmd "$CAIRN" build -f deep.spec ctx2
is "$(printf '%s\n' "$out" | grep -c 'from cache')" 102 "and is fully cached the second time"
if [ "$kind" = overlayfs ]; then
        # Linux before 6.8 has no "lowerdir+": the layers go in one mount(2)
        # string through short names.  That way is chosen here by hand.
        {
                echo '((from busybox) (shell /bin/sh -c)'
                for i in $(seq 100); do echo " (run (shell \"echo $i >> /steps2\"))"; done
                echo ' (run (shell "wc -l < /steps2; tail -n 1 /steps2")))'
        } >deep2.spec
        run_cmd env CAIRN_OVERLAY_MOUNT=string "$CAIRN" build -f deep2.spec ctx2
        has "$out" "
100
100
" "the same chain through a mount(2) string, as on kernels before 6.8"
fi

# --- hostile layers -----------------------------------------------------------
python3 - "$tmp" <<'PY'
import io, sys, tarfile
tmp = sys.argv[1]
def add(t, name, data=None, kind=tarfile.REGTYPE, link=""):
    i = tarfile.TarInfo(name); i.type = kind; i.linkname = link
    if data is not None:
        i.size = len(data); t.addfile(i, io.BytesIO(data))
    else:
        t.addfile(i)
def base(t):
    for d in ("bin", "tmp"):
        add(t, d, kind=tarfile.DIRTYPE)
    with open(f"{tmp}/rootfs/bin/busybox", "rb") as f:
        data = f.read()
    i = tarfile.TarInfo("bin/busybox"); i.size = len(data); i.mode = 0o755
    t.addfile(i, io.BytesIO(data))
    for a in ("sh", "cat", "ls"):
        add(t, "bin/" + a, kind=tarfile.SYMTYPE, link="busybox")
with tarfile.open(f"{tmp}/symlinks.tar", "w") as t:
    base(t)
    add(t, "abs", kind=tarfile.SYMTYPE, link="/")
    add(t, "abs/tmp/pwned-abs", b"inside")
    add(t, "up", kind=tarfile.SYMTYPE, link="../../../../../../..")
    add(t, "up/tmp/pwned-up", b"inside")
with tarfile.open(f"{tmp}/hardlink.tar", "w") as t:
    add(t, "hl", kind=tarfile.LNKTYPE, link="../../../../etc/passwd")
with tarfile.open(f"{tmp}/dotdot.tar", "w") as t:
    add(t, "../../escaped", b"gotcha")
with tarfile.open(f"{tmp}/dangling.tar", "w") as t:
    add(t, "etc", kind=tarfile.SYMTYPE, link=f"{tmp}/outside")
    add(t, "etc/pwned", b"gotcha")
PY
mkdir -p outside
for img in symlinks hardlink dotdot dangling; do
        run_cmd "$CAIRN" image import "$img" "$img.tar"
        is_status 0 "image $img imports (layers are checked when unpacked)"
done
printf '((from symlinks) (shell /bin/sh -c) (run (shell "cat /tmp/pwned-abs /tmp/pwned-up")))' >sym.spec
run_cmd "$CAIRN" build -f sym.spec ctx2
is_status 0 "links to / and up past the root are followed inside the root"
has "$out" "insideinside" "so the files land inside the image"
ok $([ ! -e /tmp/pwned-abs ] && [ ! -e /tmp/pwned-up ]; echo $?) "and not on the host"
printf '((from hardlink))' >hl.spec
run_cmd "$CAIRN" build -f hl.spec ctx2
is_status 1 "a hard link climbing out of the root is refused"
has "$err" "hard link target escapes the root" "with a clear message"
printf '((from dotdot))' >dotdot.spec
run_cmd "$CAIRN" build -f dotdot.spec ctx2
is_status 1 "a layer entry with .. is refused"
has "$err" 'escapes the root ("..")' "with a clear message"
ok $([ ! -e "$tmp/escaped" ] && [ ! -e "$store/escaped" ]; echo $?) "and nothing escaped"
printf '((from dangling))' >dangling.spec
run_cmd "$CAIRN" build -f dangling.spec ctx2
is_status 1 "writing through a symlink to a host path fails"
ok $([ ! -e outside/pwned ]; echo $?) "and writes nothing on the host"
is "$(leftovers)" 0 \
        "failed unpacks leave no temporary result"

# --- OCI layouts, docker archives, whiteouts -------------------------------------
mkimage="python3 $CAIRN_SRCDIR/tests/lib/make-image.py"
$mkimage layered oci-layout v1 /bin/busybox >/dev/null
tar -C oci-layout -cf oci-archive.tar .
$mkimage docker-archive docker-archive.tar /bin/busybox
# A corrupt layout: a layer blob that does not match its digest.
cp -a oci-layout bad-layout
victim=$(ls -S bad-layout/blobs/sha256 | head -n 1)
printf 'tampered' >>"bad-layout/blobs/sha256/$victim"
cat >layers.spec <<'SPEC'
((from IMAGE)
 (shell /bin/sh -c)
 (run (shell "echo $REG; cat /etc/keep /etc/added /opq/new /hard2; echo $(ls /etc) / $(ls /opq)")))
SPEC
for img in oci-layout oci-archive.tar docker-archive.tar; do
        run_cmd "$CAIRN" image import "img-$img" "$img"
        is_status 0 "image import of $img"
        sed "s/IMAGE/img-$img/" layers.spec >"layers-$img.spec"
        run_cmd "$CAIRN" build -f "layers-$img.spec" ctx2
        is_status 0 "a build on the image from $img"
        has "$out" "yes
keep
added
new
linked
added hosts keep / new
" "$img: config env, both layers, whiteouts, an opaque directory and a hard link"
done
is "$(find "$store/result" -path '*/rootfs/etc/hosts' | wc -l)" 0 \
        "the /etc/hosts mount point made for a step is not left in its result"
run_cmd "$CAIRN" image ls
has "$out" "img-oci-layout" "image ls lists imported images"
has "$out" "docker-archive" "with their format"
before=$(ls "$store/images" | sort)
run_cmd "$CAIRN" image import corrupt bad-layout
is_status 1 "a blob that does not match its digest is refused"
has "$err" "does not match its digest" "with a clear message"
is "$(ls "$store/images" | sort)" "$before" "and no image is recorded"
printf 'not an archive at all' >garbage.bin
run_cmd "$CAIRN" image import garbage garbage.bin
is_status 1 "a file that is no archive is refused"
has "$err" 'importing "garbage.bin" as "garbage"' "naming the file"
run_cmd "$CAIRN" image rm img-docker-archive.tar
is "$out" "Removed img-docker-archive.tar
" "image rm"

# --- re-importing an image under the same name -------------------------------
echo "extra" >rootfs/etc/extra
tar -C rootfs -cf busybox2.tar .
run_cmd "$CAIRN" image import --env "PATH=$PATHV" busybox busybox2.tar
has "$out" "The image changed: what was built on the previous busybox is rebuilt by the next build" \
        "re-importing a changed image says what follows"
printf '((from busybox) (shell /bin/sh -c) (run (shell "cat /etc/extra")))' >extra.spec
run_cmd "$CAIRN" build -f extra.spec ctx2
has "$out" "The image busybox changed (config sha256:" "the build sees it"
has "$out" '---> saved as "9d75f0d7c398df565d7ac04c6819b62d6d8f9560f5eb4672596ecd8f7e96ae91"' \
        "so the base is unpacked again"
has "$out" "extra" "from the new contents"
run_cmd "$CAIRN" image import --env "PATH=$PATHV" busybox busybox2.tar
lacks "$out" "changed" "importing the same contents again keeps every result"

# --- an image is its config: the environment counts, however it was imported ---------
run_cmd "$CAIRN" image import envimg busybox2.tar
has "$out" ", config sha256:" "import names the config it made for a rootfs tarball"
printf '((from envimg) (shell /bin/sh -c) (run (shell "echo PATH=$PATH FOO=$FOO")))' >env.spec
run_cmd "$CAIRN" build -f env.spec ctx2
has "$out" "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin FOO=" \
        "a rootfs import gets Docker's default PATH"
run_cmd "$CAIRN" build -f env.spec ctx2
has "$out" "from cache" "and is cached"
cfg1=$(sed -n 's/.*"config": "\(sha256:[0-9a-f]*\)".*/\1/p' "$store/images/envimg.json")
ok $([ ${#cfg1} = 71 ] && echo 0 || echo 1) "the image record has its config digest"
run_cmd "$CAIRN" image ls
has "$out" "envimg                         rootfs         ${cfg1:0:19}" "image ls shows the config digest"
run_cmd "$CAIRN" image rm envimg
run_cmd "$CAIRN" image import --env FOO=bar --env PATH=/bin envimg busybox2.tar
is_status 0 "re-import after rm, with another env (the same layer)"
run_cmd "$CAIRN" build -f env.spec ctx2
has "$out" "The image envimg changed (config sha256:" "the build sees the image changed"
has "$out" "PATH=/bin FOO=bar" "and runs on the new environment (--env PATH= wins over the default)"
lacks "$out" "from cache" "reusing nothing built on the old one"
run_cmd "$CAIRN" build -f env.spec ctx2
lacks "$out" "changed" "the next build reuses the new base"
has "$out" "from cache" "and its steps"
printf '((from nosuch-image:1) (run (shell true)))' >never.spec
run_cmd "$CAIRN" build --pull=never -f never.spec ctx2
is_status 1 "--pull=never with an image not at hand fails"
has "$err" 'image "nosuch-image:1" is not in the store (see cairn image import) and --pull=never forbids pulling it' \
        "saying why"
run_cmd "$CAIRN" build --pull=never -f env.spec ctx2
has "$out" "from cache" "--pull=never builds with the images at hand"
run_cmd "$CAIRN" build --pull=sometimes -f env.spec ctx2
is_status 124 "a bad --pull is a usage error"
run_cmd "$CAIRN" build --pull=always -f env.spec ctx2
is_status 0 "--pull=always with an imported image (no registry to follow, none reachable)"
has "$out" "envimg was imported (rootfs), not pulled: it is used as it is" "uses it as it is, saying so"
has "$out" "from cache" "and keeps what was built on it"

# A record from before configs were kept: the digest tells.
python3 -c 'import json,sys; p=sys.argv[1]; d=json.load(open(p)); del d["config"]; json.dump(d, open(p, "w"))' \
        "$store/images/envimg.json"
run_cmd "$CAIRN" build -f env.spec ctx2
is_status 0 "a build on an image record without a config"
run_cmd "$CAIRN" image rm envimg
cp busybox2.tar busybox3.tar && printf 'x' >>busybox3.tar
run_cmd "$CAIRN" image import --env FOO=new envimg busybox3.tar
run_cmd "$CAIRN" build -f env.spec ctx2
has "$out" "FOO=new" "a base whose image.json has no config is compared by digest"

# A re-import while another build uses the old base: the build that sees
# the change waits for it, and nothing it made is lost or left orphaned.
printf '((from envimg) (shell /bin/sh -c) (run (shell "echo started; sleep 3; ls /bin | grep -c busybox")))' >slowenv.spec
"$CAIRN" build -f slowenv.spec ctx2 >slowenv.out 2>&1 &
slowpid=$!
for i in $(seq 300); do grep -qx started slowenv.out && break; sleep 0.1; done
ok $(grep -qx started slowenv.out && echo 0 || echo 1) "a slow step runs on envimg"
"$CAIRN" image import --env FOO=newer envimg busybox3.tar >/dev/null
run_cmd "$CAIRN" build -f env.spec ctx2
wait $slowpid
slowstatus=$?
is "$slowstatus" 0 "the slow build succeeds"
has "$(cat slowenv.out)" "
1
" "on the whole old base"
has "$out" "Waiting for another build that uses" "the build that sees the change waits for it"
has "$out" "FOO=newer" "then builds on the new image"
run_cmd "$CAIRN" fsck --check
is_status 0 "and the store is consistent"

# --- images sharing their bottom layers unpack them once ------------------------------
$mkimage family fam v1 /bin/busybox >/dev/null
run_cmd "$CAIRN" image import fam-small fam
run_cmd "$CAIRN" image import fam-big fam.big
is_status 0 "two images sharing two layers import"
printf '((from fam-small) (shell /bin/sh -c) (run (shell "echo $FAM; ls /etc | tr \\"\\\\n\\" \\" \\"")))' >fam-small.spec
printf '((from fam-big) (shell /bin/sh -c) (run (shell "echo $FAM; ls /etc | tr \\"\\\\n\\" \\" \\"")))' >fam-big.spec
run_cmd "$CAIRN" build -f fam-small.spec ctx2
is_status 0 "a build on the small image"
has "$out" "Unpacking fam-small (2 layers, sha256:" "unpacks both its layers"
has "$out" "small
doomed hosts one two " "its files and env"
run_cmd "$CAIRN" build -f fam-big.spec ctx2
is_status 0 "a build on the big image"
has "$out" "Unpacking fam-big (5 layers; 2 already unpacked, sha256:" "unpacks only the layers the small one lacks"
has "$out" "big
five four hosts one three two " "with every layer's files, the whiteout above applied, and its own env"
small_base=$(printf fam-small | sha256sum | cut -c1-64)
big_base=$(printf fam-big | sha256sum | cut -c1-64)
run_cmd "$CAIRN" ls
has "$out" "$big_base" "the big image's base is a result"
run_cmd "$CAIRN" inspect "$big_base"
has "$out" "\"parent\": \"$small_base\"" "built on the small image's base"
has "$out" '"image": "fam-big"' "yet it names its own image"
has "$out" "\"built_on\": \"$small_base\"" "and the base it shares layers with"
run_cmd "$CAIRN" build -f fam-small.spec ctx2
has "$out" "small
doomed hosts one two " "the small image's base is unchanged"
run_cmd "$CAIRN" fsck --check
is "$out" "The store is consistent
" "the store is consistent"
run_cmd "$CAIRN" delete "$small_base"
has "$out" "$big_base" "deleting the small base deletes the big one built on it"
run_cmd "$CAIRN" build -f fam-big.spec ctx2
has "$out" "Unpacking fam-big (5 layers, sha256:" "which then unpacks all its layers"
has "$out" "big
five four hosts one three two " "to the same files"

# --- prune and du (in a store of their own) -----------------------------------------
# Not in a subshell: the TAP counter must carry on.
saved_store=$CAIRN_STORE
export CAIRN_STORE="$kind:$stores/store2"
{
        "$CAIRN" image import busybox busybox2.tar >/dev/null
        for n in 1 2 3 4; do
                printf '((from busybox) (shell /bin/sh -c) (run (shell "echo %s")))' "$n" >"p$n.spec"
                "$CAIRN" build -f "p$n.spec" ctx2 >/dev/null
        done
        "$CAIRN" build -f p1.spec ctx2 >/dev/null
        run_cmd "$CAIRN" du
        has "$out" "results: 5" "du counts the results"
        has "$out" "cache hits: 5, misses: 5, hit rate: 50.0%" "and the hit rate, kept across runs"
        run_cmd "$CAIRN" prune
        is_status 124 "prune without a limit is a usage error (clean deletes everything)"
        run_cmd "$CAIRN" prune --older-than=1h
        is "$out" "Removed 0 items
" "--older-than keeps what was used recently"
        run_cmd "$CAIRN" prune --max-items=3
        is_status 0 "prune --max-items"
        is "$(printf '%s' "$out" | grep -c '^Removing ')" 2 "removes the least recently used leaves down to the limit"
        run_cmd "$CAIRN" ls
        is "$(printf '%s' "$out" | sed 1d | wc -l)" 3 "3 results are left"
        run_cmd "$CAIRN" prune --keep-free=1%
        is "$out" "Removed 0 items
" "--keep-free deletes nothing when there is room"
        for bad in 0 100% 0% x% lots; do
                run_cmd "$CAIRN" prune --keep-free="$bad"
                is_status 124 "prune --keep-free=$bad is a usage error"
                has "$err" "cairn prune: --keep-free: \"$bad\" is not a" "saying what --keep-free=$bad is not"
        done
        run_cmd "$CAIRN" prune --max-size=0
        has "$out" "Removed 3 items" "--max-size=0 deletes everything, parents after their children"
        run_cmd "$CAIRN" du
        has "$out" "results: 0" "and the store is empty"
        run_cmd "$CAIRN" prune --max-items=-1
        is_status 124 "a bad limit is a usage error"
}
# --- fsck (in a store of its own) ----------------------------------------------------
export CAIRN_STORE="$kind:$stores/store3"
s3=$stores/store3
"$CAIRN" image import busybox busybox2.tar >/dev/null
printf '((from busybox) (shell /bin/sh -c) (run (shell "echo one")) (run (shell "echo two")))' >f.spec
"$CAIRN" build -f f.spec ctx2 >f.out
step1=$(grep 'saved as' f.out | sed -n 2p | sed 's/.*"\(.*\)".*/\1/')
step2=$(grep 'saved as' f.out | tail -n 1 | sed 's/.*"\(.*\)".*/\1/')
run_cmd "$CAIRN" fsck
is "$out" "The store is consistent
" "fsck of a sound store finds nothing"
# Damage it: a result lost, a row lost, a crash's leftover.
rm_result "$s3/result/$step2"
python3 -c "import sqlite3, sys; db = sqlite3.connect(sys.argv[1]); db.execute('DELETE FROM builds WHERE id = ?', (sys.argv[2],)); db.commit()" \
        "$s3/state/db/db.sqlite" "$step1"
mkdir -p "$s3/${tempdirs%% *}/leftover/rootfs"
run_cmd "$CAIRN" fsck --check
is_status 1 "fsck --check fails on a damaged store"
has "$out" "1 temporary item left by an interrupted build: removed when the store was opened" \
        "it reports the crash's leftover, which opening the store removed"
has "$out" "$step2: in the database but not in the store" "the row whose result is gone"
has "$out" "$step1: in the store but not in the database" "the result without a row"
has "$out" "with a wrong count of children" "and the wrong child counts"
run_cmd "$CAIRN" fsck --check
has "$out" "$step1: in the store but not in the database" "--check changes nothing"
run_cmd "$CAIRN" fsck
is_status 0 "fsck repairs"
has "$out" "problems repaired" "and says so"
run_cmd "$CAIRN" fsck --check
is "$out" "The store is consistent
" "after which the store is consistent"
run_cmd "$CAIRN" build -f f.spec ctx2
is_status 0 "and builds work again"
has "$out" "saved as \"$step2\"" "rebuilding what was lost"
if [ "$kind" = overlayfs ]; then
        # A layer lost under a result built on it (a crash in the middle of a prune).
        printf '((from busybox) (shell /bin/sh -c) (run (shell "echo three")) (run (shell "echo four")))' >g.spec
        "$CAIRN" build -f g.spec ctx2 >g.out
        g1=$(grep 'saved as' g.out | sed -n 1p | sed 's/.*"\(.*\)".*/\1/')
        g2=$(grep 'saved as' g.out | sed -n 2p | sed 's/.*"\(.*\)".*/\1/')
        rm -rf "$s3/result/$g1"
        run_cmd "$CAIRN" fsck --check
        has "$out" "$g2: cannot be used (what it is built on is gone)" "fsck finds a result whose layer below is gone"
        run_cmd "$CAIRN" fsck
        run_cmd "$CAIRN" fsck --check
        is "$out" "The store is consistent
" "and removes it"
        ok $([ ! -e "$s3/result/$g2" ]; echo $?) "from the store"
fi
export CAIRN_STORE=$saved_store

# --- btrfs: subvolumes a step makes inside its result or a cache ---------------------
if [ "$kind" = btrfs ]; then
        mkdir -p ctxv
        if cc -static -O2 -o ctxv/mksubvol "$CAIRN_SRCDIR/tests/lib/mksubvol.c" 2>mksubvol.err; then
                # Subvolumes still linked below the store's dir $1.
                subvols() { btrfs subvolume list "$stores" | grep -c " path store/$1/"; }
                printf '((from busybox) (shell /bin/sh -c) (copy (src mksubvol) (dst /bin/mksubvol))
                  (run (cache (vols (target /c))) (shell "mksubvol /v /v/inner /c/v && echo in-v > /v/inner/f && ls /v/inner"))
                  (run (shell "ls -a /v; echo next")))' >nested.spec
                run_cmd "$CAIRN" build -f nested.spec ctxv
                is_status 0 "a step that makes nested subvolumes (two deep, and one in a cache) builds"
                has "$out" "f
---> saved as" "they are writable in the step"
                has "$out" ".
..
next" "the next step sees them as empty directories (a snapshot does not take them)"
                nested_id=$(printf '%s
' "$out" | sed -n 's/^Got: "\(.*\)"$//p')
                is "$(subvols result-tmp) $(subvols cache-tmp) $(leftovers)" "0 0 0" \
                        "publishing destroyed the temporary subvolume with the ones nested in it"
                printf '((from busybox) (shell /bin/sh -c) (copy (src mksubvol) (dst /bin/mksubvol))
                  (run (shell "mksubvol /w /w/x; exit 4")))' >nested-fail.spec
                run_cmd "$CAIRN" build -f nested-fail.spec ctxv
                is_status 1 "a failing step that made nested subvolumes fails"
                is "$(subvols result-tmp) $(leftovers)" "0 0" "and is thrown away whole"
                run_cmd "$CAIRN" delete "$nested_id"
                is_status 0 "cairn delete of a result whose step made subvolumes"
                ok $([ ! -e "$store/result/$nested_id" ]; echo $?) "removes it"
                run_cmd "$CAIRN" du
                has "$out" "pending deletes: " "du says how many deleted subvolumes btrfs is still freeing"
                # Space comes back after prune's deletes return: a prune that
                # needs a little more must not take every result for that.
                # The test waits for the cleaner, and the commit that gives
                # its space back, so that free space holds still meanwhile.
                btrfs subvolume sync "$stores" >/dev/null
                sync
                # 1 MiB more than is free; every result here holds a busybox
                # root (2 MiB).
                want=$(python3 -c 'import os, sys; v = os.statvfs(sys.argv[1]); print(v.f_bavail * v.f_frsize + (1 << 20))' "$store")
                before=$("$CAIRN" du | sed -n 's/^results: //p')
                run_cmd "$CAIRN" prune --keep-free="$want"
                is "$(printf '%s' "$out" | grep -c '^Removing ')" 1 \
                        "prune --keep-free with 1 MiB more than is free deletes one result of $before"
        else
                ok 1 "mksubvol compiles statically: $(cat mksubvol.err)"
        fi
fi

# --- clean --------------------------------------------------------------------
run_cmd "$CAIRN" clean
is_status 0 "clean succeeds"
has "$out" "Removed " "clean counts what it removed"
run_cmd "$CAIRN" ls
is "$(printf '%s' "$out" | sed 1d)" "" "nothing is left but the header"
is "$(ls -A "$store/result")" "" "and the result directory is empty"

tap_done
