#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# cairn.exe under wine: the verbs it has so far (check, fmt, dockerfile,
# hcn), their messages and exit statuses, as cairn's on Linux.
#   CAIRN_WINDOWS_BUILD   the cross build (default build-windows)
set -u
: "${CAIRN_SRCDIR:?source tree}"
. "$CAIRN_SRCDIR/tests/lib/tap.sh"
. "$CAIRN_SRCDIR/tests/windows/lib.sh"
wine_setup cli
exe=$build/src/cairn.exe
[ -f "$exe" ] || need "needs cairn.exe (make windows)"
cd "$tmp"
# A Windows program ends its lines with CR LF.
cairn() {
        run_cmd "$WINE" "$exe" "$@"
        out=${out//$'\r'/}
        err=${err//$'\r'/}
}

cairn --help
is_status 0 "cairn.exe --help"
has "$out" "  check        parse and validate specs" "lists check"
has "$out" "  hcn          HCN namespaces" "and hcn"
cairn --version
has "$out" "cairn " "--version"
cairn --help
has "$out" "  build        build a spec" "and the engine's verbs"
cairn pull busybox
is_status 124 "a verb this build lacks (the Linux image store's) is a usage error (OBuilder's status)"
has "$err" 'unknown verb "pull"' "naming it"

printf '((from mcr.microsoft.com/windows/nanoserver:ltsc2022)\n (workdir C:/)\n (run (shell "echo hi")) (copy (src a) (dst C:/b)))\n' >good.spec
printf '((from x)\n (rn (shell "y")))\n' >bad.spec
cairn check good.spec
is_status 0 "check accepts a Windows spec"
cairn check bad.spec
is_status 1 "check rejects a bad one"
is "$err" 'bad.spec:2:3: unknown operation rn: expected comment, workdir, shell, run, copy, user or env' \
        "with FILE:LINE:COL, as on Linux"
cairn fmt good.spec
is "$out" '((from mcr.microsoft.com/windows/nanoserver:ltsc2022)
 (workdir C:/)
 (run (shell "echo hi"))
 (copy (src a) (dst C:/b))
)
' "fmt prints the canonical form"
canon=$out
cp good.spec rewrite.spec
cairn fmt -w rewrite.spec
is_status 0 "fmt -w rewrites a file"
is "$(tr -d '\r' <rewrite.spec)" "$(printf '%s' "$canon")" "atomically, to the canonical form"
ls | grep -q 'rewrite.spec.tmp' && left=1 || left=0
is "$left" 0 "with no temporary file left"
cairn dockerfile -f good.spec
has "$out" '#escape=`
FROM mcr.microsoft.com/windows/nanoserver:ltsc2022
WORKDIR C:/
RUN echo hi' "dockerfile defaults to Windows' escape on Windows, as OBuilder's"
cairn dockerfile -f good.spec --escape=unix
lacks "$out" '#escape' "--escape=unix still gives the Unix form"
cairn hcn namespace list
is_status 1 "cairn hcn without computenetwork.dll"
has "$err" "cannot load computenetwork.dll" "fails with a clear error"
tap_done
