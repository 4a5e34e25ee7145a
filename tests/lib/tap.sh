# SPDX-License-Identifier: Apache-2.0
# TAP helpers for the shell integration tests.  Source this file; call
# tap_done at the end.
#
#   run_cmd cairn fmt x.spec      captures $out, $err and $status
#   is "$out" "expected" "name"   string equality
#   is_status 0 "name"            the last run_cmd's exit status
#   has "$err" "needle" "name"    substring

_tap_n=0
_tap_failed=0

ok() {
        _tap_n=$((_tap_n + 1))
        if [ "$1" = 0 ]; then
                echo "ok $_tap_n - $2"
        else
                echo "not ok $_tap_n - $2"
                _tap_failed=$((_tap_failed + 1))
        fi
}

diag() {
        printf '%s\n' "$@" | sed 's/^/#   /'
}

is() {
        if [ "$1" = "$2" ]; then
                ok 0 "$3"
        else
                ok 1 "$3"
                diag "got:" "$1" "expected:" "$2"
        fi
}

has() {
        case "$1" in
        *"$2"*) ok 0 "$3" ;;
        *) ok 1 "$3"; diag "got:" "$1" "expected to contain:" "$2" ;;
        esac
}

lacks() {
        case "$1" in
        *"$2"*) ok 1 "$3"; diag "got:" "$1" "expected not to contain:" "$2" ;;
        *) ok 0 "$3" ;;
        esac
}

# Run a command, keeping stdout (with trailing newlines preserved as a final
# "." marker removed), stderr and the exit status.
run_cmd() {
        local o e
        o=$(mktemp) e=$(mktemp)
        "$@" >"$o" 2>"$e"
        status=$?
        out=$(cat "$o"; printf .)
        out=${out%.}
        err=$(cat "$e")
        rm -f "$o" "$e"
}

is_status() {
        if [ "$status" = "$1" ]; then
                ok 0 "$2"
        else
                ok 1 "$2"
                diag "exit status $status, expected $1" "stderr: $err"
        fi
}

skip() {
        _tap_n=$((_tap_n + 1))
        echo "ok $_tap_n - $2 # SKIP $1"
}

# A prerequisite is missing: skip the whole script, unless
# CAIRN_TEST_MUST_WORK=1 (CI), where that is a failure.
need() {
        if [ "${CAIRN_TEST_MUST_WORK:-}" = 1 ]; then
                ok 1 "prerequisite: $1"
                tap_done
                exit 1
        fi
        skip "$1" "${0##*/}"
        tap_done
        exit 0
}

tap_done() {
        echo "1..$_tap_n"
        [ "$_tap_failed" = 0 ]
}
