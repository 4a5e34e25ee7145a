#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The cluster's failure cases (docs/cluster.md, design note §8) that
# cluster.sh does not cover: a database crash and restart under running and
# queued jobs, a forced duplicate delivery, a worker frozen past its lease
# then thawed (a partition seen from the worker: its writes are refused),
# a worker partitioned in a network namespace then healed, a worker
# restarted under the same name, the reclaimer's deadline, and a load test:
# 200 jobs from 5 clients on 4 workers, each finished exactly once.
set -u
: "${CAIRN:?path to the cairn binary}" "${CAIRN_SRCDIR:?source tree}"
. "$CAIRN_SRCDIR/tests/lib/tap.sh"

. "$CAIRN_SRCDIR/tests/lib/cluster-rig.sh"
cluster_rig cluster-failures ip nsenter
# Network namespaces of this run: srv (the server) and part (a worker).
ns=cf$$
cluster_cleanup_more() {
        ip netns del "$ns-srv" 2>/dev/null
        ip netns del "$ns-part" 2>/dev/null
}

# --- the network: the server's namespace and a worker's, joined by a veth pair ---------------
ip netns add "$ns-srv" && ip netns add "$ns-part" || need "network namespaces"
ip link add "$ns-s" type veth peer name "$ns-p" || need "veth"
ip link set "$ns-s" netns "$ns-srv"
ip link set "$ns-p" netns "$ns-part"
ip -n "$ns-srv" addr add 10.213.7.1/24 dev "$ns-s"
ip -n "$ns-part" addr add 10.213.7.2/24 dev "$ns-p"
for n in srv part; do ip -n "$ns-$n" link set lo up; done
ip -n "$ns-srv" link set "$ns-s" up
ip -n "$ns-part" link set "$ns-p" up

# --- PostgreSQL in the server's namespace: a Unix socket for most, TCP for the partitioned ----
pg_init
printf 'host all all 10.213.7.0/24 trust\n' >>pg/pg_hba.conf
PG_EXEC=(ip netns exec "$ns-srv")
PG_LISTEN=10.213.7.1
pg_start || need "postgres starts"
TCPDB="postgresql://postgres@10.213.7.1/postgres"
busybox_stores "$tmp/store-1" "$tmp/store-2" "$tmp/store-3" "$tmp/store-4"
start_worker() { # NAME STORE-NUMBER POOL [ARGS...]: sets $wpid
        "$CAIRN" worker --db "$DB" --name "$1" --store "overlayfs:$tmp/store-$2" --pool "$3" \
                --lease 3s --heartbeat 1s "${@:4}" 2>>"worker-$1.log" &
        wpid=$!
        pids+=("$wpid")
}
stop_worker() { # PID
        kill -TERM "$1" 2>/dev/null
        wait "$1" 2>/dev/null
}
submit_bg() { # SPEC POOL: submits with --no-follow and no cache hint, prints the job's ID
        "$CAIRN" submit --db "$DB" --pool "$2" -f "$1" --no-follow --cache-hint ''
}
log_has() { # JOB TEXT: the job's log holds TEXT
        echo "count(*) > 0 FROM job_log WHERE job_id = $1 AND position('$2' in convert_from(data, 'UTF8')) > 0"
}
contiguous() { # JOB: the number of gaps or overlaps in its log's offsets
        sql "SELECT count(*) FROM (SELECT lead(off) OVER (ORDER BY off) AS n, off + length(data) AS e
             FROM job_log WHERE job_id = $1) x WHERE n IS NOT NULL AND n <> e"
}

"$CAIRN" cluster init --db "$DB" 2>/dev/null
ok $? "cluster init"

# --- 4: the database crashes and restarts under a running job and queued ones ----------------
# The running build goes on, its worker and its follower reconnect, its log
# has every line once and in order, nothing is reclaimed during the grace
# period, and the queued jobs survive and run.
start_worker w1 1 crash
w1=$wpid
spec crash-run 'for i in $(seq 1 40); do echo crash-line-$i; sleep 0.25; done'
submit_bg crash-run.spec crash >id.out 2>/dev/null
crash_run=$(cat id.out)
"$CAIRN" submit --db "$DB" --pool crash -f crash-run.spec --no-follow >/dev/null 2>&1 # a queued twin, capacity 1
wait_for 30 "$(log_has "$crash_run" crash-line-3)"
ok $? "the job runs"
"$CAIRN" job log "$crash_run" --db "$DB" --follow >follow.out 2>follow.err &
follower=$!
pids+=("$follower")
for i in 1 2 3; do
        spec "crash-q$i" "echo queued-$i-survived"
        submit_bg "crash-q$i.spec" crash >"q$i.id" 2>/dev/null
done
sleep 0.5
pg_stop immediate
ok $? "the server crashes (immediate stop)"
sleep 5
pg_start
ok $? "the server restarts"
run_cmd timeout 90 "$CAIRN" job wait "$crash_run" --db "$DB"
is "$out" "succeeded"$'\n' "the running job succeeds across the crash"
run_cmd "$CAIRN" job log "$crash_run" --db "$DB"
lines=$(grep -o 'crash-line-[0-9][0-9]*' <<<"$out" | tr '\n' ' ')
is "$lines" "$(for i in $(seq 1 40); do printf 'crash-line-%d ' "$i"; done)" \
        "its log has every line once, in order"
is "$(contiguous "$crash_run")" 0 "its log offsets are contiguous"
is "$(sql "SELECT count(*) FROM job_events WHERE job_id = $crash_run AND kind = 'requeued'")" 0 \
        "nothing was reclaimed during the grace period"
is "$(sql "SELECT attempt FROM jobs WHERE id = $crash_run")" 1 "it ran once"
timeout 60 tail --pid="$follower" -f /dev/null
wait "$follower"
is "$?" 0 "the follower exits 0 after the crash"
is "$(grep -o 'crash-line-[0-9][0-9]*' follow.out | tr '\n' ' ')" "$lines" "the follower printed the whole log once"
has "$(cat follow.err)" "reconnected" "the follower says it reconnected"
for i in 1 2 3; do
        run_cmd timeout 60 "$CAIRN" job wait "$(cat "q$i.id")" --db "$DB"
        is "$out" "succeeded"$'\n' "queued job $i survives the crash and runs"
done
has "$(cat worker-w1.log)" "reconnecting" "the worker reported the lost database"
stop_worker "$w1"

# The grace period after a restart ends: from here on leases are enforced.
wait_for 30 "now() > pg_postmaster_start_time() + interval '7 s'"

# --- 5: a forced duplicate delivery: only the current attempt completes -----------------------
start_worker w1 1 dup
w1=$wpid
start_worker w2 2 dup
w2=$wpid
spec dup 'echo dup-$((0))started; sleep 5; echo dup-done'
submit_bg dup.spec dup >id.out 2>/dev/null
dup=$(cat id.out)
wait_for 30 "$(log_has "$dup" dup-0started)"
first=$(sql "SELECT worker FROM jobs WHERE id = $dup")
# Expire the lease and wake the pool in one transaction, until the other
# worker takes it before the holder's next heartbeat extends it.
for try in $(seq 1 20); do
        sql "BEGIN; UPDATE jobs SET lease_until = now() - interval '1 s' WHERE id = $dup AND attempt = 1;
             NOTIFY cairn_queue, 'dup'; COMMIT" >/dev/null
        sleep 0.3
        [ "$(sql "SELECT attempt FROM jobs WHERE id = $dup")" = 2 ] && break
done
is "$(sql "SELECT attempt FROM jobs WHERE id = $dup")" 2 "the job is delivered a second time"
second=$(sql "SELECT worker FROM jobs WHERE id = $dup")
run_cmd timeout 60 "$CAIRN" job wait "$dup" --db "$DB"
is "$out" "succeeded"$'\n' "the duplicate job succeeds"
is "$(sql "SELECT count(*) FROM job_events WHERE job_id = $dup AND kind = 'finished'")" 1 "it completed once"
is "$(sql "SELECT worker || ' ' || attempt FROM jobs WHERE id = $dup")" "$second 2" "by the second delivery"
sleep 2
has "$(cat "worker-$first.log")" "job $dup: lease lost (fenced); stopping its build" \
        "the first holder stops its build when its heartbeat finds the job gone"
is "$(sql "SELECT count(*) FROM job_log WHERE job_id = $dup AND attempt = 1 AND off > (SELECT min(off) FROM job_log WHERE job_id = $dup AND attempt = 2)")" 0 \
        "no chunk of the first attempt after the second began"
is "$(contiguous "$dup")" 0 "the log offsets are contiguous"
stop_worker "$w1"
stop_worker "$w2"

# --- 3a: a worker frozen past its lease, then thawed -----------------------------------------
# What a partition looks like from the worker's side: its lease expires and
# another worker completes the job; thawed, its writes are refused.
start_worker w1 1 frz
w1=$wpid
spec frz 'echo frz-$((0))started; for i in 1 2 3 4 5 6 7 8; do sleep 1; echo frz-tick-$i; done'
submit_bg frz.spec frz >id.out 2>/dev/null
frz=$(cat id.out)
wait_for 30 "$(log_has "$frz" frz-0started)"
ok $? "the job runs on w1"
kill -STOP "$w1"
pkill -STOP -P "$w1"
start_worker w2 2 frz
w2=$wpid
wait_for 30 "attempt = 2 AND worker = 'w2' FROM jobs WHERE id = $frz"
ok $? "w2 reclaims the job after w1's lease"
pkill -CONT -P "$w1"
kill -CONT "$w1"
run_cmd timeout 60 "$CAIRN" job wait "$frz" --db "$DB"
is "$out" "succeeded"$'\n' "the job succeeds on w2"
sleep 3
is "$(sql "SELECT count(*) FROM job_events WHERE job_id = $frz AND kind = 'finished'")" 1 "it completed once"
is "$(sql "SELECT count(*) FROM job_log WHERE job_id = $frz AND attempt = 1 AND off > (SELECT min(off) FROM job_log WHERE job_id = $frz AND attempt = 2)")" 0 \
        "the thawed worker's log writes were refused"
grep -Eq "job $frz: (lease lost \(fenced\)|fenced, result dropped)" worker-w1.log
ok $? "the thawed worker found its job fenced"
lacks "$(sql "SELECT string_agg(worker, ' ') FROM job_events WHERE job_id = $frz AND kind = 'finished'")" "w1" \
        "w1 did not complete it"
is "$(contiguous "$frz")" 0 "the log offsets are contiguous"
stop_worker "$w1"
stop_worker "$w2"

# --- 3b: a worker partitioned in its network namespace, then healed -----------------------------
# (nsenter, not ip netns exec, which mounts a sysfs without the cgroups.)
busybox_stores "$tmp/store-p"
nsenter --net="/run/netns/$ns-part" "$CAIRN" worker --db "$TCPDB" --name wpart --store "overlayfs:$tmp/store-p" \
        --pool part --lease 3s --heartbeat 1s 2>>worker-wpart.log &
wpart=$!
pids+=("$wpart")
spec part 'echo part-$((0))started; for i in 1 2 3 4 5 6 7 8 9 10; do sleep 1; echo part-tick-$i; done'
submit_bg part.spec part >id.out 2>/dev/null
part=$(cat id.out)
wait_for 30 "$(log_has "$part" part-0started) AND (SELECT worker FROM jobs WHERE id = $part) = 'wpart'"
ok $? "the job runs on the worker behind the veth"
ip -n "$ns-srv" link set "$ns-s" down
start_worker w2 2 part
w2=$wpid
wait_for 30 "attempt = 2 AND worker = 'w2' FROM jobs WHERE id = $part"
ok $? "another worker reclaims it while the partition lasts"
[ "$(sql "SELECT worker FROM jobs WHERE id = $part")" = w2 ] ||
        diag "$(sql "SELECT state, attempt, worker, error FROM jobs WHERE id = $part")" "$("$CAIRN" job log "$part" --db "$DB")"
sleep 2
ip -n "$ns-srv" link set "$ns-s" up
run_cmd timeout 60 "$CAIRN" job wait "$part" --db "$DB"
is "$out" "succeeded"$'\n' "the job succeeds on w2"
wait_for 40 "(SELECT last_seen > now() - interval '3 s' FROM workers WHERE name = 'wpart')"
ok $? "the partitioned worker is back after the heal"
sleep 2
is "$(sql "SELECT count(*) FROM job_events WHERE job_id = $part AND kind = 'finished'")" 1 "it completed once"
is "$(sql "SELECT string_agg(worker, ' ') FROM job_events WHERE job_id = $part AND kind = 'finished'")" w2 \
        "by w2"
is "$(sql "SELECT count(*) FROM job_log WHERE job_id = $part AND attempt = 1 AND off > (SELECT min(off) FROM job_log WHERE job_id = $part AND attempt = 2)")" 0 \
        "the healed worker's log writes were refused"
grep -Eq "job $part: (lease lost \(fenced\)|fenced, result dropped)" worker-wpart.log
ok $? "the healed worker found its job fenced"
is "$(contiguous "$part")" 0 "the log offsets are contiguous"
spec part2 "echo after-heal"
submit_bg part2.spec part >id.out 2>/dev/null
stop_worker "$w2"
run_cmd timeout 60 "$CAIRN" job wait "$(cat id.out)" --db "$DB"
is "$out" "succeeded"$'\n' "the healed worker takes new jobs"
stop_worker "$wpart"

# --- 13: a worker killed and restarted under the same name at once -----------------------------
start_worker w3 3 same
w3=$wpid
spec same 'echo same-$((0))started; sleep 2; echo same-done'
submit_bg same.spec same >id.out 2>/dev/null
same=$(cat id.out)
wait_for 30 "$(log_has "$same" same-0started)"
inc=$(sql "SELECT incarnation FROM workers WHERE name = 'w3'")
kill -9 "$w3"
wait "$w3" 2>/dev/null
t0=$(date +%s.%N)
start_worker w3 3 same
w3=$wpid
wait_for 10 "attempt = 2 FROM jobs WHERE id = $same"
ok $? "the restarted worker takes its job again"
t1=$(date +%s.%N)
ok "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print (b - a < 2.5) ? 0 : 1 }')" \
        "without waiting for the lease (3 s)"
is "$(sql "SELECT incarnation FROM workers WHERE name = 'w3'")" "$((inc + 1))" "under a new incarnation"
has "$(sql "SELECT detail FROM job_events WHERE job_id = $same AND kind = 'requeued'")" \
        "an older incarnation died on worker w3" "the requeue says why"
run_cmd timeout 60 "$CAIRN" job wait "$same" --db "$DB"
is "$out" "succeeded"$'\n' "and it succeeds"
stop_worker "$w3"

# --- 9: a cancel while the job's worker is lost: the reclaim ends it, without a rerun ----------
start_worker w3 3 cxl
w3=$wpid
spec cxl 'echo cxl-$((0))started; sleep 30'
submit_bg cxl.spec cxl >id.out 2>/dev/null
cxl=$(cat id.out)
wait_for 30 "$(log_has "$cxl" cxl-0started)"
kill -9 "$w3"
wait "$w3" 2>/dev/null
run_cmd "$CAIRN" job cancel "$cxl" --db "$DB"
has "$err" "cancel requested" "a cancel while the job's worker is lost is a request"
start_worker w4 4 cxl
w4=$wpid
run_cmd timeout 30 "$CAIRN" job wait "$cxl" --db "$DB"
is "$out" "cancelled"$'\n' "the reclaim ends the job cancelled"
is "$(sql "SELECT count(*) FROM job_events WHERE job_id = $cxl AND kind = 'claimed'")" 1 "without claiming it again"
run_cmd "$CAIRN" job log "$cxl" --db "$DB"
has "$out" "lease expired on worker w3; cancelled, as requested" "its log says why"
stop_worker "$w4"

# --- the deadline, enforced by the reclaimer when the worker does not -------------------------
start_worker w3 3 dl
w3=$wpid
spec dl 'echo dl-$((0))started; sleep 60'
"$CAIRN" submit --db "$DB" --pool dl -f dl.spec --no-follow --timeout 1h >id.out 2>/dev/null
dl=$(cat id.out)
wait_for 30 "$(log_has "$dl" dl-0started)"
# The job started two hours ago, as far as the database knows.
sql "UPDATE jobs SET started_at = now() - interval '2 h' WHERE id = $dl" >/dev/null
start_worker w4 4 dl
w4=$wpid
run_cmd timeout 30 "$CAIRN" job wait "$dl" --db "$DB"
is "$out" "failed"$'\n' "a job past its deadline fails"
has "$(sql "SELECT error FROM jobs WHERE id = $dl")" "timeout: the job ran longer than 3600s" "as a timeout"
sleep 2
has "$(cat worker-w3.log)" "job $dl: lease lost (fenced); stopping its build" "its worker stops the build"
stop_worker "$w3"
stop_worker "$w4"

# --- 6, 7, 8: steps shared through a registry; the registry down; a corrupt blob ----------------
if command -v docker-registry >/dev/null; then
        . "$CAIRN_SRCDIR/tests/lib/registry.sh"
        start_registry
        ok $? "docker-registry starts"
        R=$reg/cairn/steps
        multi() { # NAME LAST-STEP: three shared steps, then its own
                printf '((from busybox)\n (shell /bin/sh -c)\n' >"$1.spec"
                for i in 1 2 3; do printf ' (run (shell "echo shared-$((0))%d-ran; echo %d >/s%d"))\n' "$i" "$i" "$i" \
                        >>"$1.spec"; done
                printf ' (run (shell "%s")))\n' "$2" >>"$1.spec"
        }
        multi rega 'echo a-only'
        multi regb 'echo b-only'
        start_worker r1 1 reg --cache-to "$R" --cache-from "$R"
        r1=$wpid
        "$CAIRN" submit --db "$DB" --pool reg -f rega.spec --no-follow >id.out 2>/dev/null
        rega=$(cat id.out)
        run_cmd timeout 60 "$CAIRN" job wait "$rega" --db "$DB"
        is "$out" "succeeded"$'\n' "job A succeeds on r1 and pushes its steps"
        stop_worker "$r1"
        # B shares A's three steps; the only worker left is r2, whose store
        # has none of them.
        start_worker r2 2 reg --cache-to "$R" --cache-from "$R"
        r2=$wpid
        "$CAIRN" submit --db "$DB" --pool reg -f regb.spec --no-follow >id.out 2>/dev/null
        regb=$(cat id.out)
        run_cmd timeout 60 "$CAIRN" job wait "$regb" --db "$DB"
        is "$out" "succeeded"$'\n' "job B succeeds on r2"
        run_cmd "$CAIRN" job log "$regb" --db "$DB"
        is "$(grep -c -- "---> pulled from $R" <<<"$out")" 3 "B pulls the three shared steps from the registry"
        has "$out" "b-only" "and builds only its own"
        is "$(grep -c '^shared-0[0-9]-ran' <<<"$out")" 3 "the pulled steps' logs come from the registry"
        # 7: the registry is down: builds go on, with a warning in the job's log.
        stop_registry
        multi regc 'echo c-only'
        "$CAIRN" submit --db "$DB" --pool reg -f regc.spec --no-follow >id.out 2>/dev/null
        regc=$(cat id.out)
        run_cmd timeout 60 "$CAIRN" job wait "$regc" --db "$DB"
        is "$out" "succeeded"$'\n' "with the registry down, a job still succeeds"
        run_cmd "$CAIRN" job log "$regc" --db "$DB"
        has "$out" "cairn: warning: step cache" "its log warns about the registry"
        start_registry
        stop_worker "$r2"
        # 8: a corrupt blob: flip a byte of the layer of A's first shared step.
        aid=$(sql "SELECT output FROM jobs WHERE id = $rega")
        digest=$(curl -s -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
                "http://$reg/v2/cairn/steps/manifests/$aid" |
                python3 -c 'import json, sys; print(json.load(sys.stdin)["layers"][1]["digest"])')
        blob=$tmp/data/docker/registry/v2/blobs/sha256/${digest:7:2}/${digest#sha256:}/data
        [ -f "$blob" ]
        ok $? "the shared step's layer is in the registry's storage"
        printf '\x00\x01\x02' | dd of="$blob" bs=1 seek=20 conv=notrunc status=none
        start_worker r3 3 reg --cache-from "$R"
        r3=$wpid
        "$CAIRN" submit --db "$DB" --pool reg -f rega.spec --no-follow >id.out 2>/dev/null
        regd=$(cat id.out)
        run_cmd timeout 60 "$CAIRN" job wait "$regd" --db "$DB"
        is "$out" "succeeded"$'\n' "with a corrupt blob, the job still succeeds"
        is "$(sql "SELECT output FROM jobs WHERE id = $regd")" "$aid" "with A's result"
        run_cmd "$CAIRN" job log "$regd" --db "$DB"
        has "$out" "it is a miss" "the corrupt layer is a miss, said in the log"
        has "$out" "a-only" "the steps from there on are built"
        stop_worker "$r3"
        run_cmd "$CAIRN" fsck --store "overlayfs:$tmp/store-3"
        is_status 0 "the store that met the corrupt blob is sound"
        stop_registry
else
        [ -n "${CAIRN_TEST_MUST_WORK:-}" ] && ok 1 "docker-registry is installed"
fi

# --- 11: affinity, delayed stealing, and rendezvous placement of new hints ---------------------
start_worker a1 1 aff --affinity-wait 4s
a1=$wpid
start_worker a2 2 aff --affinity-wait 4s
a2=$wpid
sleep 1.5   # both have heartbeated: both are live
# A hint no worker has goes to its rendezvous winner among the free workers,
# whichever worker happens to wake first.
bad=0
for h in $(seq 1 8); do
        spec "rv-$h" "echo rv-$h"
        "$CAIRN" submit --db "$DB" --pool aff --cache-hint "new-hint-$h" -f "rv-$h.spec" --no-follow >id.out 2>/dev/null
        id=$(cat id.out)
        "$CAIRN" job wait "$id" --db "$DB" >/dev/null 2>&1
        want=$(sql "SELECT name FROM workers WHERE pool = 'aff'
                    ORDER BY hashtextextended('new-hint-$h' || '/' || name, 0) DESC, name LIMIT 1")
        [ "$(sql "SELECT worker FROM jobs WHERE id = $id")" = "$want" ] || bad=$((bad + 1))
done
is "$bad" 0 "each new hint went to its rendezvous winner"
is "$(sql "SELECT count(DISTINCT worker) FROM jobs WHERE pool = 'aff'")" 2 "new hints spread over both workers"
# H is now a1's or a2's; keep its worker busy with a job of hint H, then
# queue three more of H: the other worker leaves them for the affinity wait.
hw=$(sql "SELECT worker FROM jobs WHERE pool = 'aff' AND cache_hint = 'new-hint-1'")
spec busy 'echo busy-$((0))started; sleep 9'
"$CAIRN" submit --db "$DB" --pool aff --cache-hint new-hint-1 -f busy.spec --no-follow >id.out 2>/dev/null
busy=$(cat id.out)
wait_for 20 "$(log_has "$busy" busy-0started)"
is "$(sql "SELECT worker FROM jobs WHERE id = $busy")" "$hw" "a job of hint H goes to the worker that has H"
ids=()
for i in 1 2 3; do
        spec "aff-$i" "echo aff-$i"
        "$CAIRN" submit --db "$DB" --pool aff --cache-hint new-hint-1 -f "aff-$i.spec" --no-follow >id.out 2>/dev/null
        ids+=("$(cat id.out)")
done
sleep 2.5
is "$(sql "SELECT count(*) FROM jobs WHERE id IN (${ids[0]}, ${ids[1]}, ${ids[2]}) AND state = 'queued'")" 3 \
        "the other worker leaves H's jobs queued while H's worker is busy"
for id in "${ids[@]}"; do "$CAIRN" job wait "$id" --db "$DB" >/dev/null 2>&1; done
is "$(sql "SELECT count(*) FROM jobs WHERE id IN (${ids[0]}, ${ids[1]}, ${ids[2]}) AND state = 'succeeded'")" 3 \
        "all of them run"
stolen=$(sql "SELECT count(*) FROM jobs WHERE id IN (${ids[0]}, ${ids[1]}, ${ids[2]}) AND worker <> '$hw'")
ok "$([ "$stolen" -ge 1 ] && echo 0 || echo 1)" "the other worker steals after the affinity wait"
is "$(sql "SELECT count(*) FROM jobs WHERE id IN (${ids[0]}, ${ids[1]}, ${ids[2]}) AND worker <> '$hw'
           AND started_at - enqueued_at < interval '4 s'")" 0 "and not before it"
stop_worker "$a1"
stop_worker "$a2"

# --- a store short of space: the worker pauses, prunes once idle, and resumes ------------------
mkdir small
mount -t tmpfs -o size=48m tmpfs "$tmp/small"
busybox_stores "$tmp/small/store"
"$CAIRN" worker --db "$DB" --name wdisk --store "overlayfs:$tmp/small/store" --pool disk --lease 3s \
        --heartbeat 1s --keep-free 50% 2>>worker-wdisk.log &
wdisk=$!
pids+=("$wdisk")
spec big 'dd if=/dev/zero of=/big bs=1M count=30; echo big-$((0))done'
"$CAIRN" submit --db "$DB" --pool disk -f big.spec --no-follow >id.out 2>/dev/null
big=$(cat id.out)
run_cmd timeout 60 "$CAIRN" job wait "$big" --db "$DB"
is "$out" "succeeded"$'\n' "a job fills most of the worker's small store"
wait_for 30 "store_epoch = 1 AND NOT self_paused FROM workers WHERE name = 'wdisk'"
ok $? "the worker pruned and resumed, with a new store epoch"
has "$(cat worker-wdisk.log)" "the store is short of space" "it said it was short of space"
has "$(cat worker-wdisk.log)" "pruned 1 result(s) from the store" "it pruned the big result"
has "$(cat worker-wdisk.log)" "has room again" "and resumed"
bigid=$(sql "SELECT output FROM jobs WHERE id = $big")
[ -n "$bigid" ] && [ ! -e "$tmp/small/store/result/$bigid" ]
ok $? "the big result is gone from the store"
spec small1 "echo small-$((0))ran"
"$CAIRN" submit --db "$DB" --pool disk -f small1.spec --no-follow >id.out 2>/dev/null
run_cmd timeout 60 "$CAIRN" job wait "$(cat id.out)" --db "$DB"
is "$out" "succeeded"$'\n' "the resumed worker takes jobs"
stop_worker "$wdisk"
# Asked for more room than pruning can make: it stays paused, and says so.
"$CAIRN" worker --db "$DB" --name wdisk --store "overlayfs:$tmp/small/store" --pool disk --lease 3s \
        --heartbeat 1s --keep-free 99% 2>>worker-wdisk2.log &
wdisk=$!
pids+=("$wdisk")
wait_for 30 "self_paused FROM workers WHERE name = 'wdisk'"
ok $? "a worker that cannot make room pauses itself"
"$CAIRN" submit --db "$DB" --pool disk -f small1.spec --no-follow >id.out 2>/dev/null
sleep 3
is "$(sql "SELECT state FROM jobs WHERE id = $(cat id.out)")" queued "it takes no job"
has "$(cat worker-wdisk2.log)" "staying paused" "it says it stays paused"
run_cmd "$CAIRN" cluster workers disk --db "$DB"
has "$out" "self-paused" "cluster workers shows it self-paused"
"$CAIRN" job cancel "$(cat id.out)" --db "$DB" >/dev/null 2>&1
stop_worker "$wdisk"
umount -l "$tmp/small"

# --- load: 200 jobs from 5 clients on 4 workers ------------------------------------------------
for m in 1 2 3 4; do
        start_worker "l$m" "$m" load --capacity 2
done
for c in 1 2 3 4 5; do
        (
                for i in $(seq 1 40); do
                        spec "load-$c-$i" "echo load-$c-$i-ran"
                        "$CAIRN" submit --db "$DB" --pool load --client "c$c" -f "load-$c-$i.spec" --no-follow \
                                >"load-$c-$i.id" 2>/dev/null || echo "submit load-$c-$i failed" >>load-errors
                done
        ) &
        pids+=($!)
done
wait_for 300 "count(*) = 200 FROM jobs WHERE pool = 'load' AND state IN ('succeeded', 'failed', 'cancelled')"
ok $? "all 200 jobs finished"
is "$(cat load-errors 2>/dev/null)" "" "every submit was accepted"
is "$(sql "SELECT count(*) FROM jobs WHERE pool = 'load' AND state = 'succeeded'")" 200 "all 200 succeeded"
is "$(sql "SELECT count(*) FROM job_events e JOIN jobs j ON j.id = e.job_id WHERE j.pool = 'load' AND e.kind = 'finished'")" 200 \
        "each finished exactly once"
is "$(sql "SELECT count(*) FROM job_events e JOIN jobs j ON j.id = e.job_id WHERE j.pool = 'load' AND e.kind = 'claimed'")" 200 \
        "each was claimed once"
is "$(sql "SELECT count(DISTINCT worker) FROM jobs WHERE pool = 'load'")" 4 "all 4 workers took some"
is "$(sql "SELECT count(DISTINCT client) FROM jobs WHERE pool = 'load'")" 5 "from 5 clients"
bad=0
for c in 1 2 3 4 5; do
        for i in $(seq 1 40); do
                run_cmd "$CAIRN" job log "$(cat "load-$c-$i.id")" --db "$DB"
                case "$out" in *"load-$c-$i-ran"*) ;; *) bad=$((bad + 1)) ;; esac
        done
done
is "$bad" 0 "every job's log has its own output"
tap_done
