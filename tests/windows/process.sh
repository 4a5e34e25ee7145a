#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The Windows process layer (windows/process-win.c) under wine: runs
# test-process.exe, a TAP program, with child.exe as its child.
#   CAIRN_WINDOWS_BUILD   the cross build (default build-windows)
set -u
: "${CAIRN_SRCDIR:?source tree}"
. "$CAIRN_SRCDIR/tests/lib/tap.sh"
build=${CAIRN_WINDOWS_BUILD:-$CAIRN_SRCDIR/build-windows}
WINE=${WINE:-/usr/lib/wine/wine64}
[ -x "$WINE" ] || need "needs wine64"
[ -f "$build/windows/test-process.exe" ] || need "needs the Windows build (make windows)"
tmp=$(mktemp -d /tmp/cairn-wine-process.XXXXXX)
export WINEPREFIX=$tmp/prefix WINEDEBUG=-all
trap 'WINEPREFIX=$tmp/prefix /usr/lib/wine/wineserver64 -k 2>/dev/null; rm -rf "$tmp"' EXIT
"$WINE" wineboot --init >/dev/null 2>&1
mkdir -p "$tmp/scratch"
winpath() { local p=$1; echo "Z:${p//\//\\}"; }
# The program prints its own TAP; a hang is caught by the time limit.
timeout 600 "$WINE" "$build/windows/test-process.exe" "$(winpath "$build/windows/child.exe")" \
        "$(winpath "$tmp/scratch")" | tr -d '\r'
