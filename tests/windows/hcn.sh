#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# cairn-hcn.exe under wine, against tests/windows/fake-computenetwork.c, a
# STAND-IN for Windows' computenetwork.dll built here: wine has no Host
# Compute Network service, so what is tested is cairn-hcn's side (loading
# the DLL, UTF-16 strings, HRESULTs and error records, the CNI config file).
#   CAIRN_HCN_EXE   the cross-built tool (default build-windows/src/cairn-hcn.exe)
set -u
: "${CAIRN_SRCDIR:?source tree}"
. "$CAIRN_SRCDIR/tests/lib/tap.sh"
exe=${CAIRN_HCN_EXE:-$CAIRN_SRCDIR/build-windows/src/cairn-hcn.exe}
WINE=${WINE:-/usr/lib/wine/wine64}
[ -x "$WINE" ] || need "needs wine64"
command -v x86_64-w64-mingw32-gcc >/dev/null || need "needs mingw-w64"
[ -f "$exe" ] || need "needs the Windows build (make windows)"

tmp=$(mktemp -d /tmp/cairn-wine-test.XXXXXX)
export WINEPREFIX=$tmp/prefix WINEDEBUG=-all
cleanup() {
        WINEPREFIX=$tmp/prefix /usr/lib/wine/wineserver64 -k 2>/dev/null
        rm -rf "$tmp"
}
trap cleanup EXIT
# A fresh wine prefix (its first start prints wine's own complaints).
"$WINE" wineboot --init >/dev/null 2>&1
x86_64-w64-mingw32-gcc -shared -O2 -o "$tmp/computenetwork.dll" \
        "$CAIRN_SRCDIR/tests/windows/fake-computenetwork.c" "$CAIRN_SRCDIR/tests/windows/fake-computenetwork.def" -lole32
ok $? "the stand-in computenetwork.dll builds"
# A Windows program ends its lines with CR LF.
hcn() {
        run_cmd "$WINE" "$exe" "$@"
        out=${out//$'\r'/}
        err=${err//$'\r'/}
}

# --- no computenetwork.dll (a Windows without HNS) -----------------------------------
hcn namespace list
is_status 1 "without computenetwork.dll the tool fails cleanly"
has "$err" "cannot load computenetwork.dll (Windows error 126" "with the Windows error"
has "$err" "needs Windows 10 1809 or Windows Server 2019 or later" "and what it needs"
lacks "$err" "c0000135" "instead of an executable that does not start"

cp "$tmp/computenetwork.dll" "$WINEPREFIX/drive_c/windows/system32/computenetwork.dll"
export FAKE_HCN_STATE='C:\fake-hcn-state.txt' FAKE_HCN_SETTINGS='C:\fake-hcn-settings.txt'

# --- namespaces ---------------------------------------------------------------------------
hcn namespace list
is_status 0 "namespace list"
is "$out" "" "no namespace yet"
hcn namespace create
is_status 0 "namespace create"
is "$(cat "$WINEPREFIX/drive_c/fake-hcn-settings.txt")" '{"SchemaVersion":{"Major":2,"Minor":0}}' \
        "asks HNS for an empty namespace document in schema 2.0, as containerd does (no Type HostDefault)"
ns1=${out%$'\n'}
ok $([[ $ns1 =~ ^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$ ]] && echo 0 || echo 1) \
        "prints the new namespace's GUID ($ns1)"
hcn create
is_status 0 "OBuilder's hcn-namespace contract: create"
ns2=${out%$'\n'}
hcn namespace list
is "$out" "$ns1
$ns2
" "list shows both"
hcn namespace delete "$ns1"
is_status 0 "namespace delete"
hcn namespace list
is "$out" "$ns2
" "the deleted one is gone"
hcn namespace delete "$ns1"
is_status 0 "deleting a namespace that is gone is not an error (as containerd)"
has "$err" "already gone" "but it says so"
hcn delete "{$(echo "$ns2" | tr a-f A-F)}"
is_status 0 "OBuilder's contract: delete GUID (braces and capitals accepted)"
hcn namespace list
is "$out" "" "none left"
hcn namespace delete not-a-guid
is_status 1 "a bad GUID"
has "$err" '"not-a-guid" is not a GUID' "is refused with a clear message"
hcn namespace delete
is_status 2 "a missing GUID is a usage error"
hcn namespace frobnicate
is_status 2 "an unknown verb is a usage error"
has "$err" "Usage: cairn-hcn" "with the usage"
FAKE_HCN_FAIL=create hcn namespace create
is_status 1 "an HNS failure"
has "$err" "HcnCreateNamespace failed: HRESULT 0x800700b7" "gives the HRESULT"
has "$err" "HNS failed with error : Cannot create a file when that file already exists." \
        "and the error record's text"

# --- networks and the CNI config -------------------------------------------------------------
hcn network list
is "$out" "a6f2c3d1-0000-4000-8000-00000000bb02 ext Transparent - -
a6f2c3d1-0000-4000-8000-00000000aa01 nat NAT 172.20.16.0/20 172.20.16.1
" "network list: each network's ID, name, type, subnet and gateway"
conf=$WINEPREFIX/drive_c/nat.conf
hcn cni-config --out 'C:\nat.conf'
is_status 0 "cni-config"
has "$out" "written (network nat, subnet 172.20.16.0/20, gateway 172.20.16.1)" \
        "writes the NAT network's subnet and gateway"
is "$(cat "$conf")" '{
  "cniVersion": "0.2.0",
  "name": "nat",
  "type": "nat",
  "master": "Ethernet",
  "ipam": {
    "subnet": "172.20.16.0/20",
    "routes": [
      {
        "GW": "172.20.16.1"
      }
    ]
  },
  "capabilities": {
    "portMappings": true,
    "dns": true
  }
}' "as the nat plugin reads it: the network's name, the subnet, the gateway under ipam.routes[0].GW"
before=$(stat -c %Y.%i "$conf")
sleep 1
hcn cni-config --out 'C:\nat.conf'
has "$out" "is up to date" "run again, it finds the file up to date"
is "$(stat -c %Y.%i "$conf")" "$before" "and does not touch it"
hcn cni-config --out 'C:\nat.conf' --check
is_status 0 "--check passes when it is up to date"
export FAKE_HCN_SUBNET=172.31.0.0/20 FAKE_HCN_GATEWAY=172.31.0.1
hcn cni-config --out 'C:\nat.conf' --check
is_status 1 "--check fails after a reboot changed the NAT subnet"
is "$out" 'C:\nat.conf is out of date: subnet: the file has "172.20.16.0/20", HNS has "172.31.0.0/20"; gateway: the file has "172.20.16.1" in ipam.routes[0].GW, HNS has "172.31.0.1"
' "saying which fields differ and what HNS has now"
is "$(stat -c %Y.%i "$conf")" "$before" "and writes nothing"
hcn cni-config --out 'C:\nat.conf'
is_status 0 "without --check it repairs the file"
has "$(cat "$conf")" '"subnet": "172.31.0.0/20"' "with the new subnet"
has "$out" '; it had subnet: the file has "172.20.16.0/20"' "and says what it changed"
ls "$WINEPREFIX/drive_c/" | grep -q 'nat.conf.tmp' && leftover=1 || leftover=0
is "$leftover" 0 "the atomic write leaves no temporary file"
unset FAKE_HCN_SUBNET FAKE_HCN_GATEWAY

# What the seeds' fix-nat.ps1 writes (PowerShell's ConvertTo-Json, CR LF):
# cniVersion 0.3.0 and a "gateway" key, which the nat plugin does not read
# (it takes the subnet's address plus one, the same address here).
printf '{\r\n    "capabilities":  {\r\n                         "dns":  true,\r\n                         "portMappings":  true\r\n                     },\r\n    "ipam":  {\r\n                 "routes":  [\r\n                                {\r\n                                    "gateway":  "172.20.16.1"\r\n                                }\r\n                            ],\r\n                 "subnet":  "172.20.16.0/20"\r\n             },\r\n    "name":  "nat",\r\n    "master":  "Ethernet",\r\n    "type":  "nat",\r\n    "cniVersion":  "0.3.0"\r\n}\r\n' \
        >"$WINEPREFIX/drive_c/fix-nat.conf"
hcn cni-config --out 'C:\fix-nat.conf' --check
is_status 0 "--check accepts fix-nat.ps1's file: only what the nat plugin reads is compared"
printf '{"cniVersion":"0.2.0","name":"nat","type":"nat","ipam":{"subnet":"172.20.16.0/20","routes":[{"GW":"172.20.16.9"}]}}' \
        >"$WINEPREFIX/drive_c/gw.conf"
hcn cni-config --out 'C:\gw.conf' --check
is_status 1 "--check finds a wrong gateway"
has "$out" 'gateway: the file has "172.20.16.9" in ipam.routes[0].GW, HNS has "172.20.16.1"' "and says it is the gateway"
lacks "$out" "subnet:" "and nothing else"

# --- which NAT network --------------------------------------------------------------------------
FAKE_HCN_NAT2=1 hcn cni-config --out 'C:\nat2.conf'
is_status 1 "with two NAT networks and no --network"
has "$err" '2 NAT networks in HNS ("nat" (NAT 172.20.16.0/20), "build" (NAT 172.29.0.0/16)): choose one with --network NAME' \
        "cairn-hcn refuses to guess, naming them"
ok $([ ! -e "$WINEPREFIX/drive_c/nat2.conf" ] && echo 0 || echo 1) "and writes nothing"
FAKE_HCN_NAT2=1 hcn cni-config --network build --out 'C:\nat2.conf'
is_status 0 "--network chooses one by name"
has "$(cat "$WINEPREFIX/drive_c/nat2.conf")" '"subnet": "172.29.0.0/16"' "its subnet"
has "$(cat "$WINEPREFIX/drive_c/nat2.conf")" '"name": "build"' "and its name, which the plugin attaches to"
FAKE_HCN_NAT2=1 hcn cni-config --network build --out 'C:\nat.conf' --check
is_status 1 "--check against another network's file"
has "$out" 'name: the file has "nat", HNS has "build"' "says the name differs"
FAKE_HCN_NO_NAT=1 hcn cni-config --out 'C:\nat.conf'
is_status 1 "with no NAT network"
has "$err" "no NAT network in HNS" "the error says what is missing"
hcn cni-config --network ext --out 'C:\ext.conf'
is_status 1 "a network that is not NAT"
has "$err" 'the network "ext" is Transparent, not NAT' "is refused"
hcn cni-config --network nope --out 'C:\ext.conf'
is_status 1 "an unknown network"
has "$err" 'no network "nope" in HNS (it has "ext" (Transparent), "nat" (NAT 172.20.16.0/20))' "lists what there is"

# --- the place ctr --cni reads ------------------------------------------------------------------
confdir=$WINEPREFIX/drive_c/Program\ Files/containerd/cni/conf
hcn cni-config
is_status 0 "cni-config with no --out"
has "$out" 'C:\Program Files\containerd\cni\conf\0-containerd-nat.conf written' \
        "writes go-cni's fixed default, where ctr --cni reads"
ok $([ -f "$confdir/0-containerd-nat.conf" ] && echo 0 || echo 1) "making the directories containerd's installer does not"
lacks "$err" "warning" "with no other config there, no warning"
echo '{}' >"$confdir/0-bridge.conflist"
hcn cni-config --check
is_status 0 "--check with another config first in the directory"
has "$err" 'warning: ctr --cni reads only the first config file of C:\Program Files\containerd\cni\conf, which is "0-bridge.conflist", not this one' \
        "warns that ctr reads only that one"

tap_done
