#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The cluster's admin side (docs/cluster.md): pause, drain, forget, show,
# workers, fair share, urgent jobs, weights, metrics (the database's and a
# worker's /metrics) and roles.  The rig is tests/integration/cluster.sh's:
# a private PostgreSQL, workers each on its own overlayfs store.
set -u
: "${CAIRN:?path to the cairn binary}" "${CAIRN_SRCDIR:?source tree}"
. "$CAIRN_SRCDIR/tests/lib/tap.sh"

. "$CAIRN_SRCDIR/tests/lib/cluster-rig.sh"
cluster_rig cluster-admin curl
regpid=
pg_init
pg_start || need "postgres starts"
busybox_stores "$tmp/store-a" "$tmp/store-b"
start_worker() { # NAME STORE POOL [ARGS...]: sets $wpid
        "$CAIRN" worker --db "${WDB:-$DB}" --name "$1" --store "overlayfs:$tmp/store-$2" --pool "$3" \
                --lease 3s --heartbeat 1s "${@:4}" 2>>"worker-$1.log" &
        wpid=$!
        pids+=("$wpid")
}
admin() { run_cmd "$CAIRN" cluster "$@" --db "$DB"; }
submit_bg() { # CLIENT SPEC [ARGS...]: queue without following, with no hint unless ARGS give one; sets $jid
        jid=$("$CAIRN" submit --db "$DB" --pool "${POOL:-main}" --client "$1" -f "$2.spec" --no-follow \
                --cache-hint '' "${@:3}" 2>/dev/null)
}
# The jobs of a client, in the order they started.
started_before() { # CLIENT-A CLIENT-B N: how many of A's jobs started before B's Nth
        sql "SELECT count(*) FROM jobs WHERE client = '$1' AND started_at < (SELECT started_at FROM jobs
             WHERE client = '$2' ORDER BY started_at OFFSET $(($3 - 1)) LIMIT 1)"
}

# --- init: the schema and the roles ------------------------------------------------------------
admin init
is_status 0 "cluster init"
has "$err" "roles cairn_submitter, cairn_worker, cairn_admin granted" "init creates the roles (superuser)"
is "$(sql "SELECT count(*) FROM pg_roles WHERE rolname IN ('cairn_submitter', 'cairn_worker', 'cairn_admin') AND NOT rolcanlogin")" 3 \
        "three NOLOGIN roles"
admin init
is_status 0 "cluster init again (roles idempotent)"

# --- usage and unknown names -----------------------------------------------------------------
admin bogus
is_status 124 "an unknown subcommand is a usage error"
admin pause main
is_status 124 "pause without WORKER or --all is a usage error"
admin pause main w1 --all
is_status 124 "pause with both WORKER and --all is a usage error"
admin set-rate main someone zero
is_status 124 "a rate that is not a number is a usage error"
for bad in 0 100% 0% x% lots; do
        run_cmd "$CAIRN" worker --db "$DB" --pool main --name w-bad --keep-free "$bad"
        is_status 124 "worker --keep-free $bad is a usage error"
        has "$err" "cairn worker: --keep-free: \"$bad\" is not a" "saying what --keep-free $bad is not"
done
admin pause main nosuch
is_status 1 "pausing an unknown worker fails"
has "$err" 'no worker "nosuch" in pool "main"' "and says so"
admin workers nopool
is_status 1 "workers of an unknown pool fails"
has "$err" 'no worker in pool "nopool"' "and says so"
admin show nopool
is_status 1 "show of an unknown pool fails"
admin metrics nopool
is_status 1 "metrics of an unknown pool fails"
has "$err" 'no pool "nopool"' "and says so"

# --- one worker; show and workers ------------------------------------------------------------
mport=$((20000 + RANDOM % 20000))
start_worker w1 a main --metrics-listen "127.0.0.1:$mport"
w1=$wpid
wait_for 20 "count(*) = 1 FROM workers WHERE name = 'w1' AND last_seen IS NOT NULL"
ok $? "w1 registers"
admin show main
is_status 0 "cluster show main"
has "$out" "pool main: queued 0 (urgent 0, normal 0); workers 1 connected, 1 ready, 0 paused, 0 draining; capacity 1; running 0" \
        "show counts the ready worker"
admin workers main
is_status 0 "cluster workers main"
is "$(awk -F'\t' '$1 == "w1" {print $2, $3, $4, $5}' <<<"$out")" "ready 0 1 0" "w1: ready, incarnation 0, capacity 1, running 0"
has "$(head -1 <<<"$out")" "NAME	STATE	INCARNATION	CAPACITY	RUNNING	LAST-SEEN	STORE-EPOCH	VERSION" "a header"

# --- pause: nothing is claimed, across a worker and a server restart --------------------------
admin pause main w1
is_status 0 "pause w1"
is "$(sql "SELECT admin_paused FROM workers WHERE name = 'w1'")" t "w1 is paused"
spec fair "echo fair-share"
spec urgent "echo urgent-job"
for i in $(seq 1 10); do submit_bg A fair; done
for i in 1 2; do submit_bg B fair; done
submit_bg U urgent --urgent
urgent=$jid
is "$(sql "SELECT count(*) FROM jobs WHERE pool = 'main' AND state = 'queued'")" 13 "13 jobs queued"
admin show main
has "$out" "queued 13 (urgent 1, normal 12); workers 1 connected, 0 ready, 1 paused" "show counts the queue and the pause"
sleep 3
is "$(sql "SELECT count(*) FROM jobs WHERE pool = 'main' AND attempt > 0")" 0 "paused w1 claims nothing"
kill -TERM "$w1"
wait "$w1"
is "$?" 0 "w1 stops"
start_worker w1 a main --metrics-listen "127.0.0.1:$mport"
w1=$wpid
wait_for 20 "incarnation = 1 FROM workers WHERE name = 'w1'"
ok $? "w1 restarts with a new incarnation"
is "$(sql "SELECT admin_paused FROM workers WHERE name = 'w1'")" t "the pause survives the worker's restart"
admin workers main
is "$(awk -F'\t' '$1 == "w1" {print $2, $3}' <<<"$out")" "paused 1" "workers shows it paused"
sleep 3
is "$(sql "SELECT count(*) FROM jobs WHERE pool = 'main' AND attempt > 0")" 0 "restarted w1 claims nothing"
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$tmp/pg" -m fast stop >/dev/null 2>&1
sleep 1
pg_start
ok $? "the server restarts"
wait_for 30 "last_seen > pg_postmaster_start_time() FROM workers WHERE name = 'w1'"
ok $? "w1 is back after the server's restart"
sleep 2
is "$(sql "SELECT admin_paused FROM workers WHERE name = 'w1'")" t "the pause survives the server's restart"
is "$(sql "SELECT count(*) FROM jobs WHERE pool = 'main' AND attempt > 0")" 0 "w1 still claims nothing"

# --- unpause: fair share and the urgent job ------------------------------------------------------
admin unpause main w1
is_status 0 "unpause w1"
wait_for 90 "count(*) = 13 FROM jobs WHERE pool = 'main' AND state = 'succeeded'"
ok $? "all 13 run once unpaused"
is "$(sql "SELECT id FROM jobs WHERE pool = 'main' ORDER BY started_at LIMIT 1")" "$urgent" "the urgent job went first"
# A's jobs are spaced 600 s apart, B's too, from when each submitted:
# A1 B1 A2 B2 A3 ... (by id it would be A1..A10 B1 B2).
is "$(started_before A B 2)" 2 "B's second job started after only two of A's"
is "$(sql "SELECT (SELECT max(started_at) FROM jobs WHERE client = 'B') < (SELECT max(started_at) FROM jobs WHERE client = 'A')")" t \
        "B's jobs started before A's tail"

# --- set-rate changes the order --------------------------------------------------------------------
admin add-client main C --rate 1
is_status 0 "add-client C"
admin add-client main C
is_status 1 "add-client of a client that is there fails"
admin add-client main D
admin set-rate main C 100
is_status 0 "set-rate C 100"
admin set-rate main nobody 2
is_status 1 "set-rate of an unknown client fails"
is "$(sql "SELECT rate FROM clients WHERE pool = 'main' AND name = 'C'")" 100 "C's rate is 100"
admin pause main --all
is_status 0 "pause --all"
for i in 1 2 3; do submit_bg C fair; done
for i in 1 2 3; do submit_bg D fair; done
admin unpause main --all
wait_for 60 "count(*) = 6 FROM jobs WHERE client IN ('C', 'D') AND state = 'succeeded'"
ok $? "C's and D's jobs ran"
# C's jobs are 6 s apart, D's 600 s: C1 D1 C2 C3 D2 D3 (at rate 1: C1 D1 C2 D2 C3 D3).
is "$(started_before C D 1)" 1 "D's first job still starts after only C's first"
is "$(started_before C D 2)" 3 "with rate 100, all of C's jobs start before D's second"

# --- metrics: affinity, a retry ----------------------------------------------------------------
spec hinted "echo hinted"
for i in 1 2; do
        submit_bg A hinted --cache-hint h1
        wait_for 30 "state = 'succeeded' FROM jobs WHERE id = $jid"
done
ok $? "two jobs with one hint ran"
spec slow "echo slow-started; sleep 3"
submit_bg A slow
slow=$jid
wait_for 30 "count(*) > 0 FROM job_log WHERE job_id = $slow AND position('slow-started' in convert_from(data, 'UTF8')) > 0"
kill -9 "$w1"
wait "$w1" 2>/dev/null
start_worker w1 a main --metrics-listen "127.0.0.1:$mport"
w1=$wpid
wait_for 30 "state = 'succeeded' AND attempt = 2 FROM jobs WHERE id = $slow"
ok $? "a job of a killed worker is requeued at its restart and succeeds"
admin add-client 'we"ird\pool' x
admin metrics
is_status 0 "cluster metrics"
metrics=$out
samples=$(printf '%s' "$metrics" | grep -v '^#')
bad=$(printf '%s\n' "$samples" | grep -Evc '^[a-zA-Z_:][a-zA-Z0-9_:]*\{[a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*"(,[a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*")*\} -?[0-9]+(\.[0-9]+)?$')
is "$bad" 0 "every sample line is valid Prometheus text"
[ "$bad" = 0 ] || diag "$samples"
untyped=0
for m in $(printf '%s\n' "$samples" | sed 's/{.*//' | sort -u); do
        grep -qx "# TYPE $m \(gauge\|counter\)" <<<"$metrics" || untyped=$((untyped + 1))
        grep -q "^# HELP $m " <<<"$metrics" || untyped=$((untyped + 1))
done
is "$untyped" 0 "every metric has HELP and TYPE"
for m in cairn_queue_length cairn_workers_connected cairn_workers_ready cairn_workers_paused cairn_workers_draining \
         cairn_workers_capacity cairn_jobs_running cairn_jobs_submitted_total cairn_jobs_finished_total \
         cairn_jobs_retried_total cairn_affinity_hits_total cairn_registry_pulls_total cairn_registry_pushes_total; do
        grep -q "^$m{pool=\"main\"" <<<"$metrics" || diag "missing $m"
done
is "$(grep -c '^cairn_[a-z_]*{pool="main"' <<<"$metrics")" 16 "the 13 metrics of pool main (queue by 2 priorities, 3 outcomes)"
has "$metrics" 'cairn_jobs_submitted_total{pool="we\"ird\\pool"} 0' "a pool's name is escaped"
val() { sed -n "s/^$1 //p" <<<"$metrics"; }
is "$(val 'cairn_jobs_submitted_total{pool="main"}')" "$(sql "SELECT count(*) FROM jobs WHERE pool = 'main'")" \
        "jobs_submitted_total is the count of jobs"
is "$(val 'cairn_jobs_finished_total{pool="main",outcome="succeeded"}')" \
        "$(sql "SELECT count(*) FROM jobs WHERE pool = 'main' AND state = 'succeeded'")" "jobs_finished_total{succeeded}"
is "$(val 'cairn_jobs_retried_total{pool="main"}')" \
        "$(sql "SELECT count(*) FROM job_events e JOIN jobs j ON j.id = e.job_id WHERE j.pool = 'main' AND e.kind = 'requeued'")" \
        "jobs_retried_total is the count of requeues"
is "$(val 'cairn_jobs_retried_total{pool="main"}')" 1 "one retry"
is "$(val 'cairn_affinity_hits_total{pool="main"}')" 1 "one affinity hit (the second job of hint h1)"
is "$(val 'cairn_workers_connected{pool="main"}')" 1 "workers_connected"
is "$(val 'cairn_workers_capacity{pool="main"}')" 1 "workers_capacity"
is "$(val 'cairn_queue_length{pool="main",priority="normal"}')" 0 "queue_length"

# --- a worker's own /metrics ---------------------------------------------------------------------
# A client that connects and sends nothing must not stall the worker.
exec 7<>"/dev/tcp/127.0.0.1/$mport"
run_cmd curl -sS --max-time 5 "http://127.0.0.1:$mport/metrics"
is_status 0 "GET /metrics from w1 (with a silent client connected)"
has "$out" 'cairn_worker_capacity{pool="main",worker="w1"} 1' "the worker's capacity"
has "$out" '# TYPE cairn_worker_jobs_done_total counter' "typed"
has "$out" 'cairn_worker_jobs_done_total{pool="main",worker="w1",outcome="succeeded"} 1' "the job it ran since its restart"
has "$out" 'cairn_worker_job_seconds_count{pool="main",worker="w1"} 1' "its job time count"
has "$out" 'cairn_worker_store_free_bytes{pool="main",worker="w1"} ' "its store's free space"
exec 7>&-
is "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$mport/other")" 404 "another path is 404"
is "$(head -c 10000 /dev/zero | tr '\0' a | curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H "X-Big: $(head -c 9000 /dev/zero | tr '\0' a)" "http://127.0.0.1:$mport/metrics")" 431 \
        "an oversized request is refused"
# 16 silent clients fill every slot; they are dropped after 5 s, and a
# scrape waiting in the backlog gets through.
silent=()
for i in $(seq 1 16); do exec {fd}<>"/dev/tcp/127.0.0.1/$mport"; silent+=("$fd"); done
sleep 0.5
start=$SECONDS
run_cmd curl -sS --max-time 12 "http://127.0.0.1:$mport/metrics"
is_status 0 "a scrape gets through 16 silent clients"
has "$out" 'cairn_worker_capacity{pool="main",worker="w1"} 1' "with the metrics"
[ $((SECONDS - start)) -ge 3 ]
ok $? "once the silent ones were dropped (after $((SECONDS - start)) s)"
for fd in "${silent[@]}"; do exec {fd}>&-; done
kill -0 "$w1"
ok $? "w1 is still running"

# --- weight: a job takes as many slots as it weighs ------------------------------------------------
start_worker w2 b heavy --capacity 2
w2=$wpid
spec heavy3 "echo never"
spec heavy2 "echo heavy2; sleep 2"
spec light "echo light"
POOL=heavy submit_bg A heavy3 --weight 3
h3=$jid
POOL=heavy submit_bg A heavy2 --weight 2
h2=$jid
sleep 0.5
POOL=heavy submit_bg A light
l1=$jid
wait_for 30 "state = 'succeeded' FROM jobs WHERE id = $l1"
ok $? "the light job ran"
is "$(sql "SELECT state FROM jobs WHERE id = $h2")" succeeded "the weight-2 job ran"
is "$(sql "SELECT (SELECT started_at FROM jobs WHERE id = $l1) >= (SELECT finished_at FROM jobs WHERE id = $h2)")" t \
        "the weight-1 job waited for the weight-2 job's slots"
is "$(sql "SELECT state FROM jobs WHERE id = $h3")" queued "a job heavier than the worker stays queued"
"$CAIRN" job cancel "$h3" --db "$DB" 2>/dev/null

# --- drain --wait; forget ---------------------------------------------------------------------------
spec drain "echo drain-started; sleep 4; echo drain-done"
POOL=heavy submit_bg A drain
dj=$jid
wait_for 30 "state = 'running' FROM jobs WHERE id = $dj"
admin drain heavy w2 --wait --timeout 1s
is_status 1 "drain --wait gives up after --timeout"
has "$err" "1 job(s) still running" "and says why"
admin forget heavy w2
is_status 1 "forget refuses a worker with a running job"
has "$err" "holds 1 running job" "and says why"
admin drain heavy w2 --wait --timeout 30s
is_status 0 "drain --wait returns"
is "$(sql "SELECT state FROM jobs WHERE id = $dj")" succeeded "only once the running job finished"
wait "$w2"
is "$?" 0 "the drained worker exited 0"
admin workers heavy
is "$(awk -F'\t' '$1 == "w2" {print $2}' <<<"$out")" draining "workers shows it draining"
start_worker w2 b heavy --capacity 2
w2=$wpid
wait_for 20 "incarnation = 1 AND NOT draining FROM workers WHERE name = 'w2'"
ok $? "a restarted worker is no longer draining"
kill -TERM "$w2"
wait "$w2"
admin forget heavy w2
is_status 0 "forget w2"
admin workers heavy
is_status 1 "the pool has no worker left"

# --- roles -------------------------------------------------------------------------------------------
sql "CREATE ROLE alice LOGIN; GRANT cairn_submitter TO alice; CREATE ROLE bob LOGIN; GRANT cairn_admin TO bob;
     CREATE ROLE wuser LOGIN; GRANT cairn_worker TO wuser; CREATE ROLE carol LOGIN; GRANT cairn_submitter TO carol" >/dev/null
ALICE="postgresql:///postgres?host=$tmp/sock&user=alice"
WDB="postgresql:///postgres?host=$tmp/sock&user=wuser" start_worker w3 b roles
w3=$wpid
spec roles "echo built-for-alice"
run_cmd "$CAIRN" submit --db "$ALICE" --pool roles -f roles.spec
is_status 0 "a cairn_submitter submits, and a cairn_worker builds"
has "$out" "built-for-alice" "the log is followed as the submitter"
rj=$(sed -n 's/^job \([0-9]*\)$/\1/p' <<<"$err")
run_cmd "$CAIRN" job status "$rj" --db "$ALICE"
is_status 0 "the submitter reads the status"
has "$out" "state: succeeded" "succeeded"
run_cmd "$CAIRN" cluster pause roles w3 --db "$ALICE"
is_status 1 "a submitter may not pause"
has "$err" "permission denied" "a clear permission error"
has "$err" "needs the cairn_admin role" "naming the role"
is "$(sql "SELECT admin_paused FROM workers WHERE name = 'w3'")" f "w3 is not paused"
run_cmd "$CAIRN" cluster pause roles w3 --db "postgresql:///postgres?host=$tmp/sock&user=bob"
is_status 0 "a cairn_admin pauses"
run_cmd "$CAIRN" cluster init --db "postgresql:///postgres?host=$tmp/sock&user=carol"
is_status 0 "init by a user without CREATEROLE"
has "$err" "roles skipped: the user \"carol\" may not create roles (it needs CREATEROLE)" "says roles were skipped, and why"
ALICE_ID=$("$CAIRN" submit --db "$ALICE" --pool nobody -f roles.spec --no-follow 2>/dev/null)
run_cmd "$CAIRN" job cancel "$ALICE_ID" --db "$ALICE"
is_status 0 "the submitter cancels a queued job"
noenv=$(env -u USER "$CAIRN" submit --db "$DB" --pool nobody -f roles.spec --no-follow 2>/dev/null)
is "$(sql "SELECT client FROM jobs WHERE id = ${noenv:-0}")" "$(id -un)" "without --client or \$USER, the client is the user's name"
kill -TERM "$w3" "$w1"
wait "$w3" "$w1"

# --- the registry counters: a push by one worker, a pull by another ----------------------------------
if command -v docker-registry >/dev/null; then
        . "$CAIRN_SRCDIR/tests/lib/registry.sh"
        start_registry
        ok $? "docker-registry starts"
        start_worker w4 a reg --cache-to "$reg/cairn/steps"
        w4=$wpid
        spec reg "echo pushed-step > /out"
        POOL=reg submit_bg A reg
        pushj=$jid
        wait_for 60 "state = 'succeeded' FROM jobs WHERE id = $pushj"
        ok $? "a job on a worker with --cache-to"
        pushed=$("$CAIRN" job log "$pushj" --db "$DB" | sed -n 's/^---> step cache .*: \([0-9]*\) pushed.*/\1/p')
        kill -TERM "$w4"
        wait "$w4"
        start_worker w5 b reg --cache-from "$reg/cairn/steps"
        w5=$wpid
        POOL=reg submit_bg A reg
        pullj=$jid
        wait_for 60 "state = 'succeeded' FROM jobs WHERE id = $pullj"
        ok $? "the same job on a worker with --cache-from"
        pulled=$("$CAIRN" job log "$pullj" --db "$DB" | grep -c '^---> pulled from')
        admin metrics reg
        metrics=$out
        [ "${pushed:-0}" -gt 0 ] && [ "$pulled" -gt 0 ]
        ok $? "the first job pushed steps ($pushed), the second pulled ($pulled)"
        is "$(val 'cairn_registry_pushes_total{pool="reg"}')" "$pushed" "registry_pushes_total is what the build pushed"
        is "$(val 'cairn_registry_pulls_total{pool="reg"}')" "$pulled" "registry_pulls_total is what the build pulled"
        kill -TERM "$w5"
        wait "$w5"
elif [ "${CAIRN_TEST_MUST_WORK:-}" = 1 ]; then
        ok 1 "prerequisite: docker-registry (the registry counters)"
else
        skip "needs docker-registry" "the registry counters"
fi

tap_done
