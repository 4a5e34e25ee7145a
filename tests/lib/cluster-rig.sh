# SPDX-License-Identifier: Apache-2.0
# The rig of the cluster's suites (tests/integration/cluster*.sh): a private
# PostgreSQL 15 run as the postgres user (trust auth: tests only), busybox
# for the workers' stores, and the helpers every suite uses.  Source after
# tap.sh; then:
#
#   cluster_rig NAME [COMMAND...]   check the prerequisites (and that each
#                                   COMMAND is installed), make $tmp
#                                   (/tmp/cairn-NAME.*), cd there, and clean
#                                   up on exit: $pids are killed, a registry
#                                   stopped, PostgreSQL stopped, mounts under
#                                   $tmp unmounted; CAIRN_TEST_KEEP=DIR keeps
#                                   the workers' logs
#   pg_init                         initdb in $tmp/pg
#   pg_start                        start it on the socket directory
#                                   $tmp/sock, listening on TCP at
#                                   $PG_LISTEN (default: none), run through
#                                   the command in ${PG_EXEC[@]}, if any
#   pg_stop MODE                    pg_ctl stop -m MODE
#   busybox_stores DIR...           import busybox into overlayfs:DIR each
#   sql QUERY                       psql on $DB: unaligned, tuples only
#   spec NAME SHELL-COMMAND         NAME.spec: one run step on busybox
#   wait_for SECONDS SQL-CONDITION  until SELECT SQL-CONDITION says t

[ "$(id -u)" = 0 ] || need "needs root"
BUSYBOX=/bin/busybox
PGBIN=${CAIRN_TEST_PGBIN:-/usr/lib/postgresql/15/bin}
PG_LISTEN=${PG_LISTEN:-}
PG_EXEC=()
pids=()

cluster_rig() { # NAME [COMMAND...]
        [ -x "$BUSYBOX" ] || need "needs busybox-static"
        [ -x "$PGBIN/initdb" ] && [ -x "$PGBIN/psql" ] && [ -x "$PGBIN/pg_dump" ] || need "needs postgresql-15"
        id postgres >/dev/null 2>&1 || need "needs the postgres user"
        local c
        for c in "${@:2}"; do
                command -v "$c" >/dev/null || need "needs $c"
        done
        grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null || true
        grep -qw overlay /proc/filesystems || need "needs overlayfs"
        export LC_ALL=C.UTF-8
        tmp=$(mktemp -d "/tmp/cairn-$1.XXXXXX")
        chmod 755 "$tmp"
        trap cluster_cleanup EXIT
        cd "$tmp" || exit 1
        DB="postgresql:///postgres?host=$tmp/sock&user=postgres"
}

cluster_cleanup() {
        local p
        for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
        if declare -F stop_registry >/dev/null; then
                stop_registry
        elif [ -n "${regpid:-}" ]; then
                kill "$regpid" 2>/dev/null
        fi
        declare -F cluster_cleanup_more >/dev/null && cluster_cleanup_more
        wait 2>/dev/null
        pg_stop immediate
        grep " $tmp" /proc/self/mountinfo | awk '{print $5}' | sort -r | xargs -r -n1 umount -l 2>/dev/null
        if [ -n "${CAIRN_TEST_KEEP:-}" ]; then
                mkdir -p "$CAIRN_TEST_KEEP" && cp "$tmp"/worker-*.log "$tmp"/*.out "$tmp"/*.err "$CAIRN_TEST_KEEP" 2>/dev/null
        fi
        rm -rf "$tmp"
}

pg_init() {
        mkdir -p "$tmp/pg" "$tmp/sock"
        chown postgres: "$tmp/pg" "$tmp/sock"
        runuser -u postgres -- "$PGBIN/initdb" -D "$tmp/pg" -A trust -U postgres >"$tmp/pg-init.log" 2>&1 ||
                need "initdb"
}

pg_start() {
        "${PG_EXEC[@]}" runuser -u postgres -- "$PGBIN/pg_ctl" -D "$tmp/pg" -l "$tmp/sock/pg.log" -w \
                -o "-k $tmp/sock -c listen_addresses='$PG_LISTEN'" start >/dev/null 2>&1
}

pg_stop() { # MODE
        [ -f "$tmp/pg/postmaster.pid" ] &&
                runuser -u postgres -- "$PGBIN/pg_ctl" -D "$tmp/pg" -m "$1" -w stop >/dev/null 2>&1
}

busybox_stores() { # DIR...: overlayfs stores with busybox imported
        if [ ! -f "$tmp/busybox.tar" ]; then
                local r=$tmp/rootfs a
                mkdir -p "$r/bin" "$r/etc" "$r/tmp" "$r/root"
                chmod 1777 "$r/tmp"
                cp "$BUSYBOX" "$r/bin/busybox"
                for a in $("$r/bin/busybox" --list); do [ "$a" = busybox ] || ln -sf busybox "$r/bin/$a"; done
                printf 'root:x:0:0:root:/root:/bin/sh\n' >"$r/etc/passwd"
                printf 'root:x:0:\n' >"$r/etc/group"
                tar -C "$r" -cf "$tmp/busybox.tar" .
        fi
        local d
        for d in "$@"; do
                "$CAIRN" image import --store "overlayfs:$d" --env PATH=/usr/sbin:/usr/bin:/sbin:/bin busybox \
                        "$tmp/busybox.tar" >/dev/null || need "image import"
        done
}

sql() { "$PGBIN/psql" -X -At -d "$DB" -c "$1"; }

spec() { # NAME SHELL-COMMAND: a one-step spec
        printf '((from busybox)\n (shell /bin/sh -c)\n (run (shell "%s")))\n' "$2" >"$1.spec"
}

wait_for() { # SECONDS SQL-CONDITION: until sql returns t
        local i
        for ((i = 0; i < $1 * 5; i++)); do
                [ "$(sql "SELECT $2" 2>/dev/null)" = t ] && return 0
                sleep 0.2
        done
        return 1
}
