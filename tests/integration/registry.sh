#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Pulling from a real registry: Debian's docker-registry on 127.0.0.1, images
# pushed with skopeo, builds as root on a real overlayfs store.
set -u
: "${CAIRN:?path to the cairn binary}" "${CAIRN_SRCDIR:?source tree}"
. "$CAIRN_SRCDIR/tests/lib/tap.sh"

[ "$(id -u)" = 0 ] || need "needs root"
command -v docker-registry >/dev/null || need "needs docker-registry"
command -v skopeo >/dev/null || need "needs skopeo"
[ -x /bin/busybox ] || need "needs busybox-static"

tmp=$(mktemp -d /tmp/cairn-registry-test.XXXXXX)
. "$CAIRN_SRCDIR/tests/lib/registry.sh"
tokpid=
proxypid=
cleanup() {
        stop_registry
        [ -n "$tokpid" ] && kill "$tokpid" 2>/dev/null
        [ -n "$proxypid" ] && kill "$proxypid" 2>/dev/null
        grep " $tmp" /proc/self/mountinfo | awk '{print $5}' | sort -r | xargs -r -n1 umount -l 2>/dev/null
        rm -rf "$tmp"
}
trap cleanup EXIT
cd "$tmp"
export CAIRN_STORE="overlayfs:$tmp/store"
store=$tmp/store

push() { # KIND NAME:TAG
        local dir=$tmp/layout-${2//[:\/]/_}
        python3 "$CAIRN_SRCDIR/tests/lib/make-image.py" "$1" "$dir" "${2#*:}" /bin/busybox >"$dir.digest"
        skopeo copy --all --quiet --dest-tls-verify=false ${creds:+--dest-creds "$creds"} \
                "oci:$dir:${2#*:}" "docker://$reg/$2" >/dev/null 2>&1
}

start_registry
ok $? "a docker-registry listens on $reg"
mkdir ctx

# --- one layer ------------------------------------------------------------------
push simple test/simple:v1
ok $? "skopeo pushes a one-layer image"
run_cmd "$CAIRN" pull "$reg/test/simple:v1"
is_status 0 "cairn pull"
has "$out" "Digest: $(cat layout-test_simple_v1.digest)" "the pulled manifest digest is the one pushed"
has "$out" "Pulled $reg/test/simple:v1 (1 layer" "pull reports the image"
run_cmd "$CAIRN" images
has "$out" "$reg/test/simple:v1" "cairn images lists it"
printf '((from %s/test/simple:v1) (shell /bin/sh -c) (run (shell "echo REG=$REG")))' "$reg" >simple.spec
run_cmd "$CAIRN" build -f simple.spec ctx
is_status 0 "a build on the pulled image"
has "$out" "REG=yes" "with the image's environment"

# --- a pulled image sharing its bottom layers with a base already unpacked --------------
python3 "$CAIRN_SRCDIR/tests/lib/make-image.py" family "$tmp/fam" v1 /bin/busybox >/dev/null
skopeo copy --quiet --dest-tls-verify=false "oci:$tmp/fam:v1" "docker://$reg/test/fam-small:v1" >/dev/null 2>&1 &&
        skopeo copy --quiet --dest-tls-verify=false "oci:$tmp/fam.big:v1" "docker://$reg/test/fam-big:v1" >/dev/null 2>&1
ok $? "skopeo pushes two images sharing their two bottom layers"
printf '((from %s/test/fam-small:v1) (shell /bin/sh -c) (run (shell "echo $FAM")))' "$reg" >fam-small.spec
printf '((from %s/test/fam-big:v1) (shell /bin/sh -c) (run (shell "echo $FAM; cat /etc/one /etc/three /etc/five; ls /etc/doomed 2>&1 | grep -c No")))' "$reg" >fam-big.spec
run_cmd "$CAIRN" build -f fam-small.spec ctx
is_status 0 "a build pulls the small image"
run_cmd "$CAIRN" build -f fam-big.spec ctx
is_status 0 "a build pulls the big one"
has "$out" "(5 layers; 2 already unpacked" "whose shared layers, known from its manifest, are not unpacked again"
has "$out" "big
one
three
five
1" "and whose other three are, in order"

# --- --pull=always follows a tag that moved -------------------------------------------
python3 "$CAIRN_SRCDIR/tests/lib/make-image.py" simple "$tmp/moving1" v1 /bin/busybox >/dev/null
python3 "$CAIRN_SRCDIR/tests/lib/make-image.py" layered "$tmp/moving2" v1 /bin/busybox >/dev/null
skopeo copy --quiet --dest-tls-verify=false "oci:$tmp/moving1:v1" "docker://$reg/test/moving:v1" >/dev/null 2>&1
ok $? "skopeo pushes test/moving:v1"
printf '((from %s/test/moving:v1) (shell /bin/sh -c) (run (shell "echo keep-files=$(ls /etc | grep -c ^keep$)")))' \
        "$reg" >moving.spec
run_cmd "$CAIRN" build -f moving.spec ctx
has "$out" "keep-files=0" "a build on the first image behind the tag"
skopeo copy --quiet --dest-tls-verify=false "oci:$tmp/moving2:v1" "docker://$reg/test/moving:v1" >/dev/null 2>&1
ok $? "skopeo pushes another image to the same tag"
run_cmd "$CAIRN" build -f moving.spec ctx
has "$out" "keep-files=0" "by default (--pull=missing) the image at hand is used"
has "$out" "from cache" "with every step cached"
run_cmd "$CAIRN" build --pull=always -f moving.spec ctx
is_status 0 "--pull=always"
has "$out" "The image $reg/test/moving:v1 changed" "sees that the tag moved"
has "$out" "keep-files=1" "and builds on the new image"
run_cmd "$CAIRN" build --pull=always -f moving.spec ctx
lacks "$out" "changed" "--pull=always again: the tag has not moved"
has "$out" "from cache" "so every step is reused"
stop_registry
run_cmd "$CAIRN" build --pull=always -f moving.spec ctx
is_status 1 "--pull=always with the registry down fails"
has "$err" "--pull=always: pulling \"$reg/test/moving:v1\"" "saying what it could not do"
run_cmd "$CAIRN" build -f moving.spec ctx
is_status 0 "without it the images at hand are enough"
start_registry
ok $? "the registry is back"
# A tag that moved, whose old image's base was built on another's (they shared
# their bottom layers): the prefix is chosen from the image pulled now.
skopeo copy --quiet --dest-tls-verify=false "oci:$tmp/moving1:v1" "docker://$reg/test/fam-big:v1" >/dev/null 2>&1
printf '((from %s/test/fam-big:v1) (shell /bin/sh -c) (run (shell "echo REG=$REG")))' "$reg" >fam-moved.spec
run_cmd "$CAIRN" build --pull=always -f fam-moved.spec ctx
is_status 0 "--pull=always after a tag that shared layers with another image moved"
has "$out" "The image $reg/test/fam-big:v1 changed" "sees it moved"
has "$out" "REG=yes" "and builds on the new image"

# --- gzip, zstd and uncompressed layers ------------------------------------------------
push codecs test/codecs:v1
ok $? "skopeo pushes an image with a gzip, a zstd and an uncompressed layer"
printf '((from %s/test/codecs:v1) (shell /bin/sh -c) (run (shell "cat /etc/gzip /etc/zstd /etc/plain")))' "$reg" >codecs.spec
run_cmd "$CAIRN" build -f codecs.spec ctx
is_status 0 "a build on it"
has "$out" "gzip
zstd
plain" "every layer is unpacked, whatever its compression"

# --- (from REF) pulls on a miss -----------------------------------------------------
push layered test/layered:v2
printf '((from %s/test/layered:v2) (shell /bin/sh -c) (run (shell "cat /etc/keep /opq/new /hard2; ls /etc /opq")))' "$reg" >layered.spec
run_cmd "$CAIRN" build -f layered.spec ctx
is_status 0 "(from REF) pulls a missing image by itself"
has "$out" "Pulling $reg/test/layered:v2" "and says so in the log"
has "$out" "keep
new
linked" "two layers, a hard link"
lacks "$out" "gone" "a whiteout deletes"
lacks "$out" "old" "an opaque directory hides the lower layer"

# --- layers unpacked as they download, in order ---------------------------------------
push ordered test/ordered:v1
printf '((from %s/test/ordered:v1) (shell /bin/sh -c) (run (shell "ls /etc; test ! -e /big && echo big-deleted")))' \
        "$reg" >ordered.spec
run_cmd "$CAIRN" build -f ordered.spec ctx
is_status 0 "an image whose small upper layers finish downloading first"
has "$out" "Unpacked, as it downloaded, $reg/test/ordered:v1 (3 layers" "is unpacked while it downloads"
has "$out" "second
third" "every layer is applied"
has "$out" "big-deleted" "in order: the upper layer's whiteout deletes what the bottom one adds"
order=$(printf '%s\n' "$out" | sed -n 's/^sha256:\([0-9a-f]\{12\}\).*: [0-9]* bytes$/\1/p' | tr '\n' ' ')
big=$(python3 -c "import json; d='layout-test_ordered_v1/blobs/sha256/'; m=json.load(open(d + open('layout-test_ordered_v1.digest').read().strip()[7:])); print(m['layers'][0]['digest'][7:19])")
diag "blobs finished downloading in this order: $order(the 16 MB bottom layer is $big)"

# --- an index with several platforms ---------------------------------------------------
push multiarch test/multi:v1
printf '((from %s/test/multi:v1) (shell /bin/sh -c) (run (shell "echo ARCH=$ARCH")))' "$reg" >multi.spec
run_cmd "$CAIRN" build -f multi.spec ctx
is_status 0 "a build on a multi-platform index"
has "$out" "ARCH=amd64" "picks this machine's platform"
run_cmd "$CAIRN" pull --platform linux/s390x "$reg/test/multi:v1"
is_status 0 "--platform picks another one"
run_cmd "$CAIRN" pull --platform linux/riscv64 "$reg/test/multi:v1"
is_status 1 "a platform the index lacks fails"
has "$err" "has no image for linux/riscv64" "with a clear message"

# --- a pinned digest ---------------------------------------------------------------------
digest=$(cat layout-test_simple_v1.digest)
printf '((from %s/test/simple@%s) (shell /bin/sh -c) (run (shell "echo pinned")))' "$reg" "$digest" >pinned.spec
run_cmd "$CAIRN" build -f pinned.spec ctx
is_status 0 "(from NAME@sha256:...) pulls by digest"
has "$out" "Digest: $digest" "the pinned digest"
pid=$(printf '%s\n' "$out" | sed -n 's/^Got: "\(.*\)"$/\1/p')
run_cmd "$CAIRN" inspect "$pid"
has "$(printf '%s' "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["base"]["digest"])')" "$digest" \
        "inspect shows the pinned digest as data"
bad=sha256:$(printf '%064d' 0)
run_cmd "$CAIRN" pull "$reg/test/simple@$bad"
is_status 1 "an unknown digest fails"
has "$err" "no such image" "clearly"

# --- a corrupt blob -------------------------------------------------------------------------
push simple test/corrupt:v1
layer=$(python3 -c "import json,sys; m=json.load(open('layout-test_corrupt_v1/blobs/sha256/' + open('layout-test_corrupt_v1.digest').read().strip()[7:])); print(m['layers'][0]['digest'][7:])")
data=$(find data -path "*/blobs/sha256/${layer:0:2}/$layer/data")
printf 'X' | dd of="$data" bs=1 seek=100 conv=notrunc 2>/dev/null
images_before=$(ls "$store/images")
run_cmd "$CAIRN" pull "$reg/test/corrupt:v1"
is_status 1 "a blob that does not match its digest is refused"
has "$err" "does not match its digest" "with a clear message"
is "$(ls "$store/images")" "$images_before" "and no image is recorded"
ok $([ ! -e "$store/blobs/sha256/$layer" ]; echo $?) "nor the bad blob kept"
# A build unpacks the layer as its bytes arrive: the digest check at the end
# must still throw away what was unpacked.
results_before=$(ls "$store/result")
printf '((from %s/test/corrupt:v1) (run (shell "true")))' "$reg" >corrupt.spec
run_cmd "$CAIRN" build -f corrupt.spec ctx
is_status 1 "a build on it fails too, though its layer was unpacked as it came"
has "$err" "does not match its digest" "for the same reason"
is "$(ls "$store/result")" "$results_before" "leaving no base behind"
is "$(ls -A "$store/in-progress")" "" "nor anything half unpacked"

# --- the registry goes away and comes back ------------------------------------------------------
push simple test/later:v1
stop_registry
run_cmd "$CAIRN" pull "$reg/test/later:v1"
is_status 1 "a pull from a stopped registry fails after its retries"
has "$err" "Couldn't connect" "saying why"
start_registry
run_cmd "$CAIRN" pull "$reg/test/later:v1"
is_status 0 "and succeeds once the registry is back"

# --- a download cut half-way resumes -----------------------------------------------------------
push layered test/resume:v1
pport=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 "$CAIRN_SRCDIR/tests/lib/flaky-proxy.py" "$pport" "$reg" proxy.log >proxy.err 2>&1 &
proxypid=$!
for i in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$pport/v2/" && break; sleep 0.1; done
run_cmd "$CAIRN" pull "127.0.0.1:$pport/test/resume:v1"
is_status 0 "a pull through a proxy that cuts every blob half-way succeeds"
has "$out" "retrying" "after retrying"
ok $(grep -q ' bytes=[0-9][0-9]*-$' proxy.log; echo $?) "and resuming with a Range request where the download stopped"
kill "$proxypid" 2>/dev/null
printf '((from 127.0.0.1:%s/test/resume:v1) (shell /bin/sh -c) (run (shell "cat /etc/keep")))' "$pport" >resume.spec
run_cmd "$CAIRN" build -f resume.spec ctx
is_status 0 "the resumed layers are intact"

# --- hostile layers -------------------------------------------------------------------------------
push hostile test/hostile:v1
printf '((from %s/test/hostile:v1))' "$reg" >hostile.spec
run_cmd "$CAIRN" build -f hostile.spec ctx
is_status 1 "a pulled layer with .. names is refused when unpacked"
has "$err" 'escapes the root ("..")' "with a clear message"
ok $([ ! -e "$tmp/escaped" ] && [ ! -e "$store/escaped" ]; echo $?) "and nothing escaped"
lacks "$err" "could not be pulled" "the pull itself is not blamed"
has "$err" "layer 1 (sha256:" "the layer is named"
run_cmd "$CAIRN" build -f hostile.spec ctx
is_status 1 "built again from the image now in the store, it is refused again"
has "$err" 'escapes the root ("..")' "for the same reason"
run_cmd "$CAIRN" fsck --check
is_status 0 "and the store is consistent"

# --- an exported result, pushed and pulled back --------------------------------------------
printf '((from %s/test/simple:v1) (shell /bin/sh -c) (workdir /app) (env MADE by-cairn)
  (run (shell "echo exported > /app/file; ln /app/file /app/link; rm /bin/readlink")))' "$reg" >export.spec
run_cmd "$CAIRN" build -f export.spec ctx
id=$(printf '%s\n' "$out" | sed -n 's/^Got: "\(.*\)"$/\1/p')
run_cmd "$CAIRN" inspect "$id"
is_status 0 "cairn inspect describes a result"
# Fields, each as "key=value" on a line of its own.
fields=$(printf '%s' "$out" | python3 -c '
import json, sys
j = json.load(sys.stdin)
print("digest=" + j["base"]["digest"])
print("from=" + j["base"]["from"])
print("image=" + j["base"]["image"])
print("layers=%d" % len(j["base"]["layers"]))
print("depth=%d" % j["depth"])
print("workdir=" + j["context"]["workdir"])
print("env=" + ",".join(j["context"]["env"]))
print("base_is_root=%s" % (j["base"]["id"] != j["id"] and j["parent"] is not None))')
has "$fields" "digest=$(cat layout-test_simple_v1.digest)" "the resolved manifest digest is recorded with the base"
has "$fields" "from=$reg/test/simple:v1" "with the (from ...) string"
has "$fields" "image=$reg/test/simple:v1" "and the image's name"
has "$fields" "layers=1" "and its layers"
has "$fields" "depth=1" "depth counts the results above the base (workdir and env make none)"
has "$fields" "workdir=/app" "the step's context"
has "$fields" "MADE=by-cairn" "with its environment"
has "$fields" "base_is_root=True" "the base is the chain's root"
run_cmd "$CAIRN" inspect "$(printf '%064d' 7)"
is_status 1 "inspecting an unknown ID fails"
has "$err" "not found" "clearly"
run_cmd "$CAIRN" export "$id" --oci "$tmp/exported" --tag v1
is_status 0 "cairn export writes an OCI layout"
run_cmd skopeo copy --dest-tls-verify=false "oci:$tmp/exported:v1" "docker://$reg/test/exported:v1"
is_status 0 "skopeo pushes the exported image"
printf '((from %s/test/exported:v1) (shell /bin/sh -c) (run (shell "echo $MADE; cat /app/file /app/link; test -e /bin/readlink || echo deleted")))' "$reg" >back.spec
run_cmd "$CAIRN" build -f back.spec ctx
is_status 0 "cairn pulls it back and builds on it"
has "$out" "by-cairn
exported
exported
deleted" "with the step's environment, its files, a hard link and a deletion"
run_cmd "$CAIRN" export "$id" --oci "$tmp/exported.tar"
is_status 0 "export to a tarball"
run_cmd "$CAIRN" image import from-tar "$tmp/exported.tar"
is_status 0 "which imports as an OCI archive"

# --- Basic auth -----------------------------------------------------------------------------------
stop_registry
python3 -W ignore -c "import crypt; print('alice:' + crypt.crypt('s3cret', crypt.mksalt(crypt.METHOD_BLOWFISH)))" >htpasswd
start_registry "auth:
  htpasswd:
    realm: cairn-test
    path: $tmp/htpasswd"
ok $? "the registry restarts with Basic auth"
creds=alice:s3cret push simple test/private:v1
run_cmd "$CAIRN" pull "$reg/test/private:v1"
is_status 1 "a pull without credentials is refused"
has "$err" "requires a user name and password" "and says what is missing"
run_cmd "$CAIRN" pull --registry-auth alice:wrong "$reg/test/private:v1"
is_status 1 "wrong credentials are refused"
run_cmd "$CAIRN" pull --registry-auth alice:s3cret "$reg/test/private:v1"
is_status 0 "--registry-auth USER:PASSWORD works"
printf 'alice:s3cret\n' >creds.txt
chmod 600 creds.txt
run_cmd "$CAIRN" pull --registry-auth @creds.txt "$reg/test/private:v1"
is_status 0 "--registry-auth @FILE reads them from a file (kept out of ps)"
run_cmd sh -c "printf 'alice:s3cret\n' | \"\$0\" pull --registry-auth - \"\$1\"" "$CAIRN" "$reg/test/private:v1"
is_status 0 "--registry-auth - reads them from standard input"
run_cmd "$CAIRN" pull --registry-auth @no-such-file "$reg/test/private:v1"
is_status 124 "an unreadable @FILE is a usage error"
mkdir -p dockercfg
printf '{"auths": {"%s": {"auth": "%s"}}}' "$reg" "$(printf 'alice:s3cret' | base64)" >dockercfg/config.json
run_cmd env DOCKER_CONFIG="$tmp/dockercfg" "$CAIRN" pull "$reg/test/private:v1"
is_status 0 "credentials from a docker config.json work"

# --- Bearer tokens from a token service ---------------------------------------------------------------
stop_registry
tport=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
openssl req -x509 -newkey rsa:2048 -nodes -keyout token.key -out token.crt -days 2 -subj /CN=cairn-test-token \
        >/dev/null 2>&1
python3 "$CAIRN_SRCDIR/tests/lib/token-server.py" "$tport" token.key token.crt cairn-issuer cairn-registry \
        bob:t0ken >token.log 2>&1 &
tokpid=$!
start_registry "auth:
  token:
    realm: http://127.0.0.1:$tport/token
    service: cairn-registry
    issuer: cairn-issuer
    rootcertbundle: $tmp/token.crt"
ok $? "the registry restarts with token authentication"
creds=bob:t0ken push simple test/tokened:v1
ok $? "skopeo pushes through the token service"
run_cmd "$CAIRN" pull "$reg/test/tokened:v1"
is_status 1 "a pull without credentials gets no token"
has "$err" "the token service http://127.0.0.1:$tport/token answered 401" "and says so"
run_cmd "$CAIRN" pull --registry-auth bob:t0ken "$reg/test/tokened:v1"
is_status 0 "with credentials cairn gets a Bearer token and pulls"
kill "$tokpid" 2>/dev/null

tap_done
