#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The unit tests that are built for Windows too (the spec language, the
# Dockerfile export, step IDs, copy manifests with the build context read
# the Windows way, the containerd module: mount lists, layerinfo, chain
# IDs, the OCI configs; the results database), run under wine: one TAP
# stream, renumbered.
#   CAIRN_WINDOWS_BUILD   the cross build (default build-windows)
set -u
: "${CAIRN_SRCDIR:?source tree}"
. "$CAIRN_SRCDIR/tests/lib/tap.sh"
. "$CAIRN_SRCDIR/tests/windows/lib.sh"
wine_setup unit
for t in sexp spec dockerfile ids path lock fs manifest containerd db; do
        timeout 300 "$WINE" "$build/tests/test-$t.exe" | tr -d '\r' >"$tmp/$t.tap"
        status=${PIPESTATUS[0]}
        while IFS= read -r line; do
                case $line in
                "ok "*) ok 0 "test-$t.exe: ${line#ok * - }" ;;
                "not ok "*) ok 1 "test-$t.exe: ${line#not ok * - }" ;;
                "#"*) echo "$line" ;;
                esac
        done <"$tmp/$t.tap"
        grep -q '^1\.\.[1-9]' "$tmp/$t.tap"
        ok $(( $? || status != 0 )) "test-$t.exe ran to its end under wine (exit status $status)"
done
tap_done
