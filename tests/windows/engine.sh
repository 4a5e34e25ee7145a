#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# cairn.exe's engine under wine, on the hcs backend: builds, caching, a
# failing step, copies, caches, secrets, HCN namespaces, and the store verbs.
# There is no containerd nor HCS here, so two STAND-INS are used:
#   - for ctr, build-windows/tests/ctr-relay.exe, which relays each
#     command line to tests/windows/ctr-relay-server.py on 127.0.0.1, which
#     runs tests/lib/fake-ctr.py (the stand-in the Linux hcs test uses);
#   - for computenetwork.dll, tests/windows/fake-computenetwork.c, under
#     the real cairn-hcn.exe as the hcn-namespace tool.
# What is tested is cairn.exe's side: the same step IDs as the Linux build
# for the same spec, the ctr calls, the tar a copy sends, what a failure
# leaves, and paths with drive letters all the way through the store.
#   CAIRN_WINDOWS_BUILD   the cross build (default build-windows)
#   CAIRN                 the native cairn, for the IDs (default build/src/cairn)
set -u
: "${CAIRN_SRCDIR:?source tree}"
. "$CAIRN_SRCDIR/tests/lib/tap.sh"
. "$CAIRN_SRCDIR/tests/windows/lib.sh"
wine_setup engine
for exe in src/cairn src/cairn-hcn tests/ctr-relay; do
        [ -f "$build/$exe.exe" ] || need "needs $exe.exe (make windows)"
done
command -v python3 >/dev/null || need "needs python3"
native=${CAIRN:-$CAIRN_SRCDIR/build/src/cairn}

export FAKE_CTR_STATE=$tmp/ctr
python3 "$CAIRN_SRCDIR/tests/windows/ctr-relay-server.py" "$tmp/port" &
server=$!
trap 'kill $server 2>/dev/null; WINEPREFIX=$tmp/prefix /usr/lib/wine/wineserver64 -k 2>/dev/null; rm -rf "$tmp"' EXIT
for i in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.1; done
export CAIRN_CTR_RELAY_PORT=$(cat "$tmp/port")
ok $([ -n "$CAIRN_CTR_RELAY_PORT" ] && echo 0 || echo 1) "the ctr relay listens on 127.0.0.1:$CAIRN_CTR_RELAY_PORT"
x86_64-w64-mingw32-gcc -shared -O2 -o "$WINEPREFIX/drive_c/windows/system32/computenetwork.dll" \
        "$CAIRN_SRCDIR/tests/windows/fake-computenetwork.c" "$CAIRN_SRCDIR/tests/windows/fake-computenetwork.def" -lole32
ok $? "the stand-in computenetwork.dll builds"
export FAKE_HCN_STATE='C:\fake-hcn-state.txt'

cd "$tmp"
export CAIRN_STORE="hcs:$(winpath "$tmp/store")"
export CAIRN_STORE_OPTS="ctr=$(winpath "$build/tests/ctr-relay.exe") hcn-namespace=$(winpath "$build/src/cairn-hcn.exe")"
cairn() {
        run_cmd "$WINE" "$build/src/cairn.exe" "$@"
        out=${out//$'\r'/}
        err=${err//$'\r'/}
}
calls() { cat "$FAKE_CTR_STATE/calls" 2>/dev/null; }
got() { sed -n 's/^Got: "\(.*\)"$/\1/p' <<<"$1"; }

. "$CAIRN_SRCDIR/tests/lib/windows-spec.sh"

# --- a build --------------------------------------------------------------------------------
cairn build -f win.spec --secret tok:secret.txt ctx
is_status 0 "cairn.exe builds a Windows spec on the hcs store"
id=$(got "$out")
ok $([[ $id =~ ^[0-9a-f]{64}$ ]] && echo 0 || echo 1) "and names the result ($id)"
has "$(calls)" "images pull --platform=windows/amd64 mcr.microsoft.com/windows/nanoserver:ltsc2022" \
        "the image is pulled for windows/amd64"
ok $([ -f "$tmp/store/result/$id/layerinfo" ] && echo 0 || echo 1) \
        "the result is in the store under its drive-letter path, with its layerinfo"
# The stand-in lists the tar it is given, as bsdtar -tv would.
has "$out" "x d755 ContainerAdministrator:380929 Users/x
x -644 ContainerAdministrator:380929 Users/x/a.txt
x d755 ContainerAdministrator:380929 Users/x/dir
x -644 ContainerAdministrator:380929 Users/x/dir/b.txt" "the copy's tar, made by cairn.exe, has the files, owned as OBuilder's"
net_cfg=$(grep -l 'ping example' "$FAKE_CTR_STATE"/configs/*.json | xargs cat)
has "$net_cfg" '"networkNamespace":"' "(network host) runs in an HCN namespace made by cairn-hcn.exe"
ok $([ ! -s "$WINEPREFIX/drive_c/fake-hcn-state.txt" ] && echo 0 || echo 1) "which is deleted after the step"
is "$(grep -c 'not on the system volume' <<<"$err")" 1 \
        "a store on Z: is warned about, once for the whole build (a cache is on the same volume)"
has "$err" "the store \"$(winpath "$tmp/store")\" is on Z:\\, not on the system volume C:\\" "naming both volumes"
secret_cfg=$(grep -l 'type C:' "$FAKE_CTR_STATE"/configs/*.json | xargs cat)
secret_src=$(python3 -c 'import json,sys; d=json.load(sys.stdin); print([m["source"] for m in d["mounts"] if m["destination"] == "C:/secret.txt"][0])' <<<"$secret_cfg")
store_win=$(winpath "$tmp/store")
ok $([[ ${secret_src//\\//} == ${store_win//\\//}/result-tmp/*/.secrets-??????/secret-0 ]] && echo 0 || echo 1) \
        "the secret is mounted from an absolute Windows path in the step's build directory ($secret_src)"
lacks "$secret_src" "/" "with no Unix separator in it"
has "$secret_cfg" '"commandLine":"cmd /S /C \"type C:\\secret.txt\""' \
        "a cmd /S /C step carries its command line, the shell string as written"
rm_cfg=$(grep -l 'rmdir C:' "$FAKE_CTR_STATE"/configs/*.json | xargs cat)
has "$rm_cfg" '"commandLine":"cmd /S /C \"rmdir C:\\cairn-copy\""' "the copy's empty C:\\cairn-copy is removed after it"

# --- the same IDs as the Linux build ------------------------------------------------------------
# Paths are read as OBuilder reads them on each system: C:/ is absolute on
# Windows ("C:/: (shell ..." in the log) and relative on Linux ("/C:/").
has "$out" "
C:/: (shell cmd /S /C)" "on Windows (workdir C:/) is absolute, as OBuilder's Filename has it there"
# Where paths mean the same on both, so must the IDs: manifests, copies,
# caches, secrets, users and networks.
# (The first user differs too: ContainerAdministrator on Windows, uid 0 on
# Linux, as in OBuilder; so it is given.)
sed -e 's|(workdir C:/)|(workdir /build) (user (name ContainerAdministrator))|' -e 's|(dst C:/Users/x/)|(dst /Users/x/)|' \
        win.spec >same.spec
cairn build -f same.spec --secret tok:secret.txt ctx
is_status 0 "a spec whose paths mean the same on Linux and Windows builds"
win_id=$(got "$out")
printf '#!/bin/sh\n[ "$1" = create ] && echo 5f0e7f0e-1111-2222-3333-444455556666\nexit 0\n' >hcn-native
chmod +x hcn-native
out=
if [ -x "$native" ]; then
        FAKE_CTR_STATE=$tmp/ctr-native CAIRN_STORE="hcs:$tmp/store-native" \
                CAIRN_STORE_OPTS="ctr=$CAIRN_SRCDIR/tests/lib/fake-ctr.py hcn-namespace=$tmp/hcn-native" \
                run_cmd "$native" build -f same.spec --secret tok:secret.txt ctx
fi
is "$(got "$out")" "$win_id" "and the native build of it gets the same final ID"

# --- OBuilder's defaults on Windows (reference 1.5) ------------------------------------------------
printf '((from mcr.microsoft.com/windows/nanoserver:ltsc2022) (run (shell "echo defaults")))' >defaults.spec
cairn build -f defaults.spec ctx
is_status 0 "a spec that sets no workdir, user or shell"
cfg=$(grep -l 'echo defaults' "$FAKE_CTR_STATE"/configs/*.json | xargs cat)
has "$cfg" '"args":["C:\\cygwin64\\bin\\bash.exe","-lc","echo defaults"]' "runs with HCS's shell, Cygwin's bash -lc"
has "$cfg" '"username":"ContainerAdministrator"' "as ContainerAdministrator"
has "$cfg" '"cwd":"C:/"' "in C:/"

# --- cached -------------------------------------------------------------------------------------
: >"$FAKE_CTR_STATE/calls"
cairn build -f win.spec --secret tok:secret.txt ctx
is_status 0 "building again"
is "$(got "$out")" "$id" "gives the same ID"
lacks "$(calls)" "run " "without running any step"

# --- a failing step ----------------------------------------------------------------------------
printf '((from mcr.microsoft.com/windows/nanoserver:ltsc2022) (shell cmd /S /C) (run (shell "exit 3")))' >fail.spec
cairn build -f fail.spec ctx
is_status 1 "a failing step fails the build"
has "$err" "Build step failed" "saying so"
is "$(ls "$FAKE_CTR_STATE/containers" 2>/dev/null | wc -l)" 0 "and leaves no container"
is "$(ls -A "$tmp/store/result-tmp")" "" "nor a temporary result"

# The registry step cache is for Linux stores: asked on hcs, a clear error.
cairn build -f win.spec --secret tok:secret.txt --cache-to 127.0.0.1:5000/cairn/steps ctx
is_status 1 "--cache-to on an hcs store is refused"
has "$err" "not supported on hcs stores yet" "saying it is not supported there yet"

# --- the store verbs ------------------------------------------------------------------------------
cairn ls
is_status 0 "ls"
has "$out" "$id" "lists the result"
cairn inspect "$id"
is_status 0 "inspect"
has "$out" "\"id\": \"$id\"" "describes it as JSON"
cairn fsck --check
is_status 0 "fsck --check finds nothing wrong"
cairn delete "$id"
is_status 0 "delete"
ok $([ ! -e "$tmp/store/result/$id" ] && echo 0 || echo 1) "removes the result"
cairn healthcheck
is_status 0 "healthcheck (nanoserver of the host's build, cmd /S /C)"
has "$out" "Healthcheck passed" "passes"
has "$(calls)" "mcr.microsoft.com/windows/nanoserver:ltsc20" "on nanoserver"
cairn clean
is_status 0 "clean"
is "$(ls "$tmp/store/result" | wc -l)" 0 "empties the store"

# (The stand-in ctr has one namespace: the store above is emptied first.)
CAIRN_STORE='hcs:C:\cairn-store' cairn build -f win.spec --secret tok:secret.txt ctx
is_status 0 "a build in a store on C:, the system volume"
lacks "$err" "system volume" "is not warned about"
tap_done
