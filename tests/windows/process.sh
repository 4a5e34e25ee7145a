#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The Windows process layer (base/process-win.c) under wine: runs
# test-process.exe, a TAP program, with child.exe as its child.
#   CAIRN_WINDOWS_BUILD   the cross build (default build-windows)
set -u
: "${CAIRN_SRCDIR:?source tree}"
. "$CAIRN_SRCDIR/tests/lib/tap.sh"
. "$CAIRN_SRCDIR/tests/windows/lib.sh"
wine_setup process
[ -f "$build/tests/test-process.exe" ] || need "needs test-process.exe (make windows)"
mkdir -p "$tmp/scratch"
# The program prints its own TAP; a hang is caught by the time limit.
timeout 600 "$WINE" "$build/tests/test-process.exe" "$(winpath "$build/tests/child.exe")" \
        "$(winpath "$tmp/scratch")" | tr -d '\r'
