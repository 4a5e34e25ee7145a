#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The registry step cache end to end: two "machines" (two stores on this
# host, CAIRN_TEST_STORE_KIND: overlayfs, copy, btrfs, xfs, or containerd,
# where each machine is a namespace of one private containerd) share step
# results through a real docker-registry on 127.0.0.1 with Basic auth.
set -u
: "${CAIRN:?path to the cairn binary}" "${CAIRN_SRCDIR:?source tree}"
. "$CAIRN_SRCDIR/tests/lib/tap.sh"
. "$CAIRN_SRCDIR/tests/lib/loopfs.sh"
. "$CAIRN_SRCDIR/tests/lib/containerd.sh"

[ "$(id -u)" = 0 ] || need "needs root"
BUSYBOX=/bin/busybox
[ -x "$BUSYBOX" ] || need "needs busybox-static"
for p in docker-registry umoci curl podman; do
        command -v "$p" >/dev/null || need "needs $p"
done
kind=${CAIRN_TEST_STORE_KIND:-overlayfs}
case $kind in
overlayfs)
        grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null || true
        grep -qw overlay /proc/filesystems || need "needs overlayfs"
        tempdirs="in-progress merged work"
        ;;
copy|btrfs|xfs) tempdirs="result-tmp" ;;
containerd)
        command -v containerd >/dev/null && command -v ctr >/dev/null || need "needs containerd and ctr"
        command -v runc >/dev/null || need "needs runc"
        tempdirs="result-tmp"
        ;;
*)      echo "unknown CAIRN_TEST_STORE_KIND $kind" >&2; exit 2 ;;
esac
export LC_ALL=C.UTF-8

tmp=$(mktemp -d /tmp/cairn-step-cache.XXXXXX)
. "$CAIRN_SRCDIR/tests/lib/registry.sh"
cleanup() {
        stop_registry
        [ "$kind" = containerd ] && containerd_stop "$tmp/d"
        grep " $tmp" /proc/self/mountinfo | awk '{print $5}' | sort -r | xargs -r -n1 umount -l 2>/dev/null
        rm -rf "$tmp"
}
trap cleanup EXIT
stores=$tmp
case $kind in
btrfs|xfs)
        stores=$tmp/$kind
        loopfs_mount "$kind" 3G "$tmp/$kind.img" "$stores" ;;
esac
cd "$tmp"

# --- a registry with Basic auth and deletes --------------------------------------------------
start_registry "$(registry_basic_auth alice s3cret)" || need "docker-registry starts"
repo=$reg/cairn/steps
CREDS=(--registry-auth alice:s3cret)

# --- the same busybox image on every machine ---------------------------------------------------
mkdir -p rootfs/bin rootfs/etc rootfs/tmp rootfs/root
chmod 1777 rootfs/tmp
cp "$BUSYBOX" rootfs/bin/busybox
for a in $(rootfs/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "rootfs/bin/$a"; done
printf 'root:x:0:0:root:/root:/bin/sh\nopam:x:1000:1000::/home/opam:/bin/sh\n' >rootfs/etc/passwd
printf 'root:x:0:\nopam:x:1000:\n' >rootfs/etc/group
echo keep >rootfs/root/.profile
tar -C rootfs -cf busybox.tar .
if [ "$kind" = containerd ]; then
        containerd_start "$tmp/d" || need "a private containerd starts"
fi
store_args() { # MACHINE: the options that name its store
        if [ "$kind" = containerd ]; then
                printf '%s\n' --store "containerd:$stores/$1" --store-opt "address=$CONTAINERD_SOCK" --store-opt "namespace=ns-$1"
        else
                printf '%s\n' --store "$kind:$stores/$1"
        fi
}
machine() { # NAME: a store with the image
        if [ "$kind" = containerd ]; then
                containerd_import_busybox "$tmp/d" docker.io/library/busybox:latest "ns-$1" >/dev/null
        else
                "$CAIRN" image import --store "$kind:$stores/$1" --env PATH=/usr/sbin:/usr/bin:/sbin:/bin busybox \
                        busybox.tar >/dev/null
        fi
}
for m in a b c d e f g; do machine $m || need "image import"; done
on() { # MACHINE CAIRN-ARGS...
        local m=$1
        shift
        local -a sa
        mapfile -t sa < <(store_args "$m")
        if [ "$1" = cache ]; then
                run_cmd "$CAIRN" cache "$2" "${sa[@]}" "${@:3}"
        else
                run_cmd "$CAIRN" "$1" "${sa[@]}" "${@:2}"
        fi
}
got() { sed -n 's/^Got: "\(.*\)"$/\1/p' <<<"$out"; }
leftovers() { # MACHINE
        local d
        for d in $tempdirs; do find "$stores/$1/$d" -mindepth 1 2>/dev/null; done | wc -l
}
# Whether any blob in the registry's storage, decompressed, holds $1.
registry_has() {
        local f
        for f in $(find "$tmp/data" -name data -type f); do
                { gzip -dc "$f" 2>/dev/null || cat "$f"; } | grep -qaF "$1" && return 0
        done
        return 1
}
tags() { curl -s -u alice:s3cret "http://$reg/v2/cairn/steps/tags/list" | python3 -c 'import json,sys; print("\n".join(sorted(json.load(sys.stdin).get("tags") or [])))'; }

# --- the context: UTF-8 names, hard links, a setuid file -------------------------------------
mkdir -p ctx/sub
echo hello >ctx/hello.txt
echo 'Főtanúsítvány' >'ctx/sub/Főtanúsítvány.txt'
echo linked >ctx/sub/one
ln ctx/sub/one ctx/sub/two
printf '#!/bin/sh\necho suid\n' >ctx/setuid-bin
chmod 4755 ctx/setuid-bin
ln -s hello.txt ctx/link

rand='head -c16 /dev/urandom | md5sum | cut -c1-32'
cat >main.spec <<SPEC
((build tools
  ((from busybox)
   (shell /bin/sh -c)
   (run (shell "mkdir -p /out && echo tool-\$($rand) > /out/tool && echo built tools"))))
 (from busybox)
 (shell /bin/sh -c)
 (workdir /src)
 (copy (src hello.txt sub setuid-bin link) (dst ./))
 (run (cache (downloads (target /var/cache/dl)))
      (shell "echo fetched > /var/cache/dl/x && cp /var/cache/dl/x /src/fetched && $rand > /src/run-id && echo step output \$(cat /src/run-id)"))
 (copy (from (build tools)) (src /out/tool) (dst /src/tool))
 (run (shell "mkdir -p /opq/deep && echo old > /opq/old && echo old > /opq/deep/x"))
 (run (shell "rm /etc/group && rm -rf /root && rm -rf /opq && mkdir /opq && echo new > /opq/new && ln /src/fetched /src/fetched-link && mkfifo /src/fifo && chmod 4711 /src/setuid-bin && echo changed"))
 (run (shell "echo last-\$($rand) > /src/last")))
SPEC
LIST='find . -xdev -mindepth 1 \( -type d -printf "L|%P|%M|%U|%G\n" \) -o -printf "L|%P|%M|%U|%G|%l|%n|%s|%T@\n"; find . -xdev -type f -exec sha256sum {} + | sed "s/^/S|/"'
listing_of() { # MACHINE ID: the result's root, as cairn export and umoci give it
        rm -rf "exp-$1" "bundle-$1"
        local -a sa
        mapfile -t sa < <(store_args "$1")
        "$CAIRN" export "${sa[@]}" "$2" --oci "exp-$1" >/dev/null 2>"exp-$1.err" &&
                umoci unpack --image "exp-$1:latest" "bundle-$1" >/dev/null 2>&1 &&
                (cd "bundle-$1/rootfs" && sh -c "$LIST" | grep -Ev '^L\|(dev|proc|sys)(/|\|)|^L\|etc/(hosts|resolv\.conf)\|' | sort)
}
same() { # GOT WANT NAME
        if [ "$1" = "$2" ] && [ -n "$1" ]; then
                ok 0 "$3"
        else
                ok 1 "$3"
                diag "differences (< got, > expected):" "$(diff <(printf '%s\n' "$1") <(printf '%s\n' "$2") | head -n 20)"
        fi
}

# --- bad input ------------------------------------------------------------------------------------
on a build -f main.spec --cache-to "$reg" ctx
is_status 124 "--cache-to without a repository path is a usage error"
has "$err" "--cache-to takes a repository REGISTRY/PATH" "saying what it takes"
on a build -f main.spec --cache-from "$repo:v1" ctx
is_status 124 "a tag is refused"
has "$err" "no tag or digest" "saying why"
mkdir -p "$stores/a"
printf 'cache-to = %s\ncache-from = nothing\n' "$repo" >"$stores/a/cairn.conf"
on a build -f main.spec ctx
is_status 1 "a bad cache-from in cairn.conf stops the build"
has "$err" "cairn.conf:2:14: cache-from takes a repository REGISTRY/PATH" "with FILE:LINE:COL"
rm "$stores/a/cairn.conf"

# --- machine A builds and pushes ---------------------------------------------------------------------
on a build -f main.spec --cache-to "$repo" "${CREDS[@]}" ctx
is_status 0 "A builds the spec and pushes"
a_out=$out
a_id=$(got)
has "$out" "step cache $repo: 7 pushed, 0 already there" "each of the 7 steps is pushed"
a_output=$(grep -o 'step output [0-9a-f]\{32\}' <<<"$a_out")
[ -n "$a_output" ]
ok $? "A's step printed its output"
t=$(tags)
is "$(grep -cE '^[0-9a-f]{64}$' <<<"$t")" 7 "the registry holds a tag per step"
is "$(grep -cE '^[0-9a-f]{64}-log$' <<<"$t")" 7 "and a log beside each"
[ -n "$a_id" ] && grep -qx "$a_id" <<<"$t"
ok $? "the final step's tag is its ID"
manifest=$(curl -s -u alice:s3cret -H 'Accept: application/vnd.oci.image.manifest.v1+json' "http://$reg/v2/cairn/steps/manifests/$a_id")
# The busybox image has one layer, two in containerd (make-ctr-image.py).
n_base=1
[ "$kind" = containerd ] && n_base=2
is "$(python3 -c 'import json,sys; m=json.loads(sys.argv[1]); print(len(m["layers"]), m["annotations"]["dev.cairn.step"], m["mediaType"])' "$manifest")" \
        "$((n_base + 6)) $a_id application/vnd.oci.image.manifest.v1+json" "its manifest lists the base's layers and the 6 steps of the chain"
want=$(listing_of a "$a_id")
has "$want" "L|src/sub/Főtanúsítvány.txt|-rw-r--r--|0|0||1|" "the result has a UTF-8 name"
has "$want" "L|src/fetched-link|-rw-r--r--|0|0||2|" "a hard link"
has "$want" "L|src/setuid-bin|-rws--x--x|0|0||1|" "a setuid bit"
has "$want" "L|src/fifo|prw-r--r--|0|0||1|0|" "a FIFO"
lacks "$want" "L|etc/group|" "a deleted file is gone"
lacks "$want" "L|root|" "a deleted directory is gone"
lacks "$want" "L|opq/old|" "a directory made again holds only its new files"
has "$want" "L|opq/new|" "(its new file)"

# --- machine B builds the same spec from A's pushes ----------------------------------------------
on b build -f main.spec --cache-from "$repo" "${CREDS[@]}" ctx
is_status 0 "B builds the spec from the step cache"
b_id=$(got)
is "$b_id" "$a_id" "to the same final ID"
is "$(grep -c '^---> pulled from' <<<"$out")" 7 "every step is pulled"
has "$out" "$a_output" "B's log shows A's step output"
same "$(listing_of b "$b_id")" "$want" "B's result: names, types, modes, owners, sizes, link targets, link counts, mtimes and contents are A's"
is "$(leftovers b)" 0 "nothing is left in B's temporary directories"
on b build -f main.spec --cache-from "$repo" "${CREDS[@]}" ctx
is "$(grep -c 'from cache' <<<"$out") $(grep -c 'saved as' <<<"$out")" "9 0" "built again, every step (and the 2 bases) is B's own cache"
has "$out" "$a_output" "(and shows the pulled log again, as a cached step's)"
on b fsck --check
is_status 0 "fsck finds B's store sound"

# One late step changed: only it runs.
sed 's/echo last-/echo changed-last-/' main.spec >late.spec
on b build -f late.spec --cache-from "$repo" --cache-to "$repo" "${CREDS[@]}" ctx
is_status 0 "B builds the spec with its last step changed"
is "$(grep -c 'from cache' <<<"$out")" 8 "the 6 steps before it (and the 2 bases) come from B's cache"
is "$(grep -c '^---> pulled from' <<<"$out")" 0 "nothing is pulled"
is "$(grep -c 'saved as' <<<"$out")" 1 "only the changed step runs"
has "$out" "1 pushed, 6 already there" "and only it is pushed"
late_id=$(got)
# A new machine takes all of it, the step B pushed on A's included.
# C names the step cache in its cairn.conf, not on the command line.
mkdir -p "$stores/c"
printf '# the fleet'"'"'s step cache\ncache-from = %s\n' "$repo" >"$stores/c/cairn.conf"
on c build -f late.spec "${CREDS[@]}" ctx
is "$(got)" "$late_id" "C, with cache-from in its cairn.conf, builds B's spec to the same ID"
is "$(grep -c '^---> pulled from' <<<"$out")" 7 "pulling every step (A's and B's)"

# --- by hand: cache ls, cache pull ------------------------------------------------------------------
run_cmd "$CAIRN" cache ls "${CREDS[@]}" "$repo"
is_status 0 "cairn cache ls lists the repository"
has "$out" "$a_id  " "with A's final step"
is "$(grep -cE '^[0-9a-f]{64}  ' <<<"$out")" 8 "and each step pushed so far, one a line (7 of A's, 1 of B's)"
on g cache pull --repo "$repo" "${CREDS[@]}" "$late_id"
is_status 0 "cairn cache pull takes B's last step and its chain into a new store"
on g build -f late.spec --cache-from "$repo" "${CREDS[@]}" ctx
is "$(grep -c '^---> pulled from' <<<"$out") $(got)" "1 $late_id" \
        "which then builds the spec from its own cache (pulling only the tools stage, not in that chain)"
has "$out" "$a_output" "showing the pulled steps' logs"
on g cache pull --repo "$repo" "${CREDS[@]}" 0000000000000000000000000000000000000000000000000000000000000000
is_status 1 "cairn cache pull of a step the repository lacks fails"
has "$err" "has no step" "saying so"

# --- podman runs a step's tag ----------------------------------------------------------------------
podman() {
        command podman --root "$tmp/podman/root" --runroot "$tmp/podman/run" --storage-driver overlay \
                --cgroup-manager=cgroupfs --events-backend=file --runtime runc "$@"
}
podman pull -q --tls-verify=false --creds alice:s3cret "$repo:$a_id" >/dev/null 2>podman-pull.err
ok $? "podman pulls a step's tag"
run_cmd podman run --rm --network=none --ulimit nofile=1024:1024 --ulimit nproc=4096:4096 "$repo:$a_id" cat /src/run-id
is_status 0 "podman runs a step's tag"
is "$out" "${a_output#step output }
" "and prints what the step wrote"
[ "$status" = 0 ] || diag "$err"

# --- two builders push the same steps at once -------------------------------------------------------
sed 's/echo built tools/echo built tools twice/' main.spec >twice.spec
"$CAIRN" build $(store_args d) -f twice.spec --cache-to "$repo" "${CREDS[@]}" ctx >d.out 2>d.err &
dpid=$!
"$CAIRN" build $(store_args e) -f twice.spec --cache-to "$repo" "${CREDS[@]}" ctx >e.out 2>e.err
e_status=$?
wait $dpid
d_status=$?
is "$d_status $e_status" "0 0" "two builders push the same steps at once"
on f build -f twice.spec --cache-from "$repo" "${CREDS[@]}" ctx
is_status 0 "a third machine builds from what they pushed"
is "$(grep -c '^---> pulled from' <<<"$out")" 7 "every step is pulled: the tags are valid"
# The tools stage writes random bytes, so D's and E's copies of it differ
# (and so do the IDs of the copies from it): F's is whichever's tag won.
f_id=$(got)
[ -n "$f_id" ] && grep -qx "Got: \"$f_id\"" d.out e.out
ok $? "to the ID one of them built"

# --- secrets are never pushed ----------------------------------------------------------------------------
secret=cairn-secret-$RANDOM$RANDOM$RANDOM
printf '%s' "$secret" >secret.txt
cat >secret.spec <<'SPEC'
((from busybox)
 (shell /bin/sh -c)
 (run (secrets (token (target /run/secrets/token))) (shell "cat /run/secrets/token > /derived && echo used"))
 (run (shell "cp /derived /derived-too")))
SPEC
on a build -f secret.spec --secret token:secret.txt --cache-to "$repo" "${CREDS[@]}" ctx
is_status 0 "A builds a spec that mounts a secret"
has "$out" "0 pushed, 0 already there, 2 not pushed (secrets; --share-secret-steps)" "neither the step nor the one on it is pushed"
sid=$(got)
lacks "$(tags)" "$sid" "no tag for them"
registry_has "$secret"
ok $((!$?)) "the secret is in no blob of the registry's storage (decompressed)"
run_cmd "$CAIRN" cache push $(store_args a) --repo "$repo" "${CREDS[@]}" "$sid"
is_status 1 "cairn cache push refuses it too"
has "$err" "mounted secrets" "saying why"
on a build -f secret.spec --secret token:secret.txt --cache-to "$repo" --share-secret-steps "${CREDS[@]}" ctx
has "$out" "2 pushed" "--share-secret-steps pushes them"
registry_has "$secret"
ok $? "(and then the registry holds the secret: the search above can see it)"

# --- a corrupt blob is a miss ------------------------------------------------------------------------
cat >corrupt.spec <<SPEC
((from busybox)
 (shell /bin/sh -c)
 (run (shell "echo one-\$($rand) > /one"))
 (run (shell "echo two > /two")))
SPEC
on a build -f corrupt.spec --cache-to "$repo" "${CREDS[@]}" ctx
corrupt_id=$(got)
m=$(curl -s -u alice:s3cret -H 'Accept: application/vnd.oci.image.manifest.v1+json' "http://$reg/v2/cairn/steps/manifests/$corrupt_id")
# The first layer that is not the base's.
d=$(python3 -c 'import json,sys; l=json.loads(sys.argv[1])["layers"]; s=lambda x: x["annotations"]["dev.cairn.step"]; print([x for x in l if s(x) != s(l[0])][0]["digest"].split(":")[1])' "$m")
f="$tmp/data/docker/registry/v2/blobs/sha256/${d:0:2}/$d/data"
[ -f "$f" ]
ok $? "the first step's layer is in the registry's storage"
printf 'garbage' | dd of="$f" bs=1 seek=40 conv=notrunc 2>/dev/null
on g build -f corrupt.spec --cache-from "$repo" "${CREDS[@]}" ctx
is_status 0 "a build whose first step's layer is corrupt in the registry succeeds"
has "$err" "it is a miss" "saying the layer is a miss"
is "$(grep -c '^---> pulled from' <<<"$out")" 0 "nothing built on the corrupt layer is pulled"
is "$(got)" "$corrupt_id" "same ID"
is "$(leftovers g)" 0 "nothing half-extracted is left"
is "$(find "$stores/g/blobs" -name '*.tmp*' 2>/dev/null | wc -l)" 0 "nor a partial blob"

# --- the registry stopped mid-build -------------------------------------------------------------------
cat >down.spec <<SPEC
((from busybox)
 (shell /bin/sh -c)
 (run (shell "echo down-\$($rand) > /x"))
 (run (shell "sleep 1; echo after")))
SPEC
"$CAIRN" build $(store_args a) -f down.spec --cache-to "$repo" --cache-from "$repo" "${CREDS[@]}" ctx \
        >down.out 2>down.err &
bpid=$!
sleep 0.5
stop_registry
wait $bpid
is "$?" 0 "with the registry stopped mid-build, the build succeeds"
grep -q '^Got: ' down.out
ok $? "and gives its result"
grep -q "push.* failed (the build itself is done and kept here)" down.err
ok $? "saying that the pushes failed"
[ $? = 0 ] || diag "$(cat down.out down.err)"
on a build -f down.spec --cache-to "$repo" --cache-from "$repo" "${CREDS[@]}" ctx
is_status 0 "with the registry down, a build still works from the local cache"
is "$(grep -c 'from cache' <<<"$out")" 3 "(every step)"

tap_done
