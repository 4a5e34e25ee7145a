#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The hcs store's Windows flow (windows-layer snapshots, layerFolders, HCN
# namespaces for (network host), copies through a tar extracted in the
# container) driven on Linux against tests/lib/fake-ctr.py, which stands in
# for ctr and containerd on Windows: there is no HCS here.  What it checks
# is cairn's side: the ctr command lines, the configs it writes, the order
# of namespace creation and deletion, what it removes after a failure.
# The same code runs for real against containerd in containerd.sh.
set -u
: "${CAIRN:?path to the cairn binary}" "${CAIRN_SRCDIR:?source tree}"
. "$CAIRN_SRCDIR/tests/lib/tap.sh"
command -v python3 >/dev/null || need "needs python3"

tmp=$(mktemp -d /tmp/cairn-hcs-test.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
export FAKE_CTR_STATE=$tmp/ctr
cat >hcn-namespace <<'SH'
#!/bin/sh
# Stands in for the hcn-namespace tool (HCN namespaces are Windows-only).
echo "$*" >>"$FAKE_CTR_STATE/hcn"
case $1 in
create) echo 5f0e7f0e-1111-2222-3333-444455556666 ;;
delete) ;;
*) echo "hcn-namespace: unknown verb $1" >&2; exit 2 ;;
esac
SH
chmod +x hcn-namespace
export CAIRN_STORE="hcs:$tmp/store"
export CAIRN_STORE_OPTS="ctr=$CAIRN_SRCDIR/tests/lib/fake-ctr.py hcn-namespace=$tmp/hcn-namespace"
calls() { cat "$FAKE_CTR_STATE/calls" 2>/dev/null; }
config_of_last_run() { ls -t "$FAKE_CTR_STATE"/configs/*.json | head -1 | xargs cat; }
J() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }
snaps='C:\ProgramData\containerd\root\io.containerd.snapshotter.v1.windows\snapshots'

. "$CAIRN_SRCDIR/tests/lib/windows-spec.sh"
run_cmd "$CAIRN" build -f win.spec --secret tok:secret.txt ctx
is_status 0 "a Windows spec builds on the hcs store (against the stand-in ctr)"
has "$(calls)" "images pull --platform=windows/amd64 mcr.microsoft.com/windows/nanoserver:ltsc2022" \
        "the image is pulled for windows/amd64"
base_id=$(printf 'mcr.microsoft.com/windows/nanoserver:ltsc2022' | sha256sum | cut -c1-64)
has "$(calls)" "snapshot prepare --mounts obuilder-base-$base_id sha256:" "the base is prepared from the chain ID"
chain=$(python3 -c 'import hashlib; a="sha256:"+"1"*64; b="sha256:"+"2"*64; print("sha256:"+hashlib.sha256((a+" "+b).encode()).hexdigest())')
has "$(calls)" "obuilder-base-$base_id $chain" "computed from the Windows config's diff_ids (not the linux manifest's)"
has "$out" "Using mcr.microsoft.com/windows/nanoserver:ltsc2022 (sha256:" "the log names image and digest"
li=$(cat "$tmp/store/result/$base_id/rootfs/layerinfo")
is "$li" "((snapshot_key obuilder-base-$base_id)
 (source \"${snaps//\\/\\\\}\\\\1\")
 (parent_layer_paths
  (\"${snaps//\\/\\\\}\\\\900\")))" "the base's layerinfo: OBuilder's sexp, in rootfs/ as OBuilder writes it"

first_run=$(ls -tr "$FAKE_CTR_STATE"/configs/*.json | head -1)
cfg=$(cat "$first_run")
is "$(J '"|".join(d["windows"]["layerFolders"])' <<<"$cfg")" "$snaps\\1|$snaps\\900|$snaps\\2" \
        "layerFolders: the parents, nearest first, then the scratch"
is "$(J 'd["process"]["user"]' <<<"$cfg")" "{'username': 'ContainerAdministrator'}" "the default user"
is "$(J 'd["process"]["env"]' <<<"$cfg")" "['PATH=C:\\\\Windows\\\\system32;C:\\\\Windows', 'WIN_IMAGE=yes']" \
        "the Windows image's env"
is "$(J 'd["process"]["args"]' <<<"$cfg")" "['cmd', '/S', '/C', 'echo first']" "the shell and command"
is "$(J 'd["process"]["commandLine"]' <<<"$cfg")" 'cmd /S /C "echo first"' \
        "and the command line hcsshim runs as it stands, the shell string in the one pair of quotes cmd /S drops"
is "$(J 'd["root"]' <<<"$cfg")" "{'path': '', 'readonly': False}" "root.path empty: the shim mounts layerFolders"
is "$(J '"network" in d["windows"]' <<<"$cfg")" "False" "no network without (network host)"

tarlist=$(printf '%s\n' "$out" | grep '^x ')
is "$tarlist" "x d755 ContainerAdministrator:380929 Users
x d755 ContainerAdministrator:380929 Users/x
x -644 ContainerAdministrator:380929 Users/x/a.txt
x d755 ContainerAdministrator:380929 Users/x/dir
x -644 ContainerAdministrator:380929 Users/x/dir/b.txt" \
        "the copy is a tar with every parent directory, drive letter stripped, owned by ContainerAdministrator"
copy_cfg=$(grep -l '"args":\["tar"' "$FAKE_CTR_STATE"/configs/*.json | xargs cat)
is "$(J '(d["process"]["args"], d["process"]["cwd"], d["process"]["env"])' <<<"$copy_cfg")" \
        "(['tar', '-xf', 'C:\\\\cairn-copy\\\\data.tar'], 'C:/', ['PATH=C:\\\\Windows\\\\System32;C:\\\\Windows'])" \
        "extracted by the image's tar from C:/, with Windows' own PATH"
is "$(J 'd["mounts"][0]["destination"], d["mounts"][0].get("type"), d["mounts"][0]["options"]' <<<"$copy_cfg")" \
        "('C:\\\\cairn-copy', None, ['ro'])" \
        "from a read-only mounted directory, not through stdin: no type, \"ro\" alone, as hcsshim reads a mount"
is "$(J '"network" in d["windows"]' <<<"$copy_cfg")" "False" "with no network"
rm_cfg=$(grep -l 'rmdir C:' "$FAKE_CTR_STATE"/configs/*.json | xargs cat)
is "$(J '(d["process"]["commandLine"], "mounts" in d)' <<<"$rm_cfg")" "('cmd /S /C \"rmdir C:\\\\cairn-copy\"', False)" \
        "then the empty mount point HCS leaves in the layer is removed, by a container with nothing mounted"
ok $(for f in $(ls -tr "$FAKE_CTR_STATE"/configs/*.json); do grep -q '"args":\["tar"' "$f" && echo tar; grep -q 'rmdir C:' "$f" && echo rmdir; done |
        tr '\n' ' ' | grep -q '^tar rmdir $' && echo 0 || echo 1) "after the tar, in the same step"

cache_cfg=$(grep -l 'type C:' "$FAKE_CTR_STATE"/configs/*.json | xargs cat)
is "$(J '[(m["destination"], m.get("type"), m.get("options")) for m in d["mounts"]]' <<<"$cache_cfg")" \
        "[('C:/cache', None, None), ('C:/secret.txt', None, ['ro'])]" \
        "the cache is mounted read-write and the secret read-only (OBuilder never mounts secrets)"
secret_src=$(J 'd["mounts"][1]["source"]' <<<"$cache_cfg")
ok $([[ $secret_src == "$tmp"/store/result-tmp/*/.secrets-*/secret-0 ]] && echo 0 || echo 1) \
        "the secret comes from the step's own build directory in the store, not /tmp ($secret_src)"
ok $([ ! -e "$secret_src" ] && [ -z "$(find "$tmp/store" -name '.secrets-*')" ] && echo 0 || echo 1) \
        "and is gone after the step"

net_cfg=$(grep -l 'ping example' "$FAKE_CTR_STATE"/configs/*.json | xargs cat)
is "$(J 'd["windows"]["network"]' <<<"$net_cfg")" \
        "{'allowUnqualifiedDNSQuery': True, 'networkNamespace': '5f0e7f0e-1111-2222-3333-444455556666'}" \
        "(network host) runs in the HCN namespace the tool created"
has "$(calls)" "run --rm --cni --config" "with --cni"
tag=$(printf '%s' "$tmp/store" | sha256sum | cut -c1-12)
ok $(grep '^run ' "$FAKE_CTR_STATE/calls" | grep -vq " cairn-run-$tag-[0-9]*-[0-9]*-[0-9a-f]*\$" && echo 1 || echo 0) \
        "every run container is named after the store (cairn-run-$tag-PID-N-RANDOM)"
is "$(cat "$FAKE_CTR_STATE/hcn")" "create
delete 5f0e7f0e-1111-2222-3333-444455556666" "and the namespace is deleted after the run"
is "$(J 'd["process"]["user"]' <<<"$net_cfg")" "{'username': 'ContainerUser'}" "a user by name goes to the container"
is "$(python3 -c 'import json; d=json.load(open("'"$FAKE_CTR_STATE"'/snapshots.json")); print(sorted(v["kind"] for v in d["snaps"].values()))')" \
        "['Committed', 'Committed', 'Committed', 'Committed', 'Committed', 'Committed']" \
        "every step is a committed snapshot, none is left active"

: >"$FAKE_CTR_STATE/calls"
run_cmd "$CAIRN" build -f win.spec --secret tok:secret.txt ctx
is_status 0 "the same build again"
lacks "$(calls)" " run " "runs nothing"
lacks "$(calls)" "images pull" "pulls nothing (OBuilder pulls every time)"

# --- failures and cancellation ---------------------------------------------------------
: >"$FAKE_CTR_STATE/hcn"
printf '((from mcr.microsoft.com/windows/nanoserver:ltsc2022) (workdir C:/) (shell cmd /S /C) (run (network host) (shell "echo bad & exit 3")))' >fail.spec
run_cmd "$CAIRN" build -f fail.spec ctx
is_status 1 "a failing step fails"
has "$err" "failed with exit status 3" "with its status"
has "$(calls)" "task delete --force cairn-run-" "the task is removed after a failed run"
has "$(calls)" "containers rm cairn-run-" "and the container"
is "$(cat "$FAKE_CTR_STATE/hcn")" "create
delete 5f0e7f0e-1111-2222-3333-444455556666" "the HCN namespace is deleted after a failed run too"
is "$(python3 -c 'import json; d=json.load(open("'"$FAKE_CTR_STATE"'/snapshots.json")); print(sum(v["kind"] == "Active" for v in d["snaps"].values()))')" \
        0 "and its snapshot is removed"

printf '((from mcr.microsoft.com/windows/nanoserver:ltsc2022) (workdir C:/) (shell cmd /S /C) (run (shell "sleep 60")))' >slow.spec
"$CAIRN" build -f slow.spec ctx >slow.out 2>&1 &
pid=$!
for i in $(seq 100); do grep -q started slow.out && break; sleep 0.1; done
running=$(ls "$FAKE_CTR_STATE/containers")
"$CAIRN" ls >/dev/null 2>&1
is "$(ls "$FAKE_CTR_STATE/containers")" "$running" \
        "another cairn opening the store meanwhile leaves the running container alone (the store lock says it is held)"
kill -INT $pid
wait $pid
is "$?" 130 "SIGINT cancels a Windows step"
has "$(calls)" "task kill -s SIGKILL cairn-run-" "through ctr task kill -s SIGKILL"
is "$(ls "$FAKE_CTR_STATE/containers" | wc -l)" 0 "and no container is left"

printf '((build s ((from mcr.microsoft.com/windows/nanoserver:ltsc2022) (workdir C:/) (shell cmd /S /C) (run (shell "echo x")))) (from mcr.microsoft.com/windows/nanoserver:ltsc2022) (copy (from (build s)) (src C:/x) (dst C:/y)))' >stage.spec
run_cmd "$CAIRN" build -f stage.spec ctx
is_status 1 "copy from a build stage on Windows"
has "$err" "copying from a build stage is not supported by the hcs store" "fails with a clear error"

run_cmd "$CAIRN" build -f win.spec --store-opt hcn-namespace=/no/such/tool --secret tok:secret.txt ctx
is_status 0 "(cached) steps need no HCN tool"
printf '((from mcr.microsoft.com/windows/nanoserver:ltsc2022) (workdir C:/) (shell cmd /S /C) (run (network host) (shell "echo net2")))' >net2.spec
run_cmd "$CAIRN" build -f net2.spec --store-opt hcn-namespace=/no/such/tool ctx
is_status 1 "a missing hcn-namespace tool fails the networked step"
has "$err" "/no/such/tool create" "naming the tool"

# --- start-up recovery: only this store's containers ------------------------------------------------
: >"$FAKE_CTR_STATE/calls"
for c in obuilder-run-0 cairn-run-0123456789ab-1-0-0 "cairn-run-$tag-999999-0-0" "cairn-run-$tag-$$-0-0"; do
        echo 1 >"$FAKE_CTR_STATE/containers/$c"
done
mkdir "$tmp/store/result-tmp/left-by-a-crash"
run_cmd "$CAIRN" ls
is_status 0 "opening a store a crash left"
has "$(calls)" "containers rm cairn-run-$tag-999999-0-0" "removes the run containers it left"
has "$(calls)" "containers rm cairn-run-$tag-$$-0-0" "whatever process has that PID now: no cairn process holds the store"
is "$(ls "$FAKE_CTR_STATE/containers")" "cairn-run-0123456789ab-1-0-0
obuilder-run-0" "and leaves OBuilder's and another store's containers in the namespace alone"
rm -f "$FAKE_CTR_STATE"/containers/*

run_cmd "$CAIRN" clean
is_status 0 "clean"
is "$(python3 -c 'import json; d=json.load(open("'"$FAKE_CTR_STATE"'/snapshots.json")); print(sorted(d["snaps"]))')" "['$chain']" \
        "removes every snapshot of cairn's, children first, and keeps the image's"

tap_done
