#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The step cache's registry client (fetch/repo.h, through tests/lib/repo-tool)
# and `cairn cache ls/prune --remote`, against Debian's docker-registry on
# 127.0.0.1 with htpasswd Basic auth and deletes enabled.  Needs no root.
set -u
: "${CAIRN:?path to the cairn binary}" "${CAIRN_SRCDIR:?source tree}"
: "${REPO_TOOL:=$(dirname "$CAIRN")/../tests/repo-tool}"
. "$CAIRN_SRCDIR/tests/lib/tap.sh"

command -v docker-registry >/dev/null || need "needs docker-registry"
[ -x "$REPO_TOOL" ] || need "needs tests/repo-tool (REPO_TOOL)"

tmp=$(mktemp -d /tmp/cairn-cache-remote-test.XXXXXX)
. "$CAIRN_SRCDIR/tests/lib/registry.sh"
reg2pid=
tokpid=
cleanup() {
        stop_registry
        [ -n "$reg2pid" ] && kill "$reg2pid" 2>/dev/null
        [ -n "$tokpid" ] && kill "$tokpid" 2>/dev/null
        rm -rf "$tmp"
}
trap cleanup EXIT
cd "$tmp"

auth=$(registry_basic_auth alice s3cret)
registry_delete=1
start_registry "$auth"
ok $? "a docker-registry with Basic auth and deletes listens on $reg"

export REPO_TOOL_AUTH=alice:s3cret
name=$reg/cache/steps
# $out without its last newline
tool() { run_cmd "$REPO_TOOL" "$@"; out=${out%$'\n'}; }
count() { [ -z "$1" ] && echo 0 || printf '%s\n' "$1" | wc -l; }
sha() { printf 'sha256:%s' "$(sha256sum "$1" | cut -d' ' -f1)"; }

# --- blobs ---------------------------------------------------------------------------
head -c 3000000 /dev/urandom >layer.bin
layer=$(sha layer.bin)
tool blob-head "$name" "$layer"
is "$out" "absent" "a blob not pushed yet is absent"
tool put-blob "$name" layer.bin
is_status 0 "put-blob uploads a 3 MB file"
is "$out" "uploaded $layer" "under its digest"
tool blob-head "$name" "$layer"
is "$out" "present" "HEAD finds it then"
tool put-blob "$name" layer.bin
is "$out" "present $layer" "a blob already there is not uploaded again"
mkdir store
tool get-blob "$name" store "$layer"
is "$out" "stored" "get-blob stores it in a blob store"
ok $(cmp -s layer.bin "store/blobs/sha256/${layer#sha256:}"; echo $?) "with the very bytes uploaded"
printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}' >config.json
config=$(sha config.json)
tool put-data "$name" config.json
is "$out" "uploaded $config" "put-data uploads bytes from memory"
tool get-blob-mem "$name" "$config"
is "$out" "$(cat config.json)" "get-blob-mem reads them back"
missing=sha256:$(printf '%064d' 0)
tool get-blob "$name" store "$missing"
is "$out" "absent" "get-blob of a blob the registry lacks is 0"
ok $([ ! -e "store/blobs/sha256/${missing#sha256:}" ] && [ -z "$(ls store/blobs/sha256 | grep tmp)" ]; echo $?) \
        "and leaves nothing in the store"

# --- manifests ------------------------------------------------------------------------
lsize=$(stat -c %s layer.bin)
csize=$(stat -c %s config.json)
manifest() { # ID CREATED [LAYER-SIZE]
        printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"%s","size":%s,"annotations":{"dev.cairn.step":"%s"}}],"annotations":{"dev.cairn.step":"%s","org.opencontainers.image.created":"%s"}}' \
                "$config" "$csize" "$layer" "$lsize" "$1" "$1" "$2"
}
id1=$(printf 'one' | sha256sum | cut -d' ' -f1)
manifest "$id1" 2026-01-02T03:04:05Z >m1.json
tool put-manifest "$name" "$id1" m1.json
is_status 0 "a manifest with the OCI media type and annotations is put under a step ID"
is "$out" "$(sha m1.json)" "its digest is returned"
tool get "$name" "$id1" got.json
is "$out" "$(sha m1.json) application/vnd.oci.image.manifest.v1+json" "GET gives its digest and media type"
ok $(cmp -s m1.json got.json; echo $?) "and the identical bytes"
tool get "$name" "$(sha m1.json)" got2.json
is "$out" "$(sha m1.json) application/vnd.oci.image.manifest.v1+json" "GET by digest too (verified)"
tool head "$name" "$id1"
is "$out" "found $(sha m1.json)" "HEAD gives the digest"
tool head "$name" nosuchtag
is "$out" "absent" "HEAD of a missing tag is 0"
tool get "$name" nosuchtag x.json
is "$out" "absent" "and so is GET"
tool head "$name" 'bad/../tag'
is_status 1 "a ref that is not a tag is refused"

# --- head-many ------------------------------------------------------------------------------
expected=
all=()
for i in $(seq -w 0 39); do
        all+=("t$i")
        if [ $((10#$i % 3)) != 1 ]; then
                manifest "many-$i" 2026-01-01T00:00:00Z >"many-$i.json"
                "$REPO_TOOL" put-manifest "$name" "t$i" "many-$i.json" >/dev/null || echo "put t$i failed"
                expected+="t$i"$'\n'
        fi
done
tool head-many "$name" "${all[@]}"
is_status 0 "head-many over 40 tags"
is "$out" "${expected%$'\n'}" "finds exactly the 27 that are there"

# --- tags, paginated -------------------------------------------------------------------------
big=$reg/cache/many
"$REPO_TOOL" put-data "$big" config.json >/dev/null && "$REPO_TOOL" put-blob "$big" layer.bin >/dev/null
manifest many 2026-01-01T00:00:00Z >many.json
for i in $(seq -w 0 129); do
        "$REPO_TOOL" put-manifest "$big" "tag$i" many.json >/dev/null || echo "put tag$i failed"
done
REPO_TOOL_PAGE=7 run_cmd "$REPO_TOOL" tags "$big"
is_status 0 "tags, 7 a page"
out=${out%$'\n'}
is "$(count "$out")" "130" "lists all 130 tags, following the Link header"
is "$(printf '%s\n' "$out" | sort -u | wc -l)" "130" "each once"
tool tags "$big"
is "$(count "$out")" "130" "and in one page without a page size"
tool tags "$reg/cache/nothing-here"
is_status 0 "tags of an unknown repository"
is "$out" "" "is an empty list"

# --- credentials ----------------------------------------------------------------------------
REPO_TOOL_AUTH=alice:wrong run_cmd "$REPO_TOOL" head "$name" "$id1"
is_status 1 "a wrong password fails"
has "$err" "$name: the credentials were refused (HTTP 401: wrong user name or password?)" "with a clear message"
REPO_TOOL_AUTH= run_cmd "$REPO_TOOL" head "$name" "$id1"
is_status 1 "no password fails"
has "$err" "$name: requires a user name and password" "saying what is missing"
nonloop=$(hostname -I 2>/dev/null | tr ' ' '\n' | grep -m1 '^[0-9.]*$' | grep -v '^127\.')
if [ -n "$nonloop" ]; then
        port2=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
        sed "s/addr: .*/addr: $nonloop:$port2/" config.yml >config2.yml
        docker-registry serve config2.yml >registry2.log 2>&1 &
        reg2pid=$!
        for i in $(seq 100); do curl -s -o /dev/null "http://$nonloop:$port2/v2/" && break; sleep 0.1; done
        REPO_TOOL_INSECURE=$nonloop:$port2 run_cmd "$REPO_TOOL" head "$nonloop:$port2/cache/steps" "$id1"
        is_status 1 "a non-loopback registry allowed plain HTTP (--insecure-registry) gets no password"
        has "$err" "asks for a password over plain HTTP: refused" "and says why"
        run_cmd "$REPO_TOOL" head "$nonloop:$port2/cache/steps" "$id1"
        is_status 1 "without --insecure-registry it is https only"
        lacks "$err" "HTTP 401" "so no password goes over plain HTTP either"
        kill "$reg2pid" 2>/dev/null
        reg2pid=
else
        ok 0 "# SKIP no non-loopback address"
fi

# --- a corrupt blob -----------------------------------------------------------------------------
head -c 200000 /dev/urandom >corrupt.bin
cdig=$(sha corrupt.bin)
"$REPO_TOOL" put-blob "$name" corrupt.bin >/dev/null
data=$(find data -path "*/blobs/sha256/${cdig:7:2}/${cdig#sha256:}/data")
printf 'X' | dd of="$data" bs=1 seek=100 conv=notrunc 2>/dev/null
tool get-blob "$name" store "$cdig"
is_status 1 "a blob that does not match its digest is refused"
has "$err" "error EBADMSG: $name: the blob $cdig does not match its digest" "as -EBADMSG naming the blob"
ok $([ ! -e "store/blobs/sha256/${cdig#sha256:}" ] && [ -z "$(ls -A store/blobs/sha256 | grep -v "^${layer#sha256:}$")" ]; echo $?) \
        "and nothing of it is left in the blob store"
tool get-blob-mem "$name" "$cdig"
has "$err" "error EBADMSG" "get-blob-mem refuses it too"

# --- cairn cache ls / prune -------------------------------------------------------------------
steps=$reg/cache/prune
"$REPO_TOOL" put-data "$steps" config.json >/dev/null && "$REPO_TOOL" put-blob "$steps" layer.bin >/dev/null
old1=$(printf 'old1' | sha256sum | cut -d' ' -f1)
old2=$(printf 'old2' | sha256sum | cut -d' ' -f1)
new1=$(printf 'new1' | sha256sum | cut -d' ' -f1)
new2=$(printf 'new2' | sha256sum | cut -d' ' -f1)
now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
for s in "$old1 2020-01-01T00:00:00Z" "$old2 2021-06-01T12:00:00.5+02:00" "$new1 $now" "$new2 $now" \
        "$old1-log 2020-01-01T00:00:00Z" "$new1-log $now" "latest 2020-01-01T00:00:00Z"; do
        set -- $s
        manifest "$1" "$2" >"$1.json"
        "$REPO_TOOL" put-manifest "$steps" "$1" "$1.json" >/dev/null || echo "put $1 failed"
done
cache() { run_cmd "$CAIRN" cache "$@" --registry-auth alice:s3cret; out=${out%$'\n'}; }
cache ls "$steps"
is_status 0 "cairn cache ls"
has "$out" "$old1  2020-01-01T00:00:00Z  $lsize" "shows a step's ID, created date and layers' size"
has "$out" "$new1  $now  $lsize" "every step"
is "$(count "$out")" "4" "the four steps, one a line"
lacks "$out" "-log" "not their logs"
lacks "$out" "latest" "nor other tags"
cache ls --remote --quiet "$steps"
is "$(printf '%s\n' "$out" | sort)" "$(printf '%s\n' "$old1" "$old2" "$new1" "$new2" | sort)" "--quiet prints the IDs alone"
cache prune --older-than=1h "$steps"
is_status 124 "prune without --remote is a usage error"
has "$err" "cairn prune" "pointing to cairn prune"
cache prune --remote --older-than=soon "$steps"
is_status 124 "a bad duration is a usage error"
cache prune --remote --older-than=1h --dry-run "$steps"
is_status 0 "prune --dry-run"
has "$out" "Would delete $old1" "says what it would delete"
has "$out" "Would delete $old1-log" "with the log"
tool tags "$steps"
is "$(count "$out")" "7" "but deletes nothing"
cache prune --remote --older-than=1h "$steps"
is_status 0 "prune --remote --older-than=1h"
has "$out" "Deleted $old1 (created 2020-01-01T00:00:00Z)" "deletes the old steps"
has "$out" "Deleted $old2" "both"
has "$out" "Deleted $old1-log" "and the log of one"
has "$out" "Deleted 2 step results and 1 log from $steps (2 kept)" "with a summary"
has "$out" "garbage-collect" "saying the registry's garbage collection frees the blobs"
tool tags "$steps"
is "$(printf '%s\n' "$out" | sort)" "$(printf '%s\n' "$new1" "$new1-log" "$new2" latest | sort)" "only the new steps, their log and other tags remain"
tool head "$steps" "$old1-log"
is "$out" "absent" "the old log's manifest is gone"

# --- deletes ------------------------------------------------------------------------------------
d1=$(sha m1.json)
tool delete "$name" "$d1"
is "$out" "deleted" "delete by digest"
tool head "$name" "$id1"
is "$out" "absent" "the tag is gone"
tool delete "$name" "$d1"
is "$out" "absent" "deleting it again is 0"
stop_registry
registry_delete=0
start_registry "$auth"
tool delete "$name" "$(sha many-00.json)"
is_status 1 "a registry without deletes refuses"
has "$err" "does not allow deletes" "clearly"

# --- a registry that is down --------------------------------------------------------------------
stop_registry
t0=$(date +%s%N)
tool head "$name" "$id1"
t1=$(date +%s%N)
is_status 1 "a registry that is stopped is an error"
has "$err" "Couldn't connect" "saying why"
ms=$(( (t1 - t0) / 1000000 ))
ok $([ "$ms" -lt 15000 ]; echo $?) "within a few seconds (${ms} ms)"
t0=$(date +%s%N)
cache ls "$steps"
t1=$(date +%s%N)
is_status 1 "cairn cache ls fails too"
ok $([ $(( (t1 - t0) / 1000000 )) -lt 15000 ]; echo $?) "as quickly"

# --- Bearer tokens for pull and push -------------------------------------------------------------
tport=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
openssl req -x509 -newkey rsa:2048 -nodes -keyout token.key -out token.crt -days 2 -subj /CN=cairn-test-token \
        >/dev/null 2>&1
python3 "$CAIRN_SRCDIR/tests/lib/token-server.py" "$tport" token.key token.crt cairn-issuer cairn-registry \
        bob:t0ken >token.log 2>&1 &
tokpid=$!
registry_delete=1
start_registry "auth:
  token:
    realm: http://127.0.0.1:$tport/token
    service: cairn-registry
    issuer: cairn-issuer
    rootcertbundle: $tmp/token.crt"
ok $? "the registry restarts with token authentication"
for i in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$tport/" && break; sleep 0.1; done
printf 'a log\n' >log.txt
REPO_TOOL_AUTH=bob:t0ken run_cmd "$REPO_TOOL" put-data "$reg/cache/tokened" log.txt
is_status 0 "an upload with a token for repository:PATH:pull,push"
is "${out%$'\n'}" "uploaded $(sha log.txt)" "uploads"
REPO_TOOL_AUTH=bob:t0ken run_cmd "$REPO_TOOL" get-blob-mem "$reg/cache/tokened" "$(sha log.txt)"; out=$out.
is "$out" "$(cat log.txt; printf .)" "and a pull token reads it back"
REPO_TOOL_AUTH=bob:wrong run_cmd "$REPO_TOOL" head "$reg/cache/tokened" latest
is_status 1 "wrong credentials get no token"
has "$err" "$reg/cache/tokened: the token service http://127.0.0.1:$tport/token answered 401" "and say so"
kill "$tokpid" 2>/dev/null

tap_done
