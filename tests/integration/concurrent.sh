#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Several cairn processes on one store: shared steps run once, failures are
# shared, prune and clean leave alone what running builds use.  On the store
# kind CAIRN_TEST_STORE_KIND (overlayfs; btrfs on a loop image made here).
set -u
: "${CAIRN:?path to the cairn binary}" "${CAIRN_SRCDIR:?source tree}"
. "$CAIRN_SRCDIR/tests/lib/tap.sh"
. "$CAIRN_SRCDIR/tests/lib/loopfs.sh"

[ "$(id -u)" = 0 ] || need "needs root"
[ -x /bin/busybox ] || need "needs busybox-static"
tmp=$(mktemp -d /tmp/cairn-concurrent-test.XXXXXX)
cleanup() {
        jobs -p | xargs -r kill 2>/dev/null
        grep " $tmp" /proc/self/mountinfo | awk '{print $5}' | sort -r | xargs -r -n1 umount -l 2>/dev/null
        rm -rf "$tmp"
}
trap cleanup EXIT
[ -n "${KEEP:-}" ] && trap - EXIT
cd "$tmp"
kind=${CAIRN_TEST_STORE_KIND:-overlayfs}
stores=$tmp
case $kind in
btrfs|xfs)
        stores=$tmp/$kind
        loopfs_mount "$kind" 1G "$tmp/$kind.img" "$stores" ;;
esac
export CAIRN_STORE="$kind:$stores/store"
mkdir -p rootfs/bin rootfs/tmp ctx
cp /bin/busybox rootfs/bin/
for a in sh echo sleep cat; do ln -s busybox rootfs/bin/$a; done
tar -C rootfs -cf bb.tar .
"$CAIRN" image import --env PATH=/bin busybox bb.tar >/dev/null

misses() { "$CAIRN" du | sed -n 's/.*misses: \([0-9]*\),.*/\1/p'; }

# --- two processes, one step ----------------------------------------------------------
printf '((from busybox) (shell /bin/sh -c) (run (shell "echo begin; sleep 1; echo end")))' >shared.spec
"$CAIRN" build -f shared.spec ctx >a.out 2>&1 &
a=$!
"$CAIRN" build -f shared.spec ctx >b.out 2>&1 &
b=$!
wait $a; sa=$?
wait $b; sb=$?
ok $(( sa + sb )) "two builds of the same spec at once both succeed"
is "$(tail -n 1 a.out)" "$(tail -n 1 b.out)" "with the same result"
is "$(misses)" 2 "the base and the step were each built once"
for f in a.out b.out; do
        has "$(cat $f)" "begin
end" "$f shows the step's output (run or followed live)"
done

# --- a shared failure -------------------------------------------------------------------
printf '((from busybox) (shell /bin/sh -c) (run (shell "echo failing; sleep 1; exit 7")))' >fail.spec
"$CAIRN" build -f fail.spec ctx >fa.out 2>fa.err &
a=$!
sleep 0.3
"$CAIRN" build -f fail.spec ctx >fb.out 2>fb.err &
b=$!
wait $a; sa=$?
wait $b; sb=$?
ok $([ $sa = 1 ] && [ $sb = 1 ]; echo $?) "both builds of a failing step fail"
is "$(cat fb.err)" "$(cat fa.err)" "with the same message"
has "$(cat fb.err)" "failed with exit status 7" "the step's failure"

# --- the stress test: 100 random four-step builds sharing a cache, 10 at a time ------------
before=$(misses)
declare -A steps
RANDOM=42
for i in $(seq 100); do
        spec="((from busybox) (shell /bin/sh -c)"
        key=
        for k in 1 2 3 4; do
                v=$((RANDOM % 3))
                key="$key/$v"
                steps[$key]=1
                spec="$spec (run (cache (shared (target /c))) (shell \"echo step$k-$v >> /log; echo x >> /c/seen\"))"
        done
        echo "$spec)" >"m$i.spec"
done
pids=()
fails=0
for i in $(seq 100); do
        "$CAIRN" build -f "m$i.spec" ctx >"m$i.out" 2>&1 &
        pids+=($!)
        if [ ${#pids[@]} = 10 ]; then
                for p in "${pids[@]}"; do wait "$p" || fails=$((fails + 1)); done
                pids=()
        fi
done
for p in "${pids[@]}"; do wait "$p" || fails=$((fails + 1)); done
is "$fails" 0 "100 random four-step builds sharing a cache, 10 at a time, all succeed"
is "$(( $(misses) - before ))" "${#steps[@]}" "every one of the ${#steps[@]} distinct steps was built exactly once"
ok $(grep -L 'Got: ' m*.out | wc -l) "every build ended with its result"

# --- SIGINT with a second build attached ------------------------------------------------------
# The marker names this run: the same test runs at once on other stores.
mark=takeover-$$
printf '((from busybox) (shell /bin/sh -c) (run (shell "echo %s-begin; sleep 2; echo takeover-end")))' "$mark" >take.spec
"$CAIRN" build -f take.spec ctx >ta.out 2>ta.err &
a=$!
for i in $(seq 100); do grep -q "$mark-begin" ta.out && break; sleep 0.05; done
"$CAIRN" build -f take.spec ctx >tb.out 2>&1 &
b=$!
sleep 0.5
kill -INT $a
wait $a
is $? 130 "SIGINT stops the first build, with the conventional status"
is "$(cat ta.err)" "Cancelled at user's request" "with OBuilder's message"
wait $b
ok $? "the attached build takes the step over and succeeds"
has "$(cat tb.out)" "takeover-end" "running the step to its end"
ok $(pgrep -f "$mark-begin" >/dev/null && echo 1 || echo 0) "no process of the cancelled step is left"

# --- prune and clean leave running builds' results alone ----------------------------------------
printf '((from busybox) (shell /bin/sh -c) (run (shell "echo a > /a")) (run (shell "sleep 2; cat /a")))' >long.spec
"$CAIRN" build -f long.spec ctx >long.out 2>&1 &
l=$!
for i in $(seq 100); do grep -q 'sleep 2' long.out && break; sleep 0.05; done
sleep 0.3
run_cmd "$CAIRN" clean
is_status 0 "clean while a build runs"
wait $l
ok $? "the running build still succeeds: its base was left alone"
has "$(cat long.out)" "
a
" "and its step saw its base"

# --- prune everything ------------------------------------------------------------------------------
run_cmd "$CAIRN" clean
is_status 0 "a final clean"
run_cmd "$CAIRN" du
has "$out" "results: 0" "leaves an empty database"
is "$(ls -A "$stores/store/result")" "" "and an empty store"

tap_done
