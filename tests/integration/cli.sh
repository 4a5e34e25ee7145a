#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The spec verbs end to end: fmt, check, dockerfile, help and usage errors.
set -u
: "${CAIRN:?path to the cairn binary}" "${CAIRN_SRCDIR:?source tree}"
. "$CAIRN_SRCDIR/tests/lib/tap.sh"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"

# --- help, version, usage errors -------------------------------------------
run_cmd "$CAIRN" --version
is_status 0 "--version succeeds"
has "$out" "cairn 0." "--version prints the version"

# Start-up: the network and archive stacks are loaded only when needed
# (base/dl.h), so the loader maps none of them, nor OpenSSL.
if command -v ldd >/dev/null && ldd "$CAIRN" >/dev/null 2>&1; then
        libs=$(ldd "$CAIRN")
        for l in libarchive libcurl libcrypto libssl libgnutls libxml2 libicu; do
                lacks "$libs" "$l" "cairn is not linked against $l"
        done
else
        skip "needs ldd on a dynamic cairn" "cairn links no network or archive library"
fi

run_cmd "$CAIRN" --help
is_status 0 "--help succeeds"
for verb in check dockerfile fmt; do
        has "$out" "  $verb" "--help lists $verb"
done

for verb in check dockerfile fmt; do
        run_cmd "$CAIRN" "$verb" --help
        is_status 0 "$verb --help succeeds"
        has "$out" "Usage: cairn $verb" "$verb --help prints its usage"
done

run_cmd "$CAIRN" frobnicate
is_status 124 "an unknown verb is a usage error (124, as OBuilder's cmdliner)"
has "$err" 'unknown verb "frobnicate"' "the unknown verb is named"
has "$err" "Try 'cairn --help'" "and the user is pointed to --help"
is "$out" "" "usage errors print nothing on stdout"

run_cmd "$CAIRN"
is_status 124 "no verb is a usage error"

run_cmd "$CAIRN" dockerfile
is_status 124 "dockerfile without -f is a usage error"
has "$err" "-f SPEC" "the missing -f is explained"

run_cmd "$CAIRN" dockerfile -f x --escape=dos
is_status 124 "a bad --escape is a usage error"
has "$err" '--escape must be "unix" or "windows", not "dos"' "the bad value is named"

run_cmd "$CAIRN" fmt -w --check x
is_status 124 "fmt -w --check is a usage error"

run_cmd "$CAIRN" fmt --bogus x
is_status 124 "an unknown fmt option is a usage error"

# --- dockerfile --------------------------------------------------------------
cat >upstream.spec <<'SPEC'
((from base)
 (comment "A test comment")
 (workdir /src)
 (run (shell "command1"))
 (shell /bin/sh -c)
 (run (cache (a (target /data)) (b (target /srv)))
      (shell "command2 &&
              command3"))
 (copy (src a b) (dst c))
 (copy (src a b) (dst c) (exclude .git _build))
 (env DEBUG 1)
 (env ESCAPE "\"quote\\sla\\sh\"")
 (user (uid 1) (gid 2))
 (copy (src a b) (dst c)))
SPEC
"$CAIRN" dockerfile -f upstream.spec >df.out 2>df.err
status=$?
is_status 0 "dockerfile succeeds"
printf '%s\n' 'FROM base' '# A test comment' 'WORKDIR /src' 'RUN command1' 'SHELL [ "/bin/sh", "-c" ]' \
        'RUN command2 && \' '    command3' 'COPY a b c' 'COPY a b c' 'ENV DEBUG="1"' \
        'ENV ESCAPE="\"quote\\sla\\sh\""' 'USER 1:2' 'COPY --chown=1:2 a b c' '' >df.expected
cmp -s df.out df.expected
ok $? "dockerfile output is byte-identical to OBuilder's, final blank line included"
has "$(cat df.err)" "upstream.spec:6:2: run: caches dropped" "dropped caches are warned about on stderr"
lacks "$(cat df.out)" "warning" "warnings stay off stdout"

"$CAIRN" dockerfile -f upstream.spec --escape=windows >dfw.out 2>/dev/null
is "$(head -n 1 dfw.out)" '#escape=`' "--escape=windows starts with #escape=\`"
has "$(cat dfw.out)" 'RUN command2 && `' "--escape=windows continues lines with a backtick"

"$CAIRN" dockerfile --buildkit -f upstream.spec >dfb.out 2>dfb.err
has "$(cat dfb.out)" "RUN --mount=type=cache,id=a,target=/data,uid=0 --mount=type=cache,id=b,target=/srv,uid=0 command2" \
        "--buildkit keeps the caches"
lacks "$(cat dfb.err)" "caches dropped" "--buildkit does not warn about caches"

printf '((from a) (run (shell x)))' | "$CAIRN" dockerfile -f - >stdin.out
is "$(cat stdin.out; echo .)" "$(printf 'FROM a\nRUN x\n\n.')" "dockerfile reads the spec from stdin with -f -"

echo '((from a) (run (network host)))' >bad.spec
run_cmd "$CAIRN" dockerfile -f bad.spec
is_status 1 "dockerfile of an invalid spec fails"
is "$err" "bad.spec:1:11: run: missing required field (shell COMMAND)" "with the spec error"
is "$out" "" "and no output"

# --- check -------------------------------------------------------------------
run_cmd "$CAIRN" check upstream.spec "$CAIRN_SRCDIR"/examples/*.spec
is_status 0 "check accepts valid specs"
is "$out$err" "" "check is silent on success"

cat >many.spec <<'SPEC'
((build tools ((from base)))
 (from base)
 (run (network host))
 (env A)
 (user (uid 1))
 (copy (from (build tool)) (src x) (dst /y))
 (RUN (shell x)))
SPEC
run_cmd "$CAIRN" check many.spec bad.spec
is_status 1 "check fails when a spec is invalid"
is "$err" 'many.spec:3:2: run: missing required field (shell COMMAND)
many.spec:4:2: env: expected (env NAME VALUE), found 1 argument
many.spec:5:8: user: expected (user (uid N) (gid N)) or (user (name NAME)), found the fields ((uid 1))
many.spec:7:3: unknown operation RUN: did you mean "run"?
many.spec:6:2: copy: unknown build "tool" in (copy (from (build tool)) (src x) (dst /y)).
Did you mean "tools" ?
bad.spec:1:11: run: missing required field (shell COMMAND)' "check reports every error of every file with FILE:LINE:COL"

run_cmd "$CAIRN" check missing.spec
is_status 1 "check of a missing file fails"
has "$err" 'cannot open "missing.spec": No such file or directory' "and says why"

printf '((from a)' >unbalanced.spec
run_cmd "$CAIRN" check unbalanced.spec
has "$err" "unbalanced.spec:1:1: unbalanced parentheses" "lexical errors carry a position too"
printf '' >empty.spec
run_cmd "$CAIRN" check empty.spec
has "$err" "empty.spec:1:1: expected one S-expression" "an empty file is reported"
printf '((from a)) ((from b))' >two.spec
run_cmd "$CAIRN" check two.spec
has "$err" "two.spec:1:12: more than one S-expression" "two specs in one file are reported"

# --- fmt ---------------------------------------------------------------------
cat >messy.spec <<'SPEC'
; a comment
((from a) (run (shell x) (network host) (cache (c (target /t))))
  (copy (from context) (src x) (dst y) (exclude)) (Workdir /w))
SPEC
canonical='((from a)
 (run (cache (c (target /t)))
      (network host)
      (shell x))
 (copy (src x) (dst y))
 (workdir /w)
)'
run_cmd "$CAIRN" fmt messy.spec
is_status 0 "fmt succeeds"
is "$out" "$canonical
" "fmt prints the canonical form with a final newline"

run_cmd "$CAIRN" fmt --check messy.spec "$CAIRN_SRCDIR"/examples/hello.spec
is_status 1 "fmt --check fails when a file is not canonical"
is "$out" "messy.spec
" "and lists only the files that are not"

cp messy.spec keep.spec
run_cmd "$CAIRN" fmt -w keep.spec
is_status 1 "fmt -w refuses to drop comments"
has "$err" "keep.spec: not rewritten: it has 1 comment" "and says why"
cmp -s messy.spec keep.spec
ok $? "the file is left untouched"

chmod 640 keep.spec
run_cmd "$CAIRN" fmt -w --drop-comments keep.spec
is_status 0 "fmt -w --drop-comments rewrites"
is "$(cat keep.spec)" "$canonical" "the rewritten file is canonical"
is "$(stat -c %a keep.spec)" "640" "the file keeps its mode"
run_cmd "$CAIRN" fmt --check keep.spec
is_status 0 "fmt --check passes on the rewritten file"
ls -a | grep -q '\.cairn-' && leftover=1 || leftover=0
ok $leftover "no temporary file is left behind"

printf '%s\n' "$canonical" >c.spec
before=$(stat -c %Y.%i c.spec)
run_cmd "$CAIRN" fmt -w c.spec
is "$(stat -c %Y.%i c.spec)" "$before" "fmt -w leaves a canonical file alone"

run_cmd "$CAIRN" fmt bad.spec c.spec
is_status 1 "fmt fails on an invalid spec"
is "$out" "$canonical
" "but still prints the valid ones"

run_cmd "$CAIRN" fmt -w -
is_status 124 "fmt -w - is a usage error"

for f in "$CAIRN_SRCDIR"/examples/*.spec; do
        run_cmd "$CAIRN" fmt --check "$f"
        is_status 0 "example $(basename "$f") is canonical"
done

tap_done
