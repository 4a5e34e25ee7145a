#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Real images and real builds: a Debian 12 base made by mmdebstrap (from
# Debian's package archive, cached under /var/cache), run under LANG=C.
#
#   - imported as a rootfs tarball, as an OCI layout and an OCI tarball made
#     by umoci and skopeo (Go's tar writer, PAX records), and pulled from a
#     local registry: every name (UTF-8 ones too), mode, owner, link target,
#     hard link, setuid bit and file capability is what GNU tar extracts
#     from the tarball, seen from inside a step;
#   - the same seen in `cairn export` of a result, unpacked by umoci;
#   - an OCaml-CI-style build (apt with a cache and the host network,
#     useradd, sudo as a setuid binary, uid 1000, a copy, dune), built twice
#     (the second fully cached), exported and run with podman.
#
# CAIRN_TEST_STORE_KIND: overlayfs (default) or copy.  The OCaml build and
# podman run on the overlayfs store only.
set -u
: "${CAIRN:?path to the cairn binary}" "${CAIRN_SRCDIR:?source tree}"
. "$CAIRN_SRCDIR/tests/lib/tap.sh"
. "$CAIRN_SRCDIR/tests/lib/debian-image.sh"

[ "$(id -u)" = 0 ] || need "needs root"
for p in mmdebstrap umoci skopeo docker-registry podman runc getcap; do
        command -v $p >/dev/null || need "needs $p"
done
kind=${CAIRN_TEST_STORE_KIND:-overlayfs}
if [ "$kind" = overlayfs ]; then
        grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null || true
        grep -qw overlay /proc/filesystems || need "needs overlayfs"
fi

# What cairn runs under in CI and under systemd: names must not depend on it.
export LC_ALL=C LANG=C

debian=$(debian_image) || need "a Debian 12 image from mmdebstrap (Debian's package archive)"

# Lower case: podman names an oci: image after its path.
tmp=$(mktemp -d /tmp/cairn-real-image.XXXXXX)
tmp_lower=/tmp/cairn-real-image-oci-$$
. "$CAIRN_SRCDIR/tests/lib/registry.sh"
cleanup() {
        stop_registry
        grep " $tmp" /proc/self/mountinfo | awk '{print $5}' | sort -r | xargs -r -n1 umount -l 2>/dev/null
        rm -rf "$tmp" "$tmp_lower"
}
trap cleanup EXIT
cd "$tmp"
export CAIRN_STORE="$kind:$tmp/store"
mkdir ctx

# One line per entry (name, mode, owner, link target, link count, size,
# mtime; directories without the last four, which a step's mounts or the
# filesystem change), then one per file capability: the same command on the
# host and in a step.  What a sandbox mounts or makes (/dev, /proc, /sys,
# /etc/hosts, /etc/resolv.conf) is left out.
LIST='find . -xdev -mindepth 1 \( -type d -printf "L|%P|%M|%U|%G\n" \) -o -printf "L|%P|%M|%U|%G|%l|%n|%s|%T@\n"; find . -xdev -type f -perm /111 -exec getcap {} + | sed "s/^/C|/"'
listing() { # the output of LIST, from a file or a build log
        grep -E '^[LC]\|' "$@" | grep -Ev '^L\|(dev|proc|sys)(/|\|)|^L\|etc/(hosts|resolv\.conf)\|' | sort
}
same() { # GOT WANT NAME: two listings
        if [ "$1" = "$2" ]; then
                ok 0 "$3"
        else
                ok 1 "$3"
                diag "differences (< got, > expected):" "$(diff <(printf '%s\n' "$1") <(printf '%s\n' "$2") | head -n 20)"
        fi
}

# --- the tarball as GNU tar sees it -------------------------------------------------
mkdir ref
tar --xattrs --xattrs-include='*' --numeric-owner -C ref -xpf "$debian"
want=$(cd ref && sh -c "$LIST" | listing)
# The listing must hold what this test is about, or it proves nothing.
netlock='etc/ssl/certs/NetLock_Arany_=Class_Gold=_Főtanúsítvány.pem'
has "$want" "L|$netlock|lrwxrwxrwx|0|0|/usr/share/ca-certificates/mozilla/NetLock_Arany_=Class_Gold=_Főtanúsítvány.crt|" \
        "the image has a UTF-8 file name and link target"
has "$want" "L|usr/bin/passwd|-rwsr-xr-x|0|0||1|" "a setuid binary"
has "$want" "C|./usr/bin/ping cap_net_raw=ep" "a file capability"
has "$want" "L|usr/bin/perl|-rwxr-xr-x|0|0||2|" "and a hard link"
is "$(printf '%s\n' "$want" | grep -c '^L')" "$(find ref -xdev -mindepth 1 | grep -Ev '^ref/(dev|proc|sys)(/|$)|^ref/etc/(hosts|resolv\.conf)$' | wc -l)" \
        "every entry is listed"
# LIST as a quoted atom of the spec language (OCaml escapes).
list_atom=$(printf '%s' "$LIST" | sed 's/\\/\\\\/g; s/"/\\"/g')
list_spec() { # IMAGE
        printf '((from %s) (shell /bin/sh -c) (run (shell "cd / && %s")))\n' "$1" "$list_atom" >list.spec
}

# --- a rootfs tarball -----------------------------------------------------------------------
run_cmd "$CAIRN" image import debian:12 "$debian"
is_status 0 "image import of the Debian tarball under LANG=C"
has "$out" "Imported debian:12 (rootfs, 1 layer" "as a rootfs"
list_spec debian:12
run_cmd "$CAIRN" build -f list.spec ctx
is_status 0 "a step lists the tree"
same "$(listing <<<"$out")" "$want" "rootfs tarball: every name, mode, owner, link, hard link, setuid bit and capability"
list_id=$(sed -n 's/^Got: "\(.*\)"$/\1/p' <<<"$out")
printf '((from debian:12) (shell /bin/sh -c) (run (shell "echo PATH=$PATH")))' >path.spec
run_cmd "$CAIRN" build -f path.spec ctx
has "$out" "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" "with Docker's default PATH"

# --- an OCI layout and an OCI tarball (umoci and skopeo: Go's tar writer) -------------------
mkdir bundle-src
{
        umoci init --layout oci &&
                umoci new --image oci:12 &&
                umoci unpack --image oci:12 bundle &&
                tar --xattrs --xattrs-include='*' --numeric-owner -C bundle/rootfs -xpf "$debian" &&
                umoci repack --image oci:12 bundle &&
                umoci config --image oci:12 --config.env "PATH=/usr/sbin:/usr/bin:/sbin:/bin" --config.env LANG=C.UTF-8
} >umoci.log 2>&1
ok $? "umoci makes an OCI layout of the tree"
run_cmd "$CAIRN" image import debian-oci oci
is_status 0 "image import of the OCI layout"
list_spec debian-oci
run_cmd "$CAIRN" build -f list.spec ctx
same "$(listing <<<"$out")" "$want" "OCI layout: every name, mode, owner, link, hard link, setuid bit and capability"
skopeo copy --quiet oci:oci:12 oci-archive:debian-oci.tar >skopeo.log 2>&1
ok $? "skopeo writes it as an OCI tarball"
run_cmd "$CAIRN" image import debian-oci-tar debian-oci.tar
is_status 0 "image import of the OCI tarball"
printf '((from debian-oci-tar) (shell /bin/sh -c) (run (shell "echo LANG=$LANG; ls /etc/ssl/certs | grep -c F\xc5\x91tan; getcap /usr/bin/ping")))' \
        >oci-tar.spec
run_cmd "$CAIRN" build -f oci-tar.spec ctx
has "$out" "LANG=C.UTF-8" "with the config's environment"
has "$out" "
1
/usr/bin/ping cap_net_raw=ep" "its UTF-8 name and capability"

# --- pushed to a registry, pulled by cairn --------------------------------------------------
start_registry
ok $? "a docker-registry listens on $reg"
skopeo copy --quiet --dest-tls-verify=false oci:oci:12 "docker://$reg/debian:12" >>skopeo.log 2>&1
ok $? "skopeo pushes the image"
run_cmd "$CAIRN" pull "$reg/debian:12"
is_status 0 "cairn pull"
list_spec "$reg/debian:12"
run_cmd "$CAIRN" build -f list.spec ctx
same "$(listing <<<"$out")" "$want" "pulled: every name, mode, owner, link, hard link, setuid bit and capability"

# --- export, unpacked by umoci ------------------------------------------------------------------
run_cmd "$CAIRN" export "$list_id" --oci exported
is_status 0 "cairn export of a result built on the image"
umoci unpack --image exported:latest exported-bundle >umoci-unpack.log 2>&1
ok $? "umoci unpacks the export"
same "$(cd exported-bundle/rootfs && sh -c "$LIST" | listing)" "$want" \
        "exported: every name, mode, owner, link, hard link, setuid bit and capability"

# --- the registry step cache: a step's diff of thousands of files, through a registry --------------
# A step copies /usr (setuid binaries, file capabilities, hard links, UTF-8
# names) and deletes a directory; machine B, another store with the same
# image, pulls it from what A pushed and must get the same tree.
cat >share.spec <<'SPEC'
((from debian:12)
 (shell /bin/sh -c)
 (run (shell "cp -a /usr /usr-copy && rm -rf /usr/share/doc && echo copied")))
SPEC
run_cmd "$CAIRN" build -f share.spec --cache-to "$reg/cairn/steps" ctx
is_status 0 "A builds a step on the Debian image and pushes it"
has "$out" "1 pushed, 0 already there" "(the step is pushed)"
share_id=$(sed -n 's/^Got: "\(.*\)"$/\1/p' <<<"$out")
run_cmd "$CAIRN" image import --store "$kind:$tmp/store-b" debian:12 "$debian"
run_cmd "$CAIRN" build --store "$kind:$tmp/store-b" -f share.spec --cache-from "$reg/cairn/steps" ctx
is_status 0 "B builds the spec from the step cache"
is "$(grep -c '^---> pulled from' <<<"$out") $(sed -n 's/^Got: "\(.*\)"$/\1/p' <<<"$out")" "1 $share_id" \
        "pulling the step, to the same ID"
has "$out" "copied" "showing A's output"
for m in a b; do
        st=$tmp/store
        [ $m = b ] && st=$tmp/store-b
        "$CAIRN" export --store "$kind:$st" "$share_id" --oci "share-$m" >/dev/null 2>&1 &&
                umoci unpack --image "share-$m:latest" "share-$m-bundle" >/dev/null 2>&1
        ok $? "machine $m's result exports and unpacks"
done
share_a=$(cd share-a-bundle/rootfs && sh -c "$LIST" | listing)
has "$share_a" "L|usr-copy/bin/passwd|-rwsr-xr-x|0|0||1|" "the copy has the setuid binary"
has "$share_a" "C|./usr-copy/bin/ping cap_net_raw=ep" "the file capability"
has "$share_a" "L|usr-copy/bin/perl|-rwxr-xr-x|0|0||2|" "a hard link"
has "$share_a" "usr-copy/share/ca-certificates/mozilla/NetLock_Arany_=Class_Gold=_Főtanúsítvány.crt" "a UTF-8 name"
lacks "$share_a" "L|usr/share/doc|" "and the deleted directory is gone"
same "$(cd share-b-bundle/rootfs && sh -c "$LIST" | listing)" "$share_a" \
        "B's pulled result: every name, mode, owner, link, hard link, setuid bit, capability and mtime is A's"
is "$(cd share-b-bundle/rootfs && find usr-copy -type f | LC_ALL=C sort | xargs -d '\n' sha256sum | sha256sum)" \
        "$(cd share-a-bundle/rootfs && find usr-copy -type f | LC_ALL=C sort | xargs -d '\n' sha256sum | sha256sum)" \
        "and every file's contents"

# --- an incremental copy of a Debian tree ---------------------------------------------------
# Debian's /usr as a context (thousands of files, UTF-8 names, hard links,
# setuid binaries): one file changed, the copy takes every other file from
# the earlier result (hard links on overlayfs), and what it makes is what a
# fresh copy makes.  Link counts are left out (a file taken by hard link on
# overlayfs counts the earlier layer's name too), and so is /data, which the
# copy makes (as the time it was made) rather than copies.
mkdir dctx
cp -a ref/usr dctx/usr
digest='cd /data && find . -mindepth 1 -printf \"%P|%M|%U|%G|%l|%s|%T@\\n\" | sort | sha256sum && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum && find . -type f | wc -l'
printf '((from debian:12) (shell /bin/sh -c) (copy (src usr) (dst /data/usr)) (run (shell "%s")))\n' "$digest" >dcopy.spec
inc_digest() { printf '%s\n' "$out" | sed -n '/(run (shell "cd \/data/,/^---> saved/p' | grep -E '^[0-9a-f]{64}  -$|^[0-9]+$'; }
dcopy_id() { printf '%s\n' "$out" | grep -A2 '(copy (src usr)' | grep -m1 -e 'saved as' -e 'using' | sed 's/.*"\([0-9a-f]*\)".*/\1/'; }
run_cmd "$CAIRN" build -f dcopy.spec dctx
is_status 0 "a copy of Debian's /usr"
d1=$(dcopy_id)
printf 'changed\n' >>dctx/usr/share/doc/dpkg/copyright
sleep 1
run_cmd "$CAIRN" build -f dcopy.spec dctx
is_status 0 "the copy again, one file changed"
d2=$(dcopy_id)
taken=$(sed -n 's/^---> \([0-9]*\) unchanged files taken from "'"$d1"'"$/\1/p' <<<"$out")
if [ "$kind" = overlayfs ]; then
        ok "$([ "${taken:-0}" -gt 5000 ]; echo $?)" "incremental copy of Debian's /usr: $taken files taken from the earlier result"
fi
inc=$(inc_digest)
is "$(printf '%s\n' "$inc" | wc -l)" 3 "incremental copy of Debian's /usr: listed"
run_cmd "$CAIRN" delete "$d2"
rm -rf "$tmp/store/state/copy-index"
run_cmd "$CAIRN" build -f dcopy.spec dctx
lacks "$out" "unchanged files taken" "the same copy made fresh"
is "$(dcopy_id)" "$d2" "with the same ID"
is "$(inc_digest)" "$inc" "incremental copy of Debian's /usr: names, modes, owners, link targets, sizes, times and contents as a fresh copy"

# --- an OCaml-CI-style build ----------------------------------------------------------------------
if [ "$kind" != overlayfs ]; then
        echo "# the OCaml build and podman run on the overlayfs store only"
        tap_done
        exit
fi
mkdir -p octx/src
printf '(lang dune 2.0)\n' >octx/dune-project
printf '(executable (name main))\n' >octx/src/dune
printf 'let () = print_endline "Hello from OCaml, built by cairn: F\\197\\145tan\\195\\186s\\195\\173tv\\195\\161ny"\n' \
        >octx/src/main.ml
cat >ocaml.spec <<'SPEC'
((from debian:12)
 (shell /bin/sh -c)
 (run (network host)
      (cache (apt-archives (target /var/cache/apt/archives)))
      (shell "rm -f /etc/apt/apt.conf.d/docker-clean; apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends ocaml-nox ocaml-dune sudo"))
 (run (shell "useradd -m -u 1000 -s /bin/sh opam && echo 'opam ALL=(ALL:ALL) NOPASSWD:ALL' > /etc/sudoers.d/opam"))
 (user (uid 1000) (gid 1000))
 (workdir /home/opam/src)
 (run (shell "sudo chown opam /home/opam/src"))
 (copy (src dune-project src) (dst ./))
 (run (shell "dune build ./src/main.exe && ./_build/default/src/main.exe && id -u && stat -c %U .")))
SPEC
run_cmd "$CAIRN" build -f ocaml.spec octx
is_status 0 "the OCaml build (apt with a cache and the host network, useradd, sudo, dune)"
has "$out" "Hello from OCaml, built by cairn: Főtanúsítvány
1000
opam" "runs the program as uid 1000 in a directory sudo gave it"
[ $status = 0 ] || diag "$(tail -n 30 <<<"$out")" "$err"
run_cmd "$CAIRN" build -f ocaml.spec octx
is_status 0 "built again"
is "$(grep -c 'saved as' <<<"$out")" 0 "nothing is built the second time"
is "$(grep -c 'from cache' <<<"$out")" 6 "every step comes from the cache"
ocaml_id=$(sed -n 's/^Got: "\(.*\)"$/\1/p' <<<"$out")
run_cmd "$CAIRN" export "$ocaml_id" --oci "$tmp_lower"
is_status 0 "cairn export of the OCaml result"
podman() {
        command podman --root "$tmp/podman/root" --runroot "$tmp/podman/run" --storage-driver overlay \
                --cgroup-manager=cgroupfs --events-backend=file --runtime runc "$@"
}
run_cmd podman run --rm --network=none --ulimit nofile=1024:1024 --ulimit nproc=4096:4096 \
        "oci:$tmp_lower" /home/opam/src/_build/default/src/main.exe
is_status 0 "podman runs the exported image"
has "$out" "Hello from OCaml, built by cairn: Főtanúsítvány" "which prints the program's output"
run_cmd podman run --rm --network=none --ulimit nofile=1024:1024 --ulimit nproc=4096:4096 \
        "oci:$tmp_lower" sh -c 'id -u; pwd; getcap /usr/bin/ping; stat -c %A /usr/bin/sudo'
is "$out" "1000
/home/opam/src
/usr/bin/ping cap_net_raw=ep
-rwsr-xr-x
" "as uid 1000 in its workdir, with the capability and the setuid bit"
podman rmi -a -f >/dev/null 2>&1
tap_done
