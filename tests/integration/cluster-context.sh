#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Build contexts and sealed secrets of cluster jobs (docs/cluster.md): a
# private PostgreSQL, a real docker-registry with Basic auth on 127.0.0.1
# for the context blobs, and workers on their own overlayfs stores.
set -u
: "${CAIRN:?path to the cairn binary}" "${CAIRN_SRCDIR:?source tree}"
. "$CAIRN_SRCDIR/tests/lib/tap.sh"

. "$CAIRN_SRCDIR/tests/lib/cluster-rig.sh"
cluster_rig cluster-context docker-registry curl python3
export TZ=UTC
. "$CAIRN_SRCDIR/tests/lib/registry.sh"
pg_init
pg_start || need "postgres starts"
start_registry "$(registry_basic_auth alice s3cret)" || need "docker-registry starts"
# Submitters and workers find the credentials where docker keeps them.
mkdir docker
printf '{"auths":{"%s":{"auth":"%s"}}}\n' "$reg" "$(printf alice:s3cret | base64)" >docker/config.json
export DOCKER_CONFIG=$tmp/docker
REPO=$reg/cairn/contexts
blobs=$tmp/data/docker/registry/v2/blobs/sha256

busybox_stores "$tmp/store-a" "$tmp/store-b" "$tmp/store-l"
# The workers' private directories, to check that they are removed.
mkdir wtmp
start_worker() { # NAME STORE POOL [ARGS...]: sets $wpid
        TMPDIR=$tmp/wtmp "$CAIRN" worker --db "$DB" --name "$1" --store "overlayfs:$tmp/store-$2" --pool "$3" \
                --lease 5s --heartbeat 1s "${@:4}" 2>>"worker-$1.log" &
        wpid=$!
        pids+=("$wpid")
}
submit() { run_cmd "$CAIRN" submit --db "$DB" "$@"; }
job_id() { sed -n 's/^job \([0-9]*\)$/\1/p' <<<"$err" | head -1; }
got() { sed -n 's/^Got: "\(.*\)"$/\1/p' <<<"$1" | tail -1; }

run_cmd "$CAIRN" cluster init --db "$DB"
is_status 0 "cluster init"

# --- the context: UTF-8 names, a hard link, a symlink, a setuid file, an empty dir, 2000 files --
mkdir -p ctx/sub ctx/empty ctx/many
echo hello >ctx/hello.txt
echo 'Főtanúsítvány' >'ctx/sub/Főtanúsítvány.txt'
echo '日本語' >'ctx/sub/日本語 ファイル'
echo linked >ctx/sub/one
ln ctx/sub/one ctx/sub/two
printf '#!/bin/sh\necho suid\n' >ctx/setuid-bin
chmod 4755 ctx/setuid-bin
ln -s sub/one ctx/link
for i in $(seq 1 2000); do echo "file $i" >"ctx/many/f$i"; done
touch -d '2001-02-03 04:05:06.123456789' ctx/hello.txt
cat >ctx.spec <<'SPEC'
((from busybox)
 (shell /bin/sh -c)
 (copy (src .) (dst /ctx/))
 (run (shell "cd /ctx && { find . -mindepth 1 -type d -exec stat -c 'D|%n|%A|%u|%g' {} + ; find . -mindepth 1 ! -type d -exec stat -c 'L|%n|%A|%u|%g|%s|%y|%N' {} + ; find . -type f -exec sha256sum {} + | sed 's/^/S|/' ; } | sort && echo listing-done")))
SPEC
view() { grep -E '^(D|L|S)\|' <<<"$1"; }

# What cairn build gives locally, the reference.
run_cmd "$CAIRN" build --store "overlayfs:$tmp/store-l" -f ctx.spec ctx
is_status 0 "cairn build with the context, locally"
local_view=$(view "$out")
local_id=$(got "$out")
[ "$(grep -c '^L|' <<<"$local_view")" -gt 2000 ]
ok $? "the local view lists the context's files"

start_worker wa a main
wa=$wpid

# --- refusals first ---------------------------------------------------------------------------
submit --pool main -f ctx.spec ctx
is_status 124 "a context without a repository is a usage error"
has "$err" "--context-repo=REGISTRY/REPO (or \$CAIRN_CONTEXT_REPO)" "saying what to give"
submit --pool main -f ctx.spec --context-repo "$REPO" ctx ctx
is_status 124 "two contexts are refused"
mkdir wh && echo x >wh/.wh.foo
submit --pool main -f ctx.spec --context-repo "$REPO" wh
is_status 1 "a context with a whiteout name is refused"
has "$err" "names starting with \".wh.\" cannot travel" "saying why"

# --- the context travels; the step sees what cairn build sees locally -------------------------
submit --pool main -f ctx.spec --context-repo "$REPO" ctx
is_status 0 "submit with a context succeeds"
has "$err" "context uploaded" "the context is uploaded"
has "$out" "listing-done" "the step ran"
ctx1=$(job_id)
cluster_view=$(view "$out")
if [ "$cluster_view" = "$local_view" ] && [ -n "$local_view" ]; then
        ok 0 "the step's view of the context matches cairn build's (names, modes, owners, links, sizes, mtimes, sha256)"
else
        ok 1 "the step's view of the context matches cairn build's (names, modes, owners, links, sizes, mtimes, sha256)"
        diff <(echo "$local_view") <(echo "$cluster_view") | head -20 | sed 's/^/#   /'
fi
is "$(got "$out")" "$local_id" "and the job's result has the local build's ID"
has "$cluster_view" "L|./sub/Főtanúsítvány.txt|-rw-r--r--|0|0|" "a UTF-8 name arrives"
has "$cluster_view" "L|./sub/日本語 ファイル|" "another one, with a space"
has "$cluster_view" "L|./link|lrwxrwxrwx|0|0|7|" "the symlink arrives as a symlink"
has "$cluster_view" "'./link' -> 'sub/one'" "to its target"
has "$cluster_view" "D|./empty|drwxr-xr-x|0|0" "the empty directory arrives"
has "$cluster_view" "L|./hello.txt|-rw-r--r--|0|0|6|2001-02-03 04:05:06.123456789 +0000" "the mtime arrives to the nanosecond"
has "$cluster_view" "L|./setuid-bin|-rwxr-xr-x|0|0|" "the setuid file arrives (copy makes it 0755, as locally)"
is "$(grep -c '^L|./many/f' <<<"$cluster_view")" 2000 "all 2000 files arrive"
ctxjson=$(sql "SELECT context FROM jobs WHERE id = $ctx1")
has "$ctxjson" "\"repo\": \"$REPO\"" "jobs.context names the repository"
digest=$(sql "SELECT context->>'blob' FROM jobs WHERE id = $ctx1")
size=$(sql "SELECT context->>'size' FROM jobs WHERE id = $ctx1")
hex=${digest#sha256:}
blobfile=$blobs/${hex:0:2}/$hex/data
[ -f "$blobfile" ]
ok $? "the blob is in the registry's storage"
is "$(sha256sum <"$blobfile" | cut -c1-64)" "$hex" "under its digest"
is "$(stat -c %s "$blobfile")" "$size" "of the size recorded"
# What copy does not show (it gives every file 0644/0755 and its own
# owner), the blob keeps: the setuid bit and the hard link.
tv=$(tar -tvzf "$blobfile" 2>&1)
has "$tv" "-rwsr-xr-x 0/0" "the blob keeps the setuid bit, owners 0:0"
has "$tv" "sub/two link to sub/one" "and the hard link"
is "$(ls wtmp)" "" "the job's private context directory is removed"

# --- the same context again: uploaded once ----------------------------------------------------
before=$(stat -c '%i %Y' "$blobfile")
submit --pool main -f ctx.spec --context-repo "$REPO" ctx
is_status 0 "the same context submitted again"
has "$err" "context already in the registry" "is not uploaded again"
is "$(sql "SELECT count(DISTINCT context->>'blob') FROM jobs WHERE context IS NOT NULL")" 1 "both jobs name one blob"
is "$(stat -c '%i %Y' "$blobfile")" "$before" "the registry's blob file is untouched (no PUT)"
CAIRN_CONTEXT_REPO=$REPO run_cmd "$CAIRN" submit --db "$DB" --pool main -f ctx.spec --context ctx --no-follow
is_status 0 "\$CAIRN_CONTEXT_REPO and --context work too"
"$CAIRN" job wait "${out%$'\n'}" --db "$DB" >/dev/null
ok $? "and that job succeeds"

# --- a missing blob fails the job, clearly, once ----------------------------------------------
mkdir ctx2 && echo other >ctx2/x
submit --pool later -f ctx.spec --context-repo "$REPO" ctx2 --no-follow
is_status 0 "a job whose context is deleted before it runs is queued"
miss=${out%$'\n'}
hex2=$(sql "SELECT context->>'blob' FROM jobs WHERE id = $miss")
hex2=${hex2#sha256:}
[ -n "$hex2" ] && [ -d "$blobs/${hex2:0:2}/$hex2" ] && rm -rf "$blobs/${hex2:0:2}/$hex2"
ok $? "its blob is deleted from the registry's storage"
start_worker wl b later
wl=$wpid
run_cmd timeout 60 "$CAIRN" job wait "$miss" --db "$DB"
is "$out" "failed"$'\n' "the job fails"
has "$(sql "SELECT error FROM jobs WHERE id = $miss")" "context: the context blob sha256:$hex2 is missing from $REPO" \
        "with a clear error"
is "$(sql "SELECT attempt FROM jobs WHERE id = $miss")" 1 "and no retry"
is "$(ls wtmp)" "" "its private directory is removed after the failure too"
# A corrupt one (same size, other bytes) too.
kill "$wl"; wait "$wl" 2>/dev/null
mkdir ctx3 && echo third >ctx3/x
submit --pool later -f ctx.spec --context-repo "$REPO" ctx3 --no-follow
bad=${out%$'\n'}
hex3=$(sql "SELECT context->>'blob' FROM jobs WHERE id = $bad")
hex3=${hex3#sha256:}
f3=$blobs/${hex3:0:2}/$hex3/data
[ -n "$hex3" ] && [ -f "$f3" ] && head -c "$(stat -c %s "$f3")" /dev/zero >"$f3"
ok $? "another job's blob is overwritten with zeros in the registry's storage"
start_worker wl b later
wl=$wpid
run_cmd timeout 60 "$CAIRN" job wait "$bad" --db "$DB"
is "$out" "failed"$'\n' "that job fails"
has "$(sql "SELECT error FROM jobs WHERE id = $bad")" "does not match its digest" "saying the context blob does not match its digest"
is "$(sql "SELECT attempt FROM jobs WHERE id = $bad")" 1 "without a retry"
kill "$wl"; wait "$wl" 2>/dev/null

# --- secrets ----------------------------------------------------------------------------------
secret=cairn-cluster-secret-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf '%s' "$secret" >secret.txt
want=$(sha256sum <secret.txt | cut -c1-64)
cat >secret.spec <<'SPEC'
((from busybox)
 (shell /bin/sh -c)
 (run (secrets (tok (target /run/secrets/tok))) (shell "echo secret-sha=$(sha256sum /run/secrets/tok | cut -c1-64)")))
SPEC
submit --pool main -f secret.spec --secret tok:secret.txt
is_status 1 "submit --secret to a pool without a key is refused"
has "$err" "pool \"main\" has no key to seal secrets to: run 'cairn cluster keygen" "saying to run keygen"
is "$(sql "SELECT count(*) FROM jobs WHERE secrets IS NOT NULL")" 0 "and nothing is queued"
submit --pool main -f secret.spec --secret tok
is_status 124 "--secret without a file is a usage error"

run_cmd "$CAIRN" cluster keygen --db "$DB" --pool main --out main.key
is_status 0 "cluster keygen"
is "$(stat -c %a main.key)" 600 "the private key file is 0600"
has "$(cat main.key)" "BEGIN PRIVATE KEY" "a PEM private key"
is "$(sql "SELECT length(public_key) FROM pool_keys WHERE pool = 'main'")" 32 "the public key is in pool_keys"
run_cmd "$CAIRN" cluster keygen --db "$DB" --pool main --out main2.key
is_status 1 "a second key for the pool needs --rotate"
has "$err" "--rotate" "saying so"
[ ! -e main2.key ]
ok $? "and leaves no key file behind"
run_cmd "$CAIRN" cluster keygen --db "$DB" --pool other --out main.key
is_status 1 "keygen refuses to overwrite a key file"
has "$err" "refusing to overwrite" "saying so"
pk=$(sql "SELECT encode(public_key, 'hex') FROM pool_keys WHERE pool = 'main'")
run_cmd "$CAIRN" cluster keygen --db "$DB" --pool rot --out rot1.key
run_cmd "$CAIRN" cluster keygen --db "$DB" --pool rot --out rot2.key --rotate
is_status 0 "keygen --rotate replaces a pool's key"
is "$(sql "SELECT count(*) FROM pool_keys WHERE pool = 'rot'")" 1 "one key per pool"
run_cmd "$CAIRN" cluster keygen --db "$DB" --pool other --out other.key
is_status 0 "a key for another pool"

# The worker with the key.
kill "$wa"; wait "$wa" 2>/dev/null
start_worker wa a main --pool-key main.key
wa=$wpid
submit --pool main -f secret.spec --secret tok:secret.txt
is_status 0 "a job with a secret succeeds"
has "$out" "secret-sha=$want" "the step reads the secret at its target"
sec1=$(job_id)
is "$(sql "SELECT secrets IS NULL FROM jobs WHERE id = $sec1")" t "jobs.secrets is NULL after completion"
lacks "$out" "$secret" "the log does not hold the secret"
sql "CHECKPOINT" >/dev/null
runuser -u postgres -- "$PGBIN/pg_dump" -h "$tmp/sock" -U postgres postgres >dump.sql 2>/dev/null
grep -q "pool_keys" dump.sql
ok $? "(pg_dump works)"
grep -qaF "$secret" dump.sql
ok $((!$?)) "the secret is not in a pg_dump of the database"
grep -rqaF "$secret" pg
ok $((!$?)) "nor in the raw PGDATA files (WAL included)"
found=0
for f in $(find data -type f); do
        { gzip -dc "$f" 2>/dev/null || cat "$f"; } | grep -qaF "$secret" && found=1
done
is "$found" 0 "nor in the registry's storage (decompressed)"
grep -rqaF "$secret" store-a
ok $((!$?)) "nor in the worker's store"
grep -qaF "$secret" worker-wa.log
ok $((!$?)) "nor in the worker's output"
# The search can see it: a store that built it with the secret written out would hold it.
printf '((from busybox) (shell /bin/sh -c) (run (shell "echo %s > /leak")))\n' "$secret" >leak.spec
"$CAIRN" build --store "overlayfs:$tmp/store-l" -f leak.spec ctx2 >/dev/null 2>&1
grep -rqaF "$secret" store-l
ok $? "(the search finds it where it is)"
sql "CREATE TABLE leak (x text); INSERT INTO leak VALUES ('$secret'); CHECKPOINT" >/dev/null
grep -rqaF "$secret" pg && runuser -u postgres -- "$PGBIN/pg_dump" -h "$tmp/sock" -U postgres postgres 2>/dev/null |
        grep -qaF "$secret"
ok $? "(and in the database, once it is stored there in clear)"
sql "DROP TABLE leak" >/dev/null

# Without the key, and with the wrong key.
submit --pool p2 -f secret.spec --secret tok:secret.txt
is_status 1 "submit --secret to a keyless pool p2 is refused"
run_cmd "$CAIRN" cluster keygen --db "$DB" --pool p2 --out p2.key
submit --pool p2 -f secret.spec --secret tok:secret.txt --no-follow
nokey=${out%$'\n'}
is "$(sql "SELECT secrets IS NOT NULL AND position(convert_to('$secret', 'UTF8') in secrets) = 0 FROM jobs WHERE id = $nokey")" t \
        "a queued job holds sealed secrets, not the plaintext"
start_worker wn b p2
wn=$wpid
run_cmd timeout 60 "$CAIRN" job wait "$nokey" --db "$DB"
is "$out" "failed"$'\n' "a worker without the key fails the job"
has "$(sql "SELECT error FROM jobs WHERE id = $nokey")" "this worker has no key for pool \"p2\": start it with --pool-key" \
        "with a clear error"
is "$(sql "SELECT secrets IS NULL FROM jobs WHERE id = $nokey")" t "its secrets are wiped"
kill "$wn"; wait "$wn" 2>/dev/null
submit --pool p2 -f secret.spec --secret tok:secret.txt --no-follow
wrong=${out%$'\n'}
start_worker wn b p2 --pool-key other.key
wn=$wpid
run_cmd timeout 60 "$CAIRN" job wait "$wrong" --db "$DB"
is "$out" "failed"$'\n' "a worker with another pool's key fails the job"
has "$(sql "SELECT error FROM jobs WHERE id = $wrong")" "cannot unseal the job's secrets for pool \"p2\"" "saying it cannot unseal"
has "$(sql "SELECT error FROM jobs WHERE id = $wrong")" "wrong pool key?" "and why"
has "$(cat worker-wn.log)" "warning: --pool-key is not the pool's current key" "the worker warned at its start"
kill "$wn"; wait "$wn" 2>/dev/null
# A queued job cancelled: its secrets go too.
submit --pool nobody -f secret.spec --secret tok:secret.txt --no-follow
is_status 1 "(pool nobody has no key)"
submit --pool p2 -f secret.spec --secret tok:secret.txt --no-follow
q=${out%$'\n'}
"$CAIRN" job cancel "$q" --db "$DB" 2>/dev/null
is "$(sql "SELECT state, secrets IS NULL FROM jobs WHERE id = $q")" "cancelled|t" \
        "a cancelled queued job's secrets are wiped"
# A worker lost: requeued keeps them, poison wipes them.
submit --pool p2 -f secret.spec --secret tok:secret.txt --no-follow
p=${out%$'\n'}
sql "UPDATE jobs SET state = 'running', attempt = max_attempts, worker = 'ghost', worker_incarnation = 1, lease_until = now() - interval '1 hour' WHERE id = $p" >/dev/null
start_worker wn b p2 --pool-key p2.key
wn=$wpid
wait_for 30 "state = 'failed' FROM jobs WHERE id = $p"
ok $? "a job whose worker is lost too often fails as poison"
is "$(sql "SELECT secrets IS NULL FROM jobs WHERE id = $p")" t "and its secrets are wiped"
is "$(sql "SELECT count(*) FROM jobs WHERE state IN ('succeeded','failed','cancelled') AND secrets IS NOT NULL")" 0 \
        "no finished job holds secrets"

# --- the roles: a submitter's context and secrets, built by a worker's login -----------------
sql "CREATE ROLE sub LOGIN; GRANT cairn_submitter TO sub; CREATE ROLE wk LOGIN; GRANT cairn_worker TO wk;
     CREATE ROLE adm LOGIN; GRANT cairn_admin TO adm" >/dev/null
SUB="postgresql:///postgres?host=$tmp/sock&user=sub"
run_cmd "$CAIRN" cluster keygen --db "$SUB" --pool roles --out roles-sub.key
is_status 1 "a cairn_submitter may not make a pool key"
[ ! -e roles-sub.key ]
ok $? "and no key file is left"
run_cmd "$CAIRN" cluster keygen --db "postgresql:///postgres?host=$tmp/sock&user=adm" --pool roles --out roles.key
is_status 0 "a cairn_admin makes one"
"$CAIRN" worker --db "postgresql:///postgres?host=$tmp/sock&user=wk" --name wr --pool roles \
        --store "overlayfs:$tmp/store-b" --lease 5s --heartbeat 1s --pool-key roles.key 2>>worker-wr.log &
pids+=($!)
wr=$!
cat >both.spec <<'SPEC'
((from busybox)
 (shell /bin/sh -c)
 (copy (src hello.txt) (dst /hello.txt))
 (run (secrets (tok (target /run/secrets/tok))) (shell "cat /hello.txt; echo secret-sha=$(sha256sum /run/secrets/tok | cut -c1-64)")))
SPEC
run_cmd "$CAIRN" submit --db "$SUB" --pool roles -f both.spec --secret tok:secret.txt --context-repo "$REPO" ctx
is_status 0 "a cairn_submitter submits a context and a secret; a cairn_worker builds it"
has "$out" "hello" "the step has the context"
has "$out" "secret-sha=$want" "and the secret"
kill "$wr"; wait "$wr" 2>/dev/null

run_cmd "$CAIRN" worker --db "$DB" --name bad --store "overlayfs:$tmp/store-b" --pool p2 --pool-key secret.txt
is_status 1 "a worker refuses a key file that is not a key"
has "$err" "pool key \"secret.txt\"" "naming it"

# --- a real Debian base: a context of Debian's own files, a secret, Debian's tools ------------
# Debian 12 from mmdebstrap (Debian's package archive, cached under
# /var/cache): its documentation, perl's library and its hard links, a
# setuid binary and the certificates' UTF-8 symlinks (over 1,400 files) as
# the context; the job's view of it equals a local cairn build's.
. "$CAIRN_SRCDIR/tests/lib/debian-image.sh"
if debian=$(debian_image); then
        mkdir dctx
        tar -C dctx -xpf "$debian" --wildcards './usr/share/doc/*' './usr/bin/perl*' ./usr/bin/passwd \
                './etc/ssl/certs/*' './usr/lib/x86_64-linux-gnu/perl-base/*' 2>/dev/null
        for st in a l; do
                run_cmd "$CAIRN" image import --store "overlayfs:$tmp/store-$st" debian:12 "$debian"
                is_status 0 "Debian 12 imported in store $st"
        done
        cat >deb.spec <<'SPEC'
((from debian:12)
 (shell /bin/sh -c)
 (copy (src .) (dst /ctx/))
 (run (secrets (tok (target /run/secrets/tok)))
      (shell "cd /ctx && { find . -mindepth 1 -type d -exec stat -c 'D|%n|%A|%u|%g' {} + ; find . -mindepth 1 ! -type d -exec stat -c 'L|%n|%A|%u|%g|%s|%y|%N' {} + ; find . -type f -exec sha256sum {} + | sed 's/^/S|/' ; } | sort && echo secret-sha=$(sha256sum /run/secrets/tok | cut -c1-64) && dpkg-query -W -f='pkg=${Package}\\n' dpkg && echo listing-done")))
SPEC
        run_cmd "$CAIRN" build --store "overlayfs:$tmp/store-l" --secret tok:secret.txt -f deb.spec dctx
        is_status 0 "Debian: cairn build of the context with a secret, locally"
        deb_view=$(view "$out")
        deb_id=$(got "$out")
        [ "$(grep -c '^L|' <<<"$deb_view")" -gt 1000 ]
        ok $? "Debian: the local view lists over 1,000 files of the context"
        has "$deb_view" "Főtanúsítvány" "Debian: with UTF-8 names"
        start_worker wd a main --pool-key main.key
        wd=$wpid
        submit --pool main -f deb.spec --secret tok:secret.txt --context-repo "$REPO" dctx
        is_status 0 "Debian: the job with the context and the secret succeeds"
        is "$(view "$out")" "$deb_view" "Debian: the job sees every name, mode, owner, size, time, link and content a local build sees"
        has "$out" "secret-sha=$want" "Debian: the step reads the secret"
        has "$out" "pkg=dpkg" "Debian: and Debian's tools run"
        lacks "$out" "$secret" "Debian: the log does not hold the secret"
        is "$(got "$out")" "$deb_id" "Debian: with the local build's result ID"
        kill "$wd"; wait "$wd" 2>/dev/null
else
        echo "# no Debian image (mmdebstrap and Debian's package archive): the Debian job is not tested"
        [ -z "${CAIRN_TEST_MUST_WORK:-}" ] || { ok 1 "a Debian 12 image from mmdebstrap"; }
fi

tap_done
