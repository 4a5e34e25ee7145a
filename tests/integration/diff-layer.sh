#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The step cache's diff layers (engine_diff_layer, through tests/lib/
# layer-tool): each step of a busybox build diffed against its parent, the
# base against nothing; all of them applied in order by the hardened
# extractor into an empty directory give the last step's root as the store
# has it: names (UTF-8 ones), types, modes (setuid, setgid, sticky), owners,
# sizes, mtimes, symlink targets, hard links, FIFOs, device nodes, contents,
# user.* attributes and file capabilities.  Then the same for a real Debian
# base, when tests/lib/debian-image.sh has one.
#
# CAIRN_TEST_STORE_KIND: overlayfs (default), copy, btrfs and xfs (on loop
# images made here), containerd (a private containerd, as containerd.sh).
# CAIRN_LAYER_TOOL: the layer-tool binary (meson passes it).
set -u
: "${CAIRN:?path to the cairn binary}" "${CAIRN_SRCDIR:?source tree}"
. "$CAIRN_SRCDIR/tests/lib/tap.sh"
. "$CAIRN_SRCDIR/tests/lib/loopfs.sh"
. "$CAIRN_SRCDIR/tests/lib/containerd.sh"
. "$CAIRN_SRCDIR/tests/lib/debian-image.sh"
LT=${CAIRN_LAYER_TOOL:-$(dirname "$CAIRN")/../tests/layer-tool}

[ "$(id -u)" = 0 ] || need "needs root"
[ -x "$LT" ] || need "needs tests/layer-tool (CAIRN_LAYER_TOOL)"
[ -x /bin/busybox ] || need "needs busybox-static"
command -v cc >/dev/null || need "needs a C compiler (a static helper for the steps)"
command -v python3 >/dev/null || need "needs python3 (extended attributes)"
kind=${CAIRN_TEST_STORE_KIND:-overlayfs}
case $kind in
overlayfs|containerd)
        grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null || true
        grep -qw overlay /proc/filesystems || need "needs overlayfs" ;;
copy|btrfs|xfs) ;;
*)      echo "unknown CAIRN_TEST_STORE_KIND $kind" >&2; exit 2 ;;
esac
if [ "$kind" = containerd ]; then
        command -v containerd >/dev/null && command -v ctr >/dev/null || need "needs containerd and ctr"
        command -v runc >/dev/null || need "needs runc"
fi

tmp=$(mktemp -d /tmp/cairn-diff-layer.XXXXXX)
ctd=$tmp/d
cleanup() {
        [ "$kind" = containerd ] && containerd_stop "$ctd"
        grep " $tmp" /proc/self/mountinfo | awk '{print $5}' | sort -r | xargs -r -n1 umount -l 2>/dev/null
        rm -rf "$tmp"
}
trap cleanup EXIT
cd "$tmp"
stores=$tmp
case $kind in
btrfs|xfs)
        stores=$tmp/$kind
        loopfs_mount "$kind" 2G "$tmp/$kind.img" "$stores" ;;
esac
export CAIRN_STORE="$kind:$stores/store"
blobs=$tmp/blobs

# --- the base ---------------------------------------------------------------------
if [ "$kind" = containerd ]; then
        containerd_start "$ctd" || need "a private containerd starts"
        ns=cairn-test-$$
        { read -r _config; read -r _chain; } < <(containerd_import_busybox "$ctd" docker.io/library/busybox:latest "$ns")
        [ -n "${_chain:-}" ] || need "the busybox image imports into containerd"
        export CAIRN_STORE_OPTS="address=$CONTAINERD_SOCK namespace=$ns"
else
        # With the mount targets a step needs, or making and removing them
        # changes the directory they are in: a change like any other.
        mkdir -p rootfs/bin rootfs/etc rootfs/tmp rootfs/root rootfs/dev rootfs/proc rootfs/sys
        touch rootfs/etc/hosts rootfs/etc/resolv.conf
        chmod 1777 rootfs/tmp
        cp /bin/busybox rootfs/bin/busybox
        for a in $(rootfs/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "rootfs/bin/$a"; done
        printf 'root:x:0:0:root:/root:/bin/sh\nopam:x:1000:1000::/home/opam:/bin/sh\n' >rootfs/etc/passwd
        printf 'root:x:0:\nopam:x:1000:\n' >rootfs/etc/group
        tar -C rootfs -cf busybox.tar .
        run_cmd "$CAIRN" image import busybox busybox.tar
        is_status 0 "the busybox image imports"
fi

# Set an extended attribute from inside a step (busybox has no setfattr):
# setxattr NAME HEXVALUE FILE.
mkdir ctx
cat >setxattr.c <<'C'
#include <stdio.h>
#include <string.h>
#include <sys/xattr.h>
int main(int argc, char **argv)
{
        unsigned char v[256];
        size_t n = argc == 4 ? strlen(argv[2]) / 2 : 0;
        for (size_t i = 0; i < n && i < sizeof(v); i++)
                sscanf(argv[2] + 2 * i, "%2hhx", &v[i]);
        if (argc != 4 || setxattr(argv[3], argv[1], v, n, 0) < 0) {
                perror("setxattr");
                return 1;
        }
        return 0;
}
C
cc -static -O2 -o ctx/setxattr setxattr.c 2>cc.err || need "a static helper compiles: $(cat cc.err)"
# cap_net_raw=ep (VFS_CAP_REVISION_2, effective).
CAP=0100000200200000000000000000000000000000

cat >steps.spec <<SPEC
((from busybox)
 (shell /bin/sh -c)
 (copy (src setxattr) (dst /usr/local/bin/setxattr))
 (run (shell "mkdir -p /data/olddir/sub /data/replace /data/d2f /data/keep && cd /data &&
              echo keep > keep/k && echo old > old.txt && echo a > olddir/a && echo b > olddir/sub/b &&
              echo x > replace/x && echo y > replace/y && echo in > d2f/in && echo f > f2d &&
              echo AAAA > same-size.txt && echo mode > chmod.txt && echo linked > linkme.txt &&
              touch -d '2020-01-02 03:04:05' same-size.txt chmod.txt"))
 (run (shell "mkdir /u && cd /u && echo é > café.txt && echo 日本 > 日本語.txt &&
              echo pair > p1 && ln p1 p2 && ln /data/linkme.txt linkme-too &&
              cp /bin/busybox su-bin && chmod 4755 su-bin && mkdir sg && chmod 2775 sg &&
              mkdir sticky && chmod 1777 sticky && chown 1000:1000 sticky &&
              cp /bin/busybox capped && setxattr security.capability $CAP capped &&
              setxattr user.note 6869 café.txt && setxattr user.dir 6469 sg &&
              ln -s café.txt link && ln -s /nonexistent dangling && ln -s ../data dirlink &&
              mkfifo fifo && (mknod null c 1 3 || true)"))
 (run (shell "cd /data && rm old.txt && rm -rf olddir &&
              rm -rf replace && mkdir replace && echo z > replace/z &&
              rm -rf d2f && echo now-a-file > d2f && rm f2d && mkdir f2d && echo inside > f2d/inside"))
 (run (shell "cd /data && chmod 600 chmod.txt && chown 1000:1000 chmod.txt &&
              echo BBBB > same-size.txt && touch -d '2020-01-02 03:04:05' same-size.txt chmod.txt"))
 (run (shell "true")))
SPEC
run_cmd "$CAIRN" build -f steps.spec ctx
is_status 0 "a spec of every kind of change builds"
ids=$(printf '%s\n' "$out" | sed -n 's/^---> \(saved as\|using\) "\([0-9a-f]*\)".*/\2/p')
set -- $ids
is "$#" 7 "the base and six steps"
step=("$@")

# One line per entry (directories without size, link count and mtime, which
# the filesystem and the extraction of their children set), one per group
# of hard links, one per file's contents, one per kept extended attribute.
cat >xattrs.py <<'PY'
import os, sys
for d, dirs, files in os.walk(sys.argv[1]):
    for n in sorted(dirs + files):
        p = os.path.join(d, n)
        if os.path.islink(p):
            continue
        for a in sorted(os.listxattr(p, follow_symlinks=False)):
            if a.startswith("user.") or a == "security.capability":
                print("X", os.path.relpath(p, sys.argv[1]), a, os.getxattr(p, a, follow_symlinks=False).hex())
PY
listing() { # ROOT
        (cd "$1" && find . -mindepth 1 \( -type d -printf 'E %P d %m %U %G\n' \) -o \
                -printf 'E %P %y %m %U %G %s %l %n %T@\n' | LC_ALL=C sort
        find . \( -type c -o -type b \) -exec stat -c 'D %n %t:%T' {} + | LC_ALL=C sort
        find . -type f -links +1 -printf '%i %P\n' | LC_ALL=C sort |
                awk '$1 != last { if (g) print g; g = "H"; last = $1 } { g = g " " $2 } END { if (g) print g }' |
                LC_ALL=C sort
        find . -type f -exec sha256sum {} + | LC_ALL=C sort -k2 | sed 's/^/C /'
        python3 "$tmp/xattrs.py" .) 2>&1
}
view_listing() { # ID
        "$LT" view "$CAIRN_STORE" "$1" bash -c "$(declare -f listing); tmp=$tmp; listing \"\$1\"" sh
}
same() { # GOT WANT NAME
        if [ "$1" = "$2" ]; then
                ok 0 "$3"
        else
                ok 1 "$3"
                diag "differences (< got, > expected):" "$(diff <(printf '%s\n' "$1") <(printf '%s\n' "$2") | head -n 30)"
        fi
}
diff_layer() { # ID PARENT|- NAME: sets $layer (the blob's path)
        run_cmd "$LT" diff "$CAIRN_STORE" "$1" "$2" "$blobs"
        is_status 0 "$3: the diff layer is written"
        read -r digest diff_id size <<<"$out"
        layer=$blobs/blobs/sha256/${digest#sha256:}
        is "sha256:$(sha256sum <"$layer" | cut -d' ' -f1) $(stat -c %s "$layer")" "$digest $size" \
                "$3: the blob is its digest and size"
        is "sha256:$(zcat "$layer" | sha256sum | cut -d' ' -f1)" "$diff_id" "$3: the diff_id is the uncompressed tar's"
}

# --- each step against its parent, applied in order ---------------------------------
names=(base copy make-tree new-entries deletes chmod-rewrite no-change)
layers=()
for i in 0 1 2 3 4 5 6; do
        parent=-
        [ "$i" = 0 ] || parent=${step[$((i - 1))]}
        diff_layer "${step[$i]}" "$parent" "${names[$i]}"
        layers+=("$layer")
        mkdir "applied-$i"
        run_cmd "$LT" apply "applied-$i" "${layers[@]}"
        is_status 0 "${names[$i]}: the layers so far apply"
        same "$(listing "applied-$i")" "$(view_listing "${step[$i]}")" \
                "${names[$i]}: applied in order, the layers give the step's root"
done
got=$(listing applied-6)
has "$got" "E u/café.txt f 644 0 0 3" "the root has a UTF-8 name"
has "$got" "E u/su-bin f 4755 0 0" "a setuid binary"
has "$got" "E u/sg d 2775 0 0" "a setgid directory"
has "$got" "E u/sticky d 1777 1000 1000" "a sticky directory of another owner"
has "$got" "H data/linkme.txt u/linkme-too" "a hard link to an earlier step's file"
has "$got" "H u/p1 u/p2" "a hard-linked pair"
has "$got" "X u/capped security.capability $CAP" "a file capability"
has "$got" "X u/café.txt user.note 6869" "a user.* attribute"
has "$got" "E u/fifo p 644 0 0 0" "a FIFO"
has "$got" "E u/dirlink l 777 0 0 7 ../data" "a symlink"
has "$got" "E data/chmod.txt f 600 1000 1000 5  1 1577934245.0000000000" "a file whose mode and owner changed"
has "$got" "$(printf 'C %s  ./data/same-size.txt' "$(echo BBBB | sha256sum | cut -d' ' -f1)")" \
        "a file rewritten with its size and mtime kept"
lacks "$got" "data/old.txt" "a deleted file is gone"
lacks "$got" "data/olddir" "a deleted directory is gone"
lacks "$got" "data/replace/x" "a replaced directory has only its new files"
has "$got" "E data/d2f f" "a directory replaced by a file"
has "$got" "E data/f2d/inside f" "a file replaced by a directory"

# What the layers say.
run_cmd tar -tzf "${layers[6]}"
if [ "$kind" = containerd ]; then
        # runc makes the mount target /etc/hosts for every step, which moves
        # /etc's mtime on: a change, and the only one.
        is "$status:$out" "0:etc/
" "a step that changes nothing has a layer of /etc alone (runc's mount target)"
elif [ "$kind" = overlayfs ]; then
        # The sandbox opens its mount target /etc/hosts to write
        # (sandbox/native.c, mount_target), which makes overlayfs copy it up
        # into every step's layer, unchanged.
        is "$status:$out" "0:etc/
etc/hosts
" "a step that changes nothing has a layer of the sandbox's copied-up /etc/hosts alone"
else
        is "$status:$out" "0:" "a step that changes nothing has an empty layer"
        [ -z "$out" ] || diag "$(tar -tzvf "${layers[6]}")"
        is "$(zcat "${layers[6]}" | wc -c)" 1024 "which is an empty tar"
fi
run_cmd tar -tzf "${layers[4]}"
has "$out" "data/.wh.old.txt" "a deleted file is a whiteout"
has "$out" "data/.wh.olddir" "a deleted directory is a whiteout"
lacks "$out" "data/olddir/" "not a whiteout for each of its files"
if [ "$kind" = overlayfs ]; then
        has "$out" "data/replace/.wh..wh..opq" "overlayfs: a replaced directory is opaque"
else
        has "$out" "data/replace/.wh.x" "a replaced directory's old files are whiteouts"
fi
run_cmd tar -tzvf "${layers[5]}"
has "$out" "data/same-size.txt" "a rewritten file of the same size and mtime is in the layer"
lacks "$out" "data/keep/k" "an unchanged file is not"
lacks "$out" "u/p1" "nor an unchanged hard link"
run_cmd "$LT" diff "$CAIRN_STORE" "${step[3]}" "${step[2]}" "$blobs"
is "${out%$'\n'}" "$(printf '%s %s %s' "$(basename "${layers[3]}" | sed 's/^/sha256:/')" \
        "sha256:$(zcat "${layers[3]}" | sha256sum | cut -d' ' -f1)" "$(stat -c %s "${layers[3]}")")" \
        "the same diff again is the same blob"
# Against a parent that is not the one right below: the views' diff.
diff_layer "${step[5]}" "${step[2]}" "two steps at once"
mkdir applied-skip
run_cmd "$LT" apply applied-skip "${layers[0]}" "${layers[1]}" "${layers[2]}" "$layer"
is_status 0 "two steps at once: it applies on the older parent"
same "$(listing applied-skip)" "$(view_listing "${step[5]}")" "two steps at once: giving the step's root"

# --- a real Debian base against nothing --------------------------------------------------
if [ "$kind" = containerd ]; then
        skip "the containerd store takes its images from containerd" "a Debian base"
elif ! command -v mmdebstrap >/dev/null || ! debian=$(debian_image); then
        skip "needs a Debian 12 image (tests/lib/debian-image.sh)" "a Debian base"
else
        run_cmd "$CAIRN" image import debian "$debian"
        is_status 0 "the Debian image imports"
        printf '((from debian))\n' >debian.spec
        run_cmd "$CAIRN" build -f debian.spec ctx
        is_status 0 "the Debian base unpacks"
        base=$(printf '%s\n' "$out" | sed -n 's/^---> \(saved as\|using\) "\([0-9a-f]*\)".*/\2/p' | tail -n 1)
        diff_layer "$base" - "Debian"
        mkdir applied-debian
        run_cmd "$LT" apply applied-debian "$layer"
        is_status 0 "Debian: the layer applies"
        got=$(listing applied-debian)
        same "$got" "$(view_listing "$base")" "Debian: the layer gives the base's root"
        has "$got" "E usr/bin/passwd f 4755 0 0" "Debian: with setuid binaries"
        has "$got" "X usr/bin/ping security.capability" "Debian: a file capability"
        has "$got" "H usr/bin/perl usr/bin/perl5" "Debian: hard links"
        is "$(printf '%s\n' "$got" | grep -c '^E ')" "$(tar -tf "$debian" | grep -cv '^\./$')" \
                "Debian: every entry of the image"
fi

tap_done
