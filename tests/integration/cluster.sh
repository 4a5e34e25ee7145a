#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The cluster end to end (docs/cluster.md): a private PostgreSQL, workers
# each on its own overlayfs store, submitters, and the failure cases: a
# worker killed mid-job, a poison job, cancels, and 20 jobs on 2 workers.
set -u
: "${CAIRN:?path to the cairn binary}" "${CAIRN_SRCDIR:?source tree}"
. "$CAIRN_SRCDIR/tests/lib/tap.sh"

. "$CAIRN_SRCDIR/tests/lib/cluster-rig.sh"
cluster_rig cluster
pg_init
pg_start || need "postgres starts"
busybox_stores "$tmp/store-a" "$tmp/store-b" "$tmp/store-p"
start_worker() { # NAME STORE POOL [ARGS...]: sets $wpid
        "$CAIRN" worker --db "$DB" --name "$1" --store "overlayfs:$tmp/store-$2" --pool "$3" \
                --lease 3s --heartbeat 1s "${@:4}" 2>>"worker-$1.log" &
        wpid=$!
        pids+=("$wpid")
}
submit() { run_cmd "$CAIRN" submit --db "$DB" "$@"; }
job_id() { sed -n 's/^job \([0-9]*\)$/\1/p' <<<"$err" | head -1; }

# --- init: idempotent, and every client checks the schema version ----------------------------
run_cmd "$CAIRN" cluster init --db "$DB"
is_status 0 "cluster init creates the schema"
has "$err" "schema created" "init says it created it"
run_cmd "$CAIRN" cluster init --db "$DB"
is_status 0 "cluster init again"
has "$err" "schema already there" "init is idempotent"
sql "UPDATE cairn_schema SET version = 99" >/dev/null
run_cmd "$CAIRN" job status 1 --db "$DB"
is_status 1 "a client refuses a schema of another version"
has "$err" "schema is version 99, this cairn uses version 2" "the mismatch is named"
run_cmd "$CAIRN" cluster init --db "$DB"
is_status 1 "init refuses it too"
sql "UPDATE cairn_schema SET version = 2" >/dev/null
# A database made by the first cairn with a cluster (schema 1, a job queued):
# clients ask for an upgrade, init makes it, and the job is kept.
sql "CREATE DATABASE old" >/dev/null
OLD="postgresql:///old?host=$tmp/sock&user=postgres"
"$PGBIN/psql" -X -q -d "$OLD" -v ON_ERROR_STOP=1 -f "$CAIRN_SRCDIR/tests/integration/cluster-schema-v1.sql" \
        >/dev/null 2>&1
"$PGBIN/psql" -X -q -d "$OLD" -c "INSERT INTO jobs (pool, spec) VALUES ('main', '((from busybox))')" >/dev/null
run_cmd "$CAIRN" job status 1 --db "$OLD"
is_status 1 "a client refuses an older schema"
has "$err" "schema is version 1, this cairn uses version 2: run 'cairn cluster init' to upgrade it" \
        "and says how to upgrade it"
run_cmd "$CAIRN" cluster init --db "$OLD"
is_status 0 "init upgrades a version 1 schema"
has "$err" "schema upgraded (schema version 2)" "init says it upgraded it"
run_cmd "$CAIRN" job status 1 --db "$OLD"
is_status 0 "the upgraded database is read"
has "$out" "state: queued" "its queued job is kept"
is "$("$PGBIN/psql" -X -At -d "$OLD" -c "SELECT fair_start = enqueued_at FROM jobs")" t \
        "the job's fair start is its enqueue time"
run_cmd "$CAIRN" job status 1 --db "postgresql:///nosuchdb?host=$tmp/sock&user=postgres"
is_status 1 "an unreachable database is an error"

# --- what this version refuses ----------------------------------------------------------------
spec ok1 "echo hello-cluster-1"
# (Contexts and secrets themselves: cluster-context.sh.)
submit --pool main -f ok1.spec --secret id=x
is_status 124 "submit --secret takes cairn build's syntax"
has "$err" "--secret takes ID:FILE" "with a clear message"
submit --pool main -f ok1.spec --context .
is_status 124 "submit --context without a registry repository is refused"
has "$err" "--context-repo=REGISTRY/REPO" "with a clear message (contexts)"
printf '((from busybox) (run' >bad.spec
submit --pool main -f bad.spec
is_status 1 "an invalid spec is refused before it is queued"
is "$(sql "SELECT count(*) FROM jobs")" 0 "nothing was queued"

# --- one worker: success, failure, status, log by offset ----------------------------------
start_worker wa a main
wa=$wpid
submit --pool main -f ok1.spec
is_status 0 "submit exits 0 when the build succeeds"
has "$out" "hello-cluster-1" "the step's output is followed live"
has "$out" "Got: \"" "and the result"
ok1=$(job_id)
spec fail1 "echo about-to-fail; exit 3"
submit --pool main -f fail1.spec
is_status 1 "submit exits 1 when the build fails"
has "$out" "about-to-fail" "the failing step's output"
has "$err" "failed" "stderr says it failed"
fail1=$(job_id)
run_cmd "$CAIRN" job status "$ok1" --db "$DB"
is_status 0 "job status of a succeeded job"
has "$out" "state: succeeded" "status shows success"
has "$out" "output: " "status shows the result"
run_cmd "$CAIRN" job status "$fail1" --db "$DB"
is_status 1 "job status of a failed job exits 1"
has "$out" "state: failed" "status shows failure"
has "$out" "exit status 3" "and why"
run_cmd "$CAIRN" job log "$ok1" --db "$DB"
full=$out
has "$full" "hello-cluster-1" "job log has the output"
run_cmd "$CAIRN" job log "$ok1" --db "$DB" --from 10
is "$out" "${full:10}" "job log --from 10 resumes at byte 10"
run_cmd "$CAIRN" job log "$ok1" --db "$DB" --from "${#full}"
is "$out" "" "job log from its end is empty"

# --- cancel: queued, then running ------------------------------------------------------------
submit --pool nobody -f ok1.spec --no-follow
queued=$out
queued=${queued%$'\n'}
run_cmd "$CAIRN" job cancel "$queued" --db "$DB"
is_status 0 "cancel a queued job"
is "$(sql "SELECT state FROM jobs WHERE id = $queued")" cancelled "the queued job is cancelled"
is "$(sql "SELECT attempt FROM jobs WHERE id = $queued")" 0 "without ever being claimed"
spec long1 "echo long-started; sleep 60; echo never"
submit --pool main -f long1.spec --no-follow
long1=${out%$'\n'}
wait_for 20 "state = 'running' FROM jobs WHERE id = $long1" ; ok $? "the long job runs"
wait_for 20 "count(*) > 0 FROM job_log WHERE job_id = $long1 AND position('long-started' in convert_from(data, 'UTF8')) > 0"
run_cmd "$CAIRN" job cancel "$long1" --db "$DB"
is_status 0 "cancel a running job"
has "$err" "cancel requested" "the running job gets a request"
run_cmd timeout 30 "$CAIRN" job wait "$long1" --db "$DB"
is "$out" "cancelled"$'\n' "the running job ends cancelled"
has "$(sql "SELECT error FROM jobs WHERE id = $long1")" "cancelled" "with the reason"
# --cancel-on-disconnect: Ctrl-C cancels the job instead of detaching.
spec cod 'echo cod-$((0))started; sleep 30'
"$CAIRN" submit --db "$DB" --pool main -f cod.spec --cancel-on-disconnect >cod.out 2>cod.err &
codp=$!
pids+=("$codp")
wait_for 30 "count(*) > 0 FROM job_log WHERE position('cod-0started' in convert_from(data, 'UTF8')) > 0"
ok $? "a job submitted with --cancel-on-disconnect runs"
cod=$(sed -n 's/^job \([0-9]*\)$/\1/p' cod.err)
kill -INT "$codp"
wait "$codp"
is "$?" 130 "Ctrl-C ends that submit with 130"
has "$(cat cod.err)" "job $cod cancel requested (--cancel-on-disconnect)" "and says it cancelled the job"
run_cmd timeout 30 "$CAIRN" job wait "$cod" --db "$DB"
is "$out" "cancelled"$'\n' "the job ends cancelled"

# --- the default cache hint: the spec up to its first copy from the context -------------------
hint_of() { # SPEC-TEXT [SUBMIT-ARGS...]: the hint a job of that spec gets
        printf '%s\n' "$1" >hint.spec
        local id
        id=$("$CAIRN" submit --db "$DB" --pool nobody -f hint.spec --no-follow "${@:2}" 2>/dev/null)
        sql "SELECT cache_hint FROM jobs WHERE id = $id"
        "$CAIRN" job cancel "$id" --db "$DB" >/dev/null 2>&1
}
h1=$(hint_of '((from busybox) (run (shell "echo deps")) (copy (src a) (dst /a)) (run (shell "echo one")))')
h2=$(hint_of '((from busybox) (run (shell "echo deps")) (copy (src b) (dst /b)) (run (shell "echo two")))')
h3=$(hint_of '((from busybox) (run (shell "echo other deps")) (copy (src a) (dst /a)))')
h4=$(hint_of '((from busybox) (run (shell "echo deps")))')
case "$h1" in auto-????????????????) ok 0 "a job without --cache-hint gets auto-DIGEST" ;;
*) ok 1 "a job without --cache-hint gets auto-DIGEST"; diag "$h1" ;; esac
is "$h2" "$h1" "specs alike up to their first context copy share it"
[ "$h3" != "$h1" ]
ok $? "other dependencies, another hint"
is "$h4" "$h1" "a spec without a context copy: its whole text"
is "$(hint_of '((from busybox) (run (shell "echo deps")))' --cache-hint '')" "" "--cache-hint '' gives none"

# --- a worker killed mid-job: another one reclaims it after the lease --------------------------
spec kill1 "echo kill-started; sleep 6; echo finished-after-sleep"
submit --pool main -f kill1.spec --no-follow
kill1=${out%$'\n'}
wait_for 30 "count(*) > 0 FROM job_log WHERE job_id = $kill1 AND position('kill-started' in convert_from(data, 'UTF8')) > 0"
ok $? "the job started on worker wa"
kill -9 "$wa"
wait "$wa" 2>/dev/null
start_worker wb b main
wb=$wpid
run_cmd timeout 60 "$CAIRN" job wait "$kill1" --db "$DB"
is "$out" "succeeded"$'\n' "the reclaimed job succeeds"
is "$(sql "SELECT worker || ' ' || attempt FROM jobs WHERE id = $kill1")" "wb 2" "on wb, attempt 2"
run_cmd "$CAIRN" job log "$kill1" --db "$DB"
has "$out" "lease expired on worker wa; requeued, attempt 2 next" "the log shows the requeue"
has "$out" "finished-after-sleep" "and the second attempt's output"
is "$(sql "SELECT count(*) FROM job_events WHERE job_id = $kill1 AND kind = 'finished'")" 1 "it completed exactly once"
is "$(sql "SELECT count(*) FROM job_events WHERE job_id = $kill1 AND kind = 'claimed'")" 2 "after two claims"
is "$(sql "SELECT count(*) FROM (SELECT off, lead(off) OVER (ORDER BY off) AS n, off + length(data) AS e FROM job_log WHERE job_id = $kill1) x WHERE n IS NOT NULL AND n <> e")" 0 "its log offsets are contiguous"

# --- a poison job: its worker dies every time; it fails after max-attempts ----------------------
spec poison "echo poison-started; sleep 60"
submit --pool poison -f poison.spec --no-follow --max-attempts 2
poison=${out%$'\n'}
spec other "echo other-job-ran"
submit --pool main -f other.spec --no-follow
other=${out%$'\n'}
for n in 1 2; do
        start_worker wp p poison
        wait_for 30 "attempt = $n AND state = 'running' FROM jobs WHERE id = $poison"
        ok $? "the poison job is claimed, attempt $n"
        kill -9 "$wpid"
        wait "$wpid" 2>/dev/null
done
# A restart of the same name requeues what its older incarnation held, at
# once; out of attempts, that fails the job.
start_worker wp p poison
wp=$wpid
wait_for 20 "state = 'failed' FROM jobs WHERE id = $poison"
ok $? "the poison job fails"
has "$(sql "SELECT error FROM jobs WHERE id = $poison")" "worker lost 2 times" "as lost twice"
run_cmd timeout 60 "$CAIRN" job wait "$other" --db "$DB"
is "$out" "succeeded"$'\n' "another job completes meanwhile"
kill "$wp"

# --- 20 jobs from 2 submitters on 2 workers ---------------------------------------------------
start_worker wa a main --capacity 2
wa=$wpid
for s in s1 s2; do
        (
                for i in $(seq 1 10); do
                        spec "$s-$i" "echo job-$s-$i"
                        "$CAIRN" submit --db "$DB" --pool main --client "$s" -f "$s-$i.spec" >"$s-$i.out" 2>"$s-$i.err"
                        echo $? >"$s-$i.status"
                done
        ) &
        pids+=($!)
done
wait_for 240 "count(*) = 20 FROM jobs WHERE client IN ('s1', 's2') AND state IN ('succeeded', 'failed', 'cancelled')"
ok $? "all 20 jobs finished"
wait "${pids[-1]}" "${pids[-2]}" 2>/dev/null
is "$(sql "SELECT count(*) FROM jobs WHERE client IN ('s1', 's2') AND state = 'succeeded'")" 20 "all 20 succeeded"
is "$(sql "SELECT count(*) FROM job_events e JOIN jobs j ON j.id = e.job_id WHERE j.client IN ('s1', 's2') AND e.kind = 'finished'")" 20 "each finished exactly once"
is "$(sql "SELECT count(DISTINCT worker) FROM jobs WHERE client IN ('s1', 's2')")" 2 "both workers took some"
bad=0
for s in s1 s2; do
        for i in $(seq 1 10); do
                [ "$(cat "$s-$i.status")" = 0 ] && grep -q "job-$s-$i" "$s-$i.out" || bad=$((bad + 1))
        done
done
is "$bad" 0 "every submit exited 0 with its job's output"

# --- SIGTERM drains: the running job finishes, the worker exits 0 ------------------------------
kill "$wa"
wait "$wa"
is "$?" 0 "worker wa drains and exits 0"
spec drain1 "echo drain-started; sleep 3; echo drain-done"
submit --pool main -f drain1.spec --no-follow
drain1=${out%$'\n'}
wait_for 30 "state = 'running' FROM jobs WHERE id = $drain1"
kill -TERM "$wb"
wait "$wb"
is "$?" 0 "worker wb drains and exits 0"
is "$(sql "SELECT state FROM jobs WHERE id = $drain1")" succeeded "the job it was running finished"

tap_done
