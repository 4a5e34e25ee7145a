# SPDX-License-Identifier: Apache-2.0
# A private containerd for the integration tests.  Source this file (after
# tap.sh); needs root, containerd, ctr and python3.
#
#   containerd_start DIR           start a containerd whose config, root,
#                                  state, sockets and opt dir are all under
#                                  DIR; exports CONTAINERD_SOCK=DIR/containerd.sock
#   containerd_stop DIR            stop it, kill its leftover shims and
#                                  containers, unmount everything under DIR
#                                  (idempotent, fine in an EXIT trap)
#   containerd_import_busybox DIR NAME [NAMESPACE]
#                                  import a 2-layer busybox image named NAME
#                                  (namespace "default" unless given); prints
#                                  its config digest, then its chain ID
#
# Typical use:
#
#   tmp=$(mktemp -d /tmp/cairn-ctd-test.XXXXXX)
#   trap 'containerd_stop "$tmp"; rm -rf "$tmp"' EXIT
#   containerd_start "$tmp" || need "containerd does not start"
#   { read -r config; read -r chain; } < <(containerd_import_busybox \
#           "$tmp" docker.io/library/busybox:latest cairn-test)
#   ctr --address "$CONTAINERD_SOCK" -n cairn-test snapshot prepare --mounts k "$chain"
#
# Mount snapshots under DIR (e.g. DIR/mnt/...): containerd_stop unmounts
# only what is at or under DIR.  containerd_import_busybox writes
# DIR/busybox-oci.tar and DIR/import.log; $BUSYBOX overrides /bin/busybox.
#
# DIR length: a unix socket path has at most 107 bytes (sun_path is 108 with
# the NUL), and the longest socket here is DIR/containerd.sock.ttrpc, so DIR
# may have at most 85 bytes.  containerd_start refuses a longer DIR.
# /tmp/cairn-ctd-test.XXXXXX is 26.
#
# What still lives outside DIR (hard-coded in containerd 1.6, not
# configurable for a ctr client): each shim's socket in
# /run/containerd/s/<sha256(address/namespace/id)>, runc's state in
# /run/containerd/runc/<namespace>/<id> (unless ctr run --runc-root) and
# ctr run's fifos in /run/containerd/fifo (unless --fifo-dir).  These are
# removed when a container ends normally; containerd_stop removes the
# ones of the shims and containers it had to kill.  A private daemon shares
# /run/containerd/runc/<namespace> with a system containerd, so tests should
# use their own namespace and unique container IDs.
#
# The daemon runs in its own session (setsid) under a small python3
# subreaper (DIR/reaper.pid) that reaps it and its shims at once, so no
# zombie is left for PID 1.  The subreaper is a disowned background child of
# the test shell: a bare `wait` does not block on it.

_ctd_lib_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

_ctd_reaper='
import ctypes, os, sys
pidfile, reaperfile, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
def put(f, pid):
    open(f + ".tmp", "w").write("%d\n" % pid)
    os.rename(f + ".tmp", f)
os.chdir("/")
put(reaperfile, os.getpid())
pid = os.fork()
if pid == 0:
    try:
        os.execvp(argv[0], argv)
    finally:
        os._exit(127)
put(pidfile, pid)
while True:
    try:
        os.wait()
    except ChildProcessError:
        break
    except InterruptedError:
        pass
'

_ctd_log_tail() {
        echo "containerd log ($1/containerd.log), last lines:" >&2
        tail -n 25 "$1/containerd.log" 2>/dev/null | sed 's/^/  /' >&2
}

# Is PID alive (not gone, not a zombie)?
_ctd_alive() {
        local st
        [ -n "$1" ] && IFS= read -r st 2>/dev/null <"/proc/$1/stat" || return 1
        st=${st##*) }
        [ -n "$st" ] && [ "${st%% *}" != Z ]
}

# The command line of PID in the array _ctd_argv (builtins only: this runs
# for every process on the machine).
_ctd_cmdline() {
        _ctd_argv=()
        mapfile -t -d '' _ctd_argv 2>/dev/null <"/proc/$1/cmdline"
        [ ${#_ctd_argv[@]} -gt 0 ]
}

# Is PID DIR's reaper (python3 -c CODE DIR/containerd.pid ...)?
_ctd_is_reaper() {
        _ctd_alive "$1" && _ctd_cmdline "$1" && [ "${_ctd_argv[3]:-}" = "$2/containerd.pid" ]
}

# Is PID DIR's containerd: its command line names DIR/config.toml, or DIR's
# reaper is its parent?  Guards against a stale pid file whose PID was
# reused.
_ctd_is_ours() {
        local a l
        _ctd_alive "$1" && _ctd_cmdline "$1" || return 1
        for a in "${_ctd_argv[@]}"; do [ "$a" = "$2/config.toml" ] && return 0; done
        while IFS= read -r l; do
                case $l in PPid:*) _ctd_is_reaper "${l#PPid:*[[:space:]]}" "$2"; return ;; esac
        done 2>/dev/null <"/proc/$1/status"
        return 1
}

_ctd_wait_gone() { # PID TENTHS
        local i=0
        while _ctd_alive "$1"; do
                [ "$i" -ge "$2" ] && return 1
                sleep 0.1
                i=$((i + 1))
        done
        return 0
}

containerd_start() {
        local -
        set +e # usable from set -e scripts; options restored on return
        local dir=${1:?containerd_start DIR} sock pid deadline
        mkdir -p "$dir" || return 1
        dir=$(cd "$dir" && pwd -P) || return 1
        sock=$dir/containerd.sock
        if [ ${#dir} -gt 85 ]; then
                echo "containerd_start: '$dir' is ${#dir} bytes; socket paths under it would pass" \
                        "the 107-byte unix socket limit (use a DIR of at most 85 bytes)" >&2
                return 1
        fi
        pid=$(cat "$dir/containerd.pid" 2>/dev/null)
        if _ctd_is_ours "$pid" "$dir"; then
                echo "containerd_start: a containerd ($pid) already runs in $dir" >&2
                return 1
        fi
        command -v containerd >/dev/null && command -v ctr >/dev/null || {
                echo "containerd_start: containerd or ctr not found" >&2
                return 1
        }
        mkdir -p "$dir/root" "$dir/state" "$dir/opt" || return 1
        cat >"$dir/config.toml" <<EOF
version = 2
root = "$dir/root"
state = "$dir/state"
# ctr needs no CRI; it would look at /etc/cni and /opt/cni.
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = "$sock"
[ttrpc]
  address = "$sock.ttrpc"
[debug]
  address = "$dir/debug.sock"
  level = "info"
[plugins."io.containerd.internal.v1.opt"]
  path = "$dir/opt"
EOF
        rm -f "$dir/containerd.pid" "$dir/reaper.pid" "$sock" "$sock.ttrpc" "$dir/debug.sock"
        echo "--- containerd_start $(date -u +%FT%TZ)" >>"$dir/containerd.log"
        # setsid: own session, so the test's ^C does not reach it.  python3
        # -c: a subreaper that forks containerd and reaps it and every shim
        # (shims re-parent to it) at once instead of leaving zombies for PID
        # 1; it exits when its last child has.  Disowned: the test shell
        # still reaps it, but a bare `wait` does not wait for it.
        setsid python3 -c "$_ctd_reaper" "$dir/containerd.pid" "$dir/reaper.pid" \
                containerd --config "$dir/config.toml" \
                </dev/null >>"$dir/containerd.log" 2>&1 &
        disown $! 2>/dev/null
        # ctr waits 10 s for a socket that does not exist yet: look first.
        deadline=$(($(date +%s) + 10))
        while [ "$(date +%s)" -le "$deadline" ]; do
                pid=$(cat "$dir/containerd.pid" 2>/dev/null)
                if [ -n "$pid" ] && [ -S "$sock" ] &&
                        ctr --connect-timeout 2s --address "$sock" version >/dev/null 2>&1; then
                        export CONTAINERD_SOCK=$sock
                        return 0
                fi
                if [ -n "$pid" ] && ! _ctd_alive "$pid"; then
                        echo "containerd_start: containerd ($pid) exited" >&2
                        _ctd_log_tail "$dir"
                        containerd_stop "$dir"
                        return 1
                fi
                sleep 0.1
        done
        echo "containerd_start: no answer on $sock after 10 s" >&2
        _ctd_log_tail "$dir"
        containerd_stop "$dir"
        return 1
}

# PIDs of the containerd-shim* processes whose command line names DIR
# (the daemon's address, -address DIR/containerd.sock).
_ctd_shims() {
        local p a
        for p in /proc/[0-9]*; do
                _ctd_cmdline "${p#/proc/}" || continue
                a=${_ctd_argv[0]##*/}
                case $a in containerd-shim*) ;; *) continue ;; esac
                for a in "${_ctd_argv[@]}"; do
                        case $a in "$1"/*) echo "${p#/proc/}"; break ;; esac
                done
        done
}

# The value after -FLAG in the command line read by _ctd_cmdline.
_ctd_arg() {
        local i
        for ((i = 0; i + 1 < ${#_ctd_argv[@]}; i++)); do
                case ${_ctd_argv[i]} in -"$1" | --"$1") echo "${_ctd_argv[i + 1]}"; return ;; esac
        done
}

# Children of PID.
_ctd_children() {
        local p l
        for p in /proc/[0-9]*; do
                while IFS= read -r l; do
                        case $l in PPid:*) [ "${l#PPid:*[[:space:]]}" = "$1" ] && echo "${p#/proc/}"; break ;; esac
                done 2>/dev/null <"$p/status"
        done
}

containerd_stop() {
        local -
        set +e # usable from set -e scripts; options restored on return
        local dir=${1:?containerd_stop DIR} pid shims s ns id addr kids fifos k m i
        [ -d "$dir" ] || return 0
        dir=$(cd "$dir" && pwd -P) || return 0
        pid=$(cat "$dir/containerd.pid" 2>/dev/null)
        if _ctd_is_ours "$pid" "$dir"; then
                kill -TERM "$pid" 2>/dev/null
                _ctd_wait_gone "$pid" 50 || {
                        echo "containerd_stop: containerd ($pid) ignored TERM; killing" >&2
                        kill -KILL "$pid" 2>/dev/null
                        _ctd_wait_gone "$pid" 20
                }
        fi
        rm -f "$dir/containerd.pid"

        # Shims outlive their daemon when a container still runs: kill the
        # container processes (the shim's children), then the shim, then
        # what the shim would have removed itself.
        shims=$(_ctd_shims "$dir")
        for s in $shims; do
                _ctd_cmdline "$s" || continue
                ns=$(_ctd_arg namespace) id=$(_ctd_arg id) addr=$(_ctd_arg address)
                kids=$(_ctd_children "$s")
                # ctr run's fifos (/run/containerd/fifo/N/ID-std*, left
                # behind by ctr run -d): the shim holds them open.
                fifos=$(for k in /proc/"$s"/fd/*; do readlink "$k"; done 2>/dev/null |
                        grep '^/run/containerd/fifo/[0-9]*/' | sort -u)
                for k in $kids; do kill -KILL "$k" 2>/dev/null; done
                kill -KILL "$s" 2>/dev/null
                _ctd_wait_gone "$s" 20
                for k in $fifos; do rm -f "$k" && rmdir "${k%/*}" 2>/dev/null; done
                [ -n "$ns" ] && [ -n "$id" ] || continue
                if [ -n "$addr" ]; then
                        rm -f "/run/containerd/s/$(printf '%s' "$addr/$ns/$id" | sha256sum | cut -d' ' -f1)"
                fi
                # runc's state is shared with any system containerd: only
                # remove it if its bundle is under DIR.
                if grep -qF "$dir/" "/run/containerd/runc/$ns/$id/state.json" 2>/dev/null; then
                        runc --root "/run/containerd/runc/$ns" delete -f "$id" >/dev/null 2>&1 ||
                                rm -rf "/run/containerd/runc/$ns/$id"
                fi
        done

        # The reaper leaves when its last child has gone.
        pid=$(cat "$dir/reaper.pid" 2>/dev/null)
        if _ctd_is_reaper "$pid" "$dir"; then
                _ctd_wait_gone "$pid" 30 || kill -KILL "$pid" 2>/dev/null
        fi
        rm -f "$dir/reaper.pid"

        # Unmount everything at or under DIR, deepest first; again while
        # stacked mounts remain.
        for i in 1 2 3 4 5; do
                m=$(awk -v d="$dir" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo |
                        awk '{ print length($0) "\t" $0 }' | sort -rn | cut -f2-)
                [ -n "$m" ] || break
                printf '%s\n' "$m" | while read -r k; do
                        umount -l "$(printf '%b' "$k")" 2>/dev/null
                done
        done
        return 0
}

containerd_import_busybox() {
        local -
        set +e # usable from set -e scripts; options restored on return
        local dir=${1:?containerd_import_busybox DIR NAME [NAMESPACE]} name=${2:?NAME} ns=${3:-default}
        local sock archive out config chain before names snaps
        dir=$(cd "$dir" && pwd -P) || return 1
        sock=$dir/containerd.sock
        archive=$dir/busybox-oci.tar
        out=$(python3 "$_ctd_lib_dir/make-ctr-image.py" "$name" "$archive" "${BUSYBOX:-/bin/busybox}") || {
                echo "containerd_import_busybox: make-ctr-image.py failed" >&2
                return 1
        }
        config=$(printf '%s\n' "$out" | sed -n 1p)
        chain=$(printf '%s\n' "$out" | sed -n 2p)
        # The archive names the image NAME exactly: the import adds NAME
        # (or replaces it) and nothing else.
        before=$(ctr --address "$sock" -n "$ns" images ls -q)
        if ! ctr --address "$sock" -n "$ns" images import --snapshotter overlayfs "$archive" \
                >"$dir/import.log" 2>&1; then
                echo "containerd_import_busybox: ctr images import failed:" >&2
                sed 's/^/  /' "$dir/import.log" >&2
                return 1
        fi
        names=$(ctr --address "$sock" -n "$ns" images ls -q | LC_ALL=C sort)
        if [ "$names" != "$(printf '%s\n' "$before" "$name" | sed '/^$/d' | LC_ALL=C sort -u)" ]; then
                echo "containerd_import_busybox: namespace $ns holds images '$names' (before: '$before')," \
                        "expected '$name' added" >&2
                return 1
        fi
        snaps=$(ctr --address "$sock" -n "$ns" snapshot --snapshotter overlayfs ls)
        if ! printf '%s\n' "$snaps" | awk -v c="$chain" '$1 == c && $NF == "Committed" { f = 1 } END { exit !f }'; then
                echo "containerd_import_busybox: computed chain ID $chain is not a Committed snapshot;" \
                        "ctr snapshot ls says:" >&2
                printf '%s\n' "$snaps" | sed 's/^/  /' >&2
                return 1
        fi
        printf '%s\n%s\n' "$config" "$chain"
}
