#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The containerd store (store, sandbox and fetcher through ctr) end to end,
# against a real containerd started here with its own config, root, state
# and socket (never the system's), the CRI plugin off, and a busybox image
# made from busybox-static and imported with `ctr images import`.
set -u
: "${CAIRN:?path to the cairn binary}" "${CAIRN_SRCDIR:?source tree}"
. "$CAIRN_SRCDIR/tests/lib/tap.sh"
. "$CAIRN_SRCDIR/tests/lib/containerd.sh"

[ "$(id -u)" = 0 ] || need "needs root"
command -v containerd >/dev/null && command -v ctr >/dev/null || need "needs containerd and ctr"
command -v runc >/dev/null || need "needs runc"
[ -x /bin/busybox ] || need "needs busybox-static"
grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null || true
grep -qw overlay /proc/filesystems || need "needs overlayfs"

tmp=$(mktemp -d /tmp/cairn-ctd-test.XXXXXX)
ctd=$tmp/d
cleanup() {
        containerd_stop "$ctd"
        grep " $tmp" /proc/self/mountinfo | awk '{print $5}' | sort -r | xargs -r -n1 umount -l 2>/dev/null
        rm -rf "$tmp"
}
trap cleanup EXIT
cd "$tmp"
containerd_start "$ctd" || need "a private containerd starts"
ns=cairn-test-$$
{ read -r _config; read -r chain; } < <(containerd_import_busybox "$ctd" docker.io/library/busybox:latest "$ns")
[ -n "${chain:-}" ] || need "the busybox image imports into containerd"
C() { ctr --address "$CONTAINERD_SOCK" --namespace "$ns" "$@"; }

store=$tmp/store
export CAIRN_STORE="containerd:$store"
export CAIRN_STORE_OPTS="address=$CONTAINERD_SOCK namespace=$ns"

# Nothing of cairn's may be left in containerd or on the host.
containers() { C containers ls -q | grep -c . ; }
active() { C snapshot ls | awk 'NR > 1 && $NF == "Active"' | grep -c . ; }
mounts() { grep -c " $store/" /proc/self/mountinfo; }
temps() { find "$store/result-tmp" "$store/cache-tmp" -mindepth 1 -maxdepth 1 | grep -c . ; }
nothing_left() { # NAME
        is "$(containers) $(active) $(mounts) $(temps)" "0 0 0 0" \
                "$1: no container, active snapshot, mount or temporary result is left"
}

# --- options and errors -----------------------------------------------------
run_cmd "$CAIRN" ls --store-opt nosuch=1
is_status 1 "an unknown store option is refused"
has "$err" 'unknown containerd store option "nosuch": expected one of ctr, address' "saying which are known"
run_cmd "$CAIRN" ls --store=overlayfs:$tmp/other --store-opt ctr=x
is_status 1 "a store without options refuses one"
has "$err" "the overlayfs store takes no options" "with a clear message"
run_cmd env CAIRN_STORE_OPTS="address=$tmp/no.sock namespace=$ns" "$CAIRN" ls
is_status 1 "a containerd that does not answer is an error at open"
has "$err" "containerd is not reachable at $tmp/no.sock" "naming the address"

# --- the healthcheck and a multi-step build -----------------------------------
run_cmd "$CAIRN" healthcheck
is_status 0 "healthcheck passes on containerd"
is "$out" "Healthcheck passed
" "with OBuilder's line"
is "$(containers) $(active)" "0 0" "and leaves no container nor active snapshot"

mkdir -p ctx/dir
echo one >ctx/a.txt
echo two >ctx/dir/b.txt
printf 's3cret' >secret.txt
cat >multi.spec <<'SPEC'
((build base
   ((from busybox)
    (shell /bin/sh -c)
    (run (shell "mkdir -p /out && echo built > /out/artifact"))))
 (from busybox)
 (shell /bin/sh -c)
 (workdir /src)
 (env GREETING hello)
 (copy (src a.txt dir) (dst ./))
 (run (shell "cat a.txt dir/b.txt && echo $GREETING > /greeting; echo CTD=$CTD_IMAGE; cat /etc/layer2"))
 (run (cache (c1 (target /cache))) (shell "echo x >> /cache/count; echo count=$(wc -l < /cache/count)"))
 (run (secrets (s1 (target /run/secrets/s1))) (shell "cat /run/secrets/s1; echo; (echo x > /run/secrets/s1) 2>/dev/null || echo read-only"))
 (copy (from (build base)) (src /out/artifact) (dst /artifact))
 (user (uid 1000) (gid 1000))
 (run (shell "id -u; cat /artifact /greeting; hostname; cat /etc/hosts; echo secrets:[$(ls /run/secrets 2>/dev/null)]")))
SPEC
run_cmd "$CAIRN" build -f multi.spec --secret s1:secret.txt ctx
is_status 0 "a spec with copy, cache, secret and a multi-stage copy builds"
first=$out
has "$out" "Using docker.io/library/busybox:latest (sha256:" "the base names the image and its digest"
has "$out" "chain ID $chain)" "and the chain ID, computed from the config's diff_ids as ctr does"
has "$out" "one
two
CTD=yes
two" "copied files, the image env and both image layers are there"
has "$out" "count=1" "the cache is mounted"
has "$out" "s3cret
read-only" "the secret is mounted, read-only (OBuilder's HCS store never mounts it)"
has "$out" "1000
built
hello
builder
127.0.0.1 localhost builder" "user, a file from a stage, the hostname and /etc/hosts"
has "$out" "secrets:[]" "the secret's mount point does not stay in the result"
final=$(printf '%s\n' "$out" | sed -n 's/^Got: "\(.*\)"$/\1/p')
ok $([ ${#final} = 64 ] && echo 0 || echo 1) "the build reports its final ID"
nothing_left "after a successful build"
C snapshot ls | grep -q "^obuilder-$final-committed .*Committed"
ok $? "the result is the committed snapshot obuilder-ID-committed"
base_id=$(printf busybox | sha256sum | cut -c1-64)
C snapshot ls | grep -q "^obuilder-base-$base_id-committed  *$chain "
ok $? "the base is obuilder-base-sha256(from), prepared from the chain ID"
[ -f "$store/result/$base_id/rootfs/layerinfo" ] && [ -f "$store/result/$final/layerinfo" ]
ok $? "layerinfo where OBuilder writes it: rootfs/ for a base, top level for a step"
has "$(cat "$store/result/$final/layerinfo")" "(snapshot_key obuilder-$final)" "layerinfo names the snapshot key"

run_cmd "$CAIRN" build -f multi.spec --secret s1:secret.txt ctx
is_status 0 "the same build again"
is "$(printf '%s\n' "$out" | grep -c 'from cache')" "$(printf '%s\n' "$first" | grep -c -e 'saved as' -e 'from cache')" \
        "every step comes from the cache"
has "$out" "count=1" "the output of cached steps is replayed"

# --- IDs equal to the native store's -------------------------------------------
run_cmd env -u CAIRN_STORE_OPTS "$CAIRN" image import --store="overlayfs:$tmp/native" busybox "$ctd/busybox-oci.tar"
is_status 0 "the same image imports into a native store"
run_cmd env -u CAIRN_STORE_OPTS "$CAIRN" build --store="overlayfs:$tmp/native" -f multi.spec --secret s1:secret.txt ctx
is_status 0 "and the spec builds there"
has "$out" "Got: \"$final\"" "with the same final ID as on containerd"
is "$(printf '%s\n' "$out" | grep 'saved as' | grep -v "$base_id")" "$(printf '%s\n' "$first" | grep 'saved as')" \
        "and the same ID for every step"

# --- copies through a tar extracted in the container (how Windows copies) -----------
# A second store needs its own containerd namespace: snapshot keys are
# OBuilder's, the same in every store.
containerd_import_busybox "$ctd" docker.io/library/busybox:latest "$ns-2" >/dev/null
run_cmd "$CAIRN" build --store="containerd:$tmp/store-clash" -f multi.spec --secret s1:secret.txt ctx
is_status 1 "a second store on the same namespace fails to take its base"
has "$err" "is another store using containerd namespace \"$ns\"?" "and says why"
run_cmd "$CAIRN" build --store="containerd:$tmp/store2" --store-opt namespace=$ns-2 --store-opt copy=container -f multi.spec --secret s1:secret.txt ctx
is_status 0 "with copy=container, copies are extracted by tar inside the container"
has "$out" "Got: \"$final\"" "to the same IDs"
has "$out" "one
two
CTD=yes" "the copied files are in place"
has "$out" "1000
built
hello" "including a file from a build stage"
printf '((from busybox) (shell /bin/sh -c) (user (uid 1000) (gid 1000)) (copy (src a.txt dir) (dst /home/x/)) (user (uid 0) (gid 0)) (run (shell "ls -ln /home/x | tr -s \\" \\" | cut -d\\" \\" -f1,3,4,9; ls -d /cairn-copy 2>&1 | grep -c No")))' >tarcopy.spec
run_cmd "$CAIRN" build --store="containerd:$tmp/store2" --store-opt namespace=$ns-2 --store-opt copy=container -f tarcopy.spec ctx
has "$out" "-rw-r--r-- 1000 1000 a.txt
drwxr-xr-x 1000 1000 dir
1" "owners and modes as the native copy's, and no mount point is left in the result"
run_cmd "$CAIRN" build --store="containerd:$tmp/store2" --store-opt namespace=$ns-2 --store-opt copy=sideways -f tarcopy.spec ctx
is_status 1 "a bad copy option is refused"
has "$err" "expected copy=container or copy=host" "saying what is expected"

# --- a failing step -----------------------------------------------------------------
printf '((from busybox) (shell /bin/sh -c) (run (shell "echo partial > /partial; exit 3")))' >fail.spec
run_cmd "$CAIRN" build -f fail.spec ctx
is_status 1 "a failing step fails the build"
has "$err" 'Build step failed: "/bin/sh" "-c" "echo partial > /partial; exit 3" failed with exit status 3' \
        "with the command's exit status"
nothing_left "after a failed step"
printf '((from busybox) (shell /bin/sh -c) (run (shell "ls /partial 2>&1 || true")))' >after.spec
run_cmd "$CAIRN" build -f after.spec ctx
has "$out" "No such file" "a failed step's files are not in the next step's parent"

printf '((from busybox) (shell /bin/sh -c) (run (shell "/no/such/program")))' >noexec.spec
run_cmd "$CAIRN" build -f noexec.spec ctx
is_status 1 "a step whose program is missing fails"
nothing_left "after a step that could not start"

# --- cancellation -----------------------------------------------------------------------
marker="cairn-ctd-cancel-$$"
printf '((from busybox) (shell /bin/sh -c) (run (shell "echo started; sleep 60; echo %s")))' "$marker" >slow.spec
rm -f slow.out slow.err   # the wait below must not see the last run's output
"$CAIRN" build -f slow.spec ctx >slow.out 2>slow.err &
pid=$!
for i in $(seq 600); do grep -qx started slow.out && break; sleep 0.1; done
ok $(grep -qx started slow.out && echo 0 || echo 1) "a slow step is running"
start=$(date +%s)
kill -INT $pid
wait $pid
status=$?
is "$status" 130 "SIGINT cancels the build (exit 130)"
ok $([ $(($(date +%s) - start)) -lt 15 ] && echo 0 || echo 1) "promptly (ctr task kill -s SIGKILL; PID 1 ignores SIGTERM)"
nothing_left "after a cancelled step"
ok $(pgrep -f "$marker" >/dev/null && echo 1 || echo 0) "the step's processes are gone"

# --- limits: runc applies them (linux.resources), cairn the timeout ------------------------
marker="cairn-ctd-timeout-$$"
printf '((from busybox) (shell /bin/sh -c) (run (shell "sleep 100; echo %s")))' "$marker" >ctimeout.spec
start=$(date +%s)
run_cmd "$CAIRN" build --step-timeout=2s -f ctimeout.spec ctx
is "$status:$err" "1:Build step failed: killed: timed out after 2s" "a step past --step-timeout is killed, saying so"
ok $([ $(($(date +%s) - start)) -lt 15 ] && echo 0 || echo 1) "promptly"
nothing_left "after a timed-out step"
ok $(pgrep -f "$marker" >/dev/null && echo 1 || echo 0) "and its processes are gone"
# 100 background processes: past a limit of 64 the shell cannot fork (and
# busybox's sh gives up, exit status 2); with no limit they all start.
printf '((from busybox) (shell /bin/sh -c) (run (shell "for i in $(seq 100); do sleep 3 & done; echo all-started-%s")))' 64 >cpids.spec
run_cmd "$CAIRN" build --pids-limit=64 -f cpids.spec ctx
is "$status" 1 "--pids-limit=64 holds in the container: 100 processes cannot start"
ok $(printf '%s\n' "$out" | grep -qx all-started-64 && echo 1 || echo 0) "the step did not get past them"
printf '((from busybox) (shell /bin/sh -c) (run (shell "for i in $(seq 100); do sleep 3 & done; echo all-started-%s")))' none >cpids2.spec
run_cmd "$CAIRN" build --pids-limit=none -f cpids2.spec ctx
ok $(printf '%s\n' "$out" | grep -qx all-started-none && echo 0 || echo 1) "with --pids-limit=none they do"
is "$(sh -c 'echo alive')" alive "the host can still fork"
nothing_left "after the pids limit"
printf '((from busybox) (shell /bin/sh -c) (run (shell "awk '"'"'BEGIN { s = \\"x\\"; while (length(s) < 300000000) s = s s; print length(s) }'"'"'")))' >coom.spec
run_cmd "$CAIRN" build --memory=64M --step-timeout=60s -f coom.spec ctx
is_status 1 "a step over --memory fails"
nothing_left "after the OOM"

# --- kill -9 of cairn, then recovery -------------------------------------------------------
# (The step's own "started" line, not the heading that shows its command:
# the container must exist before cairn is killed.)
rm -f slow.out slow.err   # the wait below must not see the last run's output
"$CAIRN" build -f slow.spec ctx >slow.out 2>slow.err &
pid=$!
for i in $(seq 600); do grep -qx started slow.out && break; sleep 0.1; done
ok $(grep -qx started slow.out && echo 0 || echo 1) "a slow step is running again"
kill -9 $pid
wait $pid 2>/dev/null
ok $([ "$(containers)" -ge 1 ] && echo 0 || echo 1) "kill -9 of cairn leaves its container in containerd"
run_cmd "$CAIRN" build -f after.spec ctx
is_status 0 "the next cairn recovers and builds"
has "$err" "left over from an earlier run" "saying what it removed"
nothing_left "after recovery"

# --- orphaned snapshots (OBuilder PR 209) and a crash after a commit ------------------------
orphan=$(printf orphan | sha256sum | cut -c1-64)
C snapshot prepare "obuilder-base-$orphan" "$chain" >/dev/null && C snapshot commit "obuilder-base-$orphan-committed" "obuilder-base-$orphan"
crashed=$(printf crashed | sha256sum | cut -c1-64)
C snapshot prepare "obuilder-$crashed" "$chain" >/dev/null && C snapshot commit "obuilder-$crashed-committed" "obuilder-$crashed"
mkdir "$store/result-tmp/$crashed"   # committed, not yet published, when cairn died
printf '((snapshot_key obuilder-%s)\n (source /x)\n (parent_layer_paths ()))\n' "$crashed" >"$store/result-tmp/$crashed/layerinfo"
unrelated=$(printf unrelated | sha256sum | cut -c1-64)
C snapshot prepare "obuilder-$unrelated" "$chain" >/dev/null && C snapshot commit "obuilder-$unrelated-committed" "obuilder-$unrelated"
before=$(C snapshot ls | grep -c obuilder-)
run_cmd "$CAIRN" ls
is_status 0 "a store with leftover snapshots opens"
is "$(C snapshot ls | grep -c "$orphan")" 0 "recovery removes a base snapshot whose result is gone (OBuilder PR 209)"
is "$(C snapshot ls | grep -c "$crashed")" 0 "and the snapshot of a step committed but never published"
is "$(C snapshot ls | grep -c obuilder-)" $((before - 2)) "and nothing else"
has "$err" "its base result is gone" "saying so"
C snapshot rm "obuilder-$unrelated-committed"

# --- fsck: a result whose snapshot is gone --------------------------------------------------
printf '((from busybox) (shell /bin/sh -c) (run (shell "echo fsck-victim")))' >victim.spec
run_cmd "$CAIRN" build -f victim.spec ctx
victim=$(printf '%s\n' "$out" | sed -n 's/^Got: "\(.*\)"$/\1/p')
C snapshot rm "obuilder-$victim-committed"
run_cmd "$CAIRN" fsck --check
is_status 1 "fsck --check finds a result whose snapshot containerd no longer has"
has "$out" "$victim: cannot be used (what it is built on is gone)" "and names it"
run_cmd "$CAIRN" fsck
run_cmd "$CAIRN" fsck --check
is "$out" "The store is consistent
" "fsck repairs it by removing the result"
run_cmd "$CAIRN" build -f victim.spec ctx
has "$out" "fsck-victim" "which the next build makes again"

# --- a 60-step chain -----------------------------------------------------------------------
{
        printf '((from busybox) (shell /bin/sh -c)\n'
        for i in $(seq 1 60); do printf ' (run (shell "echo %d >> /chain"))\n' "$i"; done
        printf ' (run (shell "wc -l < /chain; tail -n 1 /chain")))\n'
} >chain.spec
run_cmd "$CAIRN" build -f chain.spec ctx
is_status 0 "a 61-step chain builds (deep overlays of containerd snapshots mount)"
has "$out" "60
60" "every step's file survives the chain"
run_cmd "$CAIRN" build -f chain.spec ctx
is "$(printf '%s\n' "$out" | grep -c 'from cache')" 62 "and comes from the cache the second time"
nothing_left "after the chain"

# --- network --------------------------------------------------------------------------------
printf '((from busybox) (shell /bin/sh -c) (run (shell "cat /proc/net/dev | tail -n +3 | cut -d: -f1 | sort | tr -d \\" \\" | tr \\"\\\\n\\" \\" \\"")))' >nonet.spec
run_cmd "$CAIRN" build -f nonet.spec ctx
has "$out" "
lo 
" "without (network host) the step has only loopback"
host_ifs=$(tail -n +3 /proc/net/dev | cut -d: -f1 | sort | tr -d ' ' | tr '\n' ' ')
printf '((from busybox) (shell /bin/sh -c) (run (network host) (shell "cat /proc/net/dev | tail -n +3 | cut -d: -f1 | sort | tr -d \\" \\" | tr \\"\\\\n\\" \\" \\"")))' >hostnet.spec
run_cmd "$CAIRN" build -f hostnet.spec ctx
has "$out" "
$host_ifs
" "(network host) without a CNI config shares the host's network"

# With cni-conf-dir, the step gets its own namespace set up by CNI.  cairn
# runs in a network namespace of its own here, so the bridge the plugin
# makes is not on the host.
mkdir -p cni
cat >cni/10-cairn-test.conflist <<'JSON'
{"cniVersion":"0.4.0","name":"cairn-test","plugins":[
 {"type":"bridge","bridge":"cairntest0","isGateway":true,"ipMasq":false,
  "ipam":{"type":"host-local","ranges":[[{"subnet":"10.231.77.0/24"}]],"routes":[{"dst":"0.0.0.0/0"}]}}]}
JSON
printf '((from busybox) (shell /bin/sh -c) (run (network host) (shell "ip -o -4 addr show eth0 | tr -s \\" \\" | cut -d\\" \\" -f4 | sed s/^/addr=/; ip route | grep default | cut -d\\" \\" -f3 | sed s/^/gw=/")))' >cni.spec
run_cmd unshare --net -- "$CAIRN" build -f cni.spec --store-opt "address=$CONTAINERD_SOCK" --store-opt "namespace=$ns" \
        --store-opt "cni-conf-dir=$tmp/cni" ctx
is_status 0 "(network host) with a CNI config dir builds"
has "$out" "addr=10.231.77." "the container gets an address from that config (not podman's nor the host's /etc/cni/net.d)"
has "$out" "gw=10.231.77.1" "and its default route"
ok $(ip link show cairntest0 >/dev/null 2>&1 && echo 1 || echo 0) "nothing was added to the host's network"
echo '{"cniVersion":"0.4.0","name":"bad","plugins":[{"type":"no-such-plugin"}]}' >cni/10-cairn-test.conflist
printf '((from busybox) (shell /bin/sh -c) (run (network host) (shell "echo bad-cni")))' >badcni.spec
run_cmd unshare --net -- "$CAIRN" build -f badcni.spec --store-opt "address=$CONTAINERD_SOCK" --store-opt "namespace=$ns" \
        --store-opt "cni-conf-dir=$tmp/cni" ctx
is_status 1 "a CNI setup that fails fails the step"
has "$out" 'failed to find plugin "no-such-plugin"' "with ctr's message in the log"
nothing_left "after a failed CNI setup (ctr leaves its container and task; cairn removes them)"

# --- images at hand: --pull, and an image that changes behind its name -------------------
printf '((from busybox) (shell /bin/sh -c) (run (shell "echo at-hand")))' >never.spec
run_cmd "$CAIRN" build --pull=never -f never.spec ctx
is_status 0 "--pull=never builds on an image imported with ctr images import"
lacks "$out" "Pulling" "pulling nothing"
printf '((from nosuch.example/none:1) (run (shell true)))' >missing.spec
run_cmd "$CAIRN" build --pull=never -f missing.spec ctx
is_status 1 "--pull=never with an image containerd lacks fails"
has "$err" "containerd has no image nosuch.example/none:1 and --pull=never forbids pulling it" "saying why"
{ read -r _; read -r _; } < <(containerd_import_busybox "$ctd" docker.io/library/moving:v1 "$ns")
printf '((from moving:v1) (shell /bin/sh -c) (run (shell "echo size=$(wc -c < /bin/busybox)")))' >moving.spec
run_cmd "$CAIRN" build -f moving.spec ctx
has "$out" "size=$(wc -c </bin/busybox)" "a build on moving:v1"
cp /bin/busybox busybox-grown
printf 'x' >>busybox-grown
{ read -r _; read -r _; } < <(BUSYBOX=$tmp/busybox-grown containerd_import_busybox "$ctd" docker.io/library/moving:v1 "$ns")
run_cmd "$CAIRN" build -f moving.spec ctx
is_status 0 "a build after ctr images import gave moving:v1 other layers"
has "$out" "The image moving:v1 changed" "sees the image changed"
has "$out" "size=$(wc -c <busybox-grown)" "and builds on the new one"
run_cmd "$CAIRN" build -f moving.spec ctx
lacks "$out" "changed" "the next build keeps it"
has "$out" "from cache" "and reuses its steps"
nothing_left "after the image changed"

# --- export, delete, clean ----------------------------------------------------------------------
run_cmd "$CAIRN" export "$final" --oci "$tmp/exported"
is_status 0 "a containerd result exports as an OCI image"
run_cmd env -u CAIRN_STORE_OPTS "$CAIRN" image import --store="overlayfs:$tmp/native" exported "$tmp/exported"
is_status 0 "which imports into another store"
printf '((from exported) (shell /bin/sh -c) (run (shell "cat /artifact /greeting /src/a.txt")))' >exp.spec
run_cmd env -u CAIRN_STORE_OPTS "$CAIRN" build --store="overlayfs:$tmp/native" -f exp.spec ctx
has "$out" "built
hello
one" "and runs there with every layer's files"

run_cmd "$CAIRN" delete "$final"
is_status 0 "delete a result"
C snapshot ls | grep -q "obuilder-$final"
ok $((1 - $?)) "its snapshot is gone from containerd"
first_step=$(printf '%s\n' "$first" | sed -n 's/^---> saved as "\(.*\)"$/\1/p' | sed -n 2p)
run_cmd "$CAIRN" delete "$first_step"
is_status 0 "delete a result in the middle of a chain"
for id in $(printf '%s\n' "$first" | sed -n 's/^---> saved as "\(.*\)"$/\1/p' | sed -n '2,$p'); do
        C snapshot ls | grep -q "obuilder-$id" && echo "still there: $id"
done >still.txt
is "$(cat still.txt)" "" "its descendants' snapshots go first, then its own"
run_cmd "$CAIRN" clean
is_status 0 "clean empties the store"
is "$(C snapshot ls | grep -c obuilder-)" 0 "and containerd holds no snapshot of cairn's"
is "$(C snapshot ls | grep -c "$chain")" 1 "but keeps the image's own snapshots"
nothing_left "at the end"

tap_done
